package store

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// OpObserver receives the duration and outcome of one Store call; op is the
// method name ("Pin", "Node", ...). It exists for the latency histogram and
// the health endpoint, which live outside this package so the store carries
// no Prometheus dependency.
type OpObserver func(op string, d time.Duration, err error)

var (
	opObservers  atomic.Pointer[[]OpObserver]
	opMu         sync.Mutex
	instrumented atomic.Int64 // instrumented stores open now
)

// AddOpObserver registers o for every instrumented Store in this process,
// including those opened before the call (stanza order must not matter).
func AddOpObserver(o OpObserver) {
	opMu.Lock()
	defer opMu.Unlock()
	var next []OpObserver
	if cur := opObservers.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, o)
	opObservers.Store(&next)
}

// Instrumented is how many stores wrapped by Instrument are open now; the
// health endpoint only asks for a recent store answer when there is one.
func Instrumented() int { return int(instrumented.Load()) }

// Instrument wraps s so every call is timed and reported to the observers
// registered with AddOpObserver. The wrapper costs one time.Now pair per
// call and nothing else when no observer is registered.
func Instrument(s Store) Store {
	instrumented.Add(1)
	return &timed{s: s}
}

type timed struct {
	s      Store
	closed atomic.Bool
}

func done(op string, start time.Time, err error) {
	if obs := opObservers.Load(); obs != nil {
		d := time.Since(start)
		for _, o := range *obs {
			o(op, d, err)
		}
	}
}

func (t *timed) Nodes(ctx context.Context) ([]Node, error) {
	start := time.Now()
	v, err := t.s.Nodes(ctx)
	done("Nodes", start, err)
	return v, err
}

func (t *timed) Node(ctx context.Context, mac net.HardwareAddr) (Node, error) {
	start := time.Now()
	v, err := t.s.Node(ctx, mac)
	done("Node", start, err)
	return v, err
}

func (t *timed) NodeByIP(ctx context.Context, ip netip.Addr) (Node, error) {
	start := time.Now()
	v, err := t.s.NodeByIP(ctx, ip)
	done("NodeByIP", start, err)
	return v, err
}

func (t *timed) DeclinedAddrs(ctx context.Context) ([]Declined, error) {
	start := time.Now()
	v, err := t.s.DeclinedAddrs(ctx)
	done("DeclinedAddrs", start, err)
	return v, err
}

func (t *timed) DataVersion(ctx context.Context) (int64, error) {
	start := time.Now()
	v, err := t.s.DataVersion(ctx)
	done("DataVersion", start, err)
	return v, err
}

func (t *timed) Pin(ctx context.Context, nodes ...Node) error {
	start := time.Now()
	err := t.s.Pin(ctx, nodes...)
	done("Pin", start, err)
	return err
}

func (t *timed) Unpin(ctx context.Context, mac net.HardwareAddr) error {
	start := time.Now()
	err := t.s.Unpin(ctx, mac)
	done("Unpin", start, err)
	return err
}

func (t *timed) Touch(ctx context.Context, seen []Seen) error {
	start := time.Now()
	err := t.s.Touch(ctx, seen)
	done("Touch", start, err)
	return err
}

func (t *timed) Decline(ctx context.Context, d Declined) error {
	start := time.Now()
	err := t.s.Decline(ctx, d)
	done("Decline", start, err)
	return err
}

func (t *timed) ClearDeclined(ctx context.Context, ip netip.Addr) error {
	start := time.Now()
	err := t.s.ClearDeclined(ctx, ip)
	done("ClearDeclined", start, err)
	return err
}

// Close closes the wrapped store once; the count of open stores drops with it.
func (t *timed) Close() error {
	if t.closed.CompareAndSwap(false, true) {
		instrumented.Add(-1)
	}
	return t.s.Close()
}
