package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// File name suffixes of a segment.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	deletedSuffix   = ".deleted"
)

// segmentName is the 20-digit zero-padded base offset Kafka names files by.
func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

// segment is one <base>.log file with its .index, .timeindex and (once
// it has an aborted transaction) .txnindex.
//
// base, path, logFile, idx and tidx never change after creation. size is
// atomic so that readers, which run without the log's mutex, can bound
// their reads by it; it only grows while the segment is active (it shrinks
// under TruncateTo, under the mutex). Every other field is guarded by the
// owning Log's mutex.
//
// Only the active segment holds a file descriptor of its own: its .log,
// pinned in logFile and kept in w for appends. Its indexes live in memory
// and are written through short-lived descriptors (see indexFile). A sealed
// segment's files are opened on first use through the Manager's fileCache,
// which closes the least recently used ones; readers hold a reference
// (acquire/release) while they use a file, so it is never closed under
// them.
type segment struct {
	base    int64
	path    string // directory + segmentName(base), without suffix
	logFile *cachedFile
	idx     *indexFile
	tidx    *indexFile
	size    atomic.Int64
	// txnFile is the transaction index (.txnindex, see txn.go), written
	// through when an ABORT marker is appended; txnN is its number of
	// entries (0: the file may not exist). Written under the log's mutex,
	// read without it by AbortedTransactions and syncFiles.
	txnFile *cachedFile
	txnN    atomic.Int64
	// txnRebuild marks a recovered segment whose transaction index the
	// producer-state replay rebuilds (open only).
	txnRebuild bool

	w               vfs.File // the open .log while the segment is active (pinned); nil once sealed
	next            int64    // offset after the last batch (base when empty)
	maxTs           int64    // largest batch MaxTimestamp, -1 when empty
	maxTsOffset     int64    // last offset of the batch holding maxTs, -1 when empty
	lastIdxTs       int64    // timestamp of the last time index entry, -1 when none
	bytesSinceIndex int64
	rollStartMs     int64 // time the segment's age is measured from (segment.ms), -1 when empty
	writebackFrom   int64 // the .log's write-out was started below this position (see appendBatches)
}

// writebackBytes is how much an active segment's .log grows between two
// requests to the kernel to start writing it out (vfs.StartWriteback): the
// appended data reaches the disk at the rate it is produced, instead of in
// bursts of gigabytes when the kernel's flusher finds it dirty for 30 s,
// which stalled appends (and end-to-end latency) for 100-250 ms on a
// 2-CPU machine producing 50 MB/s. It promises nothing about durability:
// the recovery point still moves only after an fsync.
const writebackBytes = 1 << 20

func newSegment(c *fileCache, dir string, base int64, logF vfs.File, pinned bool) *segment {
	s := &segment{base: base, path: filepath.Join(dir, segmentName(base)), next: base,
		maxTs: -1, maxTsOffset: -1, lastIdxTs: -1, rollStartMs: -1}
	s.logFile = c.newFile(s.path+logSuffix, os.O_RDWR, logF, pinned)
	if pinned {
		s.w = logF
	}
	s.idx = newIndexFile(c, s.path+indexSuffix, offsetEntrySize)
	s.tidx = newIndexFile(c, s.path+timeIndexSuffix, timeEntrySize)
	s.txnFile = c.newFile(s.path+txnIndexSuffix, os.O_RDWR, nil, false)
	return s
}

// createSegment creates a new, empty, active segment. Only the .log is
// created now; the index files are written at the first flush, roll or
// close.
func createSegment(c *fileCache, dir string, base int64, cfg *LogConfig) (*segment, error) {
	name := filepath.Join(dir, segmentName(base)) + logSuffix
	f, err := c.fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	s := newSegment(c, dir, base, f, true)
	s.idx.reset(cfg.SegmentIndexBytes)
	s.tidx.reset(cfg.SegmentIndexBytes)
	return s, nil
}

// activate makes the segment the active one: indexes in memory, .log
// pinned open.
func (s *segment) activate(cfg *LogConfig) error {
	if err := s.idx.activate(cfg.SegmentIndexBytes); err != nil {
		return err
	}
	if err := s.tidx.activate(cfg.SegmentIndexBytes); err != nil {
		return err
	}
	if s.w == nil {
		f, err := s.logFile.pin()
		if err != nil {
			return err
		}
		s.w = f
	}
	return nil
}

