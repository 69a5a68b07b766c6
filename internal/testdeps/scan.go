package testdeps

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Use is one program the code starts, where.
type Use struct {
	Program string // a command name or an absolute path
	Pos     string // file:line
}

// Unresolved is a start whose program is not a string literal; the line
// must carry a `deps:` comment naming what it runs (or `deps: built` for
// one of our own binaries), so the scan can still check it.
type Unresolved struct {
	Expr string
	Pos  string
}

// starters are the calls whose first program argument (after the given
// number of leading arguments) names a program: package functions as
// "pkg.Func", methods as ".Method".
var starters = map[string]int{
	"exec.Command":        0,
	"exec.CommandContext": 1,
	"exec.LookPath":       0,
	"run":                 1, // bench's run(s, argv...)
	".must":               1, // harness Net.must(t, argv...)
	".Start":              3, // harness Net.Start(t, ns, name, argv...)
	".Run":                2, // harness Net.Run(t, ns, argv...)
}

// Scan walks the Go files below root and returns every program started.
func Scan(root string) ([]Use, []Unresolved, error) {
	var uses []Use
	var unres []Unresolved
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == ".git" || name == "testdata" || name == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
		if err != nil {
			return fmt.Errorf("parse %s: %w", path, err)
		}
		u, un := scanFile(fset, f, src)
		uses, unres = append(uses, u...), append(unres, un...)
		return nil
	})
	return uses, unres, err
}

// ScanSource scans one file's source, for tests of the scanner itself.
func ScanSource(name, src string) ([]Use, []Unresolved, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
	if err != nil {
		return nil, nil, err
	}
	u, un := scanFile(fset, f, []byte(src))
	return u, un, nil
}

func scanFile(fset *token.FileSet, f *ast.File, src []byte) ([]Use, []Unresolved) {
	exprString := func(_ *token.FileSet, e ast.Expr) string {
		p, q := fset.Position(e.Pos()).Offset, fset.Position(e.End()).Offset
		if p < 0 || q > len(src) || p > q {
			return "?"
		}
		return string(src[p:q])
	}
	var uses []Use
	var unres []Unresolved
	notes := depsNotes(fset, f)
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		skip, ok := starterOf(call)
		if !ok || len(call.Args) <= skip {
			return true
		}
		pos := fset.Position(call.Pos())
		where := fmt.Sprintf("%s:%d", pos.Filename, pos.Line)
		args := call.Args[skip:]
		prog, lit := literal(args[0])
		// `env NAME=VALUE ... PROG`: PROG runs too.
		if lit && prog == "env" {
			uses = append(uses, Use{"env", where})
			for _, a := range args[1:] {
				if assignment(a) {
					continue
				}
				if p, ok := literal(a); ok {
					uses = append(uses, Use{p, where})
				}
				break
			}
			return true
		}
		// `ip netns exec NS PROG ...`: PROG is what really runs.
		if lit && prog == "ip" {
			uses = append(uses, Use{"ip", where})
			if len(args) >= 5 {
				if a, _ := literal(args[1]); a == "netns" {
					if b, _ := literal(args[2]); b == "exec" {
						prog, lit = literal(args[4])
						if !lit {
							if ownBinary(exprString(fset, args[4])) {
								return true
							}
							if note, ok := notes[pos.Line]; ok {
								for _, p := range note {
									uses = append(uses, Use{p, where})
								}
							} else {
								unres = append(unres, Unresolved{exprString(fset, args[4]), where})
							}
						} else {
							uses = append(uses, Use{prog, where})
						}
					}
				}
			}
			return true
		}
		if lit {
			uses = append(uses, Use{prog, where})
			return true
		}
		if ownBinary(exprString(fset, args[0])) {
			return true
		}
		if note, ok := notes[pos.Line]; ok {
			for _, p := range note {
				uses = append(uses, Use{p, where})
			}
			return true
		}
		unres = append(unres, Unresolved{exprString(fset, args[0]), where})
		return true
	})
	return uses, unres
}

