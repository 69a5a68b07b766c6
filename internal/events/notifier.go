package events

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Kinds name the event in RPINETBOOT_EVENT and the JSON "event" field.
const (
	KindNewNode   = "new-node"  // a board seen for the first time
	KindReclaimed = "reclaimed" // a learned pin taken over for a new board (pool full)
)

const (
	// workers bounds attempts running at once: a few hung hooks delay other
	// deliveries by at most their timeout, never the DHCP answers.
	workers = 4
	// queueSize bounds memory under a rack powered on at once; beyond it
	// events are dropped with a warning (the DHCP answer is unaffected).
	queueSize = 4096
	// maxSeen bounds the once-per-process memory; past it events still
	// fire, but a MAC may fire again.
	maxSeen = 1 << 18
	// warnEvery limits the queue-full warning.
	warnEvery = time.Minute
)

// Event is one node's facts as the DHCP server saw them; empty strings are
// facts it did not learn (a proxy-mode DISCOVER carries no address yet).
type Event struct {
	Kind     string    `json:"event"`
	Source   string    `json:"source"` // the plugin that saw the node: macpin, proxydhcp
	MAC      string    `json:"mac"`
	IP       string    `json:"ip"`
	Model    string    `json:"model"`
	Serial   string    `json:"serial"`
	Hostname string    `json:"hostname"`
	Time     time.Time `json:"time"`
}

// Notifier delivers events of one plugin stanza. The zero value is not
// usable; New makes one. Its workers start with the first event, so a
// configured but idle notifier costs nothing.
type Notifier struct {
	cfg    Config
	log    *logrus.Entry
	client *http.Client

	startOnce sync.Once
	queue     chan job
	done      chan struct{}
	closeOnce sync.Once

	mu         sync.Mutex
	seen       map[string]struct{}
	seenFull   bool
	lastWarn   time.Time
	dropped    int
	onOutcome  func(Outcome) // tests observe deliveries here
	attemptsNo atomic.Int64
}

// job is one delivery (one target) of one event.
type job struct {
	ev      Event
	target  target
	attempt int // 1-based number of the attempt about to run
}

// Outcome is the result of one attempt, for tests and counters.
type Outcome struct {
	Event    Event
	Target   string // the executable path or the URL
	Attempt  int
	Err      error
	Final    bool // no further attempt will follow
	Duration time.Duration
}

// New returns a notifier for cfg logging through log (the plugin's logger).
func New(cfg Config, log *logrus.Entry) *Notifier {
	cfg = cfg.withDefaults()
	return &Notifier{
		cfg:    cfg,
		log:    log,
		client: &http.Client{Timeout: cfg.Timeout},
		queue:  make(chan job, queueSize),
		done:   make(chan struct{}),
		seen:   make(map[string]struct{}),
	}
}

// Config returns the configuration in effect (defaults filled in).
func (n *Notifier) Config() Config { return n.cfg }

// Fire queues ev for every configured target unless the same kind of event
// already fired for ev.MAC in this process. It never blocks and never fails
// the caller; it reports whether the event was queued.
func (n *Notifier) Fire(ev Event) bool {
	if n == nil || !n.cfg.Enabled() {
		return false
	}
	if ev.Kind == "" {
		ev.Kind = KindNewNode
	}
	key := ev.Kind + " " + ev.MAC
	n.mu.Lock()
	if _, dup := n.seen[key]; dup {
		n.mu.Unlock()
		return false
	}
	if len(n.seen) < maxSeen {
		n.seen[key] = struct{}{}
	} else if !n.seenFull {
		n.seenFull = true
		n.log.WithField("limit", maxSeen).Warn("new-node event memory full; a node may fire again")
	}
	n.mu.Unlock()
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	n.startOnce.Do(n.startWorkers)
	queued := false
	for _, t := range n.targets() {
		queued = n.enqueue(job{ev: ev, target: t, attempt: 1}) || queued
	}
	return queued
}

func (n *Notifier) targets() []target {
	var ts []target
	if n.cfg.Exec != "" {
		ts = append(ts, execTarget(n.cfg.Exec))
	}
	if n.cfg.URL != "" {
		ts = append(ts, urlTarget(n.cfg.URL))
	}
	return ts
}

// enqueue hands j to the workers without blocking; a full queue drops it.
func (n *Notifier) enqueue(j job) bool {
	select {
	case <-n.done:
		return false
	default:
	}
	select {
	case n.queue <- j:
		return true
	default:
	}
	n.mu.Lock()
	n.dropped++
	now := time.Now()
	warn := now.Sub(n.lastWarn) >= warnEvery
	dropped := n.dropped
	if warn {
		n.lastWarn, n.dropped = now, 0
	}
	n.mu.Unlock()
	if warn {
		n.log.WithFields(fields(j)).WithFields(logrus.Fields{"queue": queueSize, "dropped_since_last_warning": dropped}).
			Warn("new-node event queue full; event dropped")
	}
	return false
}

func (n *Notifier) startWorkers() {
	for range workers {
		go n.work()
	}
}

func (n *Notifier) work() {
	for {
		select {
		case <-n.done:
			return
		case j := <-n.queue:
			n.run(j)
		}
	}
}

// run makes one attempt of j and logs its outcome; a failure with attempts
// left is queued again after the backoff.
func (n *Notifier) run(j job) {
	n.attemptsNo.Add(1)
	start := time.Now()
	err := j.target.deliver(n, j.ev)
	o := Outcome{Event: j.ev, Target: j.target.name(), Attempt: j.attempt, Err: err, Duration: time.Since(start),
		Final: err == nil || j.attempt >= n.cfg.Attempts}
	f := fields(j)
	f["duration_ms"] = o.Duration.Milliseconds()
	switch {
	case err == nil:
		n.log.WithFields(f).Info("new-node event delivered")
	case o.Final:
		n.log.WithFields(f).WithError(err).Error("new-node event delivery failed; giving up")
	default:
		wait := n.cfg.backoff(j.attempt)
		f["retry_in"] = wait.String()
		n.log.WithFields(f).WithError(err).Warn("new-node event delivery failed; will retry")
		next := job{ev: j.ev, target: j.target, attempt: j.attempt + 1}
		time.AfterFunc(wait, func() { n.enqueue(next) })
	}
	if n.onOutcome != nil {
		n.onOutcome(o)
	}
}

func fields(j job) logrus.Fields {
	return logrus.Fields{"event": j.ev.Kind, "mac": j.ev.MAC, "ip": j.ev.IP, "model": j.ev.Model,
		"serial": j.ev.Serial, "target": j.target.name(), "attempt": j.attempt}
}

// Attempts is how many delivery attempts have run so far (all targets).
func (n *Notifier) Attempts() int64 { return n.attemptsNo.Load() }

// Close stops the workers; queued and pending retries are dropped. A hook
// already running is left to its timeout.
func (n *Notifier) Close() {
	n.closeOnce.Do(func() { close(n.done) })
}
