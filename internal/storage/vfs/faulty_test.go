package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestFaulty(t *testing.T) {
	dir := t.TempDir()
	f := NewFaulty(OS)
	file, err := f.OpenFile(filepath.Join(dir, "a.log"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	f.FailAfter(OpWrite, 1, false, ".log") // second write fails, once
	if _, err := file.WriteAt([]byte("one"), 0); err != nil {
		t.Fatal(err)
	}
	if n, err := file.WriteAt([]byte("four"), 3); !errors.Is(err, ErrInjected) || n != 2 {
		t.Fatalf("injected write: n=%d err=%v", n, err)
	}
	if _, err := file.WriteAt([]byte("xx"), 5); err != nil {
		t.Fatalf("non-sticky rule failed again: %v", err)
	}
	f.FailAfter(OpSync, 0, true, "")
	for i := 0; i < 2; i++ {
		if err := file.Sync(); !errors.Is(err, ErrInjected) {
			t.Fatalf("sticky sync %d: %v", i, err)
		}
	}
	f.FailAfter(OpWrite, 0, false, ".index") // does not match
	if _, err := file.Write([]byte("z")); err != nil {
		t.Fatal(err)
	}
	f.Reset()
	if err := file.Sync(); err != nil {
		t.Fatal(err)
	}
	if f.Count(OpSync) != 3 {
		t.Fatalf("sync count %d", f.Count(OpSync))
	}
	b, err := ReadFile(f, filepath.Join(dir, "a.log"))
	if err != nil || string(b) != "znefoxx" { // Write went to the file offset, 0
		t.Fatalf("content %q %v", b, err)
	}
	if total, usable, err := OS.DiskUsage(dir); err != nil || total <= 0 || usable < 0 {
		t.Fatalf("DiskUsage %d %d %v", total, usable, err)
	}
}
