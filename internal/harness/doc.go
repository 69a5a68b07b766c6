// Package harness runs rpinetboot's real binaries inside network namespaces
// for the end-to-end tests: it builds the binaries once per test process,
// creates a server namespace with a bridge, joins client namespaces and QEMU
// taps to it, renders config.yml.example for that network and starts the
// daemons. Everything it creates is removed at test cleanup, and leftovers of
// earlier killed runs (namespaces named rnbt-<pid>-… whose pid is dead) are
// removed when the first Net of a process is created.
//
// Programs (the demo, the benchmarks) drive the same functions outside
// `go test` through RunScope, whose Scope is a testing.TB.
//
// Every function needs root, iproute2 (ip, ss) and the Go toolchain. The
// tests using it carry the `integration` build tag; without root they skip
// saying so (`make test` insists on root), and a missing program fails them.
package harness
