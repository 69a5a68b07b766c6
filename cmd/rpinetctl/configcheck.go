package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rpinetboot/rpinetboot/internal/models"
	"github.com/rpinetboot/rpinetboot/internal/store"
	"github.com/rpinetboot/rpinetboot/plugins/metrics"
)

// knownPlugins are the server4 plugin names cmd/coredhcp registers (upstream's
// then ours). Keep in step with cmd/coredhcp/plugins.go and ours.go.
var knownPlugins = map[string]bool{
	"autoconfigure": true, "dns": true, "file": true, "ipv6only": true, "lease_time": true,
	"mtu": true, "nbp": true, "netmask": true, "prefix": true, "range": true, "router": true,
	"searchdomains": true, "server_id": true, "sleep": true, "staticroute": true,
	"rpipxe": true, "vendoropts": true, "modelboot": true, "macpin": true, "metrics": true, "proxydhcp": true,
}

// config dispatches `config` subcommands.
func (c *cli) config(args []string) int {
	if len(args) == 0 || args[0] != "check" {
		return c.usagef("config: want `config check [-c CONFIG]`")
	}
	fs := c.flags("config check", "config check [-c CONFIG]")
	if code, ok := c.parse(fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() != 0 {
		return c.usagef("config check takes no arguments; name the file with -c")
	}
	problems, summary := checkConfig(c.g.config)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(c.stderr, "%s: %s\n", c.g.config, p)
		}
		return c.failf("config check: %d problem(s) in %s", len(problems), c.g.config)
	}
	fmt.Fprintf(c.stdout, "%s: OK (%s)\n", c.g.config, summary)
	return exitOK
}

// checkConfig returns every problem found, and a one-line summary when none.
func checkConfig(path string) ([]string, string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}, ""
	}
	var fc fileConfig
	if err := yaml.Unmarshal(b, &fc); err != nil {
		return []string{fmt.Sprintf("YAML: %v", err)}, ""
	}
	// Catch misspelt top-level sections, which both daemons would ignore silently.
	var top map[string]any
	_ = yaml.NewDecoder(bytes.NewReader(b)).Decode(&top)
	var probs []string
	for k := range top {
		switch k {
		case "server4", "server6", "rpi-tftpd":
		default:
			probs = append(probs, fmt.Sprintf("unknown top-level section %q (want server4, server6 or rpi-tftpd)", k))
		}
	}
	nModels := 0
	proxyMode := false // proxydhcp: another server owns the addresses, no pins needed
	if fc.Server4 == nil || len(fc.Server4.Plugins) == 0 {
		probs = append(probs, "server4.plugins: missing or empty")
	} else {
		for i, p := range fc.Server4.Plugins {
			if len(p) != 1 {
				probs = append(probs, fmt.Sprintf("server4.plugins[%d]: want exactly one `name: args` per item, got %d", i, len(p)))
				continue
			}
			for name, v := range p {
				if name == "proxydhcp" {
					proxyMode = true
					if i != len(fc.Server4.Plugins)-1 {
						probs = append(probs, fmt.Sprintf("server4.plugins[%d] proxydhcp: must be the last plugin (later plugins would add to or answer what it silenced)", i))
					}
				}
				for _, msg := range checkPlugin(name, pluginArgs(v), &nModels) {
					probs = append(probs, fmt.Sprintf("server4.plugins[%d] %s: %s", i, name, msg))
				}
			}
		}
	}
	if fc.TFTPD == nil {
		probs = append(probs, "rpi-tftpd: section missing")
	} else {
		if fc.TFTPD.Root == "" {
			probs = append(probs, "rpi-tftpd.root: missing (the firmware trees' directory)")
		}
		if fc.TFTPD.Store == "" && !proxyMode {
			probs = append(probs, "rpi-tftpd.store: missing (the macpin store)")
		}
		if fc.TFTPD.Models != "" {
			if t, err := models.Load(fc.TFTPD.Models); err != nil {
				probs = append(probs, fmt.Sprintf("rpi-tftpd.models: %v", err))
			} else if nModels == 0 {
				nModels = len(t.Models)
			}
		}
	}
	if len(probs) > 0 {
		return probs, ""
	}
	return nil, fmt.Sprintf("%d plugins, %d models", len(fc.Server4.Plugins), nModels)
}

