package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// upsertPin inserts a pin or, when the MAC already holds the same IP, refreshes
// its facts. The WHERE makes a MAC pinned elsewhere change no row (a conflict
// the caller detects), and UNIQUE(ip) rejects an IP held by another MAC.
const upsertPin = `INSERT INTO pins (mac, ip, first_seen, last_seen, model, serial, hostname, source)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (mac) DO UPDATE SET
	last_seen = max(last_seen, excluded.last_seen),
	model     = CASE WHEN excluded.model    <> '' THEN excluded.model    ELSE model    END,
	serial    = CASE WHEN excluded.serial   <> '' THEN excluded.serial   ELSE serial   END,
	hostname  = CASE WHEN excluded.hostname <> '' THEN excluded.hostname ELSE hostname END,
	source    = excluded.source
WHERE ip = excluded.ip`

const touchPin = `UPDATE pins SET
	last_seen = max(last_seen, ?2),
	model     = CASE WHEN ?3 <> '' AND (source = 'pool' OR model    = '') THEN ?3 ELSE model    END,
	serial    = CASE WHEN ?4 <> '' AND (source = 'pool' OR serial   = '') THEN ?4 ELSE serial   END,
	hostname  = CASE WHEN ?5 <> '' AND (source = 'pool' OR hostname = '') THEN ?5 ELSE hostname END
WHERE mac = ?1`

const selectPins = `SELECT mac, ip, first_seen, last_seen, model, serial, hostname, source FROM pins`

// Pin implements Store.Pin: one IMMEDIATE transaction, one fsync.
func (s *SQLite) Pin(ctx context.Context, nodes ...Node) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	if len(nodes) == 0 {
		return nil
	}
	now := time.Now()
	for i := range nodes {
		if err := validNode(nodes[i]); err != nil {
			return err
		}
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("pin: begin: %w", classify(err))
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, upsertPin)
	if err != nil {
		return fmt.Errorf("pin: prepare: %w", classify(err))
	}
	defer stmt.Close()
	for _, n := range nodes {
		first := n.FirstSeen
		if first.IsZero() {
			first = now
		}
		last := n.LastSeen
		if last.IsZero() {
			last = first
		}
		res, err := stmt.ExecContext(ctx, n.MAC.String(), n.IP.String(), first.UnixMilli(), last.UnixMilli(),
			n.Model, n.Serial, n.Hostname, string(n.Source))
		if isUnique(err) {
			return conflict(ctx, tx, n)
		}
		if err != nil {
			return fmt.Errorf("pin %s to %s: %w", n.MAC, n.IP, classify(err))
		}
		if k, err := res.RowsAffected(); err == nil && k == 0 {
			return conflict(ctx, tx, n)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("pin %d node(s): commit: %w", len(nodes), classify(err))
	}
	return nil
}

func validNode(n Node) error {
	if len(n.MAC) == 0 {
		return fmt.Errorf("pin %s: empty MAC", n.IP)
	}
	if !n.IP.Is4() {
		return fmt.Errorf("pin %s: IP %q is not IPv4", n.MAC, n.IP)
	}
	if n.Source == "" {
		return fmt.Errorf("pin %s to %s: source is empty", n.MAC, n.IP)
	}
	return nil
}

func isUnique(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// conflict explains which existing pin stands in n's way.
func conflict(ctx context.Context, tx *sql.Tx, n Node) error {
	var ip, mac string
	if err := tx.QueryRowContext(ctx, "SELECT ip FROM pins WHERE mac = ?", n.MAC.String()).Scan(&ip); err == nil && ip != n.IP.String() {
		return fmt.Errorf("pin %s to %s: MAC already pinned to %s: %w", n.MAC, n.IP, ip, ErrConflict)
	}
	if err := tx.QueryRowContext(ctx, "SELECT mac FROM pins WHERE ip = ?", n.IP.String()).Scan(&mac); err == nil && mac != n.MAC.String() {
		return fmt.Errorf("pin %s to %s: IP already pinned to %s: %w", n.MAC, n.IP, mac, ErrConflict)
	}
	return fmt.Errorf("pin %s to %s: %w", n.MAC, n.IP, ErrConflict)
}

// Unpin implements Store.Unpin.
func (s *SQLite) Unpin(ctx context.Context, mac net.HardwareAddr) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	res, err := w.ExecContext(ctx, "DELETE FROM pins WHERE mac = ?", mac.String())
	if err != nil {
		return fmt.Errorf("unpin %s: %w", mac, classify(err))
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("unpin %s: %w", mac, ErrNotFound)
	}
	return nil
}

