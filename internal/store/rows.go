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

// Row decoding shared by the SQLite and PostgreSQL stores: their SQL and
// time types differ, the checks on what a row holds do not.

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(...any) error }

// queryAll runs query on db and decodes every row with scan; classify maps
// the driver's errors to the store's.
func queryAll[T any](ctx context.Context, db *sql.DB, what string, classify func(error) error,
	scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, classify(err))
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, classify(err))
	}
	return out, nil
}

// scanErr maps a Scan error: no row is ErrNotFound, the rest go through
// the driver's classify.
func scanErr(err error, classify func(error) error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return classify(err)
}

// nodeRow completes n, scanned from a pins row, with the MAC, IP and
// source that came as text, refusing a row that does not parse.
func nodeRow(n Node, mac, ip, source string) (Node, error) {
	var err error
	if n.MAC, err = net.ParseMAC(mac); err != nil {
		return Node{}, fmt.Errorf("row %s: bad MAC: %w", mac, err)
	}
	if n.IP, err = netip.ParseAddr(ip); err != nil {
		return Node{}, fmt.Errorf("row %s: bad IP: %w", mac, err)
	}
	n.Source = Source(source)
	return n, nil
}

// declinedRow is a declined row whose address and MAC came as text (the
// MAC may be empty).
func declinedRow(ip, mac string, at time.Time) (Declined, error) {
	d := Declined{At: at}
	var err error
	if d.IP, err = netip.ParseAddr(ip); err != nil {
		return Declined{}, fmt.Errorf("declined row %q: %w", ip, err)
	}
	if mac != "" {
		if d.MAC, err = net.ParseMAC(mac); err != nil {
			return Declined{}, fmt.Errorf("declined row %s: MAC %q: %w", ip, mac, err)
		}
	}
	return d, nil
}
