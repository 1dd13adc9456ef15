package storage

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// recordedWriteback is one call of the writebacker's start function.
type recordedWriteback struct {
	off, n int64
	at     time.Time
}

func TestWritebackerDelaysAndKeepsOrder(t *testing.T) {
	var (
		mu    sync.Mutex
		calls []recordedWriteback
	)
	const delay = 30 * time.Millisecond
	w := startWritebacker(delay, time.Now, func(_ vfs.File, off, n int64) {
		mu.Lock()
		calls = append(calls, recordedWriteback{off, n, time.Now()})
		mu.Unlock()
	})
	defer w.close()
	f := tempFile(t)
	queued := time.Now()
	for i := range int64(3) {
		w.request(f, i<<20, 1<<20)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(calls)
		mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 write-outs made after 10 s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i, c := range calls {
		if c.off != int64(i)<<20 || c.n != 1<<20 {
			t.Fatalf("call %d: off %d n %d, want %d %d", i, c.off, c.n, int64(i)<<20, 1<<20)
		}
		if early := c.at.Sub(queued); early < delay {
			t.Fatalf("call %d made %v after the request, before the %v delay", i, early, delay)
		}
	}
}

func TestWritebackerCloseDropsPending(t *testing.T) {
	called := make(chan struct{}, 1)
	w := startWritebacker(time.Hour, time.Now, func(vfs.File, int64, int64) { called <- struct{}{} })
	w.request(tempFile(t), 0, 1<<20)
	closed := make(chan struct{})
	go func() { w.close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("close waited for a write-out an hour away")
	}
	w.close() // twice is fine
	w.request(tempFile(t), 0, 1<<20)
	select {
	case <-called:
		t.Fatal("a write-out was made after close")
	default:
	}
}

func TestWritebackerQueueBounded(t *testing.T) {
	w := startWritebacker(time.Hour, time.Now, func(vfs.File, int64, int64) {})
	defer w.close()
	f := tempFile(t)
	for range maxWritebackQueue + 10 {
		w.request(f, 0, 1<<20)
	}
	w.mu.Lock()
	n := len(w.q)
	w.mu.Unlock()
	if n != maxWritebackQueue {
		t.Fatalf("queue holds %d, want the bound %d", n, maxWritebackQueue)
	}
}

func tempFile(t *testing.T) vfs.File {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
