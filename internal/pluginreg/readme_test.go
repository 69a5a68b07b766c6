package pluginreg

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// stanzaLine is one `- name: args` item of a YAML example.
var stanzaLine = regexp.MustCompile(`^\s*-\s+([a-z0-9_]+):\s*(.*)$`)

// TestEveryReadmeStanzaParses runs each plugin's own parser on every stanza
// its README (and the project's example configurations) show, so the docs
// cannot drift from the code. Syntax summaries (<placeholders>, [optional],
// a|b) are skipped; files an example names are stood in for by valid ones.
func TestEveryReadmeStanzaParses(t *testing.T) {
	docs, _ := filepath.Glob("../../plugins/*/README.md")
	docs = append(docs, "../../README.md", "../../config.yml.example", "../../config-proxy.yml.example")
	stand := newStandIns(t)
	checked := 0
	for _, doc := range docs {
		f, err := os.Open(doc)
		if err != nil {
			t.Fatal(err)
		}
		yamlFile := strings.HasSuffix(doc, ".example")
		inYAML := yamlFile
		sc := bufio.NewScanner(f)
		for line := 1; sc.Scan(); line++ {
			text := sc.Text()
			if !yamlFile && strings.HasPrefix(strings.TrimSpace(text), "```") {
				inYAML = strings.TrimSpace(text) == "```yaml" && !inYAML
				continue
			}
			if !inYAML {
				continue
			}
			m := stanzaLine.FindStringSubmatch(text)
			if m == nil {
				continue
			}
			name, rest := m[1], m[2]
			if i := strings.Index(rest, " #"); i >= 0 {
				rest = rest[:i]
			}
			if strings.HasPrefix(strings.TrimSpace(rest), "#") {
				rest = ""
			}
			if strings.ContainsAny(rest, "<[|…") || strings.Contains(rest, "...") {
				continue // a syntax summary, not an example
			}
			e, ok := Lookup(name)
			if !ok {
				t.Errorf("%s:%d: %q is not a plugin of this build", doc, line, name)
				continue
			}
			if e.Check == nil {
				continue
			}
			a := stand.args(strings.Fields(rest))
			if err := e.Check(a...); err != nil {
				t.Errorf("%s:%d: %s: %v", doc, line, strings.TrimSpace(text), err)
			}
			checked++
		}
		f.Close()
	}
	if checked < 20 {
		t.Errorf("checked only %d stanzas; the README scan is not finding the examples", checked)
	}
}

// standIns replaces paths examples name (which exist on a server, not
// here) by files that hold what the option expects.
type standIns struct {
	dir     string
	byKey   map[string]string
	models  string
	hook    string
	pgpass  string
	rewrite map[string]string
}

func newStandIns(t *testing.T) *standIns {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	models, err := filepath.Abs("../../examples/models.yml")
	if err != nil {
		t.Fatal(err)
	}
	return &standIns{
		dir:    dir,
		models: models,
		byKey: map[string]string{
			"reservations": write("reservations", "dc:a6:32:aa:00:01 10.20.9.11 rack1-pi01\n", 0o644),
			"menu-file":    write("menu.txt", "Raspberry Pi Boot\n", 0o644),
			"file":         write("vendor.yml", "sub: 1:text:x\n", 0o644),
			"on-new":       write("hook", "#!/bin/sh\nexit 0\n", 0o755),
		},
		pgpass: write("pgpass", "secret\n", 0o600),
	}
}

// args rewrites the file paths of one stanza's arguments.
func (s *standIns) args(a []string) []string {
	out := make([]string, len(a))
	for i, w := range a {
		switch {
		case strings.HasSuffix(w, "models.yml") && !strings.Contains(w, "="):
			w = s.models
		case strings.Contains(w, "password_file="):
			w = regexp.MustCompile(`password_file=[^&]+`).ReplaceAllString(w, "password_file="+s.pgpass)
		case strings.HasPrefix(w, "/var/lib/") || strings.HasPrefix(w, "sqlite:/var/lib/"):
			w = strings.Replace(w, "/var/lib/rpinetboot", s.dir, 1)
		default:
			if k, v, ok := strings.Cut(w, "="); ok && strings.HasPrefix(v, "/") {
				if p, ok := s.byKey[k]; ok {
					w = k + "=" + p
				}
			}
		}
		out[i] = w
	}
	return out
}
