package tftpd

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxRequestLen bounds a request path; real boot files are far shorter.
const maxRequestLen = 512

// ErrBadPath marks a request refused because of its path alone (traversal
// attempts and the like), before any file system access.
var ErrBadPath = errors.New("refused path")

// splitRequest checks a requested file name and returns its components.
// Only plain relative paths are served: the checks run before any file system
// access, and os.Root confines what remains (symlinks included).
func splitRequest(name string) ([]string, error) {
	switch {
	case name == "":
		return nil, fmt.Errorf("%w: empty file name", ErrBadPath)
	case len(name) > maxRequestLen:
		return nil, fmt.Errorf("%w: name longer than %d bytes", ErrBadPath, maxRequestLen)
	case !utf8.ValidString(name):
		return nil, fmt.Errorf("%w: name is not UTF-8", ErrBadPath)
	case strings.HasPrefix(name, "/"):
		return nil, fmt.Errorf("%w: absolute path", ErrBadPath)
	case strings.ContainsRune(name, '\\'):
		return nil, fmt.Errorf("%w: backslash in name", ErrBadPath)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return nil, fmt.Errorf("%w: control character %#x in name", ErrBadPath, r)
		}
	}
	parts := strings.Split(name, "/")
	for _, p := range parts {
		switch p {
		case "":
			return nil, fmt.Errorf("%w: empty path component", ErrBadPath)
		case ".", "..":
			return nil, fmt.Errorf("%w: %q component", ErrBadPath, p)
		}
	}
	if strings.HasSuffix(name, templateExt) {
		// Templates are sources; serving them raw would bypass rendering.
		return nil, fmt.Errorf("%w: template sources are not served", ErrBadPath)
	}
	return parts, nil
}

// validComponent reports whether s can stand as one path component.
func validComponent(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
