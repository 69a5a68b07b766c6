package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// pgUpsertPins inserts a whole batch in one statement. As in SQLite, a MAC
// that already holds the same IP only has its facts refreshed; the WHERE
// makes a MAC pinned elsewhere change no row (the caller counts rows), and
// UNIQUE(ip) rejects an IP held by another MAC. A peer server's concurrent
// insert of the same MAC or IP makes this one wait for its commit, then see it.
const pgUpsertPins = `INSERT INTO pins AS p (mac, ip, first_seen, last_seen, model, serial, hostname, source)
SELECT * FROM unnest($1::text[], $2::inet[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[])
ON CONFLICT (mac) DO UPDATE SET
	last_seen = greatest(p.last_seen, excluded.last_seen),
	model     = CASE WHEN excluded.model    <> '' THEN excluded.model    ELSE p.model    END,
	serial    = CASE WHEN excluded.serial   <> '' THEN excluded.serial   ELSE p.serial   END,
	hostname  = CASE WHEN excluded.hostname <> '' THEN excluded.hostname ELSE p.hostname END,
	source    = excluded.source
WHERE p.ip = excluded.ip`

const pgTouchPins = `UPDATE pins AS p SET
	last_seen = greatest(p.last_seen, u.at),
	model     = CASE WHEN u.model    <> '' AND (p.source = 'pool' OR p.model    = '') THEN u.model    ELSE p.model    END,
	serial    = CASE WHEN u.serial   <> '' AND (p.source = 'pool' OR p.serial   = '') THEN u.serial   ELSE p.serial   END,
	hostname  = CASE WHEN u.hostname <> '' AND (p.source = 'pool' OR p.hostname = '') THEN u.hostname ELSE p.hostname END
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[]) AS u(mac, at, model, serial, hostname)
WHERE p.mac = u.mac`

const pgSelectPins = `SELECT mac, host(ip), first_seen, last_seen, model, serial, hostname, source FROM pins`

// errPinCollision marks a batch refused by a constraint; Pin explains it
// after the transaction is gone (PostgreSQL aborts it on the error).
var errPinCollision = errors.New("pin collision")

// Pin implements Store.Pin: one transaction, one statement, all or nothing.
func (s *Postgres) Pin(ctx context.Context, nodes ...Node) error {
	if _, err := s.writer(); err != nil {
		return err
	}
	if len(nodes) == 0 {
		return nil
	}
	for i := range nodes {
		if err := validNode(nodes[i]); err != nil {
			return err
		}
	}
	batch, err := dedupeBatch(nodes)
	if err != nil {
		return err
	}
	now := time.Now()
	var macs, ips, models, serials, hosts, sources []string
	var firsts, lasts []time.Time
	for _, n := range batch {
		first := n.FirstSeen
		if first.IsZero() {
			first = now
		}
		last := n.LastSeen
		if last.IsZero() {
			last = first
		}
		macs, ips = append(macs, n.MAC.String()), append(ips, n.IP.String())
		firsts, lasts = append(firsts, first), append(lasts, last)
		models, serials = append(models, n.Model), append(serials, n.Serial)
		hosts, sources = append(hosts, n.Hostname), append(sources, string(n.Source))
	}
	what := fmt.Sprintf("pin %d node(s)", len(batch))
	if len(batch) == 1 {
		what = fmt.Sprintf("pin %s to %s", batch[0].MAC, batch[0].IP)
	}
	err = s.writeTx(ctx, what, true, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, pgUpsertPins, macs, ips, firsts, lasts, models, serials, hosts, sources)
		switch code := pgCode(err); {
		case code == pgUniqueViolation || code == pgCardinalityViolation:
			return errPinCollision
		case err != nil:
			return fmt.Errorf("%s: %w", what, pgClassify(err))
		}
		if k, err := res.RowsAffected(); err == nil && int(k) != len(batch) {
			return errPinCollision
		}
		return nil
	})
	if errors.Is(err, errPinCollision) {
		return s.explainConflict(ctx, batch)
	}
	return err
}

