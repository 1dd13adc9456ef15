//go:build linux

package broker

import (
	"net"
	"syscall"

	"github.com/samsa-streaming/samsa/internal/storage"
)

// sendRegion writes a region of a segment file to the connection with
// sendfile(2), from the page cache to the socket without passing through
// the broker's memory. The file position is given explicitly (the file
// is shared by concurrent readers, so its offset is never used). Files
// that are not OS files (test filesystems) and connections that are not
// TCP take the copying path. zeroCopy tells which path was taken.
func sendRegion(nc net.Conn, p *fetchPayload, rg *storage.Region) (zeroCopy bool, err error) {
	tc, ok := nc.(*net.TCPConn)
	fc, ok2 := rg.File().(syscall.Conn)
	if !ok || !ok2 {
		return false, copyRegion(nc, rg)
	}
	dst, err := tc.SyscallConn()
	if err != nil {
		return true, err
	}
	src, err := fc.SyscallConn()
	if err != nil {
		return true, err
	}
	off, left := rg.Pos, rg.Len
	var werr error
	err = dst.Write(func(outfd uintptr) bool {
		for left > 0 {
			var (
				n    int
				serr error
			)
			if cerr := src.Control(func(infd uintptr) {
				n, serr = syscall.Sendfile(int(outfd), int(infd), &off, int(min(left, 1<<30)))
			}); cerr != nil {
				werr = cerr
				return true
			}
			if n > 0 {
				left -= int64(n)
			}
			switch {
			case serr == syscall.EAGAIN:
				return false // wait until the socket is writable
			case serr == syscall.EINTR:
			case serr != nil:
				werr = serr
				return true
			case n == 0:
				werr = errRegionShort
				return true
			}
		}
		return true
	})
	if err != nil {
		return true, err
	}
	return true, werr
}
