package proxydhcp

import (
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// FuzzArgs: any argument list sets up a plugin or fails with an error.
func FuzzArgs(f *testing.F) {
	for _, s := range []string{"", "answer=pxe", "keep=209 keep=210", "oui=dc:a6:32", "on-new-url=http://127.0.0.1:1/x on-new-retries=2", "keep=0", "answer="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := parseArgs(strings.Fields(s)...); err == nil && p.notify == nil {
			t.Fatal("set up without a notifier")
		}
	})
}

// FuzzHandle: any packet through the proxy never panics and never leaves
// with an address.
func FuzzHandle(f *testing.F) {
	f.Add(pi4(dhcpv4.MessageTypeDiscover).ToBytes())
	f.Add(pi4(dhcpv4.MessageTypeRequest).ToBytes())
	p, err := parseArgs("answer=pxe")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		resp, err := dhcpv4.NewReplyFromRequest(req)
		if err != nil {
			return
		}
		resp.UpdateOption(dhcpv4.OptServerIdentifier(serverIP))
		resp.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, []byte("x")))
		if out, _ := p.handle(req, resp); out != nil && !out.YourIPAddr.IsUnspecified() {
			t.Fatalf("proxy answer with yiaddr %s", out.YourIPAddr)
		}
	})
}
