package modelboot

import "sync"

// maxUnknownNames bounds the memory of logged model names: names come from
// clients (U-Boot's option 60), so a hostile client could invent many.
const maxUnknownNames = 256

// onceSet remembers up to max names, so each is logged once.
type onceSet struct {
	mu     sync.Mutex
	max    int
	names  map[string]struct{}
	warned bool
}

func newOnceSet(max int) *onceSet {
	return &onceSet{max: max, names: map[string]struct{}{}}
}

// add reports whether name is new (log it), and, once, whether the set has
// just become full (log that further names go unlogged).
func (s *onceSet) add(name string) (first, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.names[name]; ok {
		return false, false
	}
	if len(s.names) >= s.max {
		if s.warned {
			return false, false
		}
		s.warned = true
		return false, true
	}
	s.names[name] = struct{}{}
	return true, false
}
