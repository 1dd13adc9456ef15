package storage

import (
	"sync"

	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// writebacker asks the kernel to start writing out appended log data
// (vfs.StartWriteback) from one goroutine per Manager, off the append
// path: the syscall submits the I/O of a whole MiB, which cost the
// produce path 11% of its CPU when made by the appending goroutine under
// the log's mutex. Requests that find the queue full are dropped (the
// kernel's flusher writes those pages later); a request for a file closed
// meanwhile does nothing.
type writebacker struct {
	ch   chan writebackReq
	done chan struct{}
	mu   sync.Mutex
	shut bool
}

type writebackReq struct {
	f      vfs.File
	off, n int64
}

func newWritebacker() *writebacker {
	w := &writebacker{ch: make(chan writebackReq, 256), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for r := range w.ch {
			vfs.StartWriteback(r.f, r.off, r.n)
		}
	}()
	return w
}

// request queues a write-out; without a writebacker (tests that build a
// file cache alone) it is made inline.
func (w *writebacker) request(f vfs.File, off, n int64) {
	if w == nil {
		vfs.StartWriteback(f, off, n)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.shut {
		return
	}
	select {
	case w.ch <- writebackReq{f, off, n}:
	default:
	}
}

// close stops the goroutine once the queued requests are made.
func (w *writebacker) close() {
	if w == nil {
		return
	}
	w.mu.Lock()
	if w.shut {
		w.mu.Unlock()
		return
	}
	w.shut = true
	close(w.ch)
	w.mu.Unlock()
	<-w.done
}
