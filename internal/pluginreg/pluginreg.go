// Package pluginreg is the one table of the plugins this coredhcp build
// offers: upstream CoreDHCP's, then rpinetboot's. `cmd/coredhcp` registers
// them and lists them (`--plugins`), its packet loop reads which ones never
// block, and `rpinetctl config check` runs each stanza's own argument
// parser from here, so a plugin is named in exactly one place.
package pluginreg

import (
	"fmt"
	"io"
	"sort"

	"github.com/coredhcp/coredhcp/logger"
	"github.com/coredhcp/coredhcp/plugins"
	pl_autoconfigure "github.com/coredhcp/coredhcp/plugins/autoconfigure"
	pl_dns "github.com/coredhcp/coredhcp/plugins/dns"
	pl_file "github.com/coredhcp/coredhcp/plugins/file"
	pl_ipv6only "github.com/coredhcp/coredhcp/plugins/ipv6only"
	pl_leasetime "github.com/coredhcp/coredhcp/plugins/leasetime"
	pl_mtu "github.com/coredhcp/coredhcp/plugins/mtu"
	pl_nbp "github.com/coredhcp/coredhcp/plugins/nbp"
	pl_netmask "github.com/coredhcp/coredhcp/plugins/netmask"
	pl_prefix "github.com/coredhcp/coredhcp/plugins/prefix"
	pl_range "github.com/coredhcp/coredhcp/plugins/range"
	pl_router "github.com/coredhcp/coredhcp/plugins/router"
	pl_searchdomains "github.com/coredhcp/coredhcp/plugins/searchdomains"
	pl_serverid "github.com/coredhcp/coredhcp/plugins/serverid"
	pl_sleep "github.com/coredhcp/coredhcp/plugins/sleep"
	pl_staticroute "github.com/coredhcp/coredhcp/plugins/staticroute"

	"github.com/rpinetboot/rpinetboot/internal/args"
	"github.com/rpinetboot/rpinetboot/plugins/classify"
	"github.com/rpinetboot/rpinetboot/plugins/macpin"
	"github.com/rpinetboot/rpinetboot/plugins/metrics"
	"github.com/rpinetboot/rpinetboot/plugins/modelboot"
	"github.com/rpinetboot/rpinetboot/plugins/proxydhcp"
	"github.com/rpinetboot/rpinetboot/plugins/rpipxe"
	"github.com/rpinetboot/rpinetboot/plugins/vendoropts"
)

// Entry is one plugin of the build.
type Entry struct {
	Plugin *plugins.Plugin
	// NonBlocking: the plugin's DHCPv4 handler never blocks (it only reads
	// memory, or hands its wait to the loop through replyhold), so a chain
	// of such plugins may run inline on the packet reader.
	NonBlocking bool
	// Ours: an rpinetboot plugin (README in plugins/<name>).
	Ours bool
	// Check parses a stanza's arguments without side effects beyond
	// reading files, returning the plugin's own error.
	Check func(args ...string) error
}

// Name is the stanza name, as the plugin registers itself.
func (e Entry) Name() string { return e.Plugin.Name }

