package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

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
// While its segment is active the entries are kept in memory (mem) and
// written to the file lazily (at flush, roll and close): a crash loses at
// most the entries past the recovery point, and recovery rebuilds exactly
// those. The file is preallocated to maxEntries entries while active and
// trimmed to its real size when the segment rolls or the log closes, as
// Kafka does. A sealed index is read with ReadAt (the page cache, not the
// heap, holds it).
//
// All fields are guarded by the owning Log's mutex.
type indexFile struct {
	f          vfs.File
	entrySize  int
	n          int    // number of valid entries
	maxEntries int    // capacity while active
	mem        []byte // entries, while active; nil once sealed
	written    int    // entries already written to the file
}

func newIndexFile(f vfs.File, entrySize int) *indexFile {
	return &indexFile{f: f, entrySize: entrySize}
}

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
	if _, err := x.f.ReadAt(buf, int64(i*x.entrySize)); err != nil {
		return nil, err
	}
	return buf, nil
}

// writePending writes the entries not yet in the file.
func (x *indexFile) writePending() error {
	if x.mem == nil || x.written == x.n {
		return nil
	}
	off := x.written * x.entrySize
	if _, err := x.f.WriteAt(x.mem[off:x.n*x.entrySize], int64(off)); err != nil {
		return err
	}
	x.written = x.n
	return nil
}

// activate loads the entries into memory and preallocates the file to
// maxEntries entries. Used for a new or reopened active segment.
func (x *indexFile) activate(maxBytes int32) error {
	x.maxEntries = int(maxBytes) / x.entrySize
	if x.maxEntries < 1 {
		x.maxEntries = 1
	}
	if x.mem == nil {
		mem := make([]byte, x.n*x.entrySize, x.n*x.entrySize+64*x.entrySize)
		if x.n > 0 {
			if _, err := x.f.ReadAt(mem, 0); err != nil {
				return err
			}
		}
		x.mem = mem
		x.written = x.n
	}
	return x.f.Truncate(int64(x.maxEntries * x.entrySize))
}

// seal writes the pending entries and trims the file to its real size.
func (x *indexFile) seal() error {
	if err := x.writePending(); err != nil {
		return err
	}
	if err := x.f.Truncate(int64(x.n * x.entrySize)); err != nil {
		return err
	}
	x.mem = nil
	x.written = x.n
	return nil
}

// reset drops every entry (before a rebuild) and keeps the index active.
func (x *indexFile) reset(maxBytes int32) error {
	x.n, x.written = 0, 0
	x.mem = x.mem[:0]
	if x.mem == nil {
		x.mem = make([]byte, 0, 64*x.entrySize)
	}
	x.maxEntries = int(maxBytes) / x.entrySize
	if x.maxEntries < 1 {
		x.maxEntries = 1
	}
	return x.f.Truncate(0)
}

// search returns the largest i in [0,n) with key(entry i) <= target, or -1.
func (x *indexFile) search(target int64, key func(e []byte) int64) (int, error) {
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
		return lo - 1, nil
	}
	buf := make([]byte, x.entrySize)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		e, err := x.entry(mid, buf)
		if err != nil {
			return -1, err
		}
		if key(e) <= target {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo - 1, nil
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
	i, err := x.search(rel, offsetKey)
	if err != nil || i < 0 {
		return 0, err
	}
	if x.mem != nil {
		return offsetPos(x.mem[i*offsetEntrySize:]), nil
	}
	buf := make([]byte, offsetEntrySize)
	e, err := x.entry(i, buf)
	if err != nil {
		return 0, err
	}
	return offsetPos(e), nil
}

// lookupTime returns the relative offset of the last time index entry
// whose timestamp is <= ts, or -1 if there is none.
func (x *indexFile) lookupTime(ts int64) (int64, error) {
	i, err := x.search(ts, timeKey)
	if err != nil || i < 0 {
		return -1, err
	}
	var buf [timeEntrySize]byte
	e, err := x.entry(i, buf[:])
	if err != nil {
		return -1, err
	}
	return timeRel(e), nil
}

// last returns the last entry, or nil.
func (x *indexFile) last() ([]byte, error) {
	if x.n == 0 {
		return nil, nil
	}
	buf := make([]byte, x.entrySize)
	return x.entry(x.n-1, buf)
}

// load reads and sanity-checks an index file: its size must be a multiple of
// the entry size and its entries increasing and within the log (logSize
// bytes, relative offsets below maxRel when maxRel >= 0). It sets n.
func (x *indexFile) load(logSize int64) error {
	st, err := x.f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if size%int64(x.entrySize) != 0 {
		return fmt.Errorf("%w: %s: size %d not a multiple of %d", errBadIndex, x.f.Name(), size, x.entrySize)
	}
	data := make([]byte, size)
	if _, err := x.f.ReadAt(data, 0); err != nil && !(errors.Is(err, io.EOF) && size == 0) {
		return err
	}
	n := int(size) / x.entrySize
	if x.entrySize == offsetEntrySize {
		prevRel, prevPos := int64(-1), int64(-1)
		for i := 0; i < n; i++ {
			e := data[i*offsetEntrySize:]
			rel, pos := offsetKey(e), offsetPos(e)
			if rel <= prevRel || pos <= prevPos || pos >= logSize {
				return fmt.Errorf("%w: %s: entry %d (%d, %d) out of order or past the log", errBadIndex, x.f.Name(), i, rel, pos)
			}
			prevRel, prevPos = rel, pos
		}
	} else {
		prevTs, prevRel := int64(-1<<63), int64(-1)
		for i := 0; i < n; i++ {
			e := data[i*timeEntrySize:]
			ts, rel := timeKey(e), timeRel(e)
			if ts <= prevTs || rel < prevRel {
				return fmt.Errorf("%w: %s: entry %d (%d, %d) out of order", errBadIndex, x.f.Name(), i, ts, rel)
			}
			prevTs, prevRel = ts, rel
		}
	}
	x.n, x.written = n, n
	x.mem = nil
	return nil
}
