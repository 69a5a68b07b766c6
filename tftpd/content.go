package tftpd

// What a resolved request sends: a rendered template, a cached copy of a
// shared file, or the file streamed from disk; netascii converted.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// errRender marks template failures (logged with the template's error).
var errRender = errors.New("render")

// open returns the content of res as a reader and its size: rendered for
// templates, from the cache for shared files, streamed from disk for files
// too large to cache.
func (s *Server) open(res Resolved) (io.ReaderAt, int64, error) {
	if res.Template {
		src, err := s.readSmall(res.Path, res.Info)
		if err != nil {
			return nil, 0, err
		}
		out, err := render(res, src)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w", errRender, err)
		}
		return memFile(out), int64(len(out)), nil
	}
	if s.cache.cacheable(res.Info.Size()) {
		data, hit, err := s.cache.get(s.root, res.Path, res.Info)
		if err != nil {
			return nil, 0, err
		}
		if hit {
			s.m.cacheHits.Inc()
		} else {
			s.m.cacheMiss.Inc()
		}
		return memFile(data), int64(len(data)), nil
	}
	f, err := s.root.Open(res.Path)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// readSmall reads a template source, through the cache when it fits.
func (s *Server) readSmall(path string, fi fs.FileInfo) ([]byte, error) {
	if s.cache.cacheable(fi.Size()) {
		data, _, err := s.cache.get(s.root, path, fi)
		return data, err
	}
	return s.root.ReadFile(path)
}
