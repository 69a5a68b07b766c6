package events

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Defaults for Config's zero values.
const (
	// DefaultTimeout bounds one attempt; a hook still running then is killed.
	DefaultTimeout = 10 * time.Second
	// DefaultAttempts is how many times a delivery is tried in all.
	DefaultAttempts = 5
	// DefaultBackoff is the wait before the first retry; it doubles each time.
	DefaultBackoff = time.Second
	// maxBackoff caps the doubling so a long outage still retries within minutes.
	maxBackoff = 5 * time.Minute
)

// Config says where new-node events go; an empty Exec and URL mean nowhere.
type Config struct {
	Exec     string        // absolute path of an executable run once per new node
	URL      string        // http(s) URL that receives a JSON POST per new node
	Timeout  time.Duration // per attempt; 0 = DefaultTimeout
	Attempts int           // tries in all (1 = no retry); 0 = DefaultAttempts
	Backoff  time.Duration // wait before the first retry, doubled after each; 0 = DefaultBackoff
}

// Enabled reports whether any delivery is configured.
func (c Config) Enabled() bool { return c.Exec != "" || c.URL != "" }

// Usage lists the options ParseArg understands, for plugins' error messages.
const Usage = "on-new=/path/to/executable on-new-url=http://host:port/path on-new-timeout=10s on-new-retries=N on-new-backoff=1s"

// ParseArg applies one white-space split stanza argument to c. It returns
// false (and no error) when the argument is not an event option, so a
// plugin can try its own options next.
func ParseArg(c *Config, arg string) (bool, error) {
	key, val, _ := strings.Cut(arg, "=")
	switch key {
	case "on-new", "on-new-url", "on-new-timeout", "on-new-retries", "on-new-backoff":
	default:
		return false, nil
	}
	if val == "" {
		return true, fmt.Errorf("%s: empty value; want %s=...", arg, key)
	}
	switch key {
	case "on-new":
		if err := checkExecutable(val); err != nil {
			return true, fmt.Errorf("%s: %w", arg, err)
		}
		c.Exec = val
	case "on-new-url":
		u, err := url.Parse(val)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return true, fmt.Errorf("%s: want an http:// or https:// URL with a host, such as on-new-url=http://127.0.0.1:8080/hook", arg)
		}
		c.URL = val
	case "on-new-timeout", "on-new-backoff":
		d, err := time.ParseDuration(val)
		if err != nil || d <= 0 || d > time.Hour {
			return true, fmt.Errorf("%s: want a duration between 1ns and 1h, such as %s=10s", arg, key)
		}
		if key == "on-new-timeout" {
			c.Timeout = d
		} else {
			c.Backoff = d
		}
	case "on-new-retries":
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 || n > 100 {
			return true, fmt.Errorf("%s: want a number of retries between 0 and 100", arg)
		}
		c.Attempts = n + 1
	}
	return true, nil
}

// checkExecutable fails setup loudly rather than every new node quietly.
func checkExecutable(p string) error {
	if !filepath.IsAbs(p) {
		return errors.New("want an absolute path (coredhcp's working directory is not a stable place)")
	}
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file (mode %s)", p, fi.Mode())
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Attempts <= 0 {
		c.Attempts = DefaultAttempts
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	return c
}

// backoff is the wait after failed attempt n (1-based): Backoff·2^(n-1), capped.
func (c Config) backoff(n int) time.Duration {
	d := c.Backoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}
