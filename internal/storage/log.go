package storage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// AppendResult is the outcome of an append.
type AppendResult struct {
	BaseOffset     int64
	LastOffset     int64
	LogAppendTime  int64 // -1 unless the batches use LogAppendTime
	LogStartOffset int64
	Duplicate      bool // the batch was a retry of one already appended; offsets are the original ones
}

// ReadResult is the outcome of a read. Records holds whole batches.
type ReadResult struct {
	Records        []byte
	HighWatermark  int64
	LogStartOffset int64
	LogEndOffset   int64
	// NextOffset bounds the offsets read (Records or a Region): every
	// batch returned is below it, and it is at most maxOffset. For
	// Records it is the offset after the last batch; for a Region, whose
	// batches are not read, the end of what its segment holds below
	// maxOffset (the next segment's base offset, or maxOffset): Kafka's
	// fetch upper bound for aborted transactions, at segment granularity.
	// Without records it is the offset read from.
	NextOffset int64
}

// Log is the log of one partition: a directory of segments. See the
// package documentation for the locking rules.
type Log struct {
	tp     TopicPartition
	dir    string
	fs     vfs.FS
	cache  *fileCache // the Manager's: sealed segments' open files
	logger *slog.Logger

	// cleaning serializes the log cleaner's passes (see clean).
	cleaning sync.Mutex

	// Written with mu held, read without it.
	leo      atomic.Int64
	hw       atomic.Int64
	logStart atomic.Int64
	lso      atomic.Int64 // last stable offset (txn.go)

	mu struct {
		sync.Mutex
		cfg           LogConfig
		topicID       [16]byte
		segs          []*segment // ascending base offsets, the last is active; replaced, never modified in place
		recoveryPoint int64      // every offset below it is fsynced
		epochs        *epochCache
		producers     *producerState
		snapshots     []int64 // offsets of the producer snapshot files, ascending
		lastFlushMs   int64
		lastNowMs     int64 // latest time given to the log (appends, Maintain)
		closed        bool
		failed        error // set when a failed write could not be undone
		pending       []pendingDelete
		hdrs          []records.Header // scratch for appends
		staged        []producerEntry  // scratch for appends
		cleanerOffset int64            // the sealed segments below it are clean (compaction); cleaner-offset-checkpoint
		// guards are the transaction verification guards by producer id
		// (verify.go).
		guards    map[int64]VerificationGuard
		nextGuard VerificationGuard
	}
}

// pendingDelete is a segment removed from the log whose files (renamed to
// *.deleted) are closed and removed after file.delete.delay.ms, so that
// reads that started before the removal can finish.
type pendingDelete struct {
	deadlineMs int64
	seg        *segment
}

func storageErr(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrKafkaStorage, op, err)
}

// TopicPartition returns the partition this log stores.
func (l *Log) TopicPartition() TopicPartition { return l.tp }

// Dir returns the partition directory.
func (l *Log) Dir() string { return l.dir }

// TopicID returns the topic id from partition.metadata (zero if unknown).
func (l *Log) TopicID() [16]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.topicID
}

// LogStartOffset returns the first offset that may be read.
func (l *Log) LogStartOffset() int64 { return l.logStart.Load() }

// LogEndOffset returns the offset the next appended record gets.
func (l *Log) LogEndOffset() int64 { return l.leo.Load() }

// HighWatermark returns the high watermark.
func (l *Log) HighWatermark() int64 { return l.hw.Load() }

// SetHighWatermark sets the high watermark, clamped to [log start, LEO].
func (l *Log) SetHighWatermark(hw int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.setHWLocked(hw)
}

func (l *Log) setHWLocked(hw int64) {
	hw = max(hw, l.logStart.Load())
	hw = min(hw, l.leo.Load())
	l.hw.Store(hw)
	l.updateLSOLocked()
}

// Config returns the log's configuration.
func (l *Log) Config() LogConfig {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.cfg
}

