//go:build linux

package vfs

import "syscall"

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE: start the write-out of the
// range's dirty pages that are not already under write-out, without
// waiting for it.
const syncFileRangeWrite = 2

// StartWriteback asks the kernel to start writing the n bytes of f at off
// to disk now, without waiting for them and without any durability
// promise (it is not an fsync: metadata is not written and nothing is
// waited for). It is a hint that spreads the page cache's write-out evenly
// instead of letting dirty pages pile up until the kernel's flusher writes
// gigabytes at once. Files that are not OS files, and kernels that refuse,
// are ignored.
func StartWriteback(f File, off, n int64) {
	sc, ok := f.(syscall.Conn)
	if !ok || n <= 0 {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, fd, uintptr(off), uintptr(n), syncFileRangeWrite, 0, 0)
	})
}
