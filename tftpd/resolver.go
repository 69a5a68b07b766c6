package tftpd

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/rpinetboot/rpinetboot/internal/args"
	"github.com/rpinetboot/rpinetboot/internal/classify"
	"github.com/rpinetboot/rpinetboot/internal/models"
	"github.com/rpinetboot/rpinetboot/internal/store"
)

// Tree directories under root.
const (
	dirDefault = "default"
	dirModels  = "models"
	dirNodes   = "nodes"
)

// templateExt marks a file rendered per board: NAME.tmpl is served as NAME.
const templateExt = ".tmpl"

// Facts is what the server knows about the requesting board; templates see
// these fields (see tftpd/README.md).
type Facts struct {
	IP       string            // client IPv4 address as seen on the wire
	MAC      string            // aa:bb:cc:dd:ee:ff, or ""
	Serial   string            // 8 lower-case hex digits, or ""
	Model    string            // model name (models.yml key), or ""
	Hostname string            // from the node store, or ""
	ServerIP string            // the address the request was sent to
	Vars     map[string]string // the config's vars
	Entry    models.Entry      // models.yml entry for Model merged over its default
}

// fromNode takes what the node store says about the client, each value
// checked again for the places it lands (a path component, a template, a
// U-Boot script, a kernel command line): a store written by an older
// version, by hand or by a peer may hold anything, and a value that fails
// its check is left out rather than repaired.
func (f *Facts) fromNode(n store.Node) {
	if len(n.MAC) == 6 {
		f.MAC = n.MAC.String()
	}
	if isSerial(n.Serial) {
		f.Serial = n.Serial
	}
	f.Model = classify.SanitizeModel(n.Model)
	if args.ValidHostname(n.Hostname) {
		f.Hostname = n.Hostname
	}
}

// Resolved is a request mapped onto one file under root.
type Resolved struct {
	Request  string      // the name the client asked for
	Name     string      // the request with its serial/MAC/prefix/model component removed
	Path     string      // root-relative path of the file found (a .tmpl for Template)
	Template bool        // Path is a template rendered into Name
	Info     fs.FileInfo // of Path
	Facts    Facts       // facts merged with what the request path told
}

// ErrNotFound means no level of the chain holds the file.
var ErrNotFound = errors.New("file not found")

// Resolver maps request names onto the trees under root. It never opens
// anything outside root: every access goes through os.Root, which refuses
// ".." and symlinks leading out of it.
type Resolver struct {
	root   *os.Root
	models *models.Table // nil when no models.yml is configured
	prefix []string      // components of the fixed TFTP_PREFIX_STR, or nil
}

// NewResolver serves the trees under root (an open os.Root; the caller keeps
// ownership). table may be nil; prefix is the fixed TFTP_PREFIX_STR (one
// or more components, e.g. "pxe" or "site/rack1/") or "".
func NewResolver(root *os.Root, table *models.Table, prefix string) *Resolver {
	r := &Resolver{root: root, models: table}
	if p := strings.Trim(prefix, "/"); p != "" {
		r.prefix = strings.Split(p, "/")
	}
	return r
}

// Resolve finds the file for request name as seen by the board of facts f:
// the request may start with the fixed prefix, or its first component may
// name the board's serial, its MAC (aa-bb-cc-dd-ee-ff) or a model; the rest
// is looked up in
// nodes/<serial>, nodes/<mac>, models/<model> and default, in that order.
// At each level a static file wins over NAME.tmpl.
func (r *Resolver) Resolve(name string, f Facts) (Resolved, error) {
	parts, err := splitRequest(name)
	if err != nil {
		return Resolved{}, err
	}
	if n := len(r.prefix); n > 0 && len(parts) > n && slices.Equal(parts[:n], r.prefix) {
		parts = parts[n:]
	} else if len(parts) > 1 {
		first := parts[0]
		strip := true
		switch {
		case isSerial(first):
			f.Serial = first
		case parseDashMAC(first) != nil:
			f.MAC = parseDashMAC(first).String()
		case r.models != nil && r.models.Has(first):
			f.Model = first
		default:
			strip = false
		}
		if strip {
			parts = parts[1:]
		}
	}
	rest := strings.Join(parts, "/")
	if r.models != nil {
		f.Entry, _ = r.models.Lookup(f.Model)
	}
	res := Resolved{Request: name, Name: rest, Facts: f}
	for _, level := range r.levels(f) {
		for _, tmpl := range []bool{false, true} {
			p := path.Join(level, rest)
			if tmpl {
				p += templateExt
			}
			fi, err := r.root.Stat(p)
			switch {
			case err == nil && fi.Mode().IsRegular():
				res.Path, res.Template, res.Info = p, tmpl, fi
				return res, nil
			case err == nil, isAbsent(err):
				continue // a directory, or nothing here: try the next level
			default:
				return res, fmt.Errorf("%w: %s: %w", ErrBadPath, p, err)
			}
		}
	}
	return res, fmt.Errorf("%s: %w", name, ErrNotFound)
}

// levels lists the directories searched for f, most specific first.
func (r *Resolver) levels(f Facts) []string {
	l := make([]string, 0, 4)
	if isSerial(f.Serial) {
		l = append(l, dirNodes+"/"+f.Serial)
	}
	if mac, err := net.ParseMAC(f.MAC); err == nil && len(mac) == 6 {
		l = append(l, dirNodes+"/"+strings.ReplaceAll(mac.String(), ":", "-"))
	}
	if f.Model != "" && validComponent(f.Model) {
		l = append(l, dirModels+"/"+f.Model)
	}
	return append(l, dirDefault)
}

// isAbsent reports errors that mean "not at this level" rather than a refusal.
func isAbsent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// isSerial reports whether s is a Pi serial as the bootloader writes it.
func isSerial(s string) bool {
	if len(s) != 8 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// parseDashMAC parses the aa-bb-cc-dd-ee-ff form used by TFTP_PREFIX=MAC.
func parseDashMAC(s string) net.HardwareAddr {
	if len(s) != 17 || strings.Count(s, "-") != 5 {
		return nil
	}
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 {
		return nil
	}
	return mac
}
