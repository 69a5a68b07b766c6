package macpin

import "sync"

var (
	instancesMu sync.Mutex
	instances   []*Macpin
)

// Instances returns the macpin stanzas set up in this process, so the
// metrics plugin can export their Stats without a place in the chain.
func Instances() []*Macpin {
	instancesMu.Lock()
	defer instancesMu.Unlock()
	return append([]*Macpin(nil), instances...)
}

func track(m *Macpin) {
	instancesMu.Lock()
	instances = append(instances, m)
	instancesMu.Unlock()
}

// Pool names the stanza by its first range, for metric labels and logs.
func (m *Macpin) Pool() string { return m.cfg.Ranges[0].String() }
