package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Bins holds the paths of the binaries built from this repository.
type Bins struct{ Coredhcp, TFTPD, Ctl, Piboard string }

// binDirPrefix names the per-process build directory so later runs can
// remove the ones whose process died before it could clean up.
const binDirPrefix = "rnbt-bin-"

var (
	buildOnce sync.Once
	buildBins Bins
	buildErr  error
)

// BinDirEnv names an environment variable that, when set, points at a
// directory of already built binaries (e.g. `make build`'s bin/) to use
// instead of building.
const BinDirEnv = "RPINETBOOT_BIN_DIR"

// Build compiles coredhcp, rpi-tftpd, rpinetctl and piboard once per test
// process into a directory shared by all tests of that process.
func Build(t testing.TB) Bins {
	t.Helper()
	buildOnce.Do(func() {
		if dir := os.Getenv(BinDirEnv); dir != "" {
			buildBins, buildErr = prebuilt(dir)
			return
		}
		buildBins, buildErr = build()
	})
	if buildErr != nil {
		t.Fatalf("harness: build: %v", buildErr)
	}
	return buildBins
}

func build() (Bins, error) {
	root, err := RepoRoot()
	if err != nil {
		return Bins{}, err
	}
	removeDeadBinDirs()
	dir := filepath.Join(os.TempDir(), binDirPrefix+strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Bins{}, fmt.Errorf("bin dir: %w", err)
	}
	cmd := exec.Command(goTool(), "build", "-o", dir+"/",
		"./cmd/coredhcp", "./cmd/rpi-tftpd", "./cmd/rpinetctl", "./integration/cmd/piboard")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return Bins{}, fmt.Errorf("go build in %s: %w\n%s", root, err, out)
	}
	return Bins{
		Coredhcp: filepath.Join(dir, "coredhcp"),
		TFTPD:    filepath.Join(dir, "rpi-tftpd"),
		Ctl:      filepath.Join(dir, "rpinetctl"),
		Piboard:  filepath.Join(dir, "piboard"),
	}, nil
}

func prebuilt(dir string) (Bins, error) {
	b := Bins{
		Coredhcp: filepath.Join(dir, "coredhcp"),
		TFTPD:    filepath.Join(dir, "rpi-tftpd"),
		Ctl:      filepath.Join(dir, "rpinetctl"),
		Piboard:  filepath.Join(dir, "piboard"),
	}
	for _, p := range []string{b.Coredhcp, b.TFTPD, b.Ctl, b.Piboard} {
		if _, err := os.Stat(p); err != nil {
			return b, fmt.Errorf("%s=%s: %w", BinDirEnv, dir, err)
		}
	}
	return b, nil
}

// goTool prefers the toolchain running the tests, so `go test` with any PATH works.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); runtime.GOROOT() != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// removeDeadBinDirs deletes build directories of test processes that are gone.
func removeDeadBinDirs() {
	ents, _ := os.ReadDir(os.TempDir())
	for _, e := range ents {
		pid, ok := strings.CutPrefix(e.Name(), binDirPrefix)
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(pid); err == nil && n != os.Getpid() && !pidAlive(n) {
			os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
		}
	}
}

// RepoRoot finds the module root (the directory holding go.mod) above the
// working directory, which is the test's package directory under `go test`.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("repo root: %w", err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/rpinetboot/rpinetboot\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("repo root: no rpinetboot go.mod above the working directory")
		}
		dir = parent
	}
}