// UpdateConfig changes the log's configuration (dynamic topic configs). It
// applies to the next append, roll and Maintain pass; index sizes apply to
// the next segment.
func (l *Log) UpdateConfig(cfg LogConfig) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.cfg = cfg.normalized()
}

func (l *Log) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.closed
}

func (l *Log) activeLocked() *segment { return l.mu.segs[len(l.mu.segs)-1] }

// AppendAsLeader appends one or more whole, validated v2 batches, assigning
// offsets from the log end offset and stamping leaderEpoch into them in
// place. See the package documentation for the idempotence rules. The
// batches of one call are appended together or not at all.
func (l *Log) AppendAsLeader(set []byte, leaderEpoch int32, now time.Time) (AppendResult, error) {
	return l.AppendAsLeaderOpts(set, leaderEpoch, now, AppendOptions{})
}

// AppendAsLeaderOpts is AppendAsLeader with the optional checks of opts.
func (l *Log) AppendAsLeaderOpts(set []byte, leaderEpoch int32, now time.Time, opts AppendOptions) (AppendResult, error) {
	nowMs := now.UnixMilli()
	l.mu.Lock()
	res, flush, err := l.appendLeaderLocked(set, leaderEpoch, nowMs, opts)
	l.mu.Unlock()
	if err != nil || !flush {
		return res, err
	}
	if err := l.flushUpTo(res.LastOffset + 1); err != nil && !errors.Is(err, ErrLogClosed) {
		return res, err
	}
	return res, nil
}

func (l *Log) appendLeaderLocked(set []byte, leaderEpoch int32, nowMs int64, opts AppendOptions) (AppendResult, bool, error) {
	res := AppendResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1}
	if err := l.writableLocked(); err != nil {
		return res, false, err
	}
	l.mu.lastNowMs = max(l.mu.lastNowMs, nowMs)
	hdrs, err := splitHeaders(set, l.mu.hdrs[:0])
	l.mu.hdrs = hdrs
	if err != nil {
		return res, false, err
	}
	// Check producer state and assign offsets, staging producer updates.
	staged := l.mu.staged[:0]
	next := l.leo.Load()
	for i := range hdrs {
		h := &hdrs[i]
		h.BaseOffset = next
		next = h.NextOffset()
		if h.IsControl() {
			// Markers come from the transaction coordinator, through
			// AppendMarker, which checks coordinator epochs.
			l.mu.staged = staged
			return res, false, fmt.Errorf("%w: control batch (use AppendMarker)", ErrInvalidSet)
		}
		if !h.HasProducer() {
			continue
		}
		j := -1
		for k := range staged {
			if staged[k].ID == h.ProducerID {
				j = k
				break
			}
		}
		if j < 0 {
			staged = append(staged, l.mu.producers.lookup(h.ProducerID))
			j = len(staged) - 1
		}
		dup, err := staged[j].check(h)
		if err != nil {
			l.mu.staged = staged
			return res, false, err
		}
		if dup != nil {
			l.mu.staged = staged
			res.BaseOffset, res.LastOffset = dup.FirstOffset, dup.LastOffset
			res.LogStartOffset = l.logStart.Load()
			res.Duplicate = true
			return res, false, nil
		}
		if err := l.checkVerifiedLocked(opts, h, &staged[j]); err != nil {
			l.mu.staged = staged
			return res, false, err
		}
		staged[j].apply(h, nil)
	}
	l.mu.staged = staged
	// Stamp offsets and the leader epoch into the batches.
	pos := 0
	for i := range hdrs {
		b := set[pos:]
		records.SetBaseOffset(b, hdrs[i].BaseOffset)
		records.SetPartitionLeaderEpoch(b, leaderEpoch)
		hdrs[i].PartitionLeaderEpoch = leaderEpoch
		pos += hdrs[i].Size()
	}
	base := hdrs[0].BaseOffset
	if err := l.appendLocked(set, hdrs, nowMs); err != nil {
		return res, false, err
	}
	// A new epoch is persisted by the next flush, not here: see "Leader
	// epochs" in the package documentation.
	l.mu.epochs.assign(leaderEpoch, base)
	// The staged entries only checked the set: the state is updated by
	// the replay a follower makes of the same batches, so that both build
	// the same producer state, transactions and transaction index.
	if err := l.replayAppendedLocked(set, hdrs); err != nil {
		return res, false, err
	}
	res.BaseOffset, res.LastOffset = base, next-1
	res.LogStartOffset = l.logStart.Load()
	if hdrs[0].LogAppendTime() {
		res.LogAppendTime = hdrs[0].MaxTimestamp
	}
	flush := next-l.mu.recoveryPoint >= l.mu.cfg.FlushMessages
	return res, flush, nil
}

