package storage

import (
	"errors"
	"io/fs"
	"os"
	"sync"

	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// DefaultMaxOpenSegmentFiles is the default of
// ManagerConfig.MaxOpenSegmentFiles.
const DefaultMaxOpenSegmentFiles = 4096

// fileCache bounds the file descriptors held by sealed segments: one per
// Manager, shared by all its logs. Every segment file is a cachedFile, opened
// on first use; a file that is open, not pinned and not in use waits on an
// LRU list, and the least recently used ones are closed once more than
// capacity unpinned files are open. Pinned files (the active segment's
// .log) are not counted and never closed by the cache. A file in use (a
// reference is held) is never closed either, so capacity is exceeded,
// briefly, when more files than that are in use at once.
type fileCache struct {
	fs       vfs.FS
	capacity int          // 0: unlimited
	wb       *writebacker // the Manager's (nil: write-outs are requested inline)

	mu struct {
		sync.Mutex
		open    int        // open, unpinned files (in use or idle)
		idle    cachedFile // sentinel of the idle list: idle.next is the most recently used
		opened  uint64     // files opened by get
		evicted uint64     // files closed to stay within capacity
	}
}

func newFileCache(fsys vfs.FS, capacity int) *fileCache {
	c := &fileCache{fs: fsys, capacity: max(capacity, 0)}
	c.mu.idle.prev, c.mu.idle.next = &c.mu.idle, &c.mu.idle
	return c
}

// cachedFile is one file of a segment (.log, .index or .timeindex), opened
// lazily through its fileCache.
//
// Lock order: openMu, then fileCache.mu. openMu serializes the opening and
// the renaming of this file, so an open always uses the file's current
// name; the syscalls run without fileCache.mu.
type cachedFile struct {
	c      *fileCache
	flag   int
	openMu sync.Mutex
	name   string // guarded by openMu

	// Guarded by c.mu.
	f          vfs.File    // nil while closed
	refs       int         // references held by users of f
	pinned     bool        // kept open and uncounted (the active segment's .log)
	gone       bool        // closed for good (segment removed, log closed)
	prev, next *cachedFile // links in c's idle list; nil when not in it
}

// newFile returns a cachedFile for name. f, if not nil, is the file already
// open; pinned keeps it open outside the LRU (f is then required).
func (c *fileCache) newFile(name string, flag int, f vfs.File, pinned bool) *cachedFile {
	h := &cachedFile{c: c, flag: flag, name: name}
	if f == nil {
		return h
	}
	c.mu.Lock()
	h.f, h.pinned = f, pinned
	var victims []vfs.File
	if !pinned {
		c.mu.open++
		c.idlePushLocked(h)
		victims = c.evictLocked()
	}
	c.mu.Unlock()
	closeFiles(victims)
	return h
}

func (c *fileCache) idlePushLocked(h *cachedFile) {
	s := &c.mu.idle
	h.prev, h.next = s, s.next
	s.next.prev = h
	s.next = h
}

func (c *fileCache) idleRemoveLocked(h *cachedFile) {
	if h.next == nil {
		return
	}
	h.prev.next, h.next.prev = h.next, h.prev
	h.prev, h.next = nil, nil
}

// evictLocked unlinks the least recently used idle files while more than
// capacity are open and returns them, to be closed without the mutex.
func (c *fileCache) evictLocked() []vfs.File {
	if c.capacity == 0 {
		return nil
	}
	var out []vfs.File
	s := &c.mu.idle
	for c.mu.open > c.capacity && s.prev != s {
		h := s.prev
		c.idleRemoveLocked(h)
		out = append(out, h.f)
		h.f = nil
		c.mu.open--
		c.mu.evicted++
	}
	return out
}

func closeFiles(fs []vfs.File) {
	for _, f := range fs {
		f.Close()
	}
}

// stats reports how many unpinned files are open, and how many files were
// opened and evicted so far.
func (c *fileCache) stats() (open int, opened, evicted uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.open, c.mu.opened, c.mu.evicted
}

// ref takes a reference without opening the file: while it is held, the
// file is not closed once open. Every ref is paired with a release.
func (h *cachedFile) ref() {
	c := h.c
	c.mu.Lock()
	h.refLocked()
	c.mu.Unlock()
}

func (h *cachedFile) refLocked() {
	h.refs++
	if h.refs == 1 && h.f != nil && !h.pinned {
		h.c.idleRemoveLocked(h)
	}
}

// release drops a reference taken by ref or acquire.
func (h *cachedFile) release() {
	c := h.c
	c.mu.Lock()
	h.refs--
	var victims []vfs.File
	if h.refs == 0 && h.f != nil && !h.pinned {
		if h.gone {
			victims = append(victims, h.f)
			h.f = nil
			c.mu.open--
		} else {
			c.idlePushLocked(h)
			victims = c.evictLocked()
		}
	}
	c.mu.Unlock()
	closeFiles(victims)
}

// acquire takes a reference and returns the open file, opening it if
// needed. It fails with os.ErrClosed once the file is gone.
func (h *cachedFile) acquire() (vfs.File, error) {
	h.ref()
	f, err := h.get()
	if err != nil {
		h.release()
	}
	return f, err
}

// get returns the open file, opening it if needed; the caller holds a
// reference.
func (h *cachedFile) get() (vfs.File, error) {
	c := h.c
	c.mu.Lock()
	if f, err := h.getLocked(); f != nil || err != nil {
		c.mu.Unlock()
		return f, err
	}
	c.mu.Unlock()

	h.openMu.Lock()
	defer h.openMu.Unlock()
	c.mu.Lock()
	if f, err := h.getLocked(); f != nil || err != nil {
		c.mu.Unlock() // opened by another goroutine while we waited
		return f, err
	}
	c.mu.Unlock()
	f, err := c.fs.OpenFile(h.name, h.flag, 0)
	c.mu.Lock()
	if h.gone {
		c.mu.Unlock()
		if f != nil {
			f.Close()
		}
		return nil, os.ErrClosed
	}
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	h.f = f
	c.mu.opened++
	c.mu.open++
	victims := c.evictLocked()
	c.mu.Unlock()
	closeFiles(victims)
	return f, nil
}

func (h *cachedFile) getLocked() (vfs.File, error) {
	if h.gone {
		return nil, os.ErrClosed
	}
	return h.f, nil
}

// pin opens the file if needed and keeps it open, out of the LRU and not
// counted, until unpin or close. The file is returned; it stays valid
// while pinned.
func (h *cachedFile) pin() (vfs.File, error) {
	f, err := h.acquire()
	if err != nil {
		return nil, err
	}
	c := h.c
	c.mu.Lock()
	if !h.pinned {
		h.pinned = true
		c.mu.open--
	}
	h.refs--
	c.mu.Unlock()
	return f, nil
}

// unpin hands a pinned file to the LRU.
func (h *cachedFile) unpin() {
	c := h.c
	c.mu.Lock()
	var victims []vfs.File
	if h.pinned {
		h.pinned = false
		if h.f != nil {
			c.mu.open++
			if h.refs == 0 {
				c.idlePushLocked(h)
			}
			victims = c.evictLocked()
		}
	}
	c.mu.Unlock()
	closeFiles(victims)
}

// close closes the file for good: now if it is not in use, else at the
// last release. Later acquisitions fail with os.ErrClosed.
func (h *cachedFile) close() error {
	c := h.c
	c.mu.Lock()
	if h.gone {
		c.mu.Unlock()
		return nil
	}
	h.gone = true
	var f vfs.File
	if h.f != nil {
		if h.pinned {
			h.pinned = false
			c.mu.open++
		}
		if h.refs == 0 {
			c.idleRemoveLocked(h)
			f, h.f = h.f, nil
			c.mu.open--
		}
	}
	c.mu.Unlock()
	if f != nil {
		return f.Close()
	}
	return nil
}

// rename renames the file on disk; later opens use the new name.
func (h *cachedFile) rename(newName string) error {
	h.openMu.Lock()
	defer h.openMu.Unlock()
	if err := h.c.fs.Rename(h.name, newName); err != nil {
		return err
	}
	h.name = newName
	return nil
}

// currentName returns the file's name now.
func (h *cachedFile) currentName() string {
	h.openMu.Lock()
	defer h.openMu.Unlock()
	return h.name
}

// sync fsyncs the file: through the open descriptor if there is one, else
// through a descriptor opened for the purpose (fsync covers every write
// to the file, whichever descriptor made it), so that flushing a segment
// does not fill the cache with files nobody reads.
func (h *cachedFile) sync() error {
	c := h.c
	c.mu.Lock()
	if h.gone {
		c.mu.Unlock()
		return os.ErrClosed
	}
	if h.f != nil {
		h.refLocked()
		f := h.f
		c.mu.Unlock()
		err := f.Sync()
		h.release()
		return err
	}
	c.mu.Unlock()
	h.openMu.Lock()
	f, err := c.fs.OpenFile(h.name, os.O_RDONLY, 0)
	h.openMu.Unlock()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && h.isGone() {
			return os.ErrClosed
		}
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (h *cachedFile) isGone() bool {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.gone
}