// dedupeBatch drops repeats of a MAC with the same IP (a retransmit) and
// refuses a batch that gives one MAC two IPs or one IP two MACs.
func dedupeBatch(nodes []Node) ([]Node, error) {
	byMAC := make(map[string]int, len(nodes))
	byIP := make(map[netip.Addr]string, len(nodes))
	out := make([]Node, 0, len(nodes))
	for _, n := range nodes {
		m := n.MAC.String()
		if i, ok := byMAC[m]; ok {
			if out[i].IP != n.IP {
				return nil, fmt.Errorf("pin %s to %s: same batch pins it to %s: %w", m, n.IP, out[i].IP, ErrConflict)
			}
			out[i] = n
			continue
		}
		if other, ok := byIP[n.IP]; ok {
			return nil, fmt.Errorf("pin %s to %s: same batch gives the IP to %s: %w", m, n.IP, other, ErrConflict)
		}
		byMAC[m], byIP[n.IP] = len(out), m
		out = append(out, n)
	}
	return out, nil
}

// explainConflict names the existing pin that stands in the batch's way.
func (s *Postgres) explainConflict(ctx context.Context, batch []Node) error {
	macs := make([]string, len(batch))
	ips := make([]string, len(batch))
	for i, n := range batch {
		macs[i], ips[i] = n.MAC.String(), n.IP.String()
	}
	rows, err := s.db.QueryContext(ctx, "SELECT mac, host(ip) FROM pins WHERE mac = ANY($1::text[]) OR ip = ANY($2::inet[])", macs, ips)
	if err != nil {
		return fmt.Errorf("pin %d node(s): %w", len(batch), ErrConflict)
	}
	defer rows.Close()
	ipOf, macOf := map[string]string{}, map[string]string{}
	for rows.Next() {
		var mac, ip string
		if rows.Scan(&mac, &ip) == nil {
			ipOf[mac], macOf[ip] = ip, mac
		}
	}
	for _, n := range batch {
		m, a := n.MAC.String(), n.IP.String()
		if ip, ok := ipOf[m]; ok && ip != a {
			return fmt.Errorf("pin %s to %s: MAC already pinned to %s: %w", m, a, ip, ErrConflict)
		}
		if mac, ok := macOf[a]; ok && mac != m {
			return fmt.Errorf("pin %s to %s: IP already pinned to %s: %w", m, a, mac, ErrConflict)
		}
	}
	return fmt.Errorf("pin %d node(s): %w", len(batch), ErrConflict)
}

// Unpin implements Store.Unpin.
func (s *Postgres) Unpin(ctx context.Context, mac net.HardwareAddr) error {
	what := fmt.Sprintf("unpin %s", mac)
	return s.writeTx(ctx, what, true, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM pins WHERE mac = $1", mac.String())
		if err != nil {
			return fmt.Errorf("%s: %w", what, pgClassify(err))
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return fmt.Errorf("%s: %w", what, ErrNotFound)
		}
		return nil
	})
}

// Touch implements Store.Touch in one statement. It does not bump the
// change counter: last-seen times and facts are not pins, and peers would
// otherwise reload every pin each time another server flushes.
func (s *Postgres) Touch(ctx context.Context, seen []Seen) error {
	if _, err := s.writer(); err != nil {
		return err
	}
	if len(seen) == 0 {
		return nil
	}
	macs := make([]string, len(seen))
	ats := make([]time.Time, len(seen))
	models, serials, hosts := make([]string, len(seen)), make([]string, len(seen)), make([]string, len(seen))
	for i, u := range seen {
		macs[i], ats[i], models[i], serials[i], hosts[i] = u.MAC.String(), u.At, u.Model, u.Serial, u.Hostname
	}
	what := fmt.Sprintf("touch %d node(s)", len(seen))
	return s.writeTx(ctx, what, false, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, pgTouchPins, macs, ats, models, serials, hosts); err != nil {
			return fmt.Errorf("%s: %w", what, pgClassify(err))
		}
		return nil
	})
}

