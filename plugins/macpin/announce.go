package macpin

import (
	"github.com/rpinetboot/rpinetboot/internal/events"
	"github.com/rpinetboot/rpinetboot/internal/store"
)

// announce fires the new-node event for a pin that has just become durable.
// Only the handler that created the pin calls it, once per new MAC; the
// notifier queues and returns at once, so the OFFER never waits for a hook.
func (m *Macpin) announce(n store.Node) {
	if m.cfg.OnNew == nil {
		return
	}
	m.cfg.OnNew.Fire(events.Event{Source: "macpin", MAC: n.MAC.String(), IP: n.IP.String(),
		Model: n.Model, Serial: n.Serial, Hostname: n.Hostname})
}
