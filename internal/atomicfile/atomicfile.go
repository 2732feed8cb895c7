// Package atomicfile replaces files so that a crash leaves either the old
// content or the new one, never a mix: write a temporary file next to it,
// sync it, rename it over the old one, sync the directory.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write replaces path with what write writes, unbuffered: write buffers
// if it writes in small pieces. With durable, the data and
// the rename are synced to disk (surviving a machine crash); without, they
// reach the kernel (surviving the process being killed), which is cheap
// enough for a file written every cycle.
func Write(path string, durable bool, write func(io.Writer) error) (err error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	err = write(f)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if durable {
		return syncDir(filepath.Dir(path))
	}
	return nil
}

// WriteBytes replaces path with b.
func WriteBytes(path string, durable bool, b []byte) error {
	return Write(path, durable, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = errors.Join(d.Sync(), d.Close())
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}