func (l *Log) writableLocked() error {
	if l.mu.closed {
		return ErrLogClosed
	}
	if l.mu.failed != nil {
		return storageErr("log offline after failed write", l.mu.failed)
	}
	return nil
}

// splitHeaders parses the headers of the batches of set into hdrs.
func splitHeaders(set []byte, hdrs []records.Header) ([]records.Header, error) {
	for rest := set; len(rest) > 0; {
		h, err := records.ParseHeader(rest)
		if err != nil {
			return hdrs, fmt.Errorf("%w: %w", ErrInvalidSet, err)
		}
		if h.LastOffsetDelta < 0 {
			return hdrs, fmt.Errorf("%w: negative last offset delta", ErrInvalidSet)
		}
		hdrs = append(hdrs, h)
		rest = rest[h.Size():]
	}
	if len(hdrs) == 0 {
		return hdrs, fmt.Errorf("%w: empty", ErrInvalidSet)
	}
	return hdrs, nil
}

// appendLocked rolls if needed and writes set (offsets assigned) to the
// active segment, then moves the log end offset.
func (l *Log) appendLocked(set []byte, hdrs []records.Header, nowMs int64) error {
	first, last := hdrs[0].BaseOffset, hdrs[len(hdrs)-1].LastOffset()
	if err := l.maybeRollLocked(int64(len(set)), first, last, nowMs); err != nil {
		return err
	}
	s := l.activeLocked()
	if err := s.appendBatches(set, hdrs, int64(l.mu.cfg.IndexIntervalBytes)); err != nil {
		if s.size.Load() != sizeOnDisk(s) {
			l.mu.failed = err
		}
		return storageErr("append", err)
	}
	if s.rollStartMs < 0 {
		s.rollStartMs = nowMs
	}
	l.leo.Store(last + 1)
	return nil
}

// sizeOnDisk is the log file's size, or -1 when it cannot be read.
func sizeOnDisk(s *segment) int64 {
	st, err := s.w.Stat()
	if err != nil {
		return -1
	}
	return st.Size()
}

// maybeRollLocked rolls the active segment when the append of size bytes
// with offsets [first, last] may not go into it (Kafka's shouldRoll).
func (l *Log) maybeRollLocked(size, first, last, nowMs int64) error {
	s := l.activeLocked()
	cfg := &l.mu.cfg
	roll := false
	if s.size.Load() > 0 {
		roll = s.size.Load() > cfg.SegmentBytes-size ||
			(s.rollStartMs >= 0 && nowMs-s.rollStartMs > cfg.SegmentMs) ||
			s.idx.full() || s.tidx.full() ||
			last-s.base > math.MaxInt32 || first < s.base
	} else if first != s.base {
		roll = true // empty segment at the wrong base (follower after a gap)
	}
	if !roll {
		return nil
	}
	return l.rollLocked(first, nowMs)
}

