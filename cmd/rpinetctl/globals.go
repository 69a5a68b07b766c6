package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/rpinetboot/rpinetboot/internal/store"
)

// defaultConfig is where the packaged systemd units expect config.yml.
const defaultConfig = "/etc/rpinetboot/config.yml"

// globals are the flags every command accepts.
type globals struct {
	store  string
	config string
}

// register binds the global flags to fs; defaults carry values already parsed
// before the command name, so `--store X nodes list` and `nodes list --store X` agree.
func (g *globals) register(fs *pflag.FlagSet) {
	fs.StringVar(&g.store, "store", g.store, "node store DSN: a file path, sqlite:PATH or postgres://user@host/db")
	fs.StringVarP(&g.config, "config", "c", g.config, "config.yml naming the store")
}

// fileConfig is the part of config.yml rpinetctl reads.
type fileConfig struct {
	Server4 *struct {
		Listen  any              `yaml:"listen"`
		Plugins []map[string]any `yaml:"plugins"`
	} `yaml:"server4"`
	TFTPD *struct {
		Root   string `yaml:"root"`
		Store  string `yaml:"store"`
		Models string `yaml:"models"`
	} `yaml:"rpi-tftpd"`
}

func loadConfig(path string) (*fileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var fc fileConfig
	if err := yaml.Unmarshal(b, &fc); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &fc, nil
}

// pluginArgs splits a plugin's value the way CoreDHCP does (on white space).
func pluginArgs(v any) []string {
	if v == nil {
		return nil
	}
	return strings.Fields(fmt.Sprint(v))
}

// storeFromConfig finds the store DSN: macpin's first argument, else rpi-tftpd.store.
func (fc *fileConfig) storeDSN() string {
	if fc.Server4 != nil {
		for _, p := range fc.Server4.Plugins {
			if v, ok := p["macpin"]; ok {
				if a := pluginArgs(v); len(a) > 0 {
					return a[0]
				}
			}
		}
	}
	if fc.TFTPD != nil {
		return fc.TFTPD.Store
	}
	return ""
}

// dsn resolves the store the user means.
func (g *globals) dsn() (string, error) {
	if g.store != "" {
		return g.store, nil
	}
	fc, err := loadConfig(g.config)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no store given: pass --store DSN, or -c CONFIG (%s does not exist)", g.config)
	}
	if err != nil {
		return "", err
	}
	d := fc.storeDSN()
	if d == "" {
		return "", fmt.Errorf("config %s names no store (no macpin stanza, no rpi-tftpd.store): pass --store DSN", g.config)
	}
	return d, nil
}

// open opens the store for a command.
func (c *cli) open(readOnly bool) (store.Store, string, error) {
	dsn, err := c.g.dsn()
	if err != nil {
		return nil, "", err
	}
	if c.asOwner {
		if err := switchToStoreOwner(dsn); err != nil {
			return nil, dsn, fmt.Errorf("open store %s: %w", store.Redact(dsn), err)
		}
	}
	st, err := store.Open(dsn, store.Options{ReadOnly: readOnly})
	if err != nil {
		return nil, dsn, fmt.Errorf("open store %s: %w", store.Redact(dsn), err)
	}
	return st, dsn, nil
}
