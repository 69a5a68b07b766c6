package piboard

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Options shape how boards behave; zero values take the defaults noted.
type Options struct {
	NS    string // network namespace the interface lives in; "" = this one (Run opens the link there; Link.Run uses the link's own)
	Iface string // the client interface, e.g. "eth0"

	Discovers     int           // DISCOVERs before giving up; default 5 (the ROM's)
	RetryInterval time.Duration // between DISCOVERs; default 5 s (the ROM's)
	DHCPOnly      bool          // stop once the board has an address (no address added, no TFTP)

	Files          []string      // overrides DefaultFiles for every model
	Blksize        int           // Pi 4/5 TFTP block size; default 1024 (the EEPROM's maximum)
	NoTsizeProbe   bool          // Pi 4/5: skip the tsize-probe-and-abort before each file
	DuplicateRRQ   string        // Pi 4/5: file name (without prefix) whose RRQ is sent twice
	TFTPTimeout    time.Duration // per-packet retransmit timeout; default 1 s
	TFTPRetries    int           // retransmits per packet; default 5
	KeepData       bool          // keep file contents in results
	CRC32C         bool          // digest files with CRC-32C (File.CRC32C) instead of SHA-256: cheap enough for load generation
	MaxConcurrency int           // boards running at once; 0 = all
	Spread         time.Duration // power-on spread: board i of n starts at i*Spread/n
	// OnAddress, if set, is called (concurrently) as each board gets its
	// address, so a test can act in the middle of a storm.
	OnAddress func(b Board, ip netip.Addr)
	// OnProgress, if set, is called (concurrently, from each board's own
	// goroutine, so it must be quick and safe for concurrent use) as each
	// board starts DHCP, gets its address, starts each file, and boots or
	// fails; live views (`make demo`) draw from it.
	OnProgress func(b Board, p Progress)
}

func (o *Options) defaults() {
	if o.Discovers == 0 {
		o.Discovers = 5
	}
	if o.RetryInterval == 0 {
		o.RetryInterval = 5 * time.Second
	}
	if o.Blksize == 0 {
		o.Blksize = 1024
	}
	if o.TFTPTimeout == 0 {
		o.TFTPTimeout = time.Second
	}
	if o.TFTPRetries == 0 {
		o.TFTPRetries = 5
	}
}

// File is one file a board fetched, or tried to.
type File struct {
	Name    string `json:"name"` // as requested, with any prefix
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256,omitempty"`
	CRC32C  string `json:"crc32c,omitempty"`  // instead of SHA256 with Options.CRC32C
	Blksize int    `json:"blksize,omitempty"` // block size the transfer ran with
	Data    []byte `json:"-"`
	Error   string `json:"error,omitempty"` // a tolerated failure (the Pi 3 <serial>/start.elf probe)
}

// Result is the outcome of one board's boot.
type Result struct {
	MAC        string  `json:"mac"`
	Model      Model   `json:"model"`
	Serial     string  `json:"serial"`
	IP         string  `json:"ip,omitempty"`
	TFTPServer string  `json:"tftp_server,omitempty"`
	Bootfile   string  `json:"bootfile,omitempty"` // the OFFER's file field or option 67
	Discovers  int     `json:"discovers"`
	Ignored    int     `json:"ignored_replies"`
	AddressMS  float64 `json:"time_to_address_ms"`   // first DISCOVER to usable OFFER (Pi 3) or ACK
	LastByteMS float64 `json:"time_to_last_byte_ms"` // first DISCOVER to the last byte of the last file
	Files      []File  `json:"files,omitempty"`
	Error      string  `json:"error,omitempty"`

	Start   time.Time      `json:"-"`
	OfferAt time.Time      `json:"-"` // when the accepted OFFER arrived
	Offer   *dhcpv4.DHCPv4 `json:"-"` // the accepted OFFER
	Ack     *dhcpv4.DHCPv4 `json:"-"` // the ACK (Pi 4/5)
}

// OK reports whether the board booted (or got its address, with DHCPOnly).
func (r Result) OK() bool { return r.Error == "" }

