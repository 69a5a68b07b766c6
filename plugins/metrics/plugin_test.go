package metrics

import (
	"github.com/rpinetboot/rpinetboot/internal/classify"

	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/rpinetboot/rpinetboot/internal/dhcpserver"
	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/rpinetboot/rpinetboot/plugins/macpin"
)

func TestParseArgs(t *testing.T) {
	ok := []struct {
		args   []string
		remote bool
	}{
		{[]string{"127.0.0.1:9467"}, false},
		{[]string{"[::1]:9467"}, false},
		{[]string{"localhost:9467"}, false},
		{[]string{"0.0.0.0:9467", "allow-remote"}, true},
		{[]string{"192.168.50.1:9467", "allow-remote"}, true},
	}
	for _, c := range ok {
		got, err := ParseArgs(c.args...)
		if err != nil || got.Addr != c.args[0] || got.AllowRemote != c.remote {
			t.Errorf("ParseArgs(%q) = %+v, %v; want addr %s remote %v", c.args, got, err, c.args[0], c.remote)
		}
	}
	// Each refusal names the plugin, the argument and what was wanted.
	bad := []struct {
		args []string
		want string
	}{
		{nil, "missing <host:port>"},
		{[]string{"127.0.0.1:1", "allow-remote", "x"}, `argument "x": unknown word, want key=value or one of allow-remote`},
		{[]string{"0.0.0.0:9467"}, `"0.0.0.0:9467": not a loopback address`},
		{[]string{":9467"}, `":9467": not a loopback address`},
		{[]string{"192.168.50.1:9467"}, "add allow-remote"},
		{[]string{"127.0.0.1"}, "want host:port"},
		{[]string{"127.0.0.1:0"}, "between 1 and 65535"},
		{[]string{"127.0.0.1:http"}, "between 1 and 65535"},
		{[]string{"127.0.0.1:70000"}, "between 1 and 65535"},
		{[]string{"metrics.example:9467"}, "want an IP address or localhost"},
		{[]string{"127.0.0.1:9467", "remote"}, `argument "remote": unknown word, want key=value or one of allow-remote`},
	}
	for _, c := range bad {
		_, err := ParseArgs(c.args...)
		if err == nil || !strings.HasPrefix(err.Error(), "metrics: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseArgs(%q) error %v; want one naming metrics and %q", c.args, err, c.want)
		}
	}
}

func TestSetupRefusesBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = setup4(ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "metrics: address") {
		t.Fatalf("setup on a busy port: %v; want a metrics: address error", err)
	}
}

// TestSetupServes checks the stanza's listener answers both endpoints and
// that the chain handler passes the reply on untouched.
func TestSetupServes(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	h, err := setup4(addr)
	if err != nil {
		t.Fatal(err)
	}
	req := pi4Discover(t, "dc:a6:32:01:02:03")
	resp := offer(t, req)
	if got, stop := h(req, resp); got != resp || stop {
		t.Fatalf("handler returned %p stop=%v; want the same reply and no stop", got, stop)
	}
	code, body := get(t, "http://"+addr+"/metrics")
	if code != 200 || !strings.Contains(body, "rpi_dhcp_packets_total") || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics: %d %.300s", code, body)
	}
	code, body = get(t, "http://"+addr+"/healthz")
	if code != 503 || !strings.Contains(body, "no DHCPv4 listener is serving") {
		t.Fatalf("/healthz with no DHCPv4 loop: %d %q; want 503 naming the listener", code, body)
	}
}

