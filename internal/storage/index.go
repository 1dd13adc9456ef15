package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// Entry sizes of the two index files (Kafka's formats, big endian).
const (
	offsetEntrySize = 8  // relative offset int32, file position int32
	timeEntrySize   = 12 // timestamp int64, relative offset int32
)

// errBadIndex marks an index file that failed its sanity check; the
// segment is then recovered (its indexes rebuilt from the log).
var errBadIndex = errors.New("corrupt index")

// indexFile is the part common to the offset index and the time index: a
// file of fixed-size entries, sorted.
//
// While its segment is active the entries are kept in memory (mem) and no
// file descriptor is held: the file is opened, written and closed at flush,
// roll and close (writePending). A crash loses at most the entries past
// the recovery point, and recovery rebuilds exactly those (the active
// segment is always recovered after a crash). The file holds exactly the
// entries written so far; it is not preallocated as Kafka's mapped indexes
// are. A sealed index is read with ReadAt through the Manager's file cache
// (the page cache, not the heap, holds it).
//
// All fields are guarded by the owning Log's mutex.
type indexFile struct {
	h          *cachedFile // the file, opened through the cache when a sealed index is read
	path       string      // the file's name while active (an active segment is never renamed)
	entrySize  int
	n          int    // number of valid entries
	maxEntries int    // capacity while active
	mem        []byte // entries, while active; nil once sealed
	written    int    // entries already written to the file
	inSync     bool   // while active: the file holds exactly the first written entries
}

func newIndexFile(c *fileCache, path string, entrySize int) *indexFile {
	return &indexFile{h: c.newFile(path, os.O_RDONLY, nil, false), path: path, entrySize: entrySize}
}

func (x *indexFile) fs() vfs.FS { return x.h.c.fs }

func (x *indexFile) full() bool { return x.mem != nil && x.n >= x.maxEntries }

// add appends an entry (active index only). A full index drops the entry:
// the index is sparse, so a missing entry costs a longer scan, nothing more.
func (x *indexFile) add(e []byte) {
	if x.mem == nil || x.n >= x.maxEntries {
		return
	}
	x.mem = append(x.mem, e...)
	x.n++
}

// entry reads entry i into buf (len entrySize) and returns it.
func (x *indexFile) entry(i int, buf []byte) ([]byte, error) {
	if x.mem != nil {
		return x.mem[i*x.entrySize : (i+1)*x.entrySize], nil
	}
	f, err := x.h.acquire()
	if err != nil {
		return nil, err
	}
	defer x.h.release()
	if _, err := f.ReadAt(buf, int64(i*x.entrySize)); err != nil {
		return nil, err
	}
	return buf, nil
}

// writePending writes the entries not yet in the file (active index
// only), through a descriptor opened and closed for the purpose. The first
// write after a reset truncates the file.
func (x *indexFile) writePending() error {
	if x.mem == nil || (x.inSync && x.written == x.n) {
		return nil
	}
	flag, from := os.O_WRONLY|os.O_CREATE, x.written
	if !x.inSync {
		flag, from = flag|os.O_TRUNC, 0
	}
	f, err := x.fs().OpenFile(x.path, flag, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(x.mem[from*x.entrySize:x.n*x.entrySize], int64(from*x.entrySize))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		x.inSync = false // the file's content is unknown: rewrite it whole next time
		return err
	}
	x.written, x.inSync = x.n, true
	return nil
}

