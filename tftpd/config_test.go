package tftpd

import (
	"strings"
	"testing"
	"time"
)

func TestConfigExample(t *testing.T) {
	c, err := LoadConfig("../config.yml.example")
	if err != nil {
		t.Fatalf("config.yml.example: %v", err)
	}
	if c.Listen != "192.168.50.1:69" || c.Root != "/srv/rpinetboot/tftp" || c.Store != "/var/lib/rpinetboot/nodes.db" ||
		c.Models != "/etc/rpinetboot/models.yml" || c.Metrics != "" || c.Vars["nfs_root"] != "/srv/rpinetboot/nfs" {
		t.Errorf("parsed %+v", c)
	}
	if c.MaxTransfers != DefaultMaxTransfers || c.Timeout != DefaultTimeout || c.Retries != DefaultRetries ||
		c.CacheBytes != DefaultCacheBytes || c.MaxBlksize != DefaultMaxBlksize || c.QueueTimeout != DefaultQueueTimeout {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestConfigTuning(t *testing.T) {
	c, err := ParseConfig([]byte(`
rpi-tftpd:
  root: /srv/tftp
  max_transfers: 50
  timeout: 500ms
  retries: 3
  cache_bytes: 1048576
  max_blksize: 1468
  queue_timeout: 10s
  node_cache: 1s
  prefix: pxe
  metrics: 127.0.0.1:9469
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":69" || c.MaxTransfers != 50 || c.Timeout != 500*time.Millisecond || c.Retries != 3 ||
		c.CacheBytes != 1<<20 || c.MaxBlksize != 1468 || c.QueueTimeout != 10*time.Second || c.Prefix != "pxe" {
		t.Errorf("parsed %+v", c)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"server4: {}\n", `no "rpi-tftpd" section`},
		{"rpi-tftpd:\n  root: /x\n  rot: /y\n", "field rot not found"},
		{"rpi-tftpd:\n  listen: :69\n", "root: missing"},
		{"rpi-tftpd:\n  root: /x\n  listen: nonsense\n", "listen \"nonsense\""},
		{"rpi-tftpd:\n  root: /x\n  max_blksize: 100000\n", "max_blksize 100000"},
		{"rpi-tftpd:\n  root: /x\n  timeout: 1ms\n", "timeout 1ms"},
		{"rpi-tftpd:\n  root: /x\n  timeout: soon\n", "cannot unmarshal"},
		{"rpi-tftpd:\n  root: /x\n  prefix: a/../b\n", "prefix \"a/../b\""},
		{"rpi-tftpd:\n  root: /x\n  prefix: a//b\n", "prefix \"a//b\""},
		{"rpi-tftpd:\n  root: /x\n  metrics: 9469\n", `metrics: address "9469"`},
		{"rpi-tftpd:\n  root: /x\n  metrics: 0.0.0.0:9469\n", "not a loopback address"},
		{"rpi-tftpd:\n  root: /x\n  max_per_client: -1\n", "max_per_client"},
		{"rpi-tftpd: [1, 2]\n", "rpi-tftpd"},
		{"\t", "parse"},
	} {
		_, err := ParseConfig([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConfig(%q) error %v, want it to mention %q", tc.doc, err, tc.want)
		}
	}
}
