package piboard

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// CheckProxyOffer says why a Pi bootloader would not take r as its boot
// answer in proxyDHCP mode, or nil: the PXE options of CheckPiOffer, with
// no address (yiaddr 0.0.0.0 is what makes it a proxy answer).
func CheckProxyOffer(m Model, r Reply) error {
	if !r.Msg.YourIPAddr.IsUnspecified() {
		return fmt.Errorf("yiaddr %s: not a proxy answer", r.Msg.YourIPAddr)
	}
	r2 := r
	msg := *r.Msg
	msg.YourIPAddr = []byte{1, 1, 1, 1} // CheckPiOffer's own address test passes
	r2.Msg = &msg
	return CheckPiOffer(m, r2)
}

// acquireProxy is the board's DHCP on a segment with a proxyDHCP server
// (dnsmasq `dhcp-range=…,proxy`, coredhcp with proxydhcp): after each
// DISCOVER it collects two OFFERs, one with an address (from the segment's
// DHCP server, without PXE options) and one with the boot answer (option
// 60/43, yiaddr 0.0.0.0), then REQUESTs the address from its server
// (Pi 4/5) and boots from the proxy's next-server. A single OFFER carrying
// both also works.
func (l *Link) acquireProxy(ctx context.Context, b Board, o Options) (lease, error) {
	var ls lease
	sub := l.Subscribe(b.MAC)
	defer l.Unsubscribe(b.MAC)
	xid := b.xid()
	for ls.discovers < o.Discovers {
		ls.discovers++
		if err := l.Send(b.Discover()); err != nil {
			return ls, err
		}
		addr, boot, err := collectOffers(ctx, sub, xid, b.Model, o.RetryInterval, &ls.rejected)
		if ctx.Err() != nil {
			return ls, ctx.Err()
		}
		if err != nil {
			continue
		}
		ls.offer, ls.offerAt = boot.Msg, boot.At
		ls.ip, _ = netip.AddrFromSlice(addr.Msg.YourIPAddr.To4())
		ls.server = tftpServer(boot.Msg)
		if b.Model == Pi3 {
			ls.boundAt = addr.At
			return ls, nil
		}
		if bound, err := l.requestAck(ctx, b, o, sub, xid, addr.Msg, &ls, func(r Reply) error {
			switch {
			case r.Msg.MessageType() == dhcpv4.MessageTypeNak:
				return nil
			case r.Msg.MessageType() != dhcpv4.MessageTypeAck:
				return fmt.Errorf("%s while waiting for an ACK", r.Msg.MessageType())
			case r.Msg.YourIPAddr.IsUnspecified():
				return errors.New("ACK without address (a proxy's)")
			}
			return nil
		}); err != nil || bound {
			return ls, err
		}
	}
	return ls, fmt.Errorf("proxy mode: no address OFFER plus boot answer after %d DISCOVERs (%s)", ls.discovers, ls.lastRejection())
}

// collectOffers waits up to d for an address OFFER and a boot answer.
func collectOffers(ctx context.Context, sub <-chan Reply, xid dhcpv4.TransactionID, m Model, d time.Duration,
	rejected *[]string) (addr, boot Reply, err error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	var haveAddr, haveBoot bool
	for !haveAddr || !haveBoot {
		select {
		case r := <-sub:
			if r.Msg.TransactionID != xid {
				continue
			}
			if r.Msg.MessageType() != dhcpv4.MessageTypeOffer {
				*rejected = append(*rejected, fmt.Sprintf("%s while waiting for OFFERs", r.Msg.MessageType()))
				continue
			}
			if !r.Msg.YourIPAddr.IsUnspecified() && !haveAddr {
				addr, haveAddr = r, true
				if CheckPiOffer(m, r) == nil && !haveBoot {
					boot, haveBoot = r, true
				}
				continue
			}
			if err := CheckProxyOffer(m, r); err != nil {
				*rejected = append(*rejected, err.Error())
				continue
			}
			boot, haveBoot = r, true
		case <-timer.C:
			return addr, boot, fmt.Errorf("timeout (address OFFER %v, boot answer %v)", haveAddr, haveBoot)
		case <-ctx.Done():
			return addr, boot, ctx.Err()
		}
	}
	return addr, boot, nil
}