// rollLocked seals the active segment and starts a new one at base (never
// the active segment's base). The new segment is created first, so that a
// failure leaves the old one active and writable.
func (l *Log) rollLocked(base int64, nowMs int64) error {
	old := l.activeLocked()
	segs := l.mu.segs
	s, err := createSegment(l.cache, l.dir, base, &l.mu.cfg)
	if err != nil {
		return storageErr("create segment", err)
	}
	undo := func(err error) error {
		s.close()
		removeMissing(l.fs, s.path+logSuffix)
		return err
	}
	if old.size.Load() == 0 {
		// Replace an empty active segment instead of keeping it. Should
		// its files survive, the next open drops them (empty, not last).
		old.close()
		for _, f := range old.files() {
			if err := removeMissing(l.fs, f); err != nil {
				l.logger.Warn("removing empty segment failed", "partition", l.tp, "file", f, "err", err)
			}
		}
		segs = segs[:len(segs)-1]
	} else {
		if err := l.takeSnapshotLocked(base); err != nil {
			return undo(err)
		}
		if err := old.seal(); err != nil {
			return undo(storageErr("seal segment", err))
		}
	}
	ns := make([]*segment, len(segs), len(segs)+1)
	copy(ns, segs)
	l.mu.segs = append(ns, s)
	l.logger.Debug("rolled segment", "partition", l.tp, "base", base)
	return nil
}

// takeSnapshotLocked writes the producer state as <offset>.snapshot and keeps
// only the last two snapshots.
func (l *Log) takeSnapshotLocked(offset int64) error {
	if err := writeSnapshot(l.fs, l.dir, offset, l.mu.producers); err != nil {
		return storageErr("write producer snapshot", err)
	}
	snaps := l.mu.snapshots
	if n := len(snaps); n == 0 || snaps[n-1] != offset {
		snaps = append(snaps, offset)
	}
	for len(snaps) > 2 {
		if err := removeMissing(l.fs, snapshotPath(l.dir, snaps[0])); err != nil {
			return storageErr("remove producer snapshot", err)
		}
		snaps = snaps[1:]
	}
	l.mu.snapshots = snaps
	return nil
}

// AppendAsFollower appends batches whose offsets are already assigned (by
// the leader). Their base offsets must not go below the log end offset.
// Producer state, transactions (markers included, unchecked: the leader
// checked them), the transaction index and the leader-epoch cache follow
// the batches.
func (l *Log) AppendAsFollower(set []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	hdrs, err := splitHeaders(set, l.mu.hdrs[:0])
	l.mu.hdrs = hdrs
	if err != nil {
		return err
	}
	next := l.leo.Load()
	for i := range hdrs {
		if hdrs[i].BaseOffset < next {
			return fmt.Errorf("%w: batch offset %d below %d", ErrInvalidSet, hdrs[i].BaseOffset, next)
		}
		next = hdrs[i].NextOffset()
	}
	// A follower has no clock of its own here: age segments by the
	// batches' timestamps, as Kafka does for appended records.
	if err := l.appendLocked(set, hdrs, hdrs[len(hdrs)-1].MaxTimestamp); err != nil {
		return err
	}
	for i := range hdrs {
		l.mu.epochs.assign(hdrs[i].PartitionLeaderEpoch, hdrs[i].BaseOffset) // persisted by the next flush
	}
	return l.replayAppendedLocked(set, hdrs)
}

// Read returns whole batches starting with the one that holds offset, at
// most maxBytes of them (but the whole first batch when minOneBatch), none
// whose base offset is >= maxOffset (-1: the log end offset). An offset
// below the log start offset or past the log end offset is
// ErrOffsetOutOfRange; the log end offset itself reads nothing.
//
// Only the segment lookup runs under the log's mutex; the file is read
// after it is released, bounded by the size observed, so appends proceed.
func (l *Log) Read(offset int64, maxBytes int32, maxOffset int64, minOneBatch bool) (ReadResult, error) {
	return l.ReadAlloc(offset, maxBytes, maxOffset, minOneBatch, nil)
}

// ReadAlloc is Read with the buffer that receives the records obtained
// from alloc (nil: make), so that a caller can pool read buffers. alloc is
// called at most once per call, with the number of bytes to read; when
// ReadResult.Records is not nil it is a prefix of that buffer. When alloc
// was called but Records is nil (an error) the buffer is not used.
func (l *Log) ReadAlloc(offset int64, maxBytes int32, maxOffset int64, minOneBatch bool, alloc func(n int) []byte) (ReadResult, error) {
	res, _, err := l.read(offset, maxBytes, maxOffset, minOneBatch, readOpts{alloc: alloc})
	return res, err
}

