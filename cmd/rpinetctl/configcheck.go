package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rpinetboot/rpinetboot/internal/models"
	"github.com/rpinetboot/rpinetboot/internal/pluginreg"
)

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
	seen := map[string]int{}
	if fc.Server4 == nil || len(fc.Server4.Plugins) == 0 {
		probs = append(probs, "server4.plugins: missing or empty")
	} else {
		for i, p := range fc.Server4.Plugins {
			if len(p) != 1 {
				probs = append(probs, fmt.Sprintf("server4.plugins[%d]: want exactly one `name: args` per item, got %d", i, len(p)))
				continue
			}
			for name, v := range p {
				if name == "classify" && seen[name] > 0 {
					probs = append(probs, fmt.Sprintf("server4.plugins[%d] classify: given twice (at %d too); one stanza classifies for every plugin", i, seen[name]-1))
				}
				seen[name] = i + 1
				if name == "proxydhcp" {
					proxyMode = true
					if i != len(fc.Server4.Plugins)-1 {
						probs = append(probs, fmt.Sprintf("server4.plugins[%d] proxydhcp: must be the last plugin (later plugins would add to or answer what it silenced)", i))
					}
				}
				if msg := checkPlugin(name, pluginArgs(v), &nModels); msg != "" {
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

// checkPlugin runs the plugin's own argument parser (the one its setup
// uses), so config check and coredhcp can never disagree about a stanza.
func checkPlugin(name string, a []string, nModels *int) string {
	e, ok := pluginreg.Lookup(name)
	if !ok {
		return "unknown plugin (this coredhcp build does not have it)"
	}
	if e.Check == nil {
		return ""
	}
	if err := e.Check(a...); err != nil {
		return strings.TrimPrefix(err.Error(), name+": ")
	}
	if name == "modelboot" && len(a) > 0 {
		if t, err := models.Load(a[0]); err == nil {
			*nModels = len(t.Models)
		}
	}
	return ""
}
