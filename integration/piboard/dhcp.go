package piboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// The options a Raspberry Pi bootloader puts in its requests.
const (
	optClientArch = 93
	optClientNDI  = 94
	optClientGUID = 97
)

// pxeParams is the parameter request list of the ROM/EEPROM requests.
var pxeParams = []byte{1, 3, 43, 60, 66, 67}

// xid of the board: the Pi 3 ROM's constant; a fixed per-MAC value for the
// EEPROMs (they keep one xid for DISCOVER and REQUEST).
func (b Board) xid() dhcpv4.TransactionID {
	if b.Model == Pi3 {
		return dhcpv4.TransactionID{0x26, 0xf3, 0x03, 0x39}
	}
	return dhcpv4.TransactionID{b.MAC[2] ^ 0x5a, b.MAC[3], b.MAC[4], b.MAC[5]}
}

// Discover is the board's DHCPDISCOVER.
func (b Board) Discover() *dhcpv4.DHCPv4 {
	m := b.base(dhcpv4.MessageTypeDiscover)
	m.UpdateOption(dhcpv4.OptClassIdentifier(PXEVendorClass))
	return m
}

// Request is the Pi 4/5 DHCPREQUEST for offer: options 50, 54 and 97, and no
// option 60 (the EEPROM drops it there).
func (b Board) Request(offer *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	m := b.base(dhcpv4.MessageTypeRequest)
	m.UpdateOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr))
	m.UpdateOption(dhcpv4.OptServerIdentifier(offer.ServerIdentifier()))
	return m
}

func (b Board) base(mt dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	m := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootRequest,
		HWType:        1, // Ethernet
		ClientHWAddr:  b.MAC,
		TransactionID: b.xid(),
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: net.IPv4zero,
		Options:       dhcpv4.Options{},
	}
	m.UpdateOption(dhcpv4.OptMessageType(mt))
	m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionMaximumDHCPMessageSize, []byte{0x05, 0xc0}))
	m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(optClientArch), []byte{0, 0}))
	m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(optClientNDI), []byte{1, 2, 1}))
	m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(optClientGUID), b.Opt97()))
	m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionParameterRequestList, pxeParams))
	return m
}

// CheckPiOffer says why a Pi bootloader would ignore reply r, or nil if it
// takes it: option 60 must start with "PXEClient", option 43 must hold
// "Raspberry Pi Boot", and (Pi 4/5) no pad option may sit between options.
func CheckPiOffer(m Model, r Reply) error {
	if !strings.HasPrefix(r.Msg.ClassIdentifier(), "PXEClient") {
		return fmt.Errorf("option 60 is %q, want PXEClient", r.Msg.ClassIdentifier())
	}
	if !bytes.Contains(r.Msg.GetOneOption(dhcpv4.OptionVendorSpecificInformation), []byte("Raspberry Pi Boot")) {
		return errors.New(`option 43 lacks "Raspberry Pi Boot"`)
	}
	if m != Pi3 && HasInnerPad(r.Raw) {
		return errors.New("pad option between options (the Pi 4 EEPROM ignores such replies)")
	}
	if r.Msg.YourIPAddr.IsUnspecified() {
		return errors.New("yiaddr is 0.0.0.0")
	}
	return nil
}

// HasInnerPad reports whether a DHCP payload has a pad option (0) before
// its end option; pads after the end are padding, not options.
func HasInnerPad(p []byte) bool {
	const optStart = 240
	for i := optStart; i < len(p); {
		switch p[i] {
		case 255:
			return false
		case 0:
			return true
		}
		if i+1 >= len(p) {
			return false
		}
		i += 2 + int(p[i+1])
	}
	return false
}

// tftpServer is where a board sends its TFTP requests: siaddr, else option
// 66 as an address, else the DHCP server.
func tftpServer(m *dhcpv4.DHCPv4) netip.Addr {
	if a, ok := netip.AddrFromSlice(m.ServerIPAddr.To4()); ok && !a.IsUnspecified() {
		return a
	}
	if a, err := netip.ParseAddr(m.TFTPServerName()); err == nil && a.Is4() {
		return a
	}
	a, _ := netip.AddrFromSlice(m.ServerIdentifier().To4())
	return a
}

// lease is what a board's DHCP phase ended with.
type lease struct {
	ip, server netip.Addr
	offer, ack *dhcpv4.DHCPv4
	offerAt    time.Time
	boundAt    time.Time
	discovers  int
	rejected   []string
}

// prefixLen is the length of the subnet mask the servers sent (option 1 of
// the ACK, else of the OFFER), 24 when neither has one: with a wrong mask a
// board given x.y.z.255 of a wider subnet would treat it as a broadcast
// address and never see its TFTP replies.
func (ls lease) prefixLen() int {
	for _, m := range []*dhcpv4.DHCPv4{ls.ack, ls.offer} {
		if m == nil {
			continue
		}
		if mask := m.SubnetMask(); mask != nil {
			if ones, bits := mask.Size(); bits == 32 && ones > 0 {
				return ones
			}
		}
	}
	return 24
}

