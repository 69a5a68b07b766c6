//go:build integration

package rpipxe

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rpinetboot/rpinetboot/internal/harness"
	"golang.org/x/sys/unix"
)

// TestMenuFormMatchesDnsmasq runs the real dnsmasq with
// pxe-service=0,"Raspberry Pi Boot" in a private network namespace, sends it
// a Pi 3B+ ROM-like DISCOVER over a veth pair, and checks that our default
// option 43 is byte-for-byte what dnsmasq offers.
func TestMenuFormMatchesDnsmasq(t *testing.T) {
	n := harness.NewNet(t)
	cli, iface := n.AddClient(t, "pi3")
	if out, err := n.Run(t, cli, "ip", "link", "set", iface, "address", "b8:27:eb:00:00:01"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	dir := t.TempDir()
	p := n.Start(t, n.NS, "dnsmasq", "dnsmasq",
		"--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--user=root",
		"--interface="+n.Bridge, "--bind-interfaces", "--log-dhcp", "--log-facility=-", "--no-ping",
		"--pid-file="+filepath.Join(dir, "pid"), "--dhcp-leasefile="+filepath.Join(dir, "leases"),
		"--dhcp-range="+n.Prefix+"100,"+n.Prefix+"200,1h", "--pxe-service=0,Raspberry Pi Boot")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dnsmasq log:\n%s", p.Log())
		}
	})

	offer, err := discoverIn(cli, iface)
	if err != nil {
		t.Fatalf("DISCOVER to dnsmasq: %v", err)
	}
	t.Logf("dnsmasq OFFER option 43: % x", offer.Options.Get(dhcpv4.OptionVendorSpecificInformation))
	if got := string(offer.Options.Get(dhcpv4.OptionClassIdentifier)); got != "PXEClient" {
		t.Errorf("dnsmasq option 60 = %q, want PXEClient", got)
	}
	want, _ := menuForm(bootText)
	if got := offer.Options.Get(dhcpv4.OptionVendorSpecificInformation); !bytes.Equal(got, want) {
		t.Errorf("option 43 differs from dnsmasq:\ndnsmasq % x\nrpipxe  % x", got, want)
	}
}

// discoverIn sends one Pi-like DISCOVER (broadcast flag set, so the OFFER
// comes back to 255.255.255.255:68) from iface inside namespace ns and
// returns the OFFER.
func discoverIn(ns, iface string) (*dhcpv4.DHCPv4, error) {
	var offer *dhcpv4.DHCPv4
	err := harness.InNS(ns, func() error {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); serr == nil {
					serr = unix.BindToDevice(int(fd), iface)
				}
			})
			if err != nil {
				return err
			}
			return serr
		}}
		pc, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:68")
		if err != nil {
			return err
		}
		defer pc.Close()
		mac, _ := net.ParseMAC("b8:27:eb:00:00:01")
		d, err := dhcpv4.NewDiscovery(mac,
			dhcpv4.WithBroadcast(true),
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier(pi3VCI)),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 0})),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 2, 1})),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, pi3GUID)),
			dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter,
				dhcpv4.OptionVendorSpecificInformation, dhcpv4.OptionClassIdentifier,
				dhcpv4.OptionTFTPServerName, dhcpv4.OptionBootfileName))
		if err != nil {
			return err
		}
		dst := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
		buf := make([]byte, 1500)
		// dnsmasq may still be starting: resend until an OFFER arrives.
		for try := 0; try < 20; try++ {
			if _, err := pc.WriteTo(d.ToBytes(), dst); err != nil {
				return fmt.Errorf("send DISCOVER: %w", err)
			}
			_ = pc.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					break // timeout: send again
				}
				m, err := dhcpv4.FromBytes(buf[:n])
				if err == nil && m.TransactionID == d.TransactionID && m.MessageType() == dhcpv4.MessageTypeOffer {
					offer = m
					return nil
				}
			}
		}
		return fmt.Errorf("no OFFER within 5 s")
	})
	return offer, err
}