// ReadRegion is ReadAlloc for a caller that can send file bytes without
// reading them (sendfile): when the answer is at least minRegion bytes and
// its end is known without reading the batches (the segment lies wholly
// below maxOffset, or maxOffset is the log end offset, as on a single node
// with the high watermark caught up), it returns a Region of the segment
// file instead of Records, and the caller must Release it. Its first batch
// is always whole (with minOneBatch even when larger than maxBytes); it ends
// after its last whole batch, or, when finding that would take many header
// reads (small batches, see regionLen), at maxBytes inside a batch, as
// Kafka's fetch does (consumers drop a partial batch at the end of a
// partition's records). Otherwise the records are read as by ReadAlloc.
func (l *Log) ReadRegion(offset int64, maxBytes int32, maxOffset int64, minOneBatch bool, minRegion int64, alloc func(n int) []byte) (ReadResult, *Region, error) {
	return l.read(offset, maxBytes, maxOffset, minOneBatch, readOpts{alloc: alloc, minRegion: max(minRegion, 1)})
}

// readOpts are the ways a read can hand its bytes over.
type readOpts struct {
	alloc     func(int) []byte // buffer for the records (nil: make)
	minRegion int64            // > 0: answer with a Region from this size on
	active    *segment         // the active segment at lookup time
	activeEnd int64            // its end at lookup time if every batch in it is below maxOffset, else -1
}

func (l *Log) read(offset int64, maxBytes int32, maxOffset int64, minOneBatch bool, o readOpts) (ReadResult, *Region, error) {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ReadResult{}, nil, ErrLogClosed
	}
	leo := l.leo.Load()
	res := ReadResult{HighWatermark: l.hw.Load(), LogStartOffset: l.logStart.Load(), LogEndOffset: leo, NextOffset: offset}
	if offset < res.LogStartOffset || offset > leo {
		l.mu.Unlock()
		return res, nil, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, res.LogStartOffset, leo)
	}
	if maxOffset < 0 || maxOffset > leo {
		maxOffset = leo
	}
	if offset >= maxOffset {
		l.mu.Unlock()
		return res, nil, nil
	}
	segs := l.mu.segs
	i := segmentFor(segs, offset)
	pos, err := segs[i].idx.lookupPosition(offset - segs[i].base)
	o.active, o.activeEnd = segs[len(segs)-1], -1
	if maxOffset == leo {
		o.activeEnd = o.active.size.Load()
	}
	l.mu.Unlock()
	if err != nil {
		return res, nil, storageErr("read offset index", err)
	}
	var (
		rg   *Region
		next int64
	)
	res.Records, rg, next, err = readFrom(segs[i:], pos, offset, maxBytes, maxOffset, minOneBatch, o)
	if errors.Is(err, ErrLogClosed) && !l.isClosed() {
		// The segment was removed (retention, truncation) and its file
		// closed while we read it: the offset is gone.
		err = fmt.Errorf("%w: segment removed during the read", ErrOffsetOutOfRange)
	}
	if err != nil {
		return res, nil, err
	}
	if res.Records != nil || rg != nil {
		res.NextOffset = next
	}
	return res, rg, nil
}

// Region is a byte range of a segment file left for the caller to send
// without reading it (Log.ReadRegion). It holds a reference on the file,
// which stays open (even if the segment is deleted or the file cache
// evicts it) until Release.
type Region struct {
	h   *cachedFile
	f   vfs.File
	Pos int64 // position in the file
	Len int64 // bytes
}

// File is the open segment file; valid until Release.
func (r *Region) File() vfs.File { return r.f }

// Release drops the region's reference on the file. It may be called more
// than once.
func (r *Region) Release() {
	if r.h != nil {
		r.h.release()
		r.h, r.f = nil, nil
	}
}

// segmentFor returns the index of the last segment whose base is <= offset
// (0 if none).
func segmentFor(segs []*segment, offset int64) int {
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
	return max(i, 0)
}