// acquire runs the board's DHCP: DISCOVER up to o.Discovers times,
// o.RetryInterval apart; the Pi 3 takes the first acceptable OFFER, the
// Pi 4/5 REQUEST it (without option 60) and wait for the ACK.
func (l *Link) acquire(ctx context.Context, b Board, o Options) (lease, error) {
	if l.ProxyDHCP.Load() {
		return l.acquireProxy(ctx, b, o)
	}
	var ls lease
	sub := l.Subscribe(b.MAC)
	defer l.Unsubscribe(b.MAC)
	xid := b.xid()
	for ls.discovers < o.Discovers {
		ls.discovers++
		if err := l.Send(b.Discover()); err != nil {
			return ls, err
		}
		offer, err := waitReply(ctx, sub, xid, o.RetryInterval, func(r Reply) error {
			if r.Msg.MessageType() != dhcpv4.MessageTypeOffer {
				return fmt.Errorf("%s while waiting for an OFFER", r.Msg.MessageType())
			}
			return CheckPiOffer(b.Model, r)
		}, &ls.rejected)
		if err != nil {
			if ctx.Err() != nil {
				return ls, ctx.Err()
			}
			continue
		}
		ls.offer, ls.offerAt = offer.Msg, offer.At
		ls.ip, _ = netip.AddrFromSlice(offer.Msg.YourIPAddr.To4())
		ls.server = tftpServer(offer.Msg)
		if b.Model == Pi3 {
			ls.boundAt = offer.At
			return ls, nil
		}
		if bound, err := l.requestAck(ctx, b, o, sub, xid, offer.Msg, &ls, func(r Reply) error {
			switch r.Msg.MessageType() {
			case dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak:
				return nil
			}
			return fmt.Errorf("%s while waiting for an ACK", r.Msg.MessageType())
		}); err != nil || bound {
			return ls, err
		}
	}
	return ls, fmt.Errorf("no usable answer after %d DISCOVERs (%s)", ls.discovers, ls.lastRejection())
}

// requestAck sends up to three REQUESTs for offer and waits for a reply that
// check accepts. bound is false when every try went unanswered or the server
// NAKed, so the caller starts over with DISCOVER.
func (l *Link) requestAck(ctx context.Context, b Board, o Options, sub <-chan Reply, xid dhcpv4.TransactionID,
	offer *dhcpv4.DHCPv4, ls *lease, check func(Reply) error) (bound bool, err error) {
	for try := 0; try < 3; try++ {
		if err := l.Send(b.Request(offer)); err != nil {
			return false, err
		}
		ack, err := waitReply(ctx, sub, xid, o.RetryInterval, check, &ls.rejected)
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			continue
		}
		if ack.Msg.MessageType() == dhcpv4.MessageTypeNak {
			ls.rejected = append(ls.rejected, "NAK: "+ack.Msg.Message())
			return false, nil
		}
		ls.ack, ls.boundAt = ack.Msg, ack.At
		if ip, _ := netip.AddrFromSlice(ack.Msg.YourIPAddr.To4()); ip != ls.ip {
			return false, fmt.Errorf("ACK for %s after an OFFER of %s", ip, ls.ip)
		}
		return true, nil
	}
	return false, nil
}

// lastRejection says why no reply was usable, for the final error.
func (ls lease) lastRejection() string {
	if n := len(ls.rejected); n > 0 {
		return fmt.Sprintf("%d replies ignored, last: %s", n, ls.rejected[n-1])
	}
	return "no reply"
}

// waitReply waits up to d for a reply with xid that check accepts; rejected
// ones are noted and skipped.
func waitReply(ctx context.Context, sub <-chan Reply, xid dhcpv4.TransactionID, d time.Duration,
	check func(Reply) error, rejected *[]string) (Reply, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case r := <-sub:
			if r.Msg.TransactionID != xid {
				continue
			}
			if err := check(r); err != nil {
				*rejected = append(*rejected, err.Error())
				continue
			}
			return r, nil
		case <-timer.C:
			return Reply{}, errors.New("timeout")
		case <-ctx.Done():
			return Reply{}, ctx.Err()
		}
	}
}

// Exchange sends req from its chaddr and returns the first reply with the
// same xid within timeout; tests use it for hand-made requests.
func (l *Link) Exchange(ctx context.Context, req *dhcpv4.DHCPv4, timeout time.Duration) (Reply, error) {
	sub := l.Subscribe(req.ClientHWAddr)
	defer l.Unsubscribe(req.ClientHWAddr)
	if err := l.Send(req); err != nil {
		return Reply{}, err
	}
	var ignored []string
	r, err := waitReply(ctx, sub, req.TransactionID, timeout, func(Reply) error { return nil }, &ignored)
	if err != nil {
		return r, fmt.Errorf("piboard: %s from %s: %w", req.MessageType(), req.ClientHWAddr, err)
	}
	return r, nil
}
