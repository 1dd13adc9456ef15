//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// runEvict drops a broker's data files from the page cache
// (posix_fadvise DONTNEED on every file under -dir; the caller syncs
// first, since only clean pages are dropped). The script runs it between
// repetitions for every broker alike: on the VM the figures were taken
// on, once the page cache passes about 8 GB every new page costs several
// times more (W1 fell from 900+ to ~350 MB/s in the fifth of eight
// back-to-back rounds, for any broker), so without it a repetition would
// measure how much earlier repetitions left in memory. It needs no
// privileges, unlike /proc/sys/vm/drop_caches, and touches only the
// broker's own files.
func runEvict(args []string) error {
	fset := flag.NewFlagSet("evict", flag.ExitOnError)
	dir := fset.String("dir", "", "directory whose files to drop from the page cache")
	fset.Parse(args)
	if *dir == "" {
		return errors.New("evict: -dir is required")
	}
	var files int
	var bytes int64
	err := filepath.WalkDir(*dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			// Brokers delete files while we walk (segments, temporaries).
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil {
			bytes += fi.Size()
		}
		files++
		return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	})
	if err != nil {
		return fmt.Errorf("evict %s: %w", *dir, err)
	}
	fmt.Fprintf(os.Stderr, "evict: %d files, %d MB under %s\n", files, bytes>>20, *dir)
	return nil
}