// seal is called when the segment stops being the active one: the final
// time index entry (Kafka's onBecomeInactiveSegment), pending entries
// written, the .log handed to the file cache.
func (s *segment) seal() error {
	if s.maxTs > s.lastIdxTs && s.tidx.mem != nil {
		s.tidx.addTime(s.maxTs, int32(s.maxTsOffset-s.base))
		s.lastIdxTs = s.maxTs
	}
	if err := s.idx.seal(); err != nil {
		return err
	}
	if err := s.tidx.seal(); err != nil {
		return err
	}
	if s.w != nil {
		s.w = nil
		s.logFile.unpin()
	}
	return nil
}

// close closes the segment's files for good (at once, or when the last
// reader releases them).
func (s *segment) close() error {
	s.w = nil
	err := s.logFile.close()
	if e := s.idx.h.close(); err == nil {
		err = e
	}
	if e := s.tidx.h.close(); err == nil {
		err = e
	}
	if e := s.txnFile.close(); err == nil {
		err = e
	}
	return err
}

// sync writes pending index entries and fsyncs the three files.
func (s *segment) sync() error {
	if err := s.idx.writePending(); err != nil {
		return err
	}
	if err := s.tidx.writePending(); err != nil {
		return err
	}
	return syncFiles(s)
}

// syncFiles fsyncs the segment's files as they are on disk (the
// transaction index when it has entries); it needs no lock.
func syncFiles(s *segment) error {
	if err := s.logFile.sync(); err != nil {
		return err
	}
	if err := s.idx.h.sync(); err != nil {
		return err
	}
	if err := s.tidx.h.sync(); err != nil {
		return err
	}
	if s.txnN.Load() > 0 {
		return s.txnFile.sync()
	}
	return nil
}

// files returns the paths of the segment's files (the transaction index
// may not exist).
func (s *segment) files() []string {
	return []string{s.path + logSuffix, s.path + indexSuffix, s.path + timeIndexSuffix, s.path + txnIndexSuffix}
}

// handles returns the segment's files, in the order of files().
func (s *segment) handles() []*cachedFile {
	return []*cachedFile{s.logFile, s.idx.h, s.tidx.h, s.txnFile}
}

// appendBatches writes set (whose headers, offsets assigned, are hdrs) at
// the end of the segment and updates the indexes, as Kafka's
// LogSegment.append does: an offset index entry (last offset of the batch,
// its position) once more than index.interval.bytes were written since the
// previous one, and at the same time a time index entry if the max
// timestamp grew. On a write failure the file is cut back to its old size.
func (s *segment) appendBatches(set []byte, hdrs []records.Header, interval int64) error {
	pos := s.size.Load()
	if _, err := s.w.WriteAt(set, pos); err != nil {
		if terr := s.w.Truncate(pos); terr != nil {
			return errors.Join(err, terr)
		}
		return err
	}
	for i := range hdrs {
		h := &hdrs[i]
		if h.MaxTimestamp > s.maxTs {
			s.maxTs, s.maxTsOffset = h.MaxTimestamp, h.LastOffset()
		}
		if s.bytesSinceIndex > interval {
			s.idx.addOffset(int32(h.LastOffset()-s.base), int32(pos))
			if s.maxTs > s.lastIdxTs {
				s.tidx.addTime(s.maxTs, int32(s.maxTsOffset-s.base))
				s.lastIdxTs = s.maxTs
			}
			s.bytesSinceIndex = 0
		}
		sz := int64(h.Size())
		pos += sz
		s.bytesSinceIndex += sz
		s.next = h.NextOffset()
	}
	s.size.Store(pos)
	s.startWriteback(pos)
	return nil
}

// startWriteback starts the write-out of the whole pages below size that
// were not yet asked for, once there are writebackBytes of them.
func (s *segment) startWriteback(size int64) {
	const page = 4096
	if s.writebackFrom > size { // truncated
		s.writebackFrom = size &^ (page - 1)
	}
	if end := size &^ (page - 1); end-s.writebackFrom >= writebackBytes {
		s.logFile.c.wb.request(s.w, s.writebackFrom, end-s.writebackFrom)
		s.writebackFrom = end
	}
}

// batchPeek is what a reader learns from a batch header without reading the
// batch: enough to skip it or to decide to return it.
type batchPeek struct {
	base      int64
	size      int64
	lastDelta int32
	maxTs     int64
}

