package testdeps

import (
	"strings"
	"testing"
)

// Annotations that name no package: our own binaries, wrappers whose
// callers' programs are checked at the call, an admin's hook program.
var sentinels = map[string]bool{"built": true, "forwarded": true, "user": true}

// TestEveryStartedProgramIsListed: a program the code starts that no listed
// package provides fails here, on the developer's machine, before a clean
// machine finds it.
func TestEveryStartedProgramIsListed(t *testing.T) {
	list, err := ReadList("../../scripts/deps.list")
	if err != nil {
		t.Fatal(err)
	}
	probes := map[string]bool{}
	for _, e := range list {
		probes[e.Probe] = true
	}
	uses, unres, err := Scan("../..")
	if err != nil {
		t.Fatal(err)
	}
	if len(uses) < 50 {
		t.Fatalf("found only %d program starts; the scanner is not reading the module", len(uses))
	}
	for _, u := range uses {
		if !probes[u.Program] && !sentinels[u.Program] {
			t.Errorf("%s starts %q, which no entry of scripts/deps.list provides: add `%s <debian-package>`", u.Pos, u.Program, u.Program)
		}
	}
	for _, u := range unres {
		t.Errorf("%s starts %s, which the check cannot resolve: add a `// deps: PROGRAM...` comment on the line or the line above (or `deps: built` for one of our binaries)", u.Pos, u.Expr)
	}
}

// TestScannerCatchesStarts proves the check can fail: each way of starting
// a program is seen, literal or not.
func TestScannerCatchesStarts(t *testing.T) {
	src := `package x
func f(t T, n N, ns, p string) {
	exec.Command("nmap", "-sU")
	exec.CommandContext(ctx, "snmpset", "-v2c")
	exec.Command("ip", "netns", "exec", ns, "dhcrelay", "-d")
	n.Start(t, ns, "relay", "dhcrelay", "-4")
	n.Run(t, ns, "curl", "-s")
	exec.Command("env", "A=1", "B="+p, "mcopy", "-i")
	exec.LookPath("mdir")
	exec.Command(p)
	// deps: fsck.fat
	exec.Command(p, "-n")
	exec.Command(bins.Ctl, "x")
	n.Start(t, ns, "dnsmasq", append([]string{"dnsmasq", "-k"}, extra...)...)
}`
	uses, unres, err := ScanSource("x.go", src)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range uses {
		got = append(got, u.Program)
	}
	want := "nmap snmpset ip dhcrelay dhcrelay curl env mcopy mdir fsck.fat dnsmasq"
	if strings.Join(got, " ") != want {
		t.Errorf("programs %q, want %q", strings.Join(got, " "), want)
	}
	if len(unres) != 1 || unres[0].Expr != "p" {
		t.Errorf("unresolved %+v, want exactly the bare exec.Command(p)", unres)
	}
}

func TestListParses(t *testing.T) {
	list, err := ReadList("../../scripts/deps.list")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range list {
		if seen[e.Probe] {
			t.Errorf("%s listed twice", e.Probe)
		}
		seen[e.Probe] = true
		if e.Path != "" && !strings.HasPrefix(e.Path, "/") {
			t.Errorf("%s: path %q is not absolute", e.Probe, e.Path)
		}
	}
}
