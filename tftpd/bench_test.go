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
)

var (
	benchClients = flag.Int("tftpd.clients", 100, "BenchmarkStorm: concurrent clients")
	benchFull    = flag.Bool("tftpd.full", false, "BenchmarkStorm: each client fetches a 25 MB tree (default: a 2.5 MB one)")
)

// benchTree is a Pi 4 boot tree; scale divides the big files for quick runs.
func benchTree(b *testing.B, root string, scale int) (files []string, total int64) {
	sizes := map[string]int{
		"start4.elf": 2_250_000, "fixup4.dat": 5_400, "bcm2711-rpi-4-b.dtb": 52_000,
		"kernel8.img": 8_300_000, "initrd.img": 14_400_000,
	}
	for name, size := range sizes {
		if size > 100_000 {
			size /= scale
		}
		randomFile(b, filepath.Join(root, "default", name), size)
		files = append(files, name)
		total += int64(size)
	}
	writeTree(b, root, map[string]string{
		"default/config.txt.tmpl":  "arm_64bit=1\nkernel={{.Entry.Kernel}}\nenable_uart=1\n",
		"default/cmdline.txt.tmpl": "console=serial0,115200 root=/dev/nfs nfsroot={{.ServerIP}}:/srv/nfs ip=dhcp rw\n",
	})
	return append(files, "config.txt", "cmdline.txt"), total
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
// once from the rpi-tftpd binary on loopback, at blksize 1024 (Pi EEPROM),
// 1468 (U-Boot) and 1468 with windowsize 16 (U-Boot with tftpwindowsize). Reports aggregate MB/s and the daemon's CPU seconds
// per GB sent. -tftpd.full makes the tree 25 MB as in issue 5.
func BenchmarkStorm(b *testing.B) {
	bin, err := buildDaemon()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	scale := 10
	if *benchFull {
		scale = 1
	}
	files, total := benchTree(b, filepath.Join(dir, "tftp"), scale)
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
	cmd := exec.Command(bin, "-c", cfg, "-L", "warning")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	time.Sleep(300 * time.Millisecond)

	for _, tc := range []struct{ blksize, window int }{{1024, 1}, {1468, 1}, {1468, 16}} {
		name := fmt.Sprintf("blksize=%d", tc.blksize)
		opts := []string{"tsize", "0", "blksize", strconv.Itoa(tc.blksize)}
		if tc.window > 1 {
			name += fmt.Sprintf(",windowsize=%d", tc.window)
			opts = append(opts, "windowsize", strconv.Itoa(tc.window))
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(total * int64(*benchClients))
			cpu0, _ := procCPU(cmd.Process.Pid)
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
			syscall.Getrusage(syscall.RUSAGE_SELF, &self1)
			gb := float64(total) * float64(*benchClients) * float64(b.N) / 1e9
			b.ReportMetric(gb*1e3/wall.Seconds(), "MB/s")
			b.ReportMetric((cpu1-cpu0).Seconds()/gb, "server-CPU-s/GB")
			clientCPU := time.Duration(syscall.TimevalToNsec(self1.Utime) + syscall.TimevalToNsec(self1.Stime) -
				syscall.TimevalToNsec(self0.Utime) - syscall.TimevalToNsec(self0.Stime))
			b.ReportMetric(clientCPU.Seconds()/gb, "client-CPU-s/GB")
		})
	}
}
