package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockStorage takes an exclusive lock on the storage directory, so that two
// bridges never share queues and state.
func lockStorage(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create --storage.path: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open --storage.path lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("--storage.path %s is in use by another process: %w", dir, err)
	}
	return func() { f.Close() }, nil
}
