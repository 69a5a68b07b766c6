package vendoropts

import (
	"fmt"
	"net/url"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/rpinetboot/rpinetboot/internal/args"
)

// parser accumulates one stanza's arguments, from the stanza and its file.
type parser struct {
	c    class
	subs [][]byte
	end  bool
}

// keys are the stanza's option keys; a file= holds the same ones.
var keys = []struct{ key, value string }{
	{"vendor", "CLASS"}, {"vendor-prefix", "PREFIX"}, {"oui", "aa:bb:cc"}, {"sub", "CODE:TYPE:VALUE"},
	{"reply-vendor", "CLASS"}, {"end", "yes|no"},
}

// CheckArgs reports what is wrong with a stanza's arguments (file= included)
// without side effects, for `rpinetctl config check`.
func CheckArgs(a ...string) error {
	_, err := parseArgs(a)
	return err
}

func parseArgs(a []string) (*class, error) {
	p := &parser{end: true}
	spec := args.Spec{Plugin: "vendoropts"}
	for _, k := range keys {
		spec.Options = append(spec.Options, args.Option{Key: k.key, Value: k.value, Set: func(v string) error { return p.arg(k.key, v) }})
	}
	spec.Options = append(spec.Options, args.Option{Key: "file", Value: "/path.yml", Set: p.file})
	if err := spec.Parse(a); err != nil {
		return nil, err
	}
	c, err := p.finish()
	if err != nil {
		return nil, fmt.Errorf("vendoropts: %w", err)
	}
	return c, nil
}

// arg applies one key=value pair.
func (p *parser) arg(k, v string) error {
	switch k {
	case "vendor", "vendor-prefix", "reply-vendor":
		s, err := unescape(v)
		if err != nil {
			return err
		}
		if s == "" {
			return fmt.Errorf("want a non-empty vendor class")
		}
		switch k {
		case "vendor":
			p.c.vendors = append(p.c.vendors, s)
		case "vendor-prefix":
			p.c.prefixes = append(p.c.prefixes, s)
		default:
			p.c.replyVendor = s
		}
	case "oui":
		o, err := args.OUI(v)
		if err != nil {
			return err
		}
		p.c.ouis = append(p.c.ouis, o)
	case "sub":
		b, err := parseSub(v)
		if err != nil {
			return err
		}
		p.subs = append(p.subs, b)
	case "end":
		switch v {
		case "yes", "true":
			p.end = true
		case "no", "false":
			p.end = false
		default:
			return fmt.Errorf("want yes or no")
		}
	default:
		return fmt.Errorf("unknown key %q (want vendor, vendor-prefix, oui, sub, file, reply-vendor or end)", k)
	}
	return nil
}

// file reads a YAML mapping whose keys are the stanza's keys and whose
// values are one value or a list of values.
func (p *parser) file(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("file=%s: %w", path, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("file=%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return fmt.Errorf("file=%s: empty document", path)
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("file=%s: line %d: want a mapping of key: value", path, m.Line)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Value == "file" {
			return fmt.Errorf("file=%s: line %d: file may not include another file", path, k.Line)
		}
		var vals []*yaml.Node
		switch v.Kind {
		case yaml.ScalarNode:
			vals = []*yaml.Node{v}
		case yaml.SequenceNode:
			vals = v.Content
		default:
			return fmt.Errorf("file=%s: line %d: %s: want a value or a list of values", path, v.Line, k.Value)
		}
		for _, n := range vals {
			if n.Kind != yaml.ScalarNode {
				return fmt.Errorf("file=%s: line %d: %s: want a plain value", path, n.Line, k.Value)
			}
			if err := p.arg(k.Value, n.Value); err != nil {
				return fmt.Errorf("file=%s: line %d: %s: %s: %w", path, n.Line, k.Value, n.Value, err)
			}
		}
	}
	return nil
}

// finish checks the stanza is complete and encodes option 43.
func (p *parser) finish() (*class, error) {
	c := p.c
	if len(c.vendors)+len(c.prefixes)+len(c.ouis) == 0 {
		return nil, fmt.Errorf("no matcher: give vendor=, vendor-prefix= or oui= (answering every client is never wanted)")
	}
	if len(p.subs) == 0 {
		return nil, fmt.Errorf("no sub-option: give at least one sub=CODE:TYPE:VALUE")
	}
	for _, s := range p.subs {
		c.opt43 = append(c.opt43, s...)
	}
	if p.end {
		c.opt43 = append(c.opt43, 255)
	}
	if len(c.opt43) > 255 {
		return nil, fmt.Errorf("option 43 would be %d bytes, want at most 255", len(c.opt43))
	}
	switch {
	case len(c.vendors) > 0:
		c.name = c.vendors[0]
	case len(c.prefixes) > 0:
		c.name = c.prefixes[0] + "*"
	default:
		c.name = "oui " + c.ouis[0].String()
	}
	return &c, nil
}

// unescape decodes %XX escapes, so text can hold spaces (%20), commas
// (%2C) and percent signs (%25) despite white-space splitting.
func unescape(s string) (string, error) {
	u, err := url.PathUnescape(s)
	if err != nil {
		return "", fmt.Errorf("%q: bad %%XX escape", s)
	}
	return u, nil
}