// Decline implements Store.Decline: the address is recorded and the pin
// holding it dropped in one transaction.
func (s *Postgres) Decline(ctx context.Context, d Declined) error {
	if !d.IP.Is4() {
		return fmt.Errorf("decline %q: not IPv4", d.IP)
	}
	at := d.At
	if at.IsZero() {
		at = time.Now()
	}
	what := fmt.Sprintf("decline %s", d.IP)
	return s.writeTx(ctx, what, true, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO declined (ip, mac, at) VALUES ($1::inet, $2, $3)
			ON CONFLICT (ip) DO UPDATE SET mac = excluded.mac, at = excluded.at`,
			d.IP.String(), d.MAC.String(), at); err != nil {
			return fmt.Errorf("%s: %w", what, pgClassify(err))
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM pins WHERE ip = $1::inet", d.IP.String()); err != nil {
			return fmt.Errorf("%s: unpin: %w", what, pgClassify(err))
		}
		return nil
	})
}

// ClearDeclined implements Store.ClearDeclined.
func (s *Postgres) ClearDeclined(ctx context.Context, ip netip.Addr) error {
	what := fmt.Sprintf("clear declined %s", ip)
	return s.writeTx(ctx, what, true, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM declined WHERE ip = $1::inet", ip.String())
		if err != nil {
			return fmt.Errorf("%s: %w", what, pgClassify(err))
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return fmt.Errorf("%s: %w", what, ErrNotFound)
		}
		return nil
	})
}

// DeclinedAddrs implements Store.DeclinedAddrs, ordered by IP.
func (s *Postgres) DeclinedAddrs(ctx context.Context) ([]Declined, error) {
	return queryAll(ctx, s.db, "declined addresses", pgClassify, func(r scanner) (Declined, error) {
		var ip, mac string
		var at time.Time
		if err := r.Scan(&ip, &mac, &at); err != nil {
			return Declined{}, pgClassify(err)
		}
		return declinedRow(ip, mac, at)
	}, "SELECT host(ip), mac, at FROM declined ORDER BY ip")
}

// Nodes implements Store.Nodes, ordered by IP.
func (s *Postgres) Nodes(ctx context.Context) ([]Node, error) {
	return queryAll(ctx, s.db, "nodes", pgClassify, pgScanNode, pgSelectPins+" ORDER BY ip")
}

// Node implements Store.Node.
func (s *Postgres) Node(ctx context.Context, mac net.HardwareAddr) (Node, error) {
	n, err := pgScanNode(s.db.QueryRowContext(ctx, pgSelectPins+" WHERE mac = $1", mac.String()))
	if err != nil {
		return Node{}, fmt.Errorf("node %s: %w", mac, err)
	}
	return n, nil
}

// NodeByIP implements Store.NodeByIP.
func (s *Postgres) NodeByIP(ctx context.Context, ip netip.Addr) (Node, error) {
	if !ip.Is4() {
		return Node{}, fmt.Errorf("node with IP %s: %w", ip, ErrNotFound)
	}
	n, err := pgScanNode(s.db.QueryRowContext(ctx, pgSelectPins+" WHERE ip = $1::inet", ip.String()))
	if err != nil {
		return Node{}, fmt.Errorf("node with IP %s: %w", ip, err)
	}
	return n, nil
}

func pgScanNode(r scanner) (Node, error) {
	var mac, ip, source string
	var n Node
	if err := r.Scan(&mac, &ip, &n.FirstSeen, &n.LastSeen, &n.Model, &n.Serial, &n.Hostname, &source); err != nil {
		return Node{}, scanErr(err, pgClassify)
	}
	return nodeRow(n, mac, ip, source)
}
