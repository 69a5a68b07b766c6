package tftpd

import (
	"net"
	"testing"
	"time"
)

// The request port reports when a packet arrived, not when it was read (a
// request that waited in the buffer behind a burst keeps its place in
// time), and the local address and interface MTU it came in on.
func TestRequestMetaFromKernel(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	fe := newFrontend(conn)
	defer fe.close()
	c, err := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The kernel turns receive timestamps on for the whole host a moment
	// after the first socket asks (a deferred static-key switch), so the
	// first packets may carry none; within 2 s they must.
	buf, oob := make([]byte, 100), make([]byte, metaSpace)
	var m reqMeta
	for deadline := time.Now().Add(2 * time.Second); ; {
		before := time.Now()
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		read := time.Now()
		var n int
		var from *net.UDPAddr
		n, from, m, err = fe.read(buf, oob)
		if err != nil || n != 1 || from.Port != c.LocalAddr().(*net.UDPAddr).Port {
			t.Fatalf("read %d bytes from %v: %v", n, from, err)
		}
		if !m.arrived.Before(before.Add(-time.Second)) && m.arrived.Before(read.Add(-50*time.Millisecond)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("arrival %v: want between the send (%v) and well before the read (%v)", m.arrived, before, read)
		}
	}
	if !m.dst.Equal(net.IPv4(127, 0, 0, 1)) || m.mtu < 1500 {
		t.Errorf("destination %v, MTU %d: want 127.0.0.1 and the loopback's MTU", m.dst, m.mtu)
	}
}