// activate makes the index active: entries in memory. Used for a reopened
// active segment (whose entries load already kept) and after recovery.
func (x *indexFile) activate(maxBytes int32) error {
	x.maxEntries = max(int(maxBytes)/x.entrySize, 1)
	if x.mem != nil {
		return nil
	}
	mem := make([]byte, x.n*x.entrySize, x.n*x.entrySize+64*x.entrySize)
	if x.n > 0 {
		f, err := x.fs().OpenFile(x.path, os.O_RDONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.ReadAt(mem, 0)
		f.Close()
		if err != nil {
			return err
		}
	}
	x.mem, x.written, x.inSync = mem, x.n, true
	return nil
}

// seal writes the pending entries; from then on the index is read from the
// file.
func (x *indexFile) seal() error {
	if x.mem == nil {
		return nil
	}
	if err := x.writePending(); err != nil {
		return err
	}
	x.mem = nil
	x.written = x.n
	return nil
}

// reset drops every entry (before a rebuild) and makes the index active.
// The file is truncated by the next write.
func (x *indexFile) reset(maxBytes int32) {
	x.n, x.written, x.inSync = 0, 0, false
	x.mem = x.mem[:0]
	if x.mem == nil {
		x.mem = make([]byte, 0, 64*x.entrySize)
	}
	x.maxEntries = max(int(maxBytes)/x.entrySize, 1)
}

// search returns the largest i in [0,n) with key(entry i) <= target, or
// -1, and that entry (in mem, or copied into best, len entrySize).
func (x *indexFile) search(target int64, key func(e []byte) int64, best []byte) (int, []byte, error) {
	lo, hi := 0, x.n // invariant: entries < lo are <= target, >= hi are > target
	if x.mem != nil {
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if key(x.mem[mid*x.entrySize:]) <= target {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		if lo == 0 {
			return -1, nil, nil
		}
		return lo - 1, x.mem[(lo-1)*x.entrySize : lo*x.entrySize], nil
	}
	if lo == hi {
		return -1, nil, nil
	}
	f, err := x.h.acquire()
	if err != nil {
		return -1, nil, err
	}
	defer x.h.release()
	var scratch [timeEntrySize]byte
	buf := scratch[:x.entrySize]
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if _, err := f.ReadAt(buf, int64(mid*x.entrySize)); err != nil {
			return -1, nil, err
		}
		if key(buf) <= target {
			lo = mid + 1
			copy(best, buf)
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return -1, nil, nil
	}
	return lo - 1, best, nil
}

func offsetKey(e []byte) int64 { return int64(int32(binary.BigEndian.Uint32(e))) }
func offsetPos(e []byte) int64 { return int64(int32(binary.BigEndian.Uint32(e[4:]))) }
func timeKey(e []byte) int64   { return int64(binary.BigEndian.Uint64(e)) }
func timeRel(e []byte) int64   { return int64(int32(binary.BigEndian.Uint32(e[8:]))) }

// addOffset appends an offset index entry.
func (x *indexFile) addOffset(rel int32, pos int32) {
	var e [offsetEntrySize]byte
	binary.BigEndian.PutUint32(e[:], uint32(rel))
	binary.BigEndian.PutUint32(e[4:], uint32(pos))
	x.add(e[:])
}

// addTime appends a time index entry.
func (x *indexFile) addTime(ts int64, rel int32) {
	var e [timeEntrySize]byte
	binary.BigEndian.PutUint64(e[:], uint64(ts))
	binary.BigEndian.PutUint32(e[8:], uint32(rel))
	x.add(e[:])
}

// lookupPosition returns the file position of the batch the offset index
// says to start scanning from for a relative offset: the position of the
// last indexed batch whose last offset is <= rel, or 0.
func (x *indexFile) lookupPosition(rel int64) (int64, error) {
	var buf [offsetEntrySize]byte
	i, e, err := x.search(rel, offsetKey, buf[:])
	if err != nil || i < 0 {
		return 0, err
	}
	return offsetPos(e), nil
}

// lookupTime returns the relative offset of the last time index entry
// whose timestamp is <= ts, or -1 if there is none.
func (x *indexFile) lookupTime(ts int64) (int64, error) {
	var buf [timeEntrySize]byte
	i, e, err := x.search(ts, timeKey, buf[:])
	if err != nil || i < 0 {
		return -1, err
	}
	return timeRel(e), nil
}

// load reads and sanity-checks an index file: its size must be a multiple of
// the entry size and its entries increasing and within the log (logSize
// bytes). It sets n and returns the last entry (nil when empty); when keep
// (the segment will be the active one) the entries stay in memory. A
// missing file is errBadIndex. The file is opened for the check and closed.
func (x *indexFile) load(logSize int64, keep bool) ([]byte, error) {
	f, err := x.fs().OpenFile(x.path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s missing", errBadIndex, x.path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size%int64(x.entrySize) != 0 {
		return nil, fmt.Errorf("%w: %s: size %d not a multiple of %d", errBadIndex, x.path, size, x.entrySize)
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil && !(errors.Is(err, io.EOF) && size == 0) {
		return nil, err
	}
	n := int(size) / x.entrySize
	if x.entrySize == offsetEntrySize {
		prevRel, prevPos := int64(-1), int64(-1)
		for i := 0; i < n; i++ {
			e := data[i*offsetEntrySize:]
			rel, pos := offsetKey(e), offsetPos(e)
			if rel <= prevRel || pos <= prevPos || pos >= logSize {
				return nil, fmt.Errorf("%w: %s: entry %d (%d, %d) out of order or past the log", errBadIndex, x.path, i, rel, pos)
			}
			prevRel, prevPos = rel, pos
		}
	} else {
		prevTs, prevRel := int64(-1<<63), int64(-1)
		for i := 0; i < n; i++ {
			e := data[i*timeEntrySize:]
			ts, rel := timeKey(e), timeRel(e)
			if ts <= prevTs || rel < prevRel {
				return nil, fmt.Errorf("%w: %s: entry %d (%d, %d) out of order", errBadIndex, x.path, i, ts, rel)
			}
			prevTs, prevRel = ts, rel
		}
	}
	x.n, x.written = n, n
	x.mem, x.inSync = nil, false
	var last []byte
	if n > 0 {
		last = append([]byte(nil), data[(n-1)*x.entrySize:]...)
	}
	if keep {
		x.mem, x.inSync = data, true
	}
	return last, nil
}
