package tftpd

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/rpinetboot/rpinetboot/internal/args"
	"gopkg.in/yaml.v3"
)

// Section is the key of the daemon's section in the shared config file.
const Section = "rpi-tftpd"

// Config is the `rpi-tftpd:` section of config.yml. Zero values of the
// tuning keys take the defaults below, which boot a 1,000-board rack.
type Config struct {
	Listen  string            `yaml:"listen"`  // UDP address of port 69, e.g. 192.168.50.1:69
	Root    string            `yaml:"root"`    // directory holding default/, models/, nodes/
	Store   string            `yaml:"store"`   // node store DSN (opened read-only); "" = no store
	Models  string            `yaml:"models"`  // models.yml path; "" = no model table
	Prefix  string            `yaml:"prefix"`  // fixed TFTP_PREFIX_STR set in Pi 4 EEPROMs (TFTP_PREFIX=1)
	Metrics string            `yaml:"metrics"` // Prometheus listener, e.g. 127.0.0.1:9469; "" = off
	Vars    map[string]string `yaml:"vars"`    // free-form template facts ({{.Vars.x}})

	MaxTransfers int           `yaml:"max_transfers"`  // transfers sending at once; more wait in a queue
	QueueTimeout time.Duration `yaml:"queue_timeout"`  // a queued request older than this is refused
	Timeout      time.Duration `yaml:"timeout"`        // wait for one ACK before retransmitting
	Retries      int           `yaml:"retries"`        // retransmissions before a silent client is dropped
	MaxBlksize   int           `yaml:"max_blksize"`    // upper bound of the negotiated blksize
	MaxWindow    int           `yaml:"max_windowsize"` // upper bound of the negotiated windowsize (RFC 7440)
	CacheBytes   int64         `yaml:"cache_bytes"`    // memory for shared files read from disk once
	NodeCacheTTL time.Duration `yaml:"node_cache"`     // how long a node store answer is reused

	// Per-client bounds: no client can hold every slot or make the server
	// send much to an address that never answers.
	MaxPerClient    int           `yaml:"max_per_client"`    // transfers one client address may have queued or running
	MinBlksize      int           `yaml:"min_blksize"`       // a smaller blksize option is not acknowledged (512 is used)
	MaxTransferTime time.Duration `yaml:"max_transfer_time"` // a transfer still running after this ends
	// MetricsAllowRemote lets metrics listen on a non-loopback address.
	MetricsAllowRemote bool `yaml:"metrics_allow_remote"`
}

// Defaults sized for a 1,000-board rack on a 2-core server.
const (
	DefaultListen       = ":69"
	DefaultMaxTransfers = 1000
	DefaultQueueTimeout = 30 * time.Second
	DefaultTimeout      = 1 * time.Second
	DefaultRetries      = 5
	DefaultMaxBlksize   = 65464
	DefaultMaxWindow    = 64
	DefaultCacheBytes   = 256 << 20
	DefaultNodeCacheTTL = 3 * time.Second
	// A board fetches one file at a time (two with the EEPROM's duplicate
	// RRQ); eight is room for a person's tftp client too.
	DefaultMaxPerClient = 8
	DefaultMinBlksize   = 512
	// A Pi gives a file 30 s, U-Boot's initrd takes seconds: ten minutes
	// is no board's need, only a client holding a slot forever.
	DefaultMaxTransferTime = 10 * time.Minute
)

// LoadConfig reads the `rpi-tftpd:` section of the shared config file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig extracts and validates the `rpi-tftpd:` section of a config
// document; other top-level keys belong to coredhcp and are ignored.
func ParseConfig(doc []byte) (*Config, error) {
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(doc, &top); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	sec, ok := top[Section]
	if !ok {
		return nil, fmt.Errorf("no %q section", Section)
	}
	// yaml.Node.Decode cannot reject unknown keys, so re-encode the section
	// and decode it strictly: a typo in a key must fail loudly.
	raw, err := yaml.Marshal(&sec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Section, err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", Section, err)
	}
	if err := c.setDefaults(); err != nil {
		return nil, fmt.Errorf("%s: %w", Section, err)
	}
	return &c, nil
}

// setDefaults fills unset tuning keys and rejects impossible values.
func (c *Config) setDefaults() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen %q: want host:port, e.g. 192.168.50.1:69", c.Listen)
	}
	if c.Root == "" {
		return errors.New("root: missing; want the directory holding default/, models/ and nodes/")
	}
	if c.Metrics != "" {
		if err := args.ListenAddr(c.Metrics, c.MetricsAllowRemote); err != nil {
			return fmt.Errorf("metrics: %w (metrics_allow_remote: true to mean it)", err)
		}
	}
	if p := strings.Trim(c.Prefix, "/"); c.Prefix != "" {
		for _, part := range strings.Split(p, "/") {
			if !validComponent(part) {
				return fmt.Errorf("prefix %q: want a relative path like pxe or site/rack1/, without '.', '..', empty components, '\\' or control characters", c.Prefix)
			}
		}
	}
	setInt := func(name string, v *int, def, lo, hi int) error {
		if *v == 0 {
			*v = def
		}
		if *v < lo || *v > hi {
			return fmt.Errorf("%s %d: want %d..%d", name, *v, lo, hi)
		}
		return nil
	}
	setDur := func(name string, v *time.Duration, def, lo time.Duration) error {
		if *v == 0 {
			*v = def
		}
		if *v < lo {
			return fmt.Errorf("%s %v: want at least %v", name, *v, lo)
		}
		return nil
	}
	for _, err := range []error{
		setInt("max_transfers", &c.MaxTransfers, DefaultMaxTransfers, 1, 1<<20),
		setInt("retries", &c.Retries, DefaultRetries, 1, 100),
		setInt("max_blksize", &c.MaxBlksize, DefaultMaxBlksize, 512, 65464),
		setInt("max_windowsize", &c.MaxWindow, DefaultMaxWindow, 1, 65535),
		setInt("max_per_client", &c.MaxPerClient, DefaultMaxPerClient, 1, 1<<20),
		setInt("min_blksize", &c.MinBlksize, DefaultMinBlksize, 8, 65464),
		setDur("max_transfer_time", &c.MaxTransferTime, DefaultMaxTransferTime, time.Second),
		setDur("queue_timeout", &c.QueueTimeout, DefaultQueueTimeout, time.Second),
		setDur("timeout", &c.Timeout, DefaultTimeout, 10*time.Millisecond),
		setDur("node_cache", &c.NodeCacheTTL, DefaultNodeCacheTTL, time.Millisecond),
	} {
		if err != nil {
			return err
		}
	}
	switch {
	case c.CacheBytes == 0:
		c.CacheBytes = DefaultCacheBytes
	case c.CacheBytes < 0:
		c.CacheBytes = 0 // negative turns the cache off
	}
	return nil
}
