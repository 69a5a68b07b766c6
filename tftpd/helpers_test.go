package tftpd

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/models"
	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// fakeStore is a NodeSource backed by a map, standing in for SQLite.
type fakeStore struct {
	mu      sync.Mutex
	nodes   map[netip.Addr]store.Node
	calls   int
	missing bool // opening fails, as before coredhcp created the file
}

// open is the OpenStore function of a server using f.
func (f *fakeStore) open() (NodeSource, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.missing {
		return nil, os.ErrNotExist
	}
	return f, nil
}

func (f *fakeStore) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeStore) NodeByIP(_ context.Context, ip netip.Addr) (store.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	n, ok := f.nodes[ip]
	if !ok {
		return store.Node{}, store.ErrNotFound
	}
	return n, nil
}

// writeTree creates files under dir; a value starting with "->" makes a symlink.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// testModels is the table used by resolver and server tests.
func testModels(t *testing.T) *models.Table {
	t.Helper()
	tab, err := models.Load("../examples/models.yml")
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// testServer is a Server on 127.0.0.1 with captured logs.
type testServer struct {
	*Server
	addr *net.UDPAddr
	logs *logtest.Hook
}

// startServer serves root on a loopback port until the test ends.
func startServer(t *testing.T, root string, st *fakeStore, mutate func(*Config)) *testServer {
	t.Helper()
	cfg := &Config{Root: root, Listen: "127.0.0.1:0", Vars: map[string]string{"nfs_server": "10.0.0.1", "nfs_root": "/srv/nfs"}}
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	opt := Options{Log: logger.WithField("prefix", "rpi-tftpd"), Models: testModels(t)}
	if st != nil {
		opt.OpenStore = st.open
	}
	s, err := New(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := s.Serve(conn); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		s.Shutdown()
		select {
		case <-served:
		case <-time.After(20 * time.Second):
			t.Error("server did not stop within 20 s")
		}
	})
	return &testServer{Server: s, addr: conn.LocalAddr().(*net.UDPAddr), logs: hook}
}

// client returns a test client for ts, closed when the test ends.
func (ts *testServer) client(t *testing.T) *testClient {
	t.Helper()
	c, err := newTestClient(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

// logged reports whether a log entry with msg mentions file ("" = any).
func (ts *testServer) logged(msg, file string) bool {
	for _, e := range ts.logs.AllEntries() {
		if e.Message == msg && (file == "" || e.Data["file"] == file) {
			return true
		}
	}
	return false
}

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

// testutilCounter returns the value of a counter (or gauge) sample of ts
// whose first label value is label ("" for an unlabelled metric).
func testutilCounter(t *testing.T, ts *testServer, name, label string) float64 {
	t.Helper()
	mfs, err := ts.m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}
