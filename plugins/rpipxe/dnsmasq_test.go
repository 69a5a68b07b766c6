package rpipxe

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"
)

// nsPrefix names every namespace this test creates, so leftovers of a
// killed run can be found and removed.
const nsPrefix = "rpipxe-t-"

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// removeStaleNamespaces deletes namespaces left by earlier killed runs.
func removeStaleNamespaces(t *testing.T) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(line, " ")
		if strings.HasPrefix(name, nsPrefix) {
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

// TestMenuFormMatchesDnsmasq runs the real dnsmasq with
// pxe-service=0,"Raspberry Pi Boot" in a private network namespace, sends it
// a Pi 3B+ ROM-like DISCOVER over a veth pair, and checks that our default
// option 43 is byte-for-byte what dnsmasq offers.
func TestMenuFormMatchesDnsmasq(t *testing.T) {
	dnsmasq, err := exec.LookPath("dnsmasq")
	if err != nil {
		t.Fatalf("dnsmasq is required (Debian package dnsmasq-base): %v", err)
	}
	removeStaleNamespaces(t)
	srv, cli := fmt.Sprintf("%s%d-s", nsPrefix, os.Getpid()), fmt.Sprintf("%s%d-c", nsPrefix, os.Getpid())
	for _, ns := range []string{srv, cli} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	ipCmd(t, "-n", srv, "link", "add", "vs", "type", "veth", "peer", "name", "vc", "netns", cli)
	ipCmd(t, "-n", srv, "addr", "add", "10.250.0.1/24", "dev", "vs")
	ipCmd(t, "-n", srv, "link", "set", "vs", "up")
	ipCmd(t, "-n", cli, "link", "set", "vc", "address", "b8:27:eb:00:00:01")
	ipCmd(t, "-n", cli, "link", "set", "vc", "up")

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var logBuf bytes.Buffer
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", srv, dnsmasq,
		"--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--user=root",
		"--interface=vs", "--bind-interfaces", "--log-dhcp", "--log-facility=-", "--no-ping",
		"--pid-file="+filepath.Join(dir, "pid"), "--dhcp-leasefile="+filepath.Join(dir, "leases"),
		"--dhcp-range=10.250.0.100,10.250.0.200,1h", "--pxe-service=0,Raspberry Pi Boot")
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dnsmasq: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("dnsmasq log:\n%s", logBuf.String())
		}
	})

	offer, err := discoverIn(cli, "vc")
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
// returns the OFFER. The socket is opened on a locked thread switched into
// ns; that thread is never unlocked, so Go discards it afterwards.
func discoverIn(ns, iface string) (*dhcpv4.DHCPv4, error) {
	type result struct {
		offer *dhcpv4.DHCPv4
		err   error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		offer, err := func() (*dhcpv4.DHCPv4, error) {
			f, err := os.Open(filepath.Join("/run/netns", ns))
			if err != nil {
				return nil, err
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				return nil, fmt.Errorf("setns %s: %w", ns, err)
			}
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
				return nil, err
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
				return nil, err
			}
			dst := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}
			buf := make([]byte, 1500)
			// dnsmasq may still be starting: resend until an OFFER arrives.
			for try := 0; try < 20; try++ {
				if _, err := pc.WriteTo(d.ToBytes(), dst); err != nil {
					return nil, fmt.Errorf("send DISCOVER: %w", err)
				}
				_ = pc.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
				for {
					n, _, err := pc.ReadFrom(buf)
					if err != nil {
						break // timeout: send again
					}
					m, err := dhcpv4.FromBytes(buf[:n])
					if err == nil && m.TransactionID == d.TransactionID && m.MessageType() == dhcpv4.MessageTypeOffer {
						return m, nil
					}
				}
			}
			return nil, fmt.Errorf("no OFFER within 5 s")
		}()
		ch <- result{offer, err}
	}()
	r := <-ch
	return r.offer, r.err
}
