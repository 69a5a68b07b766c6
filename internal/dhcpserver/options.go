package dhcpserver

// Defaults for Options' zero values.
const (
	// DefaultMaxInflight bounds the packets handled at once; it is large
	// because a handler may wait for macpin's group commit, and a rack of
	// boards arriving in one instant must all be in that commit.
	DefaultMaxInflight = 8192
	// DefaultReceiveBuffer is the port-67 socket buffer asked for: room for
	// several thousand DHCP packets queued while the handlers catch up.
	DefaultReceiveBuffer = 16 << 20
)

// Options tunes the DHCPv4 loop; the zero value gives the defaults.
type Options struct {
	// MaxInflight is how many packets may be in the handler chain at once;
	// beyond it packets are dropped (counted, warned about once a minute).
	MaxInflight int
	// ReceiveBuffer is the receive buffer asked for on each listening socket.
	ReceiveBuffer int
	// NonBlocking names the plugins whose handlers never block (those that
	// must wait hold the reply with replyhold instead). When every
	// `server4:` plugin is one of them, each listener runs the chain on its
	// reader goroutine (inline mode) and MaxInflight does not apply;
	// otherwise every packet gets a handler goroutine of its own.
	NonBlocking map[string]bool
}

func (o Options) withDefaults() Options {
	if o.MaxInflight <= 0 {
		o.MaxInflight = DefaultMaxInflight
	}
	if o.ReceiveBuffer <= 0 {
		o.ReceiveBuffer = DefaultReceiveBuffer
	}
	return o
}
