//go:build integration

package qemu

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// capture is a real arm64 console (recipe run, CRs removed) with a second,
// failing transfer appended the way U-Boot 2023.01 prints it.
const capture = `U-Boot 2023.01+dfsg-2+deb12u3 (Jun 22 2026 - 08:38:07 +0000)

Loading Environment from Flash... OK
Net:   eth0: virtio-net#31
Hit any key to stop autoboot:  0 
BOOTP broadcast 1
DHCP client bound to address 10.99.0.140 (4 ms)
Using virtio-net#31 device
TFTP from server 10.99.0.1; our IP address is 10.99.0.140
Filename 'boot.scr'.
Load address: 0x40200000
Loading: *` + "\b" + `#
	 91.8 KiB/s
done
Bytes transferred = 755 (2f3 hex)
## Executing script at 40200000
Using virtio-net#31 device
TFTP from server 10.99.0.1; our IP address is 10.99.0.140
Filename 'rpi-3-b-plus/missing.img'.
Load address: 0x40400000
Loading: *
TFTP error: 'File not found' (1)
Not retrying...
poweroff ...
`

func TestBoundAddresses(t *testing.T) {
	got := BoundAddresses(capture)
	want := []netip.Addr{netip.MustParseAddr("10.99.0.140")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("BoundAddresses = %v, want %v", got, want)
	}
	if got := BoundAddresses("BOOTP broadcast 1\nRetry time exceeded; starting again\n"); len(got) != 0 {
		t.Fatalf("no bind on the console, got %v", got)
	}
}

func TestTransfers(t *testing.T) {
	got := Transfers(capture)
	want := []Transfer{
		{Server: "10.99.0.1", File: "boot.scr", Bytes: 755, Done: true},
		{Server: "10.99.0.1", File: "rpi-3-b-plus/missing.img", Err: "TFTP error: 'File not found' (1)"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Transfers =\n%+v\nwant\n%+v", got, want)
	}
}

func TestTransfersTimeout(t *testing.T) {
	c := "TFTP from server 10.99.0.1; our IP address is 10.99.0.140\nFilename 'k.img'.\nLoading: T T T T T T T T T T \nRetry count exceeded; starting again\n"
	got := Transfers(c)
	if len(got) != 1 || got[0].Done || !strings.HasPrefix(got[0].Err, "Retry count exceeded") {
		t.Fatalf("Transfers = %+v, want one failed transfer of k.img", got)
	}
}

func TestTail(t *testing.T) {
	if got := Tail("a\nb\nc\n", 2); got != "b\nc" {
		t.Fatalf("Tail = %q", got)
	}
	if got := Tail("a", 5); got != "a" {
		t.Fatalf("Tail = %q", got)
	}
}

func TestEnvTextRejectsNewline(t *testing.T) {
	if _, err := envText(map[string]string{"bootcmd": "echo a\necho b"}); err == nil {
		t.Fatal("a newline in a value must be refused: mkenvimage would split it into two variables")
	}
	if _, err := envText(map[string]string{"a=b": "c"}); err == nil {
		t.Fatal("'=' in a name must be refused")
	}
	txt, err := envText(map[string]string{"bootcmd": "poweroff", "bootdelay": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt, "\nbootcmd=poweroff\n") || !strings.Contains(txt, "bootdelay=3\n") || strings.Contains(txt, "bootdelay=0") {
		t.Fatalf("overrides not applied:\n%s", txt)
	}
}

// FuzzConsole feeds arbitrary console text to the parsers: U-Boot output
// interleaves progress characters with lines, and nothing may panic.
func FuzzConsole(f *testing.F) {
	f.Add(capture)
	f.Add("Filename 'x'.\nBytes transferred = 99999999999999999999 (x hex)\n")
	f.Add("DHCP client bound to address \n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, a := range BoundAddresses(s) {
			if !a.IsValid() {
				t.Fatalf("invalid address from %q", s)
			}
		}
		for _, tr := range Transfers(s) {
			if tr.Done && tr.Err != "" && !strings.Contains(s, tr.Err) {
				t.Fatalf("error text %q not from the input", tr.Err)
			}
			if tr.Bytes < 0 {
				t.Fatalf("negative size %d", tr.Bytes)
			}
		}
	})
}
