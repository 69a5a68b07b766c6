// Package models loads the model table (models.yml) that maps a board model
// to what it boots; the modelboot plugin and rpi-tftpd read the same file.
package models

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"sort"

	"gopkg.in/yaml.v3"
)

// Entry is what one model boots. Empty fields inherit from the table's default.
type Entry struct {
	Bootfile   string `yaml:"bootfile"`
	TFTPServer string `yaml:"tftp_server"`
	Stage2     string `yaml:"stage2"`
	Kernel     string `yaml:"kernel"`
	DTB        string `yaml:"dtb"`
	Arch       string `yaml:"arch"`
}

// Table is a parsed models.yml.
type Table struct {
	Default Entry            `yaml:"default"`
	Models  map[string]Entry `yaml:"models"`
}

// validName keeps model names usable as a path component and a template value.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Load reads and validates a models.yml file.
func Load(path string) (*Table, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("models %s: %w", path, err)
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("models %s: %w", path, err)
	}
	return t, nil
}

// Parse validates a models.yml document; unknown keys are errors so typos fail loudly.
func Parse(b []byte) (*Table, error) {
	var t Table
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	for name, e := range t.Models {
		if !validName.MatchString(name) {
			return nil, fmt.Errorf("model name %q: want lower-case letters, digits, '.', '_' or '-'", name)
		}
		if err := e.validate(); err != nil {
			return nil, fmt.Errorf("model %s: %w", name, err)
		}
	}
	if err := t.Default.validate(); err != nil {
		return nil, fmt.Errorf("default: %w", err)
	}
	return &t, nil
}

func (e Entry) validate() error {
	switch e.Arch {
	case "", "arm", "arm64":
	default:
		return fmt.Errorf("arch %q: want arm or arm64", e.Arch)
	}
	return nil
}

// Lookup returns the entry for model merged over the default, and whether the
// model has an entry of its own.
func (t *Table) Lookup(model string) (Entry, bool) {
	e, ok := t.Models[model]
	d := t.Default
	if !ok {
		return d, false
	}
	for _, f := range []struct {
		dst *string
		def string
	}{
		{&e.Bootfile, d.Bootfile}, {&e.TFTPServer, d.TFTPServer}, {&e.Stage2, d.Stage2},
		{&e.Kernel, d.Kernel}, {&e.DTB, d.DTB}, {&e.Arch, d.Arch},
	} {
		if *f.dst == "" {
			*f.dst = f.def
		}
	}
	return e, true
}

// Has reports whether name is a model of the table (used to recognise a
// model-name prefix in a TFTP path).
func (t *Table) Has(name string) bool {
	_, ok := t.Models[name]
	return ok
}

// Names lists the models, sorted.
func (t *Table) Names() []string {
	n := make([]string, 0, len(t.Models))
	for k := range t.Models {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}
