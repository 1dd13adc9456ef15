//go:build !linux

package vfs

// StartWriteback is a no-op where sync_file_range does not exist.
func StartWriteback(f File, off, n int64) {}