func (p *batchPeek) last() int64 { return p.base + int64(p.lastDelta) }

// Positions of the v2 header fields a reader peeks at (see package records).
const (
	peekLengthAt    = 8
	peekMagicAt     = 16
	peekLastDeltaAt = 23
	peekMaxTsAt     = 35
)

var errBadPeek = errors.New("bad batch header")

// peekAt reads the header of the batch at pos of f (which holds end bytes).
func peekAt(f vfs.File, pos, end int64, buf *[records.HeaderSize]byte) (batchPeek, error) {
	var p batchPeek
	if end-pos < records.HeaderSize {
		return p, io.ErrUnexpectedEOF
	}
	if _, err := f.ReadAt(buf[:], pos); err != nil {
		return p, err
	}
	return peek(buf[:])
}

func peek(b []byte) (batchPeek, error) {
	var p batchPeek
	if len(b) < records.HeaderSize {
		return p, io.ErrUnexpectedEOF
	}
	p.base = int64(binary.BigEndian.Uint64(b))
	length := int64(int32(binary.BigEndian.Uint32(b[peekLengthAt:])))
	if length < records.HeaderSize-records.LogOverhead || b[peekMagicAt] != 2 {
		return p, errBadPeek
	}
	p.size = records.LogOverhead + length
	p.lastDelta = int32(binary.BigEndian.Uint32(b[peekLastDeltaAt:]))
	p.maxTs = int64(binary.BigEndian.Uint64(b[peekMaxTsAt:]))
	return p, nil
}

// seekBatch scans headers of the segment file f from pos for the first
// batch whose last offset is >= target. It returns that batch's position
// and header, or found=false when the segment (end bytes) ends first.
func seekBatch(f vfs.File, pos, end, target int64) (int64, batchPeek, bool, error) {
	var buf [records.HeaderSize]byte
	for pos < end {
		p, err := peekAt(f, pos, end, &buf)
		if err != nil {
			return 0, p, false, err
		}
		if p.last() >= target {
			return pos, p, true, nil
		}
		pos += p.size
	}
	return pos, batchPeek{}, false, nil
}

// scanner reads the whole batches of a segment sequentially in large
// chunks, for recovery and for replaying producer state.
type scanner struct {
	f   vfs.File
	pos int64 // file position of buf[0]
	end int64
	buf []byte
	off int // start of the unconsumed part of buf
}

const scanChunk = 1 << 20

func newScanner(f vfs.File, pos, end int64) *scanner {
	return &scanner{f: f, pos: pos, end: end}
}

// next returns the next batch, its header and its position. At the end it
// returns io.EOF; a batch cut off by the end of the file is
// records.ErrTruncated; a bad header is the error of records.ParseHeader.
// The batch bytes are valid until the next call.
func (sc *scanner) next() ([]byte, records.Header, int64, error) {
	for {
		avail := sc.buf[sc.off:]
		bpos := sc.pos + int64(sc.off)
		if len(avail) == 0 && bpos >= sc.end {
			return nil, records.Header{}, bpos, io.EOF
		}
		h, err := records.ParseHeader(avail)
		if err == nil {
			n := h.Size()
			sc.off += n
			return avail[:n], h, bpos, nil
		}
		if !errors.Is(err, records.ErrTruncated) {
			return nil, h, bpos, err
		}
		// Need more bytes: how many?
		need := records.HeaderSize
		if len(avail) >= records.LogOverhead && int64(h.Length) > 0 {
			need = max(need, records.LogOverhead+int(h.Length))
		}
		remaining := sc.end - bpos
		if int64(need) > remaining {
			return nil, h, bpos, records.ErrTruncated
		}
		if err := sc.fill(bpos, need); err != nil {
			return nil, h, bpos, err
		}
	}
}

// fill reloads buf to start at file position at, holding at least need
// bytes (and up to a chunk).
func (sc *scanner) fill(at int64, need int) error {
	n := int64(max(need, scanChunk))
	if rem := sc.end - at; n > rem {
		n = rem
	}
	if int64(cap(sc.buf)) < n {
		sc.buf = make([]byte, n)
	}
	sc.buf = sc.buf[:n]
	got, err := sc.f.ReadAt(sc.buf, at)
	if got < int(n) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	sc.pos, sc.off = at, 0
	return nil
}
