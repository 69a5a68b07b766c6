// Package store is the node store shared by the macpin plugin, rpi-tftpd and
// rpinetctl: one durable MAC→IP pin per board plus what we learnt about it.
//
// Backends implement Store; Open picks one from a DSN so callers never name a
// backend. SQLite (a file path or "sqlite:PATH") is the embedded default.
package store

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"
)

// Source says how a pin came to exist; admins trust them differently.
type Source string

// The ways a pin is created.
const (
	SourcePool        Source = "pool"        // allocated from a macpin range on first DISCOVER
	SourceReservation Source = "reservation" // static reservation from the macpin stanza
	SourceImport      Source = "import"      // imported from an ISC dhcpd config/leases file
	SourceAdmin       Source = "admin"       // pinned by hand with rpinetctl
)

// Node is one board the server has pinned.
type Node struct {
	MAC       net.HardwareAddr // canonical lower-case, 6 bytes for Ethernet
	IP        netip.Addr       // IPv4
	FirstSeen time.Time        // when the pin was created
	LastSeen  time.Time        // last DHCP packet from this MAC (batched, may lag by seconds)
	Model     string           // classification model name, e.g. "rpi-4-b", or "" if unknown
	Serial    string           // 8 lower-case hex digits, or ""
	Hostname  string           // option 12 from the client or set by an admin
	Source    Source
}

// Seen is a batched last-seen/facts update for an existing pin. Empty strings
// leave the stored value alone, so a packet that lacks a fact never erases it;
// on a reservation, admin or imported pin a client's fact only fills a field
// left empty, never replaces what an admin wrote.
type Seen struct {
	MAC      net.HardwareAddr
	At       time.Time
	Model    string
	Serial   string
	Hostname string
}

// Declined records an address a client reported in use on the wire (DHCPDECLINE).
// It stays out of the pool until macpin's probation ends or an admin clears it.
type Declined struct {
	IP  netip.Addr
	MAC net.HardwareAddr // who declined it
	At  time.Time
}

// Errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict means the MAC or the IP is already pinned to someone else.
	ErrConflict = errors.New("conflict: MAC or IP already pinned")
	// ErrReadOnly means the store was opened read-only (rpi-tftpd) or the disk refused a write.
	ErrReadOnly = errors.New("store is read-only")
	// ErrCorrupt means the store file exists but is not a healthy database.
	// Open refuses it rather than starting afresh, which would forget every pin.
	ErrCorrupt = errors.New("store file is corrupt or not a database")
)

// Store is the durable home of pins. Every method is safe for concurrent use.
// A write method returns only once its data is durable (fsync'd or committed).
type Store interface {
	// Nodes returns every pin, ordered by IP.
	Nodes(ctx context.Context) ([]Node, error)
	// Node returns the pin of mac, or ErrNotFound.
	Node(ctx context.Context, mac net.HardwareAddr) (Node, error)
	// NodeByIP returns the pin holding ip, or ErrNotFound.
	NodeByIP(ctx context.Context, ip netip.Addr) (Node, error)
	// Pin stores all nodes in one transaction (group commit: many concurrent
	// DISCOVERs share one fsync). It is all-or-nothing: if any MAC or IP is
	// already held by a different node it returns an error wrapping
	// ErrConflict and writes nothing. Re-pinning a MAC to the IP it already
	// holds is not a conflict.
	Pin(ctx context.Context, nodes ...Node) error
	// Unpin removes the pin of mac; ErrNotFound if there is none.
	Unpin(ctx context.Context, mac net.HardwareAddr) error
	// Touch applies batched last-seen/facts updates; unknown MACs are ignored.
	// Client facts never overwrite a non-empty field of a non-pool pin.
	Touch(ctx context.Context, seen []Seen) error
	// Decline records ip as in use on the wire and, in the same transaction,
	// drops the pin holding it, so its client gets a fresh address.
	Decline(ctx context.Context, d Declined) error
	// ClearDeclined makes a declined address allocatable again (an admin
	// checked the wire); ErrNotFound if it was not declined.
	ClearDeclined(ctx context.Context, ip netip.Addr) error
	// DeclinedAddrs lists every declined address.
	DeclinedAddrs(ctx context.Context) ([]Declined, error)
	// DataVersion returns a number that changes when another writer (an
	// rpinetctl process, another Store handle) has committed since the last
	// call; this handle's own writes leave it alone. Cheap enough to poll
	// every second to pick up admin changes.
	DataVersion(ctx context.Context) (int64, error)
	// Close releases the backend.
	Close() error
}

// Options tune Open.
type Options struct {
	// ReadOnly opens the store for reading only (rpi-tftpd, `rpinetctl nodes list`).
	// A read-only open of a missing SQLite file fails instead of creating it.
	ReadOnly bool
}
