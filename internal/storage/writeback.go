package storage

import (
	"sync"
	"time"

	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// writebackDelay is how long appended data stays dirty in the page cache
// before the write-out goroutine asks the kernel to write it. Any delay
// well under the kernel's own expiry (vm.dirty_expire_centisecs, 30 s)
// keeps the write-out spread at the produce rate, which is the point (see
// writebackBytes); the delay keeps the I/O submission, 7% of the broker's
// CPU while producing at 900 MB/s on 2 CPUs, out of short bursts of
// produce, and lets the kernel write pages that were appended together in
// one go. The dirty data it adds is bounded by delay x produce rate; above
// vm.dirty_background_ratio the kernel's flusher starts on its own anyway.
const writebackDelay = 5 * time.Second

// maxWritebackQueue bounds the queued write-outs (a MiB each); requests
// beyond it are dropped and left to the kernel's flusher.
const maxWritebackQueue = 8192

// writebacker asks the kernel to start writing out appended log data
// (vfs.StartWriteback) from one goroutine per Manager, off the append
// path, writebackDelay after the append: the syscall submits the I/O of a
// whole MiB, which cost the produce path 11% of its CPU when made by the
// appending goroutine under the log's mutex. Requests that find the queue
// full are dropped (the kernel's flusher writes those pages later); a
// request for a file closed meanwhile does nothing (the *os.File knows it
// is closed; the descriptor number is never reused through it).
type writebacker struct {
	delay time.Duration
	now   func() time.Time
	start func(f vfs.File, off, n int64)

	mu   sync.Mutex
	q    []writebackReq // due times never decrease
	shut bool
	wake chan struct{} // cap 1: a request was queued, or close
	done chan struct{}
}

type writebackReq struct {
	f      vfs.File
	off, n int64
	due    time.Time
}

func newWritebacker() *writebacker {
	return startWritebacker(writebackDelay, time.Now, vfs.StartWriteback)
}

func startWritebacker(delay time.Duration, now func() time.Time, start func(vfs.File, int64, int64)) *writebacker {
	w := &writebacker{delay: delay, now: now, start: start,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	go w.loop()
	return w
}

func (w *writebacker) loop() {
	defer close(w.done)
	var timer *time.Timer
	for {
		w.mu.Lock()
		if w.shut {
			w.q = nil
			w.mu.Unlock()
			return
		}
		var (
			wait time.Duration
			r    writebackReq
			has  = len(w.q) > 0
		)
		if has {
			r = w.q[0]
			if wait = r.due.Sub(w.now()); wait <= 0 {
				w.q[0] = writebackReq{}
				w.q = w.q[1:]
			}
		}
		w.mu.Unlock()
		switch {
		case !has:
			<-w.wake
		case wait <= 0:
			w.start(r.f, r.off, r.n)
		default:
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-timer.C:
			case <-w.wake:
			}
		}
	}
}

// request queues a write-out; without a writebacker (tests that build a
// file cache alone) it is made inline.
func (w *writebacker) request(f vfs.File, off, n int64) {
	if w == nil {
		vfs.StartWriteback(f, off, n)
		return
	}
	w.mu.Lock()
	if w.shut || len(w.q) >= maxWritebackQueue {
		w.mu.Unlock()
		return
	}
	w.q = append(w.q, writebackReq{f: f, off: off, n: n, due: w.now().Add(w.delay)})
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// close stops the goroutine; write-outs not yet made are dropped (the
// kernel writes those pages on its own, and Close fsyncs what it must).
func (w *writebacker) close() {
	if w == nil {
		return
	}
	w.mu.Lock()
	already := w.shut
	w.shut = true
	w.mu.Unlock()
	if !already {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	<-w.done
}