// readFrom reads from the first of segs that has a batch with offset (or a
// later one), starting at file position pos of segs[0]. Each segment's file
// is acquired from the cache for the read (reopened if it was closed), so
// only a segment removed meanwhile fails (ErrLogClosed). next is
// ReadResult.NextOffset.
func readFrom(segs []*segment, pos, offset int64, maxBytes int32, maxOffset int64, minOneBatch bool, o readOpts) (b []byte, rg *Region, next int64, err error) {
	for k, s := range segs {
		if k > 0 {
			pos = 0
		}
		// end: where the batches below maxOffset end, when that is known
		// without reading them (-1 otherwise); endOffset: the offset
		// there.
		end, endOffset := int64(-1), int64(-1)
		switch {
		case s == o.active:
			end, endOffset = o.activeEnd, maxOffset
		case k+1 < len(segs) && segs[k+1].base <= maxOffset:
			end, endOffset = s.size.Load(), segs[k+1].base // sealed, and wholly below maxOffset
		}
		b, rg, next, found, err := readSegment(s, pos, offset, maxBytes, maxOffset, minOneBatch, end, endOffset, o)
		if err != nil || found {
			return b, rg, next, err
		}
	}
	return nil, nil, offset, nil
}

func readSegment(s *segment, pos, offset int64, maxBytes int32, maxOffset int64, minOneBatch bool, knownEnd, knownEndOffset int64, o readOpts) ([]byte, *Region, int64, bool, error) {
	end := s.size.Load()
	if pos >= end {
		return nil, nil, offset, false, nil
	}
	f, err := s.logFile.acquire()
	if err != nil {
		return nil, nil, offset, false, readErr(err)
	}
	defer s.logFile.release()
	start, p, found, err := seekBatch(f, pos, end, offset)
	if err != nil {
		return nil, nil, offset, false, readErr(err)
	}
	if !found {
		return nil, nil, offset, false, nil
	}
	if p.base >= maxOffset {
		return nil, nil, offset, true, nil
	}
	if o.minRegion > 0 && knownEnd >= start+p.size {
		limit := min(int64(maxBytes), knownEnd-start)
		if p.size > limit {
			if !minOneBatch {
				return nil, nil, offset, true, nil
			}
			limit = p.size
		}
		if limit >= o.minRegion {
			n := regionLen(f, start, limit, p.size, knownEnd)
			s.logFile.ref() // the region's own, dropped by Region.Release
			return nil, &Region{h: s.logFile, f: f, Pos: start, Len: n}, knownEndOffset, true, nil
		}
	}
	n := min(int64(maxBytes), end-start)
	if p.size > n {
		if !minOneBatch {
			return nil, nil, offset, true, nil
		}
		n = p.size
	}
	var buf []byte
	if o.alloc != nil {
		buf = o.alloc(int(n))
	} else {
		buf = make([]byte, n)
	}
	got, err := f.ReadAt(buf, start)
	if got < len(buf) && err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, offset, true, readErr(err)
	}
	b, next := wholeBatches(buf[:got], maxOffset)
	return b, nil, max(next, offset), true, nil
}

// regionPeeks bounds the batch headers regionLen reads.
const regionPeeks = 32

// regionLen is the length of a region at start of at most limit bytes whose
// first batch is first bytes long: cut after the last whole batch when the
// batches are few and large (what sendfile is for; the bytes of a partial
// batch would be sent for nothing), or at limit, inside a batch, when more
// than regionPeeks headers would have to be read to find the boundary (the
// partial batch is then small next to the region).
func regionLen(f vfs.File, start, limit, first, knownEnd int64) int64 {
	var buf [records.HeaderSize]byte
	n := first
	for range regionPeeks {
		if n >= limit {
			return limit
		}
		p, err := peekAt(f, start+n, knownEnd, &buf)
		if err != nil {
			return n // cannot see past here: stop at the last batch known whole
		}
		if n+p.size > limit {
			return n
		}
		n += p.size
	}
	return limit
}