// checkPlugin checks a stanza's arguments lightly: the plugins' own setup
// gives the last word when coredhcp starts.
func checkPlugin(name string, args []string, nModels *int) []string {
	if !knownPlugins[name] {
		return []string{"unknown plugin (this coredhcp build does not have it)"}
	}
	var probs []string
	ipArgs := func(min int) {
		if len(args) < min {
			probs = append(probs, fmt.Sprintf("want at least %d IPv4 address(es)", min))
		}
		for _, a := range args {
			if ip, err := netip.ParseAddr(a); err != nil || !ip.Is4() {
				probs = append(probs, fmt.Sprintf("%q is not an IPv4 address", a))
			}
		}
	}
	switch name {
	case "server_id", "netmask":
		ipArgs(1)
		if len(args) > 1 {
			probs = append(probs, "want one address")
		}
	case "router", "dns":
		ipArgs(1)
	case "lease_time":
		if len(args) != 1 {
			probs = append(probs, "want one duration like 1h")
		} else if _, err := time.ParseDuration(args[0]); err != nil {
			probs = append(probs, fmt.Sprintf("%q is not a duration like 1h", args[0]))
		}
	case "modelboot":
		if len(args) < 1 {
			probs = append(probs, "want the models.yml path")
		} else if t, err := models.Load(args[0]); err != nil {
			probs = append(probs, err.Error())
		} else {
			*nModels = len(t.Models)
		}
	case "macpin":
		probs = append(probs, checkMacpin(args)...)
	case "metrics":
		if _, err := metrics.ParseArgs(args...); err != nil {
			probs = append(probs, strings.TrimPrefix(err.Error(), "metrics: "))
		}
	case "rpipxe":
		for _, a := range args {
			if !strings.Contains(a, "=") {
				probs = append(probs, fmt.Sprintf("%q: want key=value options", a))
			}
		}
	}
	return probs
}

// checkMacpin checks `<store> <first> <last> <lease-time> [range=A-B] [reserve=MAC=IP] ...`.
func checkMacpin(args []string) []string {
	if len(args) < 4 {
		return []string{"want <store> <first-ip> <last-ip> <lease-time> [options]"}
	}
	var probs []string
	if store.IsPostgresDSN(args[0]) {
		if err := store.CheckPostgresDSN(args[0]); err != nil {
			probs = append(probs, err.Error())
		}
	}
	first, err1 := netip.ParseAddr(args[1])
	last, err2 := netip.ParseAddr(args[2])
	switch {
	case err1 != nil || !first.Is4():
		probs = append(probs, fmt.Sprintf("first address %q is not IPv4", args[1]))
	case err2 != nil || !last.Is4():
		probs = append(probs, fmt.Sprintf("last address %q is not IPv4", args[2]))
	case last.Less(first):
		probs = append(probs, fmt.Sprintf("range %s-%s is backwards", first, last))
	}
	if _, err := time.ParseDuration(args[3]); err != nil {
		probs = append(probs, fmt.Sprintf("lease time %q is not a duration like 1h", args[3]))
	}
	for _, opt := range args[4:] {
		key, val, ok := strings.Cut(opt, "=")
		if !ok {
			probs = append(probs, fmt.Sprintf("option %q: want key=value", opt))
			continue
		}
		switch key {
		case "range":
			a, b, ok := strings.Cut(val, "-")
			fa, e1 := netip.ParseAddr(a)
			fb, e2 := netip.ParseAddr(b)
			if !ok || e1 != nil || e2 != nil || !fa.Is4() || !fb.Is4() || fb.Less(fa) {
				probs = append(probs, fmt.Sprintf("%q: want range=FIRST-LAST", opt))
			}
		case "reserve":
			// reserve=MAC=IP or reserve=MAC=IP=HOSTNAME
			parts := strings.SplitN(val, "=", 3)
			_, macErr := parseMAC(parts[0])
			var ipOK bool
			if len(parts) >= 2 {
				a, err := netip.ParseAddr(parts[1])
				ipOK = err == nil && a.Is4()
			}
			if macErr != nil || !ipOK {
				probs = append(probs, fmt.Sprintf("%q: want reserve=MAC=IP or reserve=MAC=IP=HOSTNAME", opt))
			}
		}
	}
	return probs
}