// Run boots boards concurrently on one link and returns their results in
// the order given. It fails only if the link cannot be opened.
func Run(ctx context.Context, o Options, boards []Board) ([]Result, error) {
	o.defaults()
	l, err := OpenLink(o.NS, o.Iface)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	return l.Run(ctx, o, boards), nil
}

// Run boots boards concurrently on this link.
func (l *Link) Run(ctx context.Context, o Options, boards []Board) []Result {
	o.defaults()
	results := make([]Result, len(boards))
	var wg sync.WaitGroup
	var sem chan struct{}
	if o.MaxConcurrency > 0 {
		sem = make(chan struct{}, o.MaxConcurrency)
	}
	for i, b := range boards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if o.Spread > 0 {
				select {
				case <-time.After(o.Spread * time.Duration(i) / time.Duration(len(boards))):
				case <-ctx.Done():
				}
			}
			if sem != nil {
				sem <- struct{}{}
				defer func() { <-sem }()
			}
			results[i] = l.Boot(ctx, o, b)
		}()
	}
	wg.Wait()
	return results
}

// Boot runs one board: DHCP, then (unless DHCPOnly) its TFTP file list.
func (l *Link) Boot(ctx context.Context, o Options, b Board) Result {
	o.defaults()
	r := Result{MAC: b.MAC.String(), Model: b.Model, Serial: b.SerialHex(), Start: time.Now()}
	pr := newProgress(o, b, r.Start)
	pr.step(StepDHCP, nil)
	defer func() {
		if r.OK() {
			pr.step(StepBooted, func(c *Progress) { c.Done, c.Bytes = c.Total, fileBytes(r.Files) })
		} else {
			pr.step(StepFailed, func(c *Progress) { c.Err = r.Error })
		}
	}()
	ls, err := l.acquire(ctx, b, o)
	r.Discovers, r.Ignored = ls.discovers, len(ls.rejected)
	if ls.offer != nil {
		r.OfferAt = ls.offerAt
		r.Offer = ls.offer
		r.Bootfile = ls.offer.BootFileName
		if r.Bootfile == "" {
			r.Bootfile = ls.offer.BootFileNameOption()
		}
	}
	if ls.ack != nil {
		r.Ack = ls.ack
	}
	if err != nil {
		r.Error = fmt.Sprintf("dhcp: %v", err)
		return r
	}
	r.IP, r.TFTPServer = ls.ip.String(), ls.server.String()
	pr.cur.IP = ls.ip
	if o.OnAddress != nil {
		o.OnAddress(b, ls.ip)
	}
	r.AddressMS = ms(ls.boundAt.Sub(r.Start))
	if o.DHCPOnly {
		return r
	}
	// The address goes on the link's own interface in the link's own
	// namespace, whatever o.NS says: anywhere else (the caller's namespace,
	// when a caller of Link.Run leaves o.NS empty) it would land on a
	// host interface.
	if err := addAddr(l.ns, l.iface.Name, ls.ip, ls.prefixLen()); err != nil {
		r.Error = err.Error()
		return r
	}
	c := NewTFTPClient(l.ns, ls.ip)
	files := o.Files
	if files == nil {
		files = b.Files
	}
	if files == nil {
		files = DefaultFiles(b.Model)
	}
	pr.cur.Total = len(files)
	var last time.Time
	if b.Model == Pi3 {
		last, err = bootPi3(ctx, c, ls.server, b, o, files, &r, pr)
	} else {
		last, err = bootEEPROM(ctx, c, ls.server, b, o, files, &r, pr)
	}
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.LastByteMS = ms(last.Sub(r.Start))
	return r
}

