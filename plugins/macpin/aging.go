package macpin

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sort"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/sirupsen/logrus"

	"github.com/rpinetboot/rpinetboot/internal/events"
	"github.com/rpinetboot/rpinetboot/internal/loglimit"
	"github.com/rpinetboot/rpinetboot/internal/store"
)

// State that ages, as in ISC dhcpd and Kea: learned pins are taken over
// once the pool is full and they have been idle long enough; declined
// addresses come back after a probation; DECLINEs are believed only from
// the address's own client, right after this server answered it, within a
// budget. Reservations and admin pins are never touched.

// reclaimBatch is how many of the oldest reclaimable pins one scan of the
// pins keeps; a flood of new MACs on a full pool then costs one scan per
// batch, not one per packet.
const reclaimBatch = 256

// reclaimRescan bounds how often the pins are scanned when none qualifies.
const reclaimRescan = time.Second

// reclaimCache holds the oldest reclaimable pins found by the last scan.
type reclaimCache struct {
	macs    []string
	scanned time.Time
}

// maxOnProbation bounds the addresses a pool may have on probation at once
// (an eighth of it, at least one): DECLINEs beyond it are ignored, so
// forged ones cannot empty the pool even within the per-MAC budgets.
func maxOnProbation(poolSize int) int { return max(1, poolSize/8) }

// declineLimiter gives each MAC DeclineBudget DECLINEs per probation period.
func declineLimiter(cfg Config) *loglimit.Limiter {
	if cfg.DeclineBudget <= 0 || cfg.DeclineProbation <= 0 {
		return nil
	}
	return loglimit.New(cfg.DeclineBudget, cfg.DeclineProbation/time.Duration(cfg.DeclineBudget), 1<<16)
}

// takeOver picks, on a full pool, the learned pin to hand to a new MAC:
// the least recently seen pool pin idle longer than ReclaimAfter. It
// removes that pin from memory and returns its MAC and address. Caller
// holds mu.
func (m *Macpin) takeOver(now time.Time) (victim string, ip netip.Addr, idle time.Duration, ok bool) {
	if m.cfg.ReclaimAfter <= 0 {
		return "", netip.Addr{}, 0, false
	}
	for attempt := 0; attempt < 2; attempt++ {
		for len(m.reclaim.macs) > 0 {
			k := m.reclaim.macs[0]
			m.reclaim.macs = m.reclaim.macs[1:]
			if !m.reclaimable(k, now) {
				continue // seen again, unpinned or changed since the scan
			}
			ip, idle = m.byMAC[k], now.Sub(m.lastSeen[k])
			delete(m.byMAC, k)
			delete(m.byIP, ip)
			delete(m.source, k)
			delete(m.lastSeen, k)
			m.localGen++
			return k, ip, idle, true
		}
		if now.Sub(m.reclaim.scanned) < reclaimRescan {
			return "", netip.Addr{}, 0, false
		}
		m.scanReclaimable(now)
	}
	return "", netip.Addr{}, 0, false
}

// reclaimable reports whether the pin of k may be taken over now. Caller holds mu.
func (m *Macpin) reclaimable(k string, now time.Time) bool {
	if _, ok := m.byMAC[k]; !ok || m.source[k] != store.SourcePool {
		return false
	}
	if _, pending := m.pending[k]; pending {
		return false
	}
	return now.Sub(m.lastSeen[k]) > m.cfg.ReclaimAfter
}

// scanReclaimable refills the cache with the oldest reclaimable pins. Caller holds mu.
func (m *Macpin) scanReclaimable(now time.Time) {
	var cands []string
	for k := range m.byMAC {
		if m.reclaimable(k, now) {
			cands = append(cands, k)
		}
	}
	sort.Slice(cands, func(i, j int) bool { return m.lastSeen[cands[i]].Before(m.lastSeen[cands[j]]) })
	if len(cands) > reclaimBatch {
		cands = cands[:reclaimBatch]
	}
	m.reclaim = reclaimCache{macs: cands, scanned: now}
}

// evict removes from the store the pins that members of batch took over,
// before the batch commits; a member whose victim cannot be unpinned fails
// (its address goes back: the store still names the old board).
func (m *Macpin) evict(batch []*pendingPin) []*pendingPin {
	keep := batch[:0]
	for _, p := range batch {
		if p.evict == nil {
			keep = append(keep, p)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		err := m.store.Unpin(ctx, p.evict)
		cancel()
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			m.log.WithFields(logrus.Fields{"mac": p.node.MAC.String(), "reclaimed_mac": p.evict.String()}).WithError(err).Error("cannot unpin the board whose address was reclaimed; no OFFER sent")
			m.fail(p, err)
			continue
		}
		keep = append(keep, p)
	}
	return keep
}

