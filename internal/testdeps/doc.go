// Package testdeps keeps the list of Debian packages the tests need honest:
// its test walks every Go file of the module and checks that each program
// the code starts (exec.Command, `ip netns exec NS prog`, the test
// harness's Start and Run) is provided by a package in scripts/deps.list,
// which scripts/deps.sh installs on a fresh machine. A new exec of a tool
// that is only on the developer's machine then fails here, in `make unit`,
// not on someone else's clean clone.
package testdeps
