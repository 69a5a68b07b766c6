package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// procTimes are a process's own CPU seconds (utime+stime) and those of the
// children it has reaped (cutime+cstime), and its start time (to tell a
// reused pid from the process seen before).
type procTimes struct {
	self, reaped float64
	start        string
}

func readTimes(pid int) (procTimes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procTimes{}, fmt.Errorf("cpu of %d: %w", pid, err)
	}
	// The command name may hold spaces and parentheses; fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procTimes{}, fmt.Errorf("cpu of %d: odd stat %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime..cstime are fields 14..17, starttime 22.
	if len(f) < 20 {
		return procTimes{}, fmt.Errorf("cpu of %d: short stat", pid)
	}
	var t [4]float64
	for k, s := range f[11:15] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return procTimes{}, fmt.Errorf("cpu of %d: %w", pid, err)
		}
		t[k] = float64(v) / clockTicks
	}
	return procTimes{self: t[0] + t[1], reaped: t[2] + t[3], start: f[19]}, nil
}

// statusKB reads one "Key:   N kB" line of /proc/<pid>/status.
func statusKB(pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// children lists the pids whose parent is pid.
func children(pid int) []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// usage watches the server processes of one run: CPU seconds used between
// watch and done, and peak resident memory. Forking servers (tftpd-hpa: a
// process per transfer) are charged for their children: every descendant
// is sampled every 200 ms (a zombie keeps its final times until reaped), and
// the larger of that sum and the parents' reaped-children time is taken,
// both being lower bounds of what the children used.
type usage struct {
	pids    []int
	base    map[int]procTimes
	mu      sync.Mutex
	kids    map[string]float64 // "pid/starttime" -> last seen own CPU seconds
	peakKB  int64
	stop    chan struct{}
	stopped chan struct{}
}

func watch(pids []int) (*usage, error) {
	u := &usage{pids: pids, base: map[int]procTimes{}, kids: map[string]float64{},
		stop: make(chan struct{}), stopped: make(chan struct{})}
	for _, p := range pids {
		t, err := readTimes(p)
		if err != nil {
			return nil, err
		}
		u.base[p] = t
		// Children that exist already (workers of a pre-forking server)
		// count from now on.
		for _, c := range descendants(p) {
			if ct, err := readTimes(c); err == nil {
				u.kids[fmt.Sprintf("%d/%s", c, ct.start)] = -ct.self
			}
		}
	}
	go u.sample()
	return u, nil
}

// descendants lists every live (or zombie) process below pid.
func descendants(pid int) []int {
	var out []int
	todo := children(pid)
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		out = append(out, p)
		todo = append(todo, children(p)...)
	}
	return out
}

func (u *usage) sample() {
	defer close(u.stopped)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		u.sampleOnce()
		select {
		case <-u.stop:
			return
		case <-t.C:
		}
	}
}

func (u *usage) sampleOnce() {
	var sum int64
	for _, p := range u.pids {
		sum += statusKB(p, "VmRSS")
		for _, c := range descendants(p) {
			// A forked child shares the parent's binary and libraries:
			// count only its anonymous memory.
			sum += statusKB(c, "RssAnon")
			ct, err := readTimes(c)
			if err != nil {
				continue
			}
			key := fmt.Sprintf("%d/%s", c, ct.start)
			u.mu.Lock()
			if base, ok := u.kids[key]; ok && base < 0 {
				u.kids[key] = base // pre-existing: keep the negative base, added at done
				u.kids[key+"+"] = ct.self
			} else {
				u.kids[key] = ct.self
			}
			u.mu.Unlock()
		}
	}
	u.mu.Lock()
	u.peakKB = max(u.peakKB, sum)
	u.mu.Unlock()
}

// done stops sampling and returns CPU seconds used since watch and the
// peak RSS in MiB (the larger of the summed VmHWM of the server processes
// and the sampled peak of their summed VmRSS plus their children's RssAnon).
// The server processes must still be alive.
func (u *usage) done() (cpu, peakMiB float64, err error) {
	u.sampleOnce()
	close(u.stop)
	<-u.stopped
	var self, reaped float64
	var hwm int64
	for _, p := range u.pids {
		t, err := readTimes(p)
		if err != nil {
			return 0, 0, err
		}
		self += t.self - u.base[p].self
		reaped += t.reaped - u.base[p].reaped
		hwm += statusKB(p, "VmHWM")
	}
	var kids float64
	for _, v := range u.kids {
		kids += v
	}
	return self + max(reaped, kids), float64(max(hwm, u.peakKB)) / 1024, nil
}