// announceReclaim logs, counts and fires the hook event of a take-over.
func (m *Macpin) announceReclaim(newMAC net.HardwareAddr, victim string, ip netip.Addr, idle time.Duration) {
	m.stats.reclaims.Add(1)
	old := net.HardwareAddr(victim)
	m.log.WithFields(logrus.Fields{"mac": newMAC.String(), "ip": ip.String(), "reclaimed_mac": old.String(),
		"idle": idle.Round(time.Second).String(), "reclaim_after": m.cfg.ReclaimAfter.String()}).
		Warn("pool full: address of the least recently seen board reclaimed for a new one")
	if m.cfg.OnNew != nil {
		m.cfg.OnNew.Fire(events.Event{Kind: events.KindReclaimed, Source: "macpin", MAC: old.String(), IP: ip.String()})
	}
}

// endProbation returns to the pool every declined address whose probation
// is over; the store forgets it first, so a restart cannot resurrect it.
func (m *Macpin) endProbation(now time.Time) {
	if m.cfg.DeclineProbation <= 0 {
		return
	}
	m.mu.RLock()
	var due []netip.Addr
	for ip, at := range m.declined {
		if now.Sub(at) >= m.cfg.DeclineProbation {
			due = append(due, ip)
		}
	}
	m.mu.RUnlock()
	for _, ip := range due {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		err := m.store.ClearDeclined(ctx, ip)
		cancel()
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			if m.allowLog("probation", nil) {
				m.log.WithField("ip", ip.String()).WithError(err).Error("cannot end the probation of a declined address; will retry")
			}
			return
		}
		m.mu.Lock()
		if _, ok := m.declined[ip]; ok {
			delete(m.declined, ip)
			if _, held := m.byIP[ip]; !held {
				m.pool.release(ip)
			}
			m.localGen++
		}
		m.mu.Unlock()
		m.stats.released.Add(1)
		m.log.WithFields(logrus.Fields{"ip": ip.String(), "probation": m.cfg.DeclineProbation.String()}).Info("declined address back in the pool after its probation")
	}
}

// decline acts on a DECLINE only when it is credible: it names this server
// (option 54), the sender holds the address as a learned pin, this server
// answered the sender within the last minute (a client declines right after
// the ACK, once its ARP probe found the address in use), the sender's
// budget is not spent and the pool has room for one more address on
// probation. Then the address goes to probation and the MAC is unpinned, so
// its next DISCOVER gets another address. Anything else is ignored, counted
// and logged (once a minute per MAC): DHCP has no authentication, so these
// checks are what keeps a forged DECLINE from costing a board its address.
func (m *Macpin) decline(req, resp *dhcpv4.DHCPv4) {
	mac := req.ClientHWAddr
	ip := requested(req, false)
	fields := logrus.Fields{"mac": mac.String(), "ip": ip.String()}
	ignore := func(why string) {
		m.stats.declinesIgnored.Add(1)
		if m.allowLog("decline", mac) {
			m.log.WithFields(fields).WithField("why", why).Warn("DECLINE ignored")
		}
	}
	theirs, ours := req.ServerIdentifier(), resp.ServerIdentifier()
	if theirs == nil || ours == nil || !theirs.Equal(ours) {
		ignore("it does not name this server in option 54")
		return
	}
	k := string(mac)
	m.mu.RLock()
	pinned, ok := m.byMAC[k]
	src := m.source[k]
	onProbation, poolSize := len(m.declined), m.pool.size
	m.mu.RUnlock()
	switch {
	case !ok || !ip.IsValid() || ip != pinned:
		ignore("the address is not pinned to this MAC")
		return
	case src != store.SourcePool:
		ignore("the address is a reservation or an admin pin: find the other device on the wire, the pin stays")
		return
	case time.Since(m.seen.answeredAt(k)) > declineWindow:
		ignore("this server did not answer this MAC within the last minute")
		return
	case onProbation >= maxOnProbation(poolSize):
		ignore("too many addresses on probation already")
		return
	}
	if m.declines == nil {
		ignore("decline-budget=0")
		return
	}
	if ok, _ := m.declines.Allow(k, "decline"); !ok {
		ignore("this MAC's decline budget is spent")
		return
	}
	now := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := m.store.Decline(ctx, store.Declined{IP: ip, MAC: mac, At: now}); err != nil {
		m.log.WithFields(fields).WithError(err).Error("DECLINE not recorded; pin kept")
		return
	}
	m.mu.Lock()
	if m.byMAC[k] == ip {
		delete(m.byMAC, k)
		delete(m.source, k)
		delete(m.lastSeen, k)
	}
	if m.byIP[ip] == k {
		delete(m.byIP, ip)
	}
	m.declined[ip] = now
	m.pool.mark(ip)
	m.localGen++
	m.mu.Unlock()
	m.stats.declines.Add(1)
	m.log.WithFields(fields).WithField("probation", m.cfg.DeclineProbation.String()).
		Warn("DECLINE: address in use on the wire; on probation, client unpinned")
}