// table holds every plugin: upstream's complete, so existing coredhcp
// configurations load unchanged, then ours.
var table = []Entry{
	{Plugin: &pl_autoconfigure.Plugin, NonBlocking: true, Check: setup(&pl_autoconfigure.Plugin)},
	{Plugin: &pl_dns.Plugin, NonBlocking: true, Check: setup(&pl_dns.Plugin)},
	{Plugin: &pl_file.Plugin, NonBlocking: true, Check: checkFile},
	{Plugin: &pl_ipv6only.Plugin, NonBlocking: true, Check: setup(&pl_ipv6only.Plugin)},
	{Plugin: &pl_leasetime.Plugin, NonBlocking: true, Check: setup(&pl_leasetime.Plugin)},
	{Plugin: &pl_mtu.Plugin, NonBlocking: true, Check: setup(&pl_mtu.Plugin)},
	{Plugin: &pl_nbp.Plugin, NonBlocking: true, Check: setup(&pl_nbp.Plugin)},
	{Plugin: &pl_netmask.Plugin, NonBlocking: true, Check: setup(&pl_netmask.Plugin)},
	{Plugin: &pl_prefix.Plugin, NonBlocking: true},
	// range writes each new lease to its database before answering.
	{Plugin: &pl_range.Plugin, Check: checkRange},
	{Plugin: &pl_router.Plugin, NonBlocking: true, Check: setup(&pl_router.Plugin)},
	{Plugin: &pl_searchdomains.Plugin, NonBlocking: true, Check: setup(&pl_searchdomains.Plugin)},
	{Plugin: &pl_serverid.Plugin, NonBlocking: true, Check: setup(&pl_serverid.Plugin)},
	// sleep blocks by design.
	{Plugin: &pl_sleep.Plugin, Check: setup(&pl_sleep.Plugin)},
	{Plugin: &pl_staticroute.Plugin, NonBlocking: true, Check: setup(&pl_staticroute.Plugin)},

	{Plugin: &classify.Plugin, NonBlocking: true, Ours: true, Check: classify.CheckArgs},
	{Plugin: &rpipxe.Plugin, NonBlocking: true, Ours: true, Check: rpipxe.CheckArgs},
	{Plugin: &vendoropts.Plugin, NonBlocking: true, Ours: true, Check: vendoropts.CheckArgs},
	{Plugin: &modelboot.Plugin, NonBlocking: true, Ours: true, Check: modelboot.CheckArgs},
	// macpin holds a reply for a new pin's commit instead of waiting.
	{Plugin: &macpin.Plugin, NonBlocking: true, Ours: true, Check: checkErr(macpin.ParseArgs)},
	{Plugin: &metrics.Plugin, NonBlocking: true, Ours: true, Check: checkErr(metrics.ParseArgs)},
	{Plugin: &proxydhcp.Plugin, NonBlocking: true, Ours: true, Check: proxydhcp.CheckArgs},
}

// All returns every plugin, upstream's first, then ours.
func All() []Entry { return append([]Entry(nil), table...) }

// Lookup finds a plugin by stanza name.
func Lookup(name string) (Entry, bool) {
	for _, e := range table {
		if e.Name() == name {
			return e, true
		}
	}
	return Entry{}, false
}

// Names lists every plugin name, sorted.
func Names() []string {
	n := make([]string, 0, len(table))
	for _, e := range table {
		n = append(n, e.Name())
	}
	sort.Strings(n)
	return n
}

// NonBlocking maps the name of every plugin whose handler never blocks to true.
func NonBlocking() map[string]bool {
	m := map[string]bool{}
	for _, e := range table {
		if e.NonBlocking {
			m[e.Name()] = true
		}
	}
	return m
}

// Register registers every plugin with CoreDHCP.
func Register() error {
	for _, e := range table {
		if err := plugins.RegisterPlugin(e.Plugin); err != nil {
			return fmt.Errorf("register plugin %s: %w", e.Name(), err)
		}
	}
	return nil
}

// checkErr adapts a ParseArgs returning a value to Check.
func checkErr[T any](parse func(...string) (T, error)) func(...string) error {
	return func(a ...string) error {
		_, err := parse(a...)
		return err
	}
}

// setup checks an upstream plugin whose DHCPv4 setup only parses its
// arguments, by running that setup with its log lines silenced.
func setup(p *plugins.Plugin) func(...string) error {
	return func(a ...string) error {
		if p.Setup4 == nil {
			return fmt.Errorf("%s: not a DHCPv4 plugin", p.Name)
		}
		l := logger.GetLogger("plugins")
		out := l.Logger.Out
		l.Logger.SetOutput(io.Discard)
		defer l.Logger.SetOutput(out)
		_, err := p.Setup4(a...)
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		return nil
	}
}

// checkFile checks upstream's file plugin without starting its watcher.
func checkFile(a ...string) error {
	if len(a) > 1 {
		if a[1] != "autorefresh" || len(a) > 2 {
			return fmt.Errorf("file: want <leases file> [autorefresh]")
		}
		a = a[:1]
	}
	return setup(&pl_file.Plugin)(a...)
}

// checkRange checks upstream's range arguments without opening its
// database: `range: <leases file> <first-ip> <last-ip> <lease-time>`.
func checkRange(a ...string) error {
	if len(a) != 4 {
		return fmt.Errorf("range: want <leases file> <first-ip> <last-ip> <lease-time>, got %d argument(s)", len(a))
	}
	first, err := args.IPv4(a[1])
	if err != nil {
		return fmt.Errorf("range: first-ip: %w", err)
	}
	last, err := args.IPv4(a[2])
	if err != nil {
		return fmt.Errorf("range: last-ip: %w", err)
	}
	if _, err := args.NewRange(first, last); err != nil {
		return fmt.Errorf("range: %w", err)
	}
	if _, err := args.Duration(a[3], 1, 1<<62); err != nil {
		return fmt.Errorf("range: lease-time: %w", err)
	}
	return nil
}
