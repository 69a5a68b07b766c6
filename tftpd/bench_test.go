package tftpd

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/harness"
)

var (
	benchClients = flag.Int("tftpd.clients", 100, "BenchmarkStorm: concurrent clients")
	benchFull    = flag.Bool("tftpd.full", false, "BenchmarkStorm: each client fetches a 25 MB tree (default: a 2.5 MB one)")
)

// benchTree is a Pi 4 boot tree; scale divides the big files for quick runs.
// sizes has the binary files' sizes; the two generated files are under
// 512 bytes (one block each).
func benchTree(b *testing.B, root string, scale int) (files []string, sizes map[string]int, total int64) {
	sizes = map[string]int{
		"start4.elf": 2_250_000, "fixup4.dat": 5_400, "bcm2711-rpi-4-b.dtb": 52_000,
		"kernel8.img": 8_300_000, "initrd.img": 14_400_000,
	}
	for name, size := range sizes {
		if size > 100_000 {
			size /= scale
			sizes[name] = size
		}
		randomFile(b, filepath.Join(root, "default", name), size)
		files = append(files, name)
		total += int64(size)
	}
	writeTree(b, root, map[string]string{
		"default/config.txt.tmpl":  "arm_64bit=1\nkernel={{.Entry.Kernel}}\nenable_uart=1\n",
		"default/cmdline.txt.tmpl": "console=serial0,115200 root=/dev/nfs nfsroot={{.ServerIP}}:/srv/nfs ip=dhcp rw\n",
	})
	return append(files, "config.txt", "cmdline.txt"), sizes, total
}

// blocksPerTree is the DATA blocks one client receives for the tree at
// blksize bs: every file ends with a short or empty block.
func blocksPerTree(sizes map[string]int, bs int) int64 {
	n := int64(2) // config.txt, cmdline.txt
	for _, size := range sizes {
		n += int64(size/bs + 1)
	}
	return n
}

// procSwitches returns the context switches of every thread of pid.
func procSwitches(pid int) int64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var n int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				c, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += c
			}
		}
	}
	return n
}

// procCPU returns the user+system CPU time of pid from /proc.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100, nil // USER_HZ = 100
}

// BenchmarkStorm: N clients (default 100) each fetch a whole boot tree at
// once from the rpi-tftpd binary on loopback: with no options (512-byte
// blocks, as the Pi 3 ROM), at blksize 1024 (Pi EEPROM), 1468 (U-Boot) and
// 1468 with windowsize 16 (U-Boot with tftpwindowsize). Reports aggregate
// MB/s, the daemon's CPU seconds per GB sent and CPU microseconds and
// context switches per DATA block (the figure to compare with tftpd-hpa's
// on a noisy machine), and the clients' CPU. -tftpd.full makes the tree
// 25 MB per client.
func BenchmarkStorm(b *testing.B) {
	bin := harness.Build(b).TFTPD
	dir := b.TempDir()
	scale := 10
	if *benchFull {
		scale = 1
	}
	files, sizes, total := benchTree(b, filepath.Join(dir, "tftp"), scale)
	// A free port: bind, read it, close; the daemon binds it right after.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := pc.LocalAddr().(*net.UDPAddr)
	pc.Close()
	modelsPath, _ := filepath.Abs("../examples/models.yml")
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("rpi-tftpd:\n  listen: %s\n  root: %s\n  models: %s\n", addr, filepath.Join(dir, "tftp"), modelsPath)), 0o644)
	// deps: built
	cmd := exec.Command(bin, "-c", cfg, "-L", "warning")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	time.Sleep(300 * time.Millisecond)

	for _, tc := range []struct{ blksize, window int }{{512, 1}, {1024, 1}, {1468, 1}, {1468, 16}} {
		name := fmt.Sprintf("blksize=%d", tc.blksize)
		opts := []string{"tsize", "0", "blksize", strconv.Itoa(tc.blksize)}
		if tc.blksize == 512 {
			name, opts = "noopts", nil
		}
		if tc.window > 1 {
			name += fmt.Sprintf(",windowsize=%d", tc.window)
			opts = append(opts, "windowsize", strconv.Itoa(tc.window))
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(total * int64(*benchClients))
			cpu0, _ := procCPU(cmd.Process.Pid)
			sw0 := procSwitches(cmd.Process.Pid)
			var self0, self1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &self0)
			begin := time.Now()
			for b.Loop() {
				var wg sync.WaitGroup
				errs := make(chan error, *benchClients)
				for range *benchClients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c, err := newTestClient(addr)
						if err != nil {
							errs <- err
							return
						}
						defer c.close()
						c.sink = io.Discard
						for _, f := range files {
							if _, _, err := c.get(f, 0, opts...); err != nil {
								errs <- fmt.Errorf("%s: %w", f, err)
								return
							}
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
			}
			wall := time.Since(begin)
			cpu1, _ := procCPU(cmd.Process.Pid)
			sw1 := procSwitches(cmd.Process.Pid)
			syscall.Getrusage(syscall.RUSAGE_SELF, &self1)
			gb := float64(total) * float64(*benchClients) * float64(b.N) / 1e9
			b.ReportMetric(gb*1e3/wall.Seconds(), "MB/s")
			b.ReportMetric((cpu1-cpu0).Seconds()/gb, "server-CPU-s/GB")
			blocks := float64(blocksPerTree(sizes, tc.blksize)) * float64(*benchClients) * float64(b.N)
			b.ReportMetric(float64((cpu1-cpu0).Microseconds())/blocks, "server-CPU-µs/block")
			b.ReportMetric(float64(sw1-sw0)/blocks, "server-ctxsw/block")
			clientCPU := time.Duration(syscall.TimevalToNsec(self1.Utime) + syscall.TimevalToNsec(self1.Stime) -
				syscall.TimevalToNsec(self0.Utime) - syscall.TimevalToNsec(self0.Stime))
			b.ReportMetric(clientCPU.Seconds()/gb, "client-CPU-s/GB")
		})
	}
}
