package args

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func spec(got *[]string) *Spec {
	return &Spec{
		Plugin: "demo",
		Positional: []Positional{
			{Name: "store", Set: func(v string) error { *got = append(*got, "store:"+v); return nil }},
			{Name: "extra", Optional: true, Set: func(v string) error { *got = append(*got, "extra:"+v); return nil }},
		},
		Options: []Option{
			{Key: "range", Value: "FIRST-LAST", Set: func(v string) error {
				r, err := ParseRange(v)
				*got = append(*got, "range:"+r.String())
				return err
			}},
			{Key: "mode", Value: "a|b", Once: true, Set: func(v string) error {
				_, err := OneOf(v, "a", "b")
				*got = append(*got, "mode:"+v)
				return err
			}},
		},
		Flags: map[string]func() error{"loud": func() error { *got = append(*got, "loud"); return nil }},
	}
}

func TestParseOrderAndErrors(t *testing.T) {
	var got []string
	if err := spec(&got).Parse([]string{"/db", "range=10.0.0.1-10.0.0.9", "loud", "mode=a", "range=10.0.1.1-10.0.1.2"}); err != nil {
		t.Fatal(err)
	}
	want := "store:/db range:10.0.0.1-10.0.0.9 loud mode:a range:10.0.1.1-10.0.1.2"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %q, want %q", strings.Join(got, " "), want)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, `demo: missing <store>; usage: demo: <store> [<extra>]`},
		{[]string{"/db", "x", "y"}, `demo: argument "y": unknown word, want key=value or one of loud`},
		{[]string{"/db", "bogus=1"}, `demo: option "bogus=1": unknown key "bogus"`},
		{[]string{"/db", "mode=a", "mode=b"}, `demo: option "mode=b": mode= given twice`},
		{[]string{"/db", "mode=c"}, `demo: option "mode=c": "c": want one of a, b (want mode=a|b)`},
		{[]string{"/db", "range="}, `demo: option "range=": empty value, want range=FIRST-LAST`},
		{[]string{"/db", "range=10.0.0.9-10.0.0.1"}, `the last address is below the first`},
	} {
		var g []string
		err := spec(&g).Parse(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestOptionalPositionalSkippedBeforeOptions(t *testing.T) {
	var got []string
	if err := spec(&got).Parse([]string{"/db", "mode=b"}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "store:/db mode:b" {
		t.Fatalf("got %q", got)
	}
}

func TestFallback(t *testing.T) {
	var took []string
	s := &Spec{Plugin: "p", Fallback: func(a string) (bool, error) {
		if strings.HasPrefix(a, "on-new=") {
			took = append(took, a)
			return true, nil
		}
		return false, nil
	}, FallbackUsage: "on-new=/path"}
	if err := s.Parse([]string{"on-new=/bin/true"}); err != nil || len(took) != 1 {
		t.Fatalf("fallback: err %v took %q", err, took)
	}
	if err := s.Parse([]string{"other=1"}); err == nil || !strings.Contains(err.Error(), "[on-new=/path]") {
		t.Fatalf("unknown key with fallback: %v", err)
	}
}

func TestValues(t *testing.T) {
	if _, err := IPv4("::1"); err == nil {
		t.Error("IPv4 accepted ::1")
	}
	if l, err := IPv4List("10.0.0.1,10.0.0.2"); err != nil || len(l) != 2 {
		t.Errorf("IPv4List: %v %v", l, err)
	}
	if _, err := Prefix("10.0.0.1/24"); err == nil {
		t.Error("Prefix accepted host bits")
	}
	r, _ := ParseRange("10.0.0.250-10.0.1.5")
	if r.Size() != 12 || !r.Contains(netip.MustParseAddr("10.0.1.0")) || r.Contains(netip.MustParseAddr("10.0.1.6")) {
		t.Errorf("range %v size %d", r, r.Size())
	}
	for _, s := range []string{"dc:a6:32:01:02:03", "DC-A6-32-01-02-03", "dca6.3201.0203", "dc:a6:32:1:2:3"} {
		m, err := MAC(s)
		if err != nil || m.String()[:8] != "dc:a6:32" {
			t.Errorf("MAC(%q) = %v, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "dc:a6:32:01:02", "00:00:00:00:00:00:00:00", "dc:a6:32:01:02:0g", "dc:a6:32:1:2:345"} {
		if _, err := MAC(s); err == nil {
			t.Errorf("MAC(%q) accepted", s)
		}
	}
	if o, err := OUI("B8-27-EB"); err != nil || o.String() != "b8:27:eb" {
		t.Errorf("OUI: %v %v", o, err)
	}
	if _, err := OUI("b8:27-eb"); err == nil {
		t.Error("OUI accepted mixed separators")
	}
	if _, err := Duration("2h", time.Second, time.Hour); err == nil {
		t.Error("Duration accepted a value over the bound")
	}
	if _, err := Int("x", 0, 1); err == nil {
		t.Error("Int accepted x")
	}
	if b, err := Bool("Off"); err != nil || b {
		t.Errorf("Bool(Off) = %v %v", b, err)
	}
}

func TestValidHostname(t *testing.T) {
	for _, h := range []string{"pi-01", "rack1.lab.example", "A1", strings.Repeat("a", 63)} {
		if !ValidHostname(h) {
			t.Errorf("%q refused", h)
		}
	}
	for _, h := range []string{"", "-pi", "pi-", "a..b", "pi\nsetenv bootcmd", "pi;reboot", "$(id)", "pi\x1b[2J", "pi\x00", "pi 01", strings.Repeat("a", 64), "pi_01"} {
		if ValidHostname(h) {
			t.Errorf("%q accepted", h)
		}
	}
}
