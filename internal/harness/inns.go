package harness

import (
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// InNS runs fn on a thread switched into the named network namespace, so
// sockets fn creates belong to it, then switches the thread back (were it
// the main thread, `ip netns pids` would list the whole process in ns and
// a harness cleanup would kill it); "" runs fn where we are.
func InNS(ns string, fn func() error) error {
	if ns == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns %s: %w", ns, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns %s: setns: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread stays locked and dies with this goroutine, so
			// no other goroutine ever runs in the wrong namespace.
			errc <- fmt.Errorf("netns %s: restore: %w", ns, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// ListenUDP opens a UDP socket inside namespace ns (it stays there
// whatever thread later uses it).
func ListenUDP(ns string, laddr *net.UDPAddr) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := InNS(ns, func() (err error) {
		c, err = net.ListenUDP("udp4", laddr)
		return err
	})
	return c, err
}