// assignment reports whether an env argument is NAME=VALUE (a literal, or
// a literal "NAME=" + something).
func assignment(e ast.Expr) bool {
	if b, ok := e.(*ast.BinaryExpr); ok {
		e = b.X
	}
	s, ok := literal(e)
	return ok && strings.Contains(s, "=")
}

// ownBinary reports whether a program expression names something this
// repository builds (the harness's binaries, the test binary itself) or the
// Go toolchain running the tests, none of which comes from a package.
func ownBinary(expr string) bool {
	for _, p := range []string{"Build(", "bins.", "Bins.", "os.Args[0]", "goTool()", "runtime.GOROOT()"} {
		if strings.Contains(expr, p) {
			return true
		}
	}
	return false
}

// starterOf reports whether call starts a program and how many arguments
// come before the program's name.
func starterOf(call *ast.CallExpr) (int, bool) {
	if id, ok := call.Fun.(*ast.Ident); ok {
		skip, ok := starters[id.Name]
		if !ok || len(call.Args) <= skip {
			return 0, false
		}
		// bench's run(s, argv...), not every function called run.
		if a, ok := call.Args[0].(*ast.Ident); !ok || a.Name != "s" {
			return 0, false
		}
		return skip, true
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return 0, false
	}
	if id, ok := sel.X.(*ast.Ident); ok {
		if skip, ok := starters[id.Name+"."+sel.Sel.Name]; ok {
			return skip, true
		}
	}
	// Methods: only the harness's Net.Start/Run/must shapes (t, ...).
	skip, ok := starters["."+sel.Sel.Name]
	if !ok || len(call.Args) <= skip {
		return 0, false
	}
	if id, ok := call.Args[0].(*ast.Ident); !ok || (id.Name != "t" && id.Name != "b" && id.Name != "tb" && id.Name != "s") {
		return 0, false
	}
	return skip, true
}

// literal resolves a program argument written as a string literal, a
// []string{...} literal or append([]string{...}, ...) whose first element
// is one.
func literal(e ast.Expr) (string, bool) {
	switch x := e.(type) {
	case *ast.CompositeLit:
		if len(x.Elts) > 0 {
			return literal(x.Elts[0])
		}
		return "", false
	case *ast.CallExpr:
		if id, ok := x.Fun.(*ast.Ident); ok && id.Name == "append" && len(x.Args) > 0 {
			return literal(x.Args[0])
		}
		return "", false
	}
	bl, ok := e.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(bl.Value)
	return s, err == nil
}

// depsNotes maps a line to the programs its `deps:` comment names; a
// comment on the line before a call counts for the call's line too.
func depsNotes(fset *token.FileSet, f *ast.File) map[int][]string {
	m := map[int][]string{}
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			text := strings.TrimSpace(strings.TrimPrefix(c.Text, "//"))
			rest, ok := strings.CutPrefix(text, "deps:")
			if !ok {
				continue
			}
			progs := strings.Fields(rest)
			line := fset.Position(c.Pos()).Line
			m[line] = progs
			m[line+1] = progs
		}
	}
	return m
}

// Entry is one line of scripts/deps.list.
type Entry struct {
	Probe   string // a command name or an absolute path
	Package string // the Debian package, "-" for Debian's Essential set, or "go-toolchain"
	Path    string // where to look for a command not on PATH, or ""
}

// ReadList parses scripts/deps.list: `probe package [path]` per line, '#'
// comments.
func ReadList(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 2 || len(fields) > 3 {
			return nil, fmt.Errorf("%s:%d: want `probe package [path]`, got %q", path, line, sc.Text())
		}
		e := Entry{Probe: fields[0], Package: fields[1]}
		if len(fields) == 3 {
			e.Path = fields[2]
		}
		out = append(out, e)
	}
	return out, sc.Err()
}
