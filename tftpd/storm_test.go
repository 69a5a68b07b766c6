package tftpd

import (
	"crypto/sha256"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestBootStorm: 200 simulated Pi 4 boards, each from its own IP, power on
// within a second and boot as the EEPROM does (tsize probe and abort, then
// the file with a duplicate RRQ, blksize 1024). With only 50 transfer
// slots (dnsmasq's default, which boots none of them) every board must get
// every file intact: requests queue, duplicates collapse, port 69 keeps
// being read.
func TestBootStorm(t *testing.T) {
	const boards = 200
	root := t.TempDir()
	files := map[string][32]byte{}
	for name, size := range map[string]int{"start4.elf": 600 << 10, "fixup4.dat": 5400, "kernel8.img": 500 << 10} {
		files[name] = sha256.Sum256(randomFile(t, filepath.Join(root, "default", name), size))
	}
	writeTree(t, root, map[string]string{"default/config.txt.tmpl": "kernel={{.Entry.Kernel}}\n"})
	ts := startServer(t, root, nil, func(c *Config) { c.MaxTransfers = 50 })

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		times []time.Duration
		fails []string
	)
	begin := time.Now()
	for i := range boards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * time.Second / boards) // all within 1 s
			start := time.Now()
			err := func() error {
				c, err := newTestClientFrom(net.IPv4(127, 0, 1+byte(i/250), 1+byte(i%250)), ts.addr)
				if err != nil {
					return err
				}
				defer c.close()
				c.timeout = 2 * time.Second
				serial := fmt.Sprintf("%08x", 0x1000+i)
				for _, name := range []string{"start4.elf", "config.txt", "fixup4.dat", "kernel8.img"} {
					req := serial + "/" + name
					if _, err := c.probe(req, 1024); err != nil {
						return fmt.Errorf("probe %s: %w", req, err)
					}
					got, _, err := c.get(req, 1, "tsize", "0", "blksize", "1024")
					if err != nil {
						return fmt.Errorf("get %s: %w", req, err)
					}
					if sum, ok := files[name]; ok && sha256.Sum256(got) != sum {
						return fmt.Errorf("%s: checksum mismatch", req)
					}
				}
				return nil
			}()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fails = append(fails, fmt.Sprintf("board %d: %v", i, err))
			}
			times = append(times, time.Since(start))
		}()
	}
	wg.Wait()
	if len(fails) > 0 {
		for _, r := range []string{"ok", "aborted", "timeout", "gone", "error", "busy"} {
			t.Logf("transfers %s: %v", r, testutilCounter(t, ts, "rpi_tftpd_transfers_total", r))
		}
		t.Fatalf("%d of %d boards failed, first: %s", len(fails), boards, fails[0])
	}
	slices.Sort(times)
	t.Logf("%d boards booted in %v; per board p50 %v, p99 %v", boards, time.Since(begin).Round(time.Millisecond),
		times[len(times)/2].Round(time.Millisecond), times[len(times)*99/100].Round(time.Millisecond))
}
