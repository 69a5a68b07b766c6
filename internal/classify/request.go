package classify

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// rememberCap bounds the MAC memory per generation (two generations live).
const rememberCap = 16384

// Classifier is the process's classification: a Config plus the memory of
// recent Raspberry Pi netboot DISCOVERs that recognises the boards'
// option-60-less REQUESTs.
type Classifier struct {
	cfg    *Config
	recent *recent
	now    func() time.Time
}

// New returns a classifier for cfg (Default when nil).
func New(cfg *Config) *Classifier {
	if cfg == nil {
		cfg = Default()
	}
	return &Classifier{cfg: cfg, recent: newRecent(cfg.Remember, rememberCap), now: time.Now}
}

// Config is the configuration c classifies with.
func (c *Classifier) Config() *Config { return c.cfg }

// Facts classifies req and applies the memory: a Pi netboot DISCOVER or
// REQUEST is remembered by MAC (never by xid: Pi 3 boards may share one);
// a later REQUEST without option 60 from a remembered MAC is RPiPXE too.
func (c *Classifier) Facts(req *dhcpv4.DHCPv4) Facts {
	f := c.cfg.Classify(req)
	if req == nil {
		return f
	}
	mt := req.MessageType()
	now := c.now()
	switch {
	case f.RPiPXE && (mt == dhcpv4.MessageTypeDiscover || mt == dhcpv4.MessageTypeRequest):
		c.recent.remember(req.ClientHWAddr, now)
	case mt == dhcpv4.MessageTypeRequest && f.VendorClass == "" && !f.UBoot && c.recent.seen(req.ClientHWAddr, now):
		f.RPiPXE, f.Remembered, f.Netboot = true, true, true
	}
	return f
}

// std is the process's classifier, set by the `classify` stanza (Configure).
var std atomic.Pointer[Classifier]

func init() { std.Store(New(nil)) }

// Configure makes cfg the classification of the whole process; the
// `classify` stanza calls it at setup, before any packet.
func Configure(cfg *Config) { std.Store(New(cfg)) }

// Current is the process's classifier.
func Current() *Classifier { return std.Load() }

// memo holds the facts of requests in flight through the plugin chain.
var memo = struct {
	sync.Mutex
	m map[*dhcpv4.DHCPv4]*Facts
}{m: map[*dhcpv4.DHCPv4]*Facts{}}

// Begin computes req's facts once, for every plugin of the chain to read
// with Of; the packet loop calls it before the chain and End after.
func Begin(req *dhcpv4.DHCPv4) Facts {
	f := std.Load().Facts(req)
	memo.Lock()
	memo.m[req] = &f
	memo.Unlock()
	return f
}

// End forgets req's facts.
func End(req *dhcpv4.DHCPv4) {
	memo.Lock()
	delete(memo.m, req)
	memo.Unlock()
}

// Of returns req's facts: the ones Begin computed, or, for a request no
// loop began (a unit test calling a handler, upstream's server), freshly
// computed ones.
func Of(req *dhcpv4.DHCPv4) Facts {
	memo.Lock()
	f, ok := memo.m[req]
	memo.Unlock()
	if ok {
		return *f
	}
	return std.Load().Facts(req)
}

// InFlight is how many requests have facts held (begun and not ended); a
// loop that forgot End would make it grow, which its tests check.
func InFlight() int {
	memo.Lock()
	defer memo.Unlock()
	return len(memo.m)
}
