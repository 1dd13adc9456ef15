package vfs

import (
	"errors"
	"io/fs"
	"strings"
	"sync"
)

// ErrInjected is the error a Faulty filesystem returns for an injected
// failure.
var ErrInjected = errors.New("vfs: injected fault")

// Op names a kind of operation a Faulty filesystem can fail.
type Op int

const (
	OpWrite Op = iota // Write and WriteAt
	OpSync            // File.Sync and SyncDir
	OpTruncate
	OpOpen
	OpRename
	OpRemove
	opCount
)

// Faulty wraps an FS and fails operations on demand. The zero rules inject
// nothing. It is safe for concurrent use.
type Faulty struct {
	FS FS

	mu    sync.Mutex
	rules [opCount]rule
	count [opCount]int
}

type rule struct {
	after   int    // fail once the op has been seen more than after times (0 = next)
	active  bool   // rule armed
	sticky  bool   // keep failing after the first failure
	fired   bool   // failed at least once
	match   string // only ops on names containing this (empty = all)
	counted int    // matching ops seen since armed
}

// NewFaulty wraps fsys.
func NewFaulty(fsys FS) *Faulty { return &Faulty{FS: fsys} }

// FailAfter arms op to fail the (n+1)th matching operation from now on
// (n = 0 fails the next one). If sticky, every later one fails too. match
// limits the rule to file names containing it ("" matches all).
func (f *Faulty) FailAfter(op Op, n int, sticky bool, match string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules[op] = rule{after: n, active: true, sticky: sticky, match: match}
}

// Reset disarms every rule.
func (f *Faulty) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = [opCount]rule{}
}

// Count reports how many operations of kind op were seen.
func (f *Faulty) Count(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count[op]
}

func (f *Faulty) check(op Op, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count[op]++
	r := &f.rules[op]
	if !r.active || (r.match != "" && !strings.Contains(name, r.match)) {
		return nil
	}
	if r.fired {
		if r.sticky {
			return ErrInjected
		}
		return nil
	}
	r.counted++
	if r.counted > r.after {
		r.fired = true
		return ErrInjected
	}
	return nil
}

func (f *Faulty) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if err := f.check(OpOpen, name); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: file, fs: f}, nil
}

func (f *Faulty) Remove(name string) error {
	if err := f.check(OpRemove, name); err != nil {
		return err
	}
	return f.FS.Remove(name)
}

func (f *Faulty) RemoveAll(path string) error {
	if err := f.check(OpRemove, path); err != nil {
		return err
	}
	return f.FS.RemoveAll(path)
}

func (f *Faulty) Rename(oldpath, newpath string) error {
	if err := f.check(OpRename, newpath); err != nil {
		return err
	}
	return f.FS.Rename(oldpath, newpath)
}

func (f *Faulty) MkdirAll(path string, perm fs.FileMode) error { return f.FS.MkdirAll(path, perm) }
func (f *Faulty) ReadDir(name string) ([]fs.DirEntry, error)   { return f.FS.ReadDir(name) }
func (f *Faulty) Stat(name string) (fs.FileInfo, error)        { return f.FS.Stat(name) }
func (f *Faulty) DiskUsage(path string) (int64, int64, error)  { return f.FS.DiskUsage(path) }

func (f *Faulty) SyncDir(path string) error {
	if err := f.check(OpSync, path); err != nil {
		return err
	}
	return f.FS.SyncDir(path)
}

type faultyFile struct {
	File
	fs *Faulty
}

func (f *faultyFile) Write(p []byte) (int, error) {
	if err := f.fs.check(OpWrite, f.Name()); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

// WriteAt fails after writing half of p, like a short write on a full disk.
func (f *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(OpWrite, f.Name()); err != nil {
		n, _ := f.File.WriteAt(p[:len(p)/2], off)
		return n, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultyFile) Sync() error {
	if err := f.fs.check(OpSync, f.Name()); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultyFile) Truncate(size int64) error {
	if err := f.fs.check(OpTruncate, f.Name()); err != nil {
		return err
	}
	return f.File.Truncate(size)
}
