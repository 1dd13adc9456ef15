package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain removes the binary the tests built (samsaBinary) once they are
// done, so runs leave no build directories behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildOnce.path != "" {
		os.RemoveAll(filepath.Dir(buildOnce.path))
	}
	os.Exit(code)
}
