package vendoropts

import (
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func FuzzHandler(f *testing.F) {
	f.Add(request(f, "b8:27:eb:01:02:03", "PXEClient:Arch:00000:UNDI:002001").ToBytes())
	f.Add(request(f, "52:54:00:01:02:03", "ACME").ToBytes())
	c, err := parseArgs(piArgs)
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
		if out, _ := c.handle(req, resp); out == nil {
			t.Fatal("handler dropped a reply")
		}
	})
}

func FuzzParseSub(f *testing.F) {
	for _, s := range []string{"6:u8:3", "9:u16:0,u8:17,text:Raspberry%20Pi%20Boot", "1:ip:10.0.0.1", "2:hex:de:ad", "3:u32:0xffffffff", "4:text:%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		b, err := parseSub(tok)
		if err != nil {
			return
		}
		if len(b) < 2 || int(b[1]) != len(b)-2 || b[0] == 0 || b[0] == 255 {
			t.Fatalf("parseSub(%q) = % x: not code, length, value", tok, b)
		}
	})
}
