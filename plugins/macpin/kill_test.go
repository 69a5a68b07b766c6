package macpin

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/sirupsen/logrus"
)

// TestEveryOfferSurvivesSIGKILL runs macpin in a child process that prints
// each OFFER as it leaves, with 32 DISCOVER streams at once, SIGKILLs it
// mid-storm and checks every offered MAC→IP pair is in the store.
func TestEveryOfferSurvivesSIGKILL(t *testing.T) {
	if path := os.Getenv("MACPIN_KILL_CHILD"); path != "" {
		log.Logger.SetLevel(logrus.ErrorLevel)
		m := startAt(t, path, "10.0.0.1", "10.0.255.254")
		var mu sync.Mutex
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; ; i += 32 {
					mac := hw(i)
					if ip := discover(t, m, mac); ip.IsValid() {
						mu.Lock()
						fmt.Printf("%s %s\n", mac, ip)
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		return
	}
	path := filepath.Join(t.TempDir(), "nodes.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestEveryOfferSurvivesSIGKILL$")
	cmd.Env = append(os.Environ(), "MACPIN_KILL_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	offered := map[string]netip.Addr{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(offered) < 3000 {
		mac, ip, ok := strings.Cut(sc.Text(), " ")
		a, err := netip.ParseAddr(ip)
		if !ok || err != nil {
			t.Fatalf("child: %s", sc.Text())
		}
		offered[mac] = a
	}
	cmd.Process.Kill()
	cmd.Wait()

	s := openStore(t, path, false)
	nodes, err := s.Nodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	onDisk := map[string]netip.Addr{}
	for _, n := range nodes {
		onDisk[n.MAC.String()] = n.IP
	}
	for mac, ip := range offered {
		if onDisk[mac] != ip {
			t.Fatalf("%s was offered %s but the store after SIGKILL has %v", mac, ip, onDisk[mac])
		}
	}
	if err := s.(*store.SQLite).IntegrityCheck(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d offers seen before SIGKILL, %d pins on disk", len(offered), len(nodes))
}