// wholeBatches cuts buf after its last whole batch below maxOffset and
// returns the offset after that batch (-1 without one).
func wholeBatches(buf []byte, maxOffset int64) ([]byte, int64) {
	n, next := 0, int64(-1)
	for n < len(buf) {
		p, err := peek(buf[n:])
		if err != nil || p.base >= maxOffset || int64(len(buf)-n) < p.size {
			break
		}
		n += int(p.size)
		next = p.base + int64(p.lastDelta) + 1
	}
	return buf[:n], next
}

func readErr(err error) error {
	if errors.Is(err, os.ErrClosed) {
		return ErrLogClosed
	}
	return storageErr("read", err)
}

// Size returns the total size of the segments in bytes.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, s := range l.mu.segs {
		n += s.size.Load()
	}
	return n
}

// LatestEpoch returns the latest leader epoch in the epoch cache, or -1.
func (l *Log) LatestEpoch() int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.epochs.latest()
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch (see epochCache.endOffsetFor).
func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.epochs.endOffsetFor(epoch, l.leo.Load())
}

// ActiveProducers lists the producers with state in this partition.
func (l *Log) ActiveProducers() []ProducerInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.producers.infos()
}

// MaxTimestampOffset returns the largest batch max timestamp in the log and
// the last offset of the (first) batch that has it, or (-1, -1) for an empty
// log. Kafka returns the offset of the record itself; the batch's last
// offset is what the log knows without decoding records.
func (l *Log) MaxTimestampOffset() (timestamp int64, offset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	timestamp, offset = -1, -1
	for _, s := range l.mu.segs {
		if s.maxTsOffset >= 0 && s.maxTs > timestamp {
			timestamp, offset = s.maxTs, s.maxTsOffset
		}
	}
	return timestamp, offset
}

// OffsetForTimestamp returns the first batch whose max timestamp is >= ts
// (and whose last offset is >= the log start offset): its base offset (or
// the log start offset if larger) and its max timestamp. ok is false when
// no batch qualifies. The answer is batch-granular: the broker may decode
// the batch to find the exact record.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, ok bool, err error) {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return -1, -1, false, ErrLogClosed
	}
	segs := l.mu.segs
	ls := l.logStart.Load()
	i := 0
	for i < len(segs) && (segs[i].maxTs < ts || segs[i].next <= ls) {
		i++
	}
	if i == len(segs) {
		l.mu.Unlock()
		return -1, -1, false, nil
	}
	s := segs[i]
	rel, err := s.tidx.lookupTime(ts)
	var pos int64
	if err == nil {
		from := max(ls, s.base)
		if rel >= 0 {
			from = max(from, s.base+rel)
		}
		pos, err = s.idx.lookupPosition(from - s.base)
	}
	l.mu.Unlock()
	if err != nil {
		return -1, -1, false, storageErr("read index", err)
	}
	for k, s := range segs[i:] {
		if k > 0 {
			pos = 0
		}
		off, maxTs, found, err := scanForTimestamp(s, pos, ts, ls)
		if err != nil || found {
			return off, maxTs, found, err
		}
	}
	return -1, -1, false, nil
}

// scanForTimestamp scans the batch headers of s from pos for the first
// batch whose max timestamp is >= ts and last offset >= ls.
func scanForTimestamp(s *segment, pos, ts, ls int64) (int64, int64, bool, error) {
	end := s.size.Load()
	if pos >= end {
		return -1, -1, false, nil
	}
	f, err := s.logFile.acquire()
	if err != nil {
		return -1, -1, false, readErr(err)
	}
	defer s.logFile.release()
	var buf [records.HeaderSize]byte
	for pos < end {
		p, err := peekAt(f, pos, end, &buf)
		if err != nil {
			return -1, -1, false, readErr(err)
		}
		if p.maxTs >= ts && p.last() >= ls {
			return max(p.base, ls), p.maxTs, true, nil
		}
		pos += p.size
	}
	return -1, -1, false, nil
}
