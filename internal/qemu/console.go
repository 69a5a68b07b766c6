package qemu

import (
	"net/netip"
	"strconv"
	"strings"
)

// Transfer is one `tftpboot` as U-Boot reported it on the console.
type Transfer struct {
	Server string // "TFTP from server X"
	File   string // "Filename 'X'."
	Bytes  int64  // "Bytes transferred = N", when Done
	Done   bool   // the transfer completed
	Err    string // "TFTP error: ..." or a retry give-up, when it failed
}

// BoundAddresses lists, in order, every address U-Boot's `dhcp` reported
// with "DHCP client bound to address X (N ms)".
func BoundAddresses(console string) []netip.Addr {
	var out []netip.Addr
	for _, line := range strings.Split(console, "\n") {
		rest, ok := after(line, "DHCP client bound to address ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		if a, err := netip.ParseAddr(f[0]); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// Transfers lists every TFTP transfer U-Boot started, in order, with how it ended.
func Transfers(console string) []Transfer {
	var (
		out    []Transfer
		server string
		cur    = -1 // index in out of the transfer still running
	)
	for _, line := range strings.Split(console, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := after(line, "TFTP from server "); ok {
			server, _, _ = strings.Cut(rest, ";")
			cur = -1
			continue
		}
		if rest, ok := after(line, "Filename '"); ok {
			name := strings.TrimSuffix(rest, ".")
			name = strings.TrimSuffix(name, "'")
			out = append(out, Transfer{Server: server, File: name})
			cur = len(out) - 1
			continue
		}
		if cur < 0 {
			continue
		}
		if rest, ok := after(line, "Bytes transferred = "); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if n, err := strconv.ParseUint(f[0], 10, 63); err == nil {
					out[cur].Bytes, out[cur].Done = int64(n), true
				}
			}
			cur = -1
			continue
		}
		for _, failure := range []string{"TFTP error:", "Retry count exceeded", "Not retrying"} {
			if i := strings.Index(line, failure); i >= 0 {
				if out[cur].Err == "" {
					out[cur].Err = line[i:]
				}
				if failure != "TFTP error:" {
					cur = -1 // U-Boot gave up on this file
				}
				break
			}
		}
	}
	return out
}

// Lines returns the console lines that contain substr, for assertions and
// for quoting evidence in test logs.
func Lines(console, substr string) []string {
	var out []string
	for _, line := range strings.Split(console, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

// after returns what follows marker in line; U-Boot's progress output
// (hashes, backspaces) may precede it on the same line.
func after(line, marker string) (string, bool) {
	i := strings.Index(line, marker)
	if i < 0 {
		return "", false
	}
	return line[i+len(marker):], true
}
