//go:build integration

package piboard

import (
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"

	"github.com/rpinetboot/rpinetboot/internal/harness"
)

// TestLinkDeafWithoutSubscribers checks that the DHCP socket takes no
// packets while no board waits for a reply (a storm's TFTP traffic would
// otherwise pass through it, charged to the server under test), and hears
// again once one subscribes.
func TestLinkDeafWithoutSubscribers(t *testing.T) {
	n := harness.NewNet(t)
	ns, iface := n.AddClient(t, "boards")
	l, err := OpenLink(ns, iface)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b := NewBoard(Pi4, 3, 0)
	offer, err := dhcpv4.New(dhcpv4.WithHwAddr(b.MAC), dhcpv4.WithReply(b.Discover()),
		dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer))
	if err != nil {
		t.Fatal(err)
	}
	frame := broadcastFrame(b.MAC, offer.ToBytes())
	frame[35], frame[37] = serverPort, clientPort // from the server's port to the client's
	send := func() {
		t.Helper()
		err := harness.InNS(n.NS, func() error {
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			ifc, err := net.InterfaceByName(n.Bridge)
			if err != nil {
				return err
			}
			return unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: ifc.Index, Halen: 6, Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}})
		})
		if err != nil {
			t.Fatalf("send offer: %v", err)
		}
	}

	sub := l.Subscribe(b.MAC)
	send()
	select {
	case r := <-sub:
		if r.Msg.MessageType() != dhcpv4.MessageTypeOffer {
			t.Fatalf("got %s, want the OFFER", r.Msg.MessageType())
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a subscribed board got no OFFER")
	}
	l.Unsubscribe(b.MAC)

	send()
	time.Sleep(300 * time.Millisecond)
	if d := l.Dropped.Load(); d != 0 {
		t.Fatalf("the link still took %d packet(s) with nobody subscribed", d)
	}

	sub = l.Subscribe(b.MAC)
	defer l.Unsubscribe(b.MAC)
	send()
	select {
	case <-sub:
	case <-time.After(3 * time.Second):
		t.Fatal("no OFFER after subscribing again")
	}
}
