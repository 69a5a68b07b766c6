// Package args parses the white-space split arguments CoreDHCP hands a
// plugin's setup (`- macpin: /var/lib/nodes.db 10.0.0.10 10.0.0.99 1h pin=netboot`):
// positional words first, then key=value options. Every rpinetboot plugin
// declares its arguments with a Spec, so all of them accept the same forms,
// refuse unknown keys and word their errors alike ("macpin: option
// "range=1.2.3.4": ...; usage: ...").
package args

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Positional is one required (or optional) word before the options.
type Positional struct {
	Name     string               // for errors and usage, e.g. "store"
	Optional bool                 // may be missing; later positionals must be optional too
	Set      func(v string) error // parses and stores the word
	// Redact, if set, rewrites the word for error messages (a DSN's password).
	Redact func(v string) string
}

// Option is one key=value option.
type Option struct {
	Key   string // e.g. "range"
	Value string // what the value looks like, for usage: "FIRST-LAST"
	Once  bool   // may be given at most once
	Empty bool   // an empty value (key=) is allowed
	// Hidden keeps the option out of the usage line (a key that moved
	// elsewhere and only explains so).
	Hidden bool
	Set    func(v string) error // parses and stores the value; called in argument order
}

// Spec describes one plugin's arguments.
type Spec struct {
	Plugin     string
	Positional []Positional
	Options    []Option
	// Flags are bare words accepted among the options (metrics' allow-remote).
	Flags map[string]func() error
	// Fallback, if set, is offered every key=value option the Spec does not
	// name, before it counts as unknown; it reports whether it took it.
	Fallback func(arg string) (bool, error)
	// FallbackUsage is appended to the usage line for the Fallback's keys.
	FallbackUsage string
}

// Usage is the one-line summary errors end with.
func (s *Spec) Usage() string {
	var b strings.Builder
	b.WriteString("usage: ")
	b.WriteString(s.Plugin)
	b.WriteString(":")
	for _, p := range s.Positional {
		if p.Optional {
			fmt.Fprintf(&b, " [<%s>]", p.Name)
		} else {
			fmt.Fprintf(&b, " <%s>", p.Name)
		}
	}
	for _, o := range s.Options {
		if !o.Hidden {
			fmt.Fprintf(&b, " [%s=%s]", o.Key, o.Value)
		}
	}
	if len(s.Flags) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.ReplaceAll(s.flagList(), ", ", "] ["))
	}
	if s.FallbackUsage != "" {
		fmt.Fprintf(&b, " [%s]", s.FallbackUsage)
	}
	return b.String()
}

// Parse applies args to the Spec's setters, in order, and returns the first
// problem as an error naming the plugin, the argument and what was wanted.
func (s *Spec) Parse(args []string) error {
	opts := make(map[string]*Option, len(s.Options))
	for i := range s.Options {
		opts[s.Options[i].Key] = &s.Options[i]
	}
	i := 0
	for _, p := range s.Positional {
		if i >= len(args) || (p.Optional && isOption(args[i])) {
			if p.Optional {
				break
			}
			return s.errorf("missing <%s>; %s", p.Name, s.Usage())
		}
		if err := p.Set(args[i]); err != nil {
			shown := args[i]
			if p.Redact != nil {
				shown = p.Redact(shown)
			}
			return s.errorf("%s %q: %v; %s", p.Name, shown, err, s.Usage())
		}
		i++
	}
	seen := map[string]bool{}
	for _, a := range args[i:] {
		if f, ok := s.Flags[a]; ok {
			if err := f(); err != nil {
				return s.errorf("%s: %v", a, err)
			}
			continue
		}
		key, val, ok := strings.Cut(a, "=")
		o := opts[key]
		if !ok || o == nil {
			if ok && s.Fallback != nil {
				took, err := s.Fallback(a)
				if err != nil {
					return s.errorf("option %v; %s", err, s.Usage())
				}
				if took {
					continue
				}
			}
			if !ok && len(s.Flags) > 0 {
				return s.errorf("argument %q: unknown word, want key=value or one of %s; %s", a, s.flagList(), s.Usage())
			}
			if !ok {
				return s.errorf("argument %q: want key=value; %s", a, s.Usage())
			}
			return s.errorf("option %q: unknown key %q; %s", a, key, s.Usage())
		}
		if val == "" && !o.Empty {
			return s.errorf("option %q: empty value, want %s=%s", a, key, o.Value)
		}
		if o.Once && seen[key] {
			return s.errorf("option %q: %s= given twice", a, key)
		}
		seen[key] = true
		if err := o.Set(val); err != nil {
			if o.Hidden {
				return s.errorf("option %q: %v", a, err)
			}
			return s.errorf("option %q: %v (want %s=%s)", a, err, key, o.Value)
		}
	}
	return nil
}

func (s *Spec) flagList() string {
	var l []string
	for f := range s.Flags {
		l = append(l, f)
	}
	sort.Strings(l)
	return strings.Join(l, ", ")
}

func (s *Spec) errorf(format string, a ...any) error {
	return fmt.Errorf("%s: %w", s.Plugin, fmt.Errorf(format, a...))
}

// isOption reports whether a looks like key=value rather than a positional
// word; used to notice a missing optional positional.
func isOption(a string) bool {
	k, _, ok := strings.Cut(a, "=")
	return ok && k != "" && !strings.ContainsAny(k, "/:.")
}

// ErrEmpty is returned by the value parsers for an empty value.
var ErrEmpty = errors.New("empty value")