func TestRequestAndReplyCounters(t *testing.T) {
	c := NewCollector()
	c.loops = func() []loop { return nil }
	c.pins = func() []*macpin.Macpin { return nil }
	req := pi4Discover(t, "dc:a6:32:01:02:03")
	c.observe(req, offer(t, req), classify.Of(req))
	c.observe(req, nil, classify.Of(req)) // answered by nobody (e.g. pool exhausted)
	other, _ := dhcpv4.NewDiscovery(net.HardwareAddr{2, 0, 0, 0, 0, 1})
	c.observe(other, nil, classify.Of(other))
	body := scrape(t, c)
	for _, want := range []string{
		`rpi_dhcp_requests_total{class="rpi-pxe",model="rpi-4-b",type="discover"} 2`,
		`rpi_dhcp_requests_total{class="other",model="unknown",type="discover"} 1`,
		`rpi_dhcp_replies_total{type="offer"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

// TestModelLabelsBounded: U-Boot boards name their model in option 60, so a
// client sending a new name per packet must not grow the series without end.
func TestModelLabelsBounded(t *testing.T) {
	c := NewCollector()
	c.loops = func() []loop { return nil }
	c.pins = func() []*macpin.Macpin { return nil }
	for i := 0; i < 500; i++ {
		req, _ := dhcpv4.NewDiscovery(net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)},
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier(fmt.Sprintf("rpi-hostile%d", i))))
		c.observe(req, nil, classify.Of(req))
	}
	body := scrape(t, c)
	series := strings.Count(body, "rpi_dhcp_requests_total{")
	if series > maxModels+1 {
		t.Fatalf("%d request series after 500 distinct models; want at most %d", series, maxModels+1)
	}
	if !strings.Contains(body, `model="other"`) {
		t.Fatalf("models past the cap are not counted as other")
	}
}

type fakeLoop struct{ n int }

func (f fakeLoop) Stats() dhcpserver.Stats { return dhcpserver.Stats{Received: 7, Malformed: 2} }
func (f fakeLoop) Listening() int          { return f.n }

// TestHealth walks /healthz through the states an operator cares about.
func TestHealth(t *testing.T) {
	c := NewCollector()
	c.pins = func() []*macpin.Macpin { return nil }
	now := time.Unix(1_800_000_000, 0)
	c.health.now = func() time.Time { return now }
	srv := httptest.NewServer(NewHandler(c))
	defer srv.Close()
	check := func(wantCode int, want string) {
		t.Helper()
		code, body := get(t, srv.URL+"/healthz")
		if code != wantCode || !strings.Contains(body, want) {
			t.Fatalf("/healthz = %d %q; want %d containing %q", code, body, wantCode, want)
		}
	}
	c.loops = func() []loop { return []loop{fakeLoop{0}} }
	check(503, "no DHCPv4 listener is serving")
	c.loops = func() []loop { return []loop{fakeLoop{1}} }

	// An open instrumented store must have answered recently.
	st, err := store.Open(filepath.Join(t.TempDir(), "nodes.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st = store.Instrument(st)
	defer st.Close()
	check(503, "node store has not answered")
	c.storeOp("DataVersion", time.Millisecond, nil)
	check(200, "ok")
	c.storeOp("Node", time.Millisecond, store.ErrNotFound) // an answer, not a failure
	check(200, "ok")

	// Disk full: a failed write is reported until a write succeeds again.
	full := errors.New("database or disk is full")
	c.storeOp("Pin", time.Millisecond, full)
	check(503, "node store refuses writes since 2027-01-15T08:00:00Z (new boards get no address): database or disk is full")
	c.storeOp("DataVersion", time.Millisecond, nil)
	check(503, "refuses writes")
	c.storeOp("Pin", time.Millisecond, nil)
	check(200, "ok")

	now = now.Add(storeStale + 5*time.Second)
	c.storeOp("DataVersion", time.Millisecond, errors.New("disk I/O error"))
	check(503, "node store has not answered for 20s (last error: disk I/O error)")

	body := scrape(t, c)
	for _, want := range []string{
		`rpi_dhcp_store_errors_total{op="Pin"} 1`,
		`rpi_dhcp_store_op_duration_seconds_count{op="Pin"} 2`,
		`rpi_dhcp_packets_total{result="malformed"} 2`,
		`rpi_dhcp_listeners 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

func pi4Discover(t testing.TB, mac string) *dhcpv4.DHCPv4 {
	t.Helper()
	hw, _ := net.ParseMAC(mac)
	guid := []byte{0, 'R', 'P', 'i', '4', 0x11, 0x31, 0xc0, 0x00, 0x32, 0x01, 0x02, 0x03, 0xef, 0xbe, 0xad, 0xde}
	d, err := dhcpv4.NewDiscovery(hw,
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, guid)))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func offer(t testing.TB, req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	t.Helper()
	resp, err := dhcpv4.NewReplyFromRequest(req, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func scrape(t testing.TB, c *Collector) string {
	t.Helper()
	srv := httptest.NewServer(c.MetricsHandler())
	defer srv.Close()
	_, body := get(t, srv.URL)
	return body
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}
