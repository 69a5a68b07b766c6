package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/rpinetboot/rpinetboot/internal/store"
)

// switchToStoreOwner makes a root rpinetctl act as the user who owns an
// SQLite store (the service user, rpinetboot) before it opens it, so the
// files SQLite creates beside the database (-wal, -shm) belong to that user
// and coredhcp can still open them. The owner is the database file's, or,
// for a store not created yet, its directory's. A root-owned store (a test,
// a hand-made setup) is left as it is. PostgreSQL stores have no files here.
// It is one-way: the process keeps that user's rights until it exits.
func switchToStoreOwner(dsn string) error {
	if os.Geteuid() != 0 || dsn == "" || store.IsPostgresDSN(dsn) {
		return nil
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	fi, err := os.Stat(path)
	if err != nil {
		if fi, err = os.Stat(filepath.Dir(path)); err != nil {
			return nil // store.Open says what is wrong with the path
		}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	uid, gid := int(st.Uid), int(st.Gid)
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("act as the store's owner (uid %d): %w", uid, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("act as the store's owner (gid %d): %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("act as the store's owner (uid %d): %w", uid, err)
	}
	return nil
}
