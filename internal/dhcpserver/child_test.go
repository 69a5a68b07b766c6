package dhcpserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coredhcp/coredhcp/config"
	"github.com/coredhcp/coredhcp/handler"
	"github.com/coredhcp/coredhcp/plugins"
	pl_serverid "github.com/coredhcp/coredhcp/plugins/serverid"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/rpinetboot/rpinetboot/internal/replyhold"
	"github.com/rpinetboot/rpinetboot/plugins/macpin"
)

// childEnv names the variable that turns the test binary into a server:
// the network tests start it inside their server namespace (a namespace is
// a property of a thread, so a server inside the test process itself would
// mix namespaces), with the config file's path as the value.
const childEnv = "RPINETBOOT_DHCPSERVER_TEST_CHILD"

// maxInflightEnv, when set, is the child's Options.MaxInflight.
const maxInflightEnv = "RPINETBOOT_DHCPSERVER_TEST_MAXINFLIGHT"

// inlineEnv, when set, vouches for every test plugin but testslow as
// non-blocking, so a config without testslow runs in inline mode.
const inlineEnv = "RPINETBOOT_DHCPSERVER_TEST_INLINE"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(runChild(path))
	}
	os.Exit(m.Run())
}

// out serialises the child's event lines on stdout.
var out sync.Mutex

func emit(format string, a ...any) {
	out.Lock()
	fmt.Printf(format+"\n", a...)
	out.Unlock()
}

// testrecord prints "EVENT <type> <mac>" per request it sees (and
// "SETUP4"/"SETUP6" when set up), then passes the request on.
var testrecord = plugins.Plugin{
	Name: "testrecord",
	Setup4: func(args ...string) (handler.Handler4, error) {
		emit("SETUP4")
		return func(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
			emit("EVENT %s %s", req.MessageType(), req.ClientHWAddr)
			return resp, false
		}, nil
	},
	Setup6: func(args ...string) (handler.Handler6, error) {
		emit("SETUP6")
		return func(req, resp dhcpv6.DHCPv6) (dhcpv6.DHCPv6, bool) {
			if m, err := req.GetInnerMessage(); err == nil {
				emit("EVENT6 %s", m.Type())
			}
			return resp, false
		}, nil
	},
}

// testaddr offers 10.99.<mac[4]>.<mac[5]> to every MAC and answers every
// message it is shown, DECLINE and RELEASE included: whether those answers
// reach the wire is the loop's decision, which is what the tests check.
var testaddr = plugins.Plugin{
	Name: "testaddr",
	Setup4: func(args ...string) (handler.Handler4, error) {
		return func(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
			resp.YourIPAddr = testAddr(req.ClientHWAddr)
			resp.UpdateOption(dhcpv4.OptSubnetMask(net.CIDRMask(8, 32)))
			resp.UpdateOption(dhcpv4.OptIPAddressLeaseTime(3600e9))
			return resp, true
		}, nil
	},
}

// testslow holds every request for the duration given as its argument, as
// a plugin waiting for a slow disk would.
var testslow = plugins.Plugin{
	Name: "testslow",
	Setup4: func(args ...string) (handler.Handler4, error) {
		if len(args) != 1 {
			return nil, fmt.Errorf("testslow: want one duration, got %q", args)
		}
		d, err := time.ParseDuration(args[0])
		if err != nil {
			return nil, fmt.Errorf("testslow: %w", err)
		}
		return func(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
			time.Sleep(d)
			return resp, false
		}, nil
	},
}

// testhold holds the reply of every MAC whose fifth byte is 0x48 ('H')
// through replyhold for the duration given, then lets it go ("ok") or drops
// it ("fail"); in a loop without hold support it waits itself.
var testhold = plugins.Plugin{
	Name: "testhold",
	Setup4: func(args ...string) (handler.Handler4, error) {
		if len(args) != 2 || (args[0] != "ok" && args[0] != "fail") {
			return nil, fmt.Errorf("testhold: want ok|fail and a duration, got %q", args)
		}
		d, err := time.ParseDuration(args[1])
		if err != nil {
			return nil, fmt.Errorf("testhold: %w", err)
		}
		finish := func(*dhcpv4.DHCPv4) error {
			time.Sleep(d)
			if args[0] == "fail" {
				return errors.New("testhold: refused")
			}
			return nil
		}
		return func(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
			if len(req.ClientHWAddr) < 6 || req.ClientHWAddr[4] != 'H' {
				return resp, false
			}
			if !replyhold.Defer(req, finish) && finish(resp) != nil {
				return nil, true
			}
			return resp, false
		}, nil
	},
}

func testAddr(mac net.HardwareAddr) net.IP {
	if len(mac) < 6 {
		return net.IPv4(10, 99, 0, 1)
	}
	return net.IPv4(10, 99, mac[4], mac[5])
}

// runChild serves the config at path until SIGTERM; SIGUSR1 prints the
// counters as "STATS <json>".
func runChild(path string) int {
	for _, p := range []*plugins.Plugin{&pl_serverid.Plugin, &macpin.Plugin, &testrecord, &testaddr, &testslow, &testhold} {
		if err := plugins.RegisterPlugin(p); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		return 2
	}
	var o Options
	if v := os.Getenv(maxInflightEnv); v != "" {
		if o.MaxInflight, err = strconv.Atoi(v); err != nil {
			fmt.Fprintln(os.Stderr, maxInflightEnv, err)
			return 2
		}
	}
	if os.Getenv(inlineEnv) != "" {
		o.NonBlocking = map[string]bool{"server_id": true, "macpin": true, "testrecord": true, "testaddr": true, "testhold": true}
	}
	srv, err := Start(cfg, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		return 2
	}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGTERM)
	go func() {
		for s := range sig {
			if s == syscall.SIGTERM {
				srv.Close()
				return
			}
			b, _ := json.Marshal(srv.Stats())
			emit("STATS %s", b)
		}
	}()
	emit("READY")
	if err := srv.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		return 1
	}
	return 0
}
