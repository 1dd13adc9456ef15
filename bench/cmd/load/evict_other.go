//go:build !linux

package main

import (
	"fmt"
	"os"
)

// runEvict is a no-op where posix_fadvise is not used (see evict_linux.go).
func runEvict(args []string) error {
	fmt.Fprintln(os.Stderr, "evict: not supported on this platform; page cache left as is")
	return nil
}