// bootPi3 follows the ROM and bootcode.bin: files[0] from the root, then
// files[1] from <serial>/ and, if that fails, from the root; the rest from
// wherever files[1] came from. No TFTP options.
func bootPi3(ctx context.Context, c *TFTPClient, srv netip.Addr, b Board, o Options, files []string, r *Result, pr *progress) (time.Time, error) {
	var last time.Time
	var done int
	var bytes int64
	get := func(name string) (Fetched, error) {
		pr.fetching(name, done, bytes)
		f, err := c.Get(ctx, srv, Fetch{Name: name, CRC32C: o.CRC32C, Timeout: o.TFTPTimeout, Retries: o.TFTPRetries}, o.KeepData)
		if err == nil {
			r.Files = append(r.Files, File{Name: name, Bytes: f.Bytes, SHA256: f.SHA256, CRC32C: f.CRC32C, Blksize: f.Blksize, Data: f.Data})
			last = f.LastByte
			done++
			bytes += f.Bytes
		}
		return f, err
	}
	prefix := ""
	for i, name := range files {
		switch i {
		case 0:
		case 1:
			serialName := b.SerialHex() + "/" + name
			if _, err := get(serialName); err == nil {
				prefix = b.SerialHex() + "/"
				continue
			} else {
				var te *TFTPError
				if !errors.As(err, &te) {
					return last, err
				}
				r.Files = append(r.Files, File{Name: serialName, Error: err.Error()})
			}
		default:
			name = prefix + name
		}
		if _, err := get(name); err != nil {
			return last, err
		}
	}
	return last, nil
}

// bootEEPROM follows the Pi 4/5 bootloader: every file from <serial>/, at
// blksize o.Blksize with tsize, each preceded by an aborted size probe.
func bootEEPROM(ctx context.Context, c *TFTPClient, srv netip.Addr, b Board, o Options, files []string, r *Result, pr *progress) (time.Time, error) {
	var last time.Time
	var bytes int64
	for i, name := range files {
		full := b.SerialHex() + "/" + name
		pr.fetching(full, i, bytes)
		f := Fetch{Name: full, Blksize: o.Blksize, Tsize: true, CRC32C: o.CRC32C, Timeout: o.TFTPTimeout, Retries: o.TFTPRetries}
		if !o.NoTsizeProbe {
			p := f
			p.Probe = true
			if _, err := c.Get(ctx, srv, p, false); err != nil {
				return last, fmt.Errorf("tsize probe: %w", err)
			}
		}
		f.Duplicate = o.DuplicateRRQ == name
		got, err := c.Get(ctx, srv, f, o.KeepData)
		if err != nil {
			return last, err
		}
		r.Files = append(r.Files, File{Name: full, Bytes: got.Bytes, SHA256: got.SHA256, CRC32C: got.CRC32C, Blksize: got.Blksize, Data: got.Data})
		last = got.LastByte
		bytes += got.Bytes
	}
	return last, nil
}

// fileBytes is what the fetched files add up to.
func fileBytes(fs []File) int64 {
	var n int64
	for _, f := range fs {
		n += f.Bytes
	}
	return n
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Summary condenses many results for the CLI and benchmarks.
type Summary struct {
	Boards     int     `json:"boards"`
	OK         int     `json:"ok"`
	Failed     int     `json:"failed"`
	Address50  float64 `json:"time_to_address_p50_ms"`
	Address99  float64 `json:"time_to_address_p99_ms"`
	LastByte50 float64 `json:"time_to_last_byte_p50_ms"`
	LastByte99 float64 `json:"time_to_last_byte_p99_ms"`
	Bytes      int64   `json:"bytes"`
	WallMS     float64 `json:"wall_ms"`
}

// Summarize computes counts and percentiles over successful boards.
func Summarize(rs []Result, wall time.Duration) Summary {
	s := Summary{Boards: len(rs), WallMS: ms(wall)}
	var addr, lastb []float64
	for _, r := range rs {
		if !r.OK() {
			s.Failed++
			continue
		}
		s.OK++
		addr = append(addr, r.AddressMS)
		if r.LastByteMS > 0 {
			lastb = append(lastb, r.LastByteMS)
		}
		for _, f := range r.Files {
			s.Bytes += f.Bytes
		}
	}
	s.Address50, s.Address99 = pct(addr, 50), pct(addr, 99)
	s.LastByte50, s.LastByte99 = pct(lastb, 50), pct(lastb, 99)
	return s
}

func pct(v []float64, p int) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	i := (len(v)*p+99)/100 - 1
	if i < 0 {
		i = 0
	}
	return v[i]
}