// Touch implements Store.Touch in one transaction.
func (s *SQLite) Touch(ctx context.Context, seen []Seen) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	if len(seen) == 0 {
		return nil
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("touch: begin: %w", classify(err))
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, touchPin)
	if err != nil {
		return fmt.Errorf("touch: prepare: %w", classify(err))
	}
	defer stmt.Close()
	for _, u := range seen {
		if _, err := stmt.ExecContext(ctx, u.MAC.String(), u.At.UnixMilli(), u.Model, u.Serial, u.Hostname); err != nil {
			return fmt.Errorf("touch %s: %w", u.MAC, classify(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("touch %d node(s): commit: %w", len(seen), classify(err))
	}
	return nil
}

// Decline implements Store.Decline: the address is recorded and the pin
// holding it is dropped in the same transaction, so a crash cannot leave a
// client pinned to an address known to be in use.
func (s *SQLite) Decline(ctx context.Context, d Declined) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	if !d.IP.Is4() {
		return fmt.Errorf("decline %q: not IPv4", d.IP)
	}
	at := d.At
	if at.IsZero() {
		at = time.Now()
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("decline %s: begin: %w", d.IP, classify(err))
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO declined (ip, mac, at) VALUES (?1, ?2, ?3)
		ON CONFLICT (ip) DO UPDATE SET mac = excluded.mac, at = excluded.at`,
		d.IP.String(), d.MAC.String(), at.UnixMilli()); err != nil {
		return fmt.Errorf("decline %s: %w", d.IP, classify(err))
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM pins WHERE ip = ?", d.IP.String()); err != nil {
		return fmt.Errorf("decline %s: unpin: %w", d.IP, classify(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("decline %s: commit: %w", d.IP, classify(err))
	}
	return nil
}

// ClearDeclined makes a declined address allocatable again (an admin checked
// the wire); ErrNotFound if ip was not declined.
func (s *SQLite) ClearDeclined(ctx context.Context, ip netip.Addr) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	res, err := w.ExecContext(ctx, "DELETE FROM declined WHERE ip = ?", ip.String())
	if err != nil {
		return fmt.Errorf("clear declined %s: %w", ip, classify(err))
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("clear declined %s: %w", ip, ErrNotFound)
	}
	return nil
}

// DeclinedAddrs implements Store.DeclinedAddrs, ordered by IP.
func (s *SQLite) DeclinedAddrs(ctx context.Context) ([]Declined, error) {
	out, err := queryAll(ctx, s.r, "declined addresses", classify, func(r scanner) (Declined, error) {
		var ip, mac string
		var at int64
		if err := r.Scan(&ip, &mac, &at); err != nil {
			return Declined{}, classify(err)
		}
		return declinedRow(ip, mac, time.UnixMilli(at))
	}, "SELECT ip, mac, at FROM declined")
	slices.SortFunc(out, func(a, b Declined) int { return a.IP.Compare(b.IP) })
	return out, err
}

// Nodes implements Store.Nodes, ordered by IP.
func (s *SQLite) Nodes(ctx context.Context) ([]Node, error) {
	out, err := queryAll(ctx, s.r, "nodes", classify, scanNode, selectPins)
	slices.SortFunc(out, func(a, b Node) int { return a.IP.Compare(b.IP) })
	return out, err
}

// Node implements Store.Node.
func (s *SQLite) Node(ctx context.Context, mac net.HardwareAddr) (Node, error) {
	n, err := scanNode(s.r.QueryRowContext(ctx, selectPins+" WHERE mac = ?", mac.String()))
	if err != nil {
		return Node{}, fmt.Errorf("node %s: %w", mac, err)
	}
	return n, nil
}

// NodeByIP implements Store.NodeByIP.
func (s *SQLite) NodeByIP(ctx context.Context, ip netip.Addr) (Node, error) {
	n, err := scanNode(s.r.QueryRowContext(ctx, selectPins+" WHERE ip = ?", ip.String()))
	if err != nil {
		return Node{}, fmt.Errorf("node with IP %s: %w", ip, err)
	}
	return n, nil
}

func scanNode(r scanner) (Node, error) {
	var mac, ip, source string
	var first, last int64
	var n Node
	if err := r.Scan(&mac, &ip, &first, &last, &n.Model, &n.Serial, &n.Hostname, &source); err != nil {
		return Node{}, scanErr(err, classify)
	}
	n.FirstSeen, n.LastSeen = time.UnixMilli(first), time.UnixMilli(last)
	return nodeRow(n, mac, ip, source)
}
