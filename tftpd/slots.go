package tftpd

// Transfer slots: at most max_transfers send at once; more requests wait
// in a queue holding no socket, and a flood beyond 8 x max_transfers is
// dropped and counted.

import (
	"errors"
	"time"
)

// maxPending bounds requests queued or running: beyond it a flood is
// dropped rather than growing goroutines without end.
func maxPending(c *Config) int { return 8 * c.MaxTransfers }

// startTransfer runs p's transfer on its own goroutine.
func (s *Server) startTransfer(p *pending) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.transfer(p)
	}()
}

// acquire waits for a transfer slot; requests queue rather than being dropped.
func (s *Server) acquire(p *pending) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	default:
	}
	s.m.queued.Inc()
	defer s.m.queued.Dec()
	t := time.NewTimer(max(s.cfg.QueueTimeout-time.Since(p.at), 0))
	defer t.Stop()
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-t.C:
		return errors.New("queue timeout")
	case <-s.done:
		return errors.New("shutting down")
	}
}
