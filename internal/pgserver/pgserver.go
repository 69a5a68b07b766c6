// Package pgserver runs a throwaway PostgreSQL cluster for tests: initdb and
// the postmaster run as the unprivileged "postgres" system user (created by
// Debian's postgresql package) in a private directory, listening only on a
// Unix socket there, with password authentication (scram-sha-256) so the
// store's password_file handling is exercised too. Never a system service.
//
// Every cluster lives in $TMPDIR/rnbt-pg-<pid>-*; Start removes those of dead
// test processes (killing their postmaster first) before creating its own.
package pgserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DirPrefix starts the name of every cluster directory, followed by the
// creating process's pid.
const DirPrefix = "rnbt-pg-"

// User is the cluster's superuser role, the one the DSNs log in as.
const User = "rpinetboot"

// port only names the socket file (.s.PGSQL.<port>); the directory is private.
const port = 5432

// Server is one running (or stopped) cluster.
type Server struct {
	Dir          string // the private directory holding everything below
	DataDir      string
	SocketDir    string
	PasswordFile string // holds User's password, for password_file=
	LogPath      string

	bin      string
	uid, gid uint32
	dbSeq    atomic.Int64
}

// Start creates and starts a cluster; t.Cleanup stops it and deletes it.
// Missing binaries or a missing postgres user fail the test (install the
// Debian package postgresql).
func Start(t testing.TB) *Server {
	t.Helper()
	if os.Geteuid() != 0 {
		// It runs the cluster as the postgres user; `make test` insists on root.
		t.Skip("pgserver: needs root to run PostgreSQL as its own user: sudo make test (as root: make test)")
	}
	s, err := start()
	if s != nil {
		t.Cleanup(s.destroy)
	}
	if err != nil {
		if s != nil {
			t.Logf("postgres log:\n%s", s.Log())
		}
		t.Fatalf("pgserver: %v", err)
	}
	return s
}

func start() (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("no postgres system user (install the Debian package postgresql): %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	removeLeftovers()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", DirPrefix, os.Getpid()))
	if err != nil {
		return nil, err
	}
	s := &Server{
		Dir: dir, DataDir: filepath.Join(dir, "data"), SocketDir: filepath.Join(dir, "sock"),
		PasswordFile: filepath.Join(dir, "password"), LogPath: filepath.Join(dir, "postgres.log"),
		bin: bin, uid: uint32(uid), gid: uint32(gid),
	}
	// The postgres user must traverse dir; data and sock are its own.
	if err := os.Chmod(dir, 0o755); err != nil {
		return s, err
	}
	pw := make([]byte, 16)
	rand.Read(pw)
	if err := os.WriteFile(s.PasswordFile, []byte(hex.EncodeToString(pw)+"\n"), 0o600); err != nil {
		return s, err
	}
	for _, p := range []string{s.PasswordFile, s.LogPath} {
		if p == s.LogPath {
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				return s, err
			}
		}
		if err := os.Chown(p, int(uid), int(gid)); err != nil {
			return s, err
		}
	}
	for _, d := range []string{s.DataDir, s.SocketDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return s, err
		}
		if err := os.Chown(d, int(uid), int(gid)); err != nil {
			return s, err
		}
	}
	if out, err := s.run("initdb", "-D", s.DataDir, "-U", User, "--pwfile="+s.PasswordFile,
		"--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"); err != nil {
		return s, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	conf := fmt.Sprintf("\n# pgserver: private socket only\nlisten_addresses = ''\nunix_socket_directories = '%s'\nport = %d\nmax_connections = 200\n", s.SocketDir, port)
	f, err := os.OpenFile(filepath.Join(s.DataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return s, err
	}
	_, err = f.WriteString(conf)
	f.Close()
	if err != nil {
		return s, err
	}
	if err := s.StartAgain(); err != nil {
		return s, err
	}
	return s, nil
}

// findBin locates the newest installed PostgreSQL's bin directory.
func findBin() (string, error) {
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(m) == 0 {
		return "", errors.New("no /usr/lib/postgresql/*/bin/initdb: install the Debian package postgresql")
	}
	best, bestV := "", -1
	for _, p := range m {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		if v > bestV {
			best, bestV = filepath.Dir(p), v
		}
	}
	return best, nil
}

// run runs one of the PostgreSQL binaries as the postgres user.
func (s *Server) run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// deps: initdb pg_ctl postgres
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.Dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=" + s.Dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: s.uid, Gid: s.gid}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// StartAgain starts the postmaster (after Stop) and waits until it accepts
// connections.
func (s *Server) StartAgain() error {
	if out, err := s.run("pg_ctl", "-D", s.DataDir, "-l", s.LogPath, "-w", "-t", "60", "start"); err != nil {
		return fmt.Errorf("pg_ctl start: %w\n%s", err, out)
	}
	return nil
}

// Stop shuts the postmaster down at once (clients are disconnected), as
// when the database host dies; the data stays for StartAgain.
func (s *Server) Stop() error {
	if out, err := s.run("pg_ctl", "-D", s.DataDir, "-w", "-t", "60", "-m", "immediate", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// DSN is the store DSN for database db, with the password in a file.
func (s *Server) DSN(db string) string {
	q := url.Values{}
	q.Set("host", s.SocketDir)
	q.Set("port", strconv.Itoa(port))
	q.Set("password_file", s.PasswordFile)
	q.Set("sslmode", "disable")
	return (&url.URL{Scheme: "postgres", User: url.User(User), Host: "", Path: "/" + db, RawQuery: q.Encode()}).String()
}

// NewDatabase creates an empty database and returns its store DSN.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d", s.dbSeq.Add(1))
	if err := s.Exec(context.Background(), "postgres", "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgserver: %v", err)
	}
	return s.DSN(name)
}

// Exec runs one SQL statement in database db as the superuser.
func (s *Server) Exec(ctx context.Context, db, sql string, args ...any) error {
	c, err := s.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// Connect opens a plain pgx connection to database db, for checks a test
// makes behind the store's back.
func (s *Server) Connect(ctx context.Context, db string) (*pgx.Conn, error) {
	pw, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", s.SocketDir, port, User, db))
	if err != nil {
		return nil, err
	}
	cfg.Password = strings.TrimSpace(string(pw))
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", db, err)
	}
	return c, nil
}

// Log returns the server log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// destroy stops the cluster (if running) and removes its directory.
func (s *Server) destroy() {
	killPostmaster(s.DataDir)
	os.RemoveAll(s.Dir)
}

// killPostmaster SIGKILLs the postmaster of dataDir, if one runs; its
// backends exit on their own when it is gone.
func killPostmaster(dataDir string) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 1 {
		return
	}
	if syscall.Kill(pid, syscall.SIGKILL) != nil {
		return
	}
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
}

// removeLeftovers deletes clusters of test processes that died before their
// cleanup ran, never those of live ones.
func removeLeftovers() {
	ents, _ := os.ReadDir(os.TempDir())
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), DirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidS, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidS)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
			continue
		}
		dir := filepath.Join(os.TempDir(), e.Name())
		killPostmaster(filepath.Join(dir, "data"))
		os.RemoveAll(dir)
	}
}
