package tftpd

import (
	"container/list"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"
)

// fileCache keeps whole files that many boards fetch (start4.elf, kernels,
// dtbs) in memory, so a boot storm reads each from disk once. Entries are
// keyed by root-relative path and checked against a fresh stat on every
// request, so a replaced or edited file is read again. Least recently used
// entries go first once the byte budget is spent.
type fileCache struct {
	max     int64
	maxFile int64 // larger files are streamed from disk, not cached

	mu      sync.Mutex
	used    int64
	lru     *list.List // of *cacheEntry, front = most recent
	byPath  map[string]*list.Element
	loading map[string]*cacheLoad
}

type cacheEntry struct {
	path string
	id   fileID
	data []byte
}

// cacheLoad lets concurrent misses of one file share one disk read.
type cacheLoad struct {
	done chan struct{}
	data []byte
	err  error
}

// fileID tells whether a file changed since it was cached.
type fileID struct {
	size  int64
	mtime time.Time
	ino   uint64
	dev   uint64
}

func idOf(fi fs.FileInfo) fileID {
	id := fileID{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.ino, id.dev = st.Ino, uint64(st.Dev)
	}
	return id
}

func newFileCache(max int64) *fileCache {
	return &fileCache{
		max: max, maxFile: max / 4,
		lru: list.New(), byPath: make(map[string]*list.Element), loading: make(map[string]*cacheLoad),
	}
}

// cacheable reports whether a file of this size goes through the cache.
func (c *fileCache) cacheable(size int64) bool {
	return c.max > 0 && size <= c.maxFile
}

// get returns the content of path whose fresh stat is fi, reading it through
// root on a miss. hit reports whether no disk read was needed.
func (c *fileCache) get(root *os.Root, path string, fi fs.FileInfo) (data []byte, hit bool, err error) {
	id := idOf(fi)
	c.mu.Lock()
	if el, ok := c.byPath[path]; ok {
		e := el.Value.(*cacheEntry)
		if e.id == id {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			return e.data, true, nil
		}
		c.removeLocked(el) // changed on disk
	}
	if l, ok := c.loading[path]; ok {
		c.mu.Unlock()
		<-l.done
		return l.data, true, l.err
	}
	l := &cacheLoad{done: make(chan struct{})}
	c.loading[path] = l
	c.mu.Unlock()

	l.data, id, l.err = readWhole(root, path)
	c.mu.Lock()
	delete(c.loading, path)
	if l.err == nil && c.cacheable(id.size) {
		c.insertLocked(&cacheEntry{path: path, id: id, data: l.data})
	}
	c.mu.Unlock()
	close(l.done)
	return l.data, false, l.err
}

// readWhole reads path and returns the identity of what was actually read,
// so a file swapped between stat and open is cached under its own identity.
func readWhole(root *os.Root, path string) ([]byte, fileID, error) {
	f, err := root.Open(path)
	if err != nil {
		return nil, fileID{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileID{}, fmt.Errorf("stat %s: %w", path, err)
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fileID{}, fmt.Errorf("read %s: %w", path, err)
	}
	return data, idOf(fi), nil
}

func (c *fileCache) insertLocked(e *cacheEntry) {
	if old, ok := c.byPath[e.path]; ok {
		c.removeLocked(old)
	}
	c.byPath[e.path] = c.lru.PushFront(e)
	c.used += int64(len(e.data))
	for c.used > c.max && c.lru.Len() > 0 {
		c.removeLocked(c.lru.Back())
	}
}

func (c *fileCache) removeLocked(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.byPath, e.path)
	c.used -= int64(len(e.data))
}

// size returns the bytes held.
func (c *fileCache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
