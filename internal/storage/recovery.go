package storage

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// openParams is what the manager knows about a partition directory before
// opening it.
type openParams struct {
	fs     vfs.FS
	cache  *fileCache
	dir    string
	tp     TopicPartition
	cfg    LogConfig
	logger *slog.Logger
	clean  bool // the log dir had a clean-shutdown marker
	// From the root checkpoint files; -1 when absent.
	recoveryPoint, logStart, hw, cleanerOffset int64
	nowMs                                      int64
}

// parsePartitionDir splits "<topic>-<partition>".
func parsePartitionDir(name string) (TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 || strconv.FormatInt(p, 10) != name[i+1:] {
		return TopicPartition{}, false
	}
	if name[:i] == MetadataTopic {
		return TopicPartition{}, false // the metadata quorum's own directory, not a partition log
	}
	return TopicPartition{Topic: name[:i], Partition: int32(p)}, true
}

// MetadataTopic names the metadata log's directory (__cluster_metadata-0),
// which lives in a log dir like Kafka's but belongs to the metadata quorum:
// the manager never opens, recovers or deletes it.
const MetadataTopic = "__cluster_metadata"

func partitionDirName(tp TopicPartition) string {
	return tp.Topic + "-" + strconv.FormatInt(int64(tp.Partition), 10)
}

func newLog(p openParams) *Log {
	l := &Log{tp: p.tp, dir: p.dir, fs: p.fs, cache: p.cache, logger: p.logger}
	l.mu.cfg = p.cfg.normalized()
	l.mu.producers = newProducerState()
	l.mu.lastFlushMs = p.nowMs
	l.mu.lastNowMs = p.nowMs
	return l
}

// createLog makes a new, empty partition directory: partition.metadata
// (written atomically: fsync, rename, fsync of the directory) and the
// first segment's .log. The index files and the leader-epoch checkpoint
// are written when there is something to write.
func createLog(p openParams, topicID [16]byte) (*Log, error) {
	if err := p.fs.MkdirAll(p.dir, 0o755); err != nil {
		return nil, storageErr("create partition dir", err)
	}
	if topicID != ([16]byte{}) {
		if err := writeFileAtomic(p.fs, filepath.Join(p.dir, partitionMetadataFile), encodePartitionMetadata(topicID)); err != nil {
			return nil, storageErr("write partition.metadata", err)
		}
	}
	l := newLog(p)
	l.mu.topicID = topicID
	l.mu.epochs = newEpochCache(p.fs, p.dir)
	s, err := createSegment(p.cache, p.dir, 0, &l.mu.cfg)
	if err != nil {
		return nil, storageErr("create segment", err)
	}
	l.mu.segs = []*segment{s}
	return l, nil
}

// openLog opens and, when needed, recovers an existing partition directory:
//
//   - leftovers of interrupted operations (*.deleted, *.tmp, *.cleaned,
//     indexes without a log) are removed; a cleaner's <base>.log.swap
//     replaces the segment files of base (the swap was decided);
//   - every segment's indexes are sanity-checked; a missing or corrupt index
//     makes that segment recovered even after a clean shutdown;
//   - without a clean shutdown, every segment from the one holding the
//     recovery point on is recovered: batches are validated (header, CRC,
//     increasing offsets), the file is cut at the first invalid one, any
//     later segment is deleted, and the indexes are rebuilt from the scan;
//   - the leader-epoch cache follows the recovered batches; producer state is
//     loaded from the latest snapshot at or below the log end offset and the
//     batches after it are replayed.
func openLog(p openParams) (*Log, error) {
	l := newLog(p)
	fsys := p.fs
	ents, err := fsys.ReadDir(p.dir)
	if err != nil {
		return nil, storageErr("read partition dir", err)
	}
	var bases []int64
	var swaps []string
	indexes := map[string]bool{}
	for _, de := range ents {
		name := de.Name()
		full := filepath.Join(p.dir, name)
		switch {
		case strings.HasSuffix(name, swapSuffix):
			swaps = append(swaps, name)
		case strings.HasSuffix(name, deletedSuffix), strings.HasSuffix(name, ".tmp"),
			strings.HasSuffix(name, cleanedSuffix):
			if err := removeMissing(fsys, full); err != nil {
				return nil, storageErr("remove leftover", err)
			}
		case strings.HasSuffix(name, logSuffix):
			b, err := strconv.ParseInt(strings.TrimSuffix(name, logSuffix), 10, 64)
			if err == nil && b >= 0 {
				bases = append(bases, b)
			}
		case strings.HasSuffix(name, indexSuffix), strings.HasSuffix(name, timeIndexSuffix),
			strings.HasSuffix(name, txnIndexSuffix):
			indexes[full] = true
		case name == partitionMetadataFile:
			data, err := vfs.ReadFile(fsys, full)
			if err == nil {
				if id, err := parsePartitionMetadata(data); err == nil {
					l.mu.topicID = id
				}
			}
		}
	}
	swapped, removed, err := completeSwaps(fsys, p.dir, swaps, bases)
	if err != nil {
		return nil, storageErr("complete cleaner swap", err)
	}
	bases = slices.DeleteFunc(bases, func(b int64) bool { return slices.Contains(removed, b) })
	for _, b := range swapped {
		if !slices.Contains(bases, b) {
			bases = append(bases, b)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	for _, b := range bases {
		path := filepath.Join(p.dir, segmentName(b))
		delete(indexes, path+indexSuffix)
		delete(indexes, path+timeIndexSuffix)
		delete(indexes, path+txnIndexSuffix)
	}
	for f := range indexes {
		if err := removeMissing(fsys, f); err != nil {
			return nil, storageErr("remove orphan index", err)
		}
	}
	if l.mu.epochs, err = loadEpochCache(fsys, p.dir); err != nil {
		return nil, storageErr("read leader-epoch-checkpoint", err)
	}
	ok := false
	defer func() {
		if !ok {
			for _, s := range l.mu.segs {
				s.close()
			}
		}
	}()
	// Open the segments and check their indexes.
	needs := make([]bool, len(bases))
	for i, b := range bases {
		s, bad, err := openSegment(p.cache, p.dir, b, i == len(bases)-1)
		if err != nil {
			return nil, storageErr("open segment", err)
		}
		l.mu.segs = append(l.mu.segs, s)
		needs[i] = bad
	}
	rp := max(p.recoveryPoint, 0)
	recovered := false
	for i := 0; i < len(l.mu.segs); i++ {
		s := l.mu.segs[i]
		last := i == len(l.mu.segs)-1
		if !p.clean && (last || l.mu.segs[i+1].base > rp) {
			needs[i] = true
		}
		if !needs[i] {
			err := l.loadSegmentState(s, last, i)
			if err == nil {
				if err = s.loadTxns(); err != nil {
					p.logger.Warn("bad transaction index, recovering the segment", "partition", p.tp, "segment", s.base, "err", err)
				}
			}
			if err == nil {
				continue
			}
			// A header that does not parse on a clean start, or a bad
			// transaction index: recover.
		}
		recovered = true
		truncated, err := l.recoverSegment(s, true)
		if err != nil {
			return nil, storageErr("recover segment", err)
		}
		// Its transaction index is rebuilt by the producer-state replay
		// (reloadProducerStateLocked), which knows where each aborted
		// transaction started.
		if err := s.resetTxns(); err != nil {
			return nil, storageErr("reset transaction index", err)
		}
		s.txnRebuild = true
		if !last {
			if err := s.seal(); err != nil {
				return nil, storageErr("write recovered index", err)
			}
		}
		if truncated && !last {
			p.logger.Warn("log truncated by recovery; deleting later segments", "partition", p.tp, "segment", s.base)
			for _, g := range l.mu.segs[i+1:] {
				g.close()
				for _, f := range g.files() {
					if err := removeMissing(fsys, f); err != nil {
						return nil, storageErr("remove segment", err)
					}
				}
			}
			l.mu.segs = l.mu.segs[:i+1]
			if err := s.activate(&l.mu.cfg); err != nil {
				return nil, storageErr("activate segment", err)
			}
			break
		}
	}
	// Drop empty segments other than the last (a crash during a roll can
	// leave them), then make sure there is an active segment.
	if err := l.dropEmptySegments(); err != nil {
		return nil, err
	}
	logStart := max(p.logStart, 0)
	if len(l.mu.segs) > 0 {
		logStart = max(logStart, l.mu.segs[0].base)
	}
	if len(l.mu.segs) > 0 && logStart > l.activeLocked().next {
		// The log start checkpoint is ahead of the data (a crash after
		// DeleteRecords): start over, empty, at the log start offset.
		for _, s := range l.mu.segs {
			s.close()
			for _, f := range s.files() {
				if err := removeMissing(fsys, f); err != nil {
					return nil, storageErr("remove segment", err)
				}
			}
		}
		l.mu.segs = nil
	}
	if len(l.mu.segs) == 0 {
		s, err := createSegment(p.cache, p.dir, logStart, &l.mu.cfg)
		if err != nil {
			return nil, storageErr("create segment", err)
		}
		l.mu.segs = []*segment{s}
	}
	a := l.activeLocked()
	if err := a.activate(&l.mu.cfg); err != nil {
		return nil, storageErr("activate segment", err)
	}
	setRollStart(a, p.nowMs)
	leo := a.next
	l.leo.Store(leo)
	l.logStart.Store(logStart)
	l.setHWLocked(p.hw)
	if recovered {
		// Make what recovery rebuilt durable before trusting it.
		for _, s := range l.mu.segs {
			if s.base >= rp || s.next > rp {
				if err := s.sync(); err != nil {
					return nil, storageErr("fsync recovered segment", err)
				}
			}
		}
	}
	l.mu.recoveryPoint = leo
	// Segments below the checkpointed cleaner offset were clean when it
	// was written, and stay so whatever recovery cut after them; the
	// active segment always counts as dirty.
	l.mu.cleanerOffset = min(max(p.cleanerOffset, 0), a.base)
	changed := l.mu.epochs.truncateFromEnd(leo)
	changed = l.mu.epochs.truncateFromStart(logStart) || changed
	if changed || recovered {
		if err := l.mu.epochs.persist(); err != nil {
			return nil, storageErr("write leader-epoch-checkpoint", err)
		}
	}
	if err := l.reloadProducerStateLocked(); err != nil {
		return nil, err
	}
	ok = true
	return l, nil
}

// openSegment opens an existing segment and checks its indexes. bad
// reports a missing or corrupt index. The last segment (the active one)
// keeps its .log pinned open and its index entries in memory; an earlier
// one hands its .log to the file cache and keeps no index file open.
func openSegment(c *fileCache, dir string, base int64, last bool) (*segment, bool, error) {
	name := filepath.Join(dir, segmentName(base)) + logSuffix
	f, err := c.fs.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, false, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, err
	}
	s := newSegment(c, dir, base, f, last)
	s.size.Store(st.Size())
	_, ierr := s.idx.load(st.Size(), last)
	e, terr := s.tidx.load(st.Size(), last)
	bad := ierr != nil || terr != nil
	if !bad && e != nil {
		s.maxTs, s.maxTsOffset, s.lastIdxTs = timeKey(e), s.base+timeRel(e), timeKey(e)
	}
	return s, bad, nil
}

// loadSegmentState fills in what a segment that needs no recovery does not
// store: its next offset and, for the active one or one without time index
// entries, its max timestamp, by scanning headers after the last index entry.
func (l *Log) loadSegmentState(s *segment, last bool, i int) error {
	if !last && s.tidx.n > 0 {
		s.next = l.mu.segs[i+1].base
		return nil
	}
	var pos int64
	if last && s.idx.n > 0 {
		var buf [offsetEntrySize]byte
		e, err := s.idx.entry(s.idx.n-1, buf[:])
		if err != nil {
			return err
		}
		pos = offsetPos(e)
	}
	end := s.size.Load()
	f, err := s.logFile.acquire()
	if err != nil {
		return err
	}
	defer s.logFile.release()
	var buf [records.HeaderSize]byte
	next := s.base
	for pos < end {
		pk, err := peekAt(f, pos, end, &buf)
		if err != nil || pk.base < s.base || pk.size > end-pos {
			return fmt.Errorf("%w: bad batch header at %d", errBadIndex, pos)
		}
		if pk.maxTs > s.maxTs {
			s.maxTs, s.maxTsOffset = pk.maxTs, pk.last()
		}
		next = pk.last() + 1
		pos += pk.size
		s.bytesSinceIndex += pk.size
	}
	if !last {
		next = l.mu.segs[i+1].base
	} else if s.idx.n > 0 && next == s.base {
		return fmt.Errorf("%w: index past the data", errBadIndex)
	}
	s.next = next
	return nil
}

// recoverSegment validates every batch of s from its start, cuts the file at
// the first invalid one and rebuilds both indexes (kept in memory, active)
// from the scan. It reports whether bytes were cut off. When assignEpochs,
// the leader epochs of the batches go into the epoch cache.
func (l *Log) recoverSegment(s *segment, assignEpochs bool) (bool, error) {
	cfg := &l.mu.cfg
	s.idx.reset(cfg.SegmentIndexBytes)
	s.tidx.reset(cfg.SegmentIndexBytes)
	s.next, s.maxTs, s.maxTsOffset, s.lastIdxTs, s.bytesSinceIndex = s.base, -1, -1, -1, 0
	end := s.size.Load()
	f, err := s.logFile.acquire()
	if err != nil {
		return false, err
	}
	defer s.logFile.release()
	sc := newScanner(f, 0, end)
	var valid int64
	var hdr [1]records.Header
	for {
		batch, h, pos, err := sc.next()
		if err == io.EOF {
			break
		}
		if err == nil {
			err = records.CheckCRC(batch, &h)
		}
		if err == nil && (h.BaseOffset < s.next || h.LastOffsetDelta < 0 || h.LastOffset()-s.base > math.MaxInt32) {
			err = fmt.Errorf("offset %d out of order (expected >= %d)", h.BaseOffset, s.next)
		}
		if err != nil {
			l.logger.Warn("recovery: invalid batch, truncating segment", "partition", l.tp,
				"segment", s.base, "position", pos, "err", err)
			break
		}
		// Index as appendBatches does, position by position.
		hdr[0] = h
		s.indexOnly(hdr[:], int64(cfg.IndexIntervalBytes), pos)
		valid = pos + int64(h.Size())
		if assignEpochs {
			l.mu.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset)
		}
	}
	s.size.Store(valid)
	if valid < end {
		if err := f.Truncate(valid); err != nil {
			return false, err
		}
		return true, nil
	}
	return false, nil
}

// indexOnly updates the segment's indexes and counters for batches already
// in the file at position pos (recovery).
func (s *segment) indexOnly(hdrs []records.Header, interval, pos int64) {
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
		pos += int64(h.Size())
		s.bytesSinceIndex += int64(h.Size())
		s.next = h.NextOffset()
	}
}

// dropEmptySegments removes empty segments other than the last one.
func (l *Log) dropEmptySegments() error {
	segs := l.mu.segs[:0]
	for i, s := range l.mu.segs {
		if s.size.Load() == 0 && i != len(l.mu.segs)-1 {
			s.close()
			for _, f := range s.files() {
				if err := removeMissing(l.fs, f); err != nil {
					return storageErr("remove empty segment", err)
				}
			}
			continue
		}
		segs = append(segs, s)
	}
	l.mu.segs = segs
	return nil
}

// reloadProducerStateLocked rebuilds producer state from the latest
// readable snapshot in [log start, log end] and the batches after it.
// Snapshots past the log end offset describe data that is gone and those
// below the log start offset cannot be replayed: both are deleted, as are
// unreadable ones. Without a snapshot, state is replayed from the log start.
//
// Segments marked txnRebuild (recovered at open) get their transaction
// index rebuilt by the replay: the snapshot used is then one at or below
// the first of them, so that the replay sees every marker in them with
// the transactions open before it (Kafka rebuilds producer state up to a
// recovered segment's base the same way). The rebuilt indexes are
// fsynced. The last stable offset follows.
func (l *Log) reloadProducerStateLocked() error {
	snaps, err := listSnapshots(l.fs, l.dir)
	if err != nil {
		return storageErr("list producer snapshots", err)
	}
	leo, logStart := l.leo.Load(), l.logStart.Load()
	limit := leo // latest snapshot usable
	var rebuild []*segment
	for _, s := range l.mu.segs {
		if s.txnRebuild {
			if len(rebuild) == 0 {
				limit = min(limit, s.base)
			}
			rebuild = append(rebuild, s)
		}
	}
	var state *producerState
	from := logStart
	var kept []int64
	for i := len(snaps) - 1; i >= 0; i-- {
		off := snaps[i]
		drop := off > leo || off < logStart
		if !drop && state == nil && off <= limit {
			data, err := vfs.ReadFile(l.fs, snapshotPath(l.dir, off))
			if err == nil {
				state, err = decodeSnapshot(data)
			}
			if err != nil {
				l.logger.Warn("unreadable producer snapshot, deleting", "partition", l.tp, "offset", off, "err", err)
				drop = true
			} else {
				from = off
			}
		}
		if drop {
			if err := removeMissing(l.fs, snapshotPath(l.dir, off)); err != nil {
				return storageErr("remove producer snapshot", err)
			}
			continue
		}
		kept = append(kept, off)
	}
	if state == nil {
		state = newProducerState()
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i] < kept[j] })
	l.mu.snapshots = kept
	if err := l.replayLocked(state, from, leo); err != nil {
		return err
	}
	for _, s := range rebuild {
		s.txnRebuild = false
		if s.txnN.Load() > 0 {
			if err := s.txnFile.sync(); err != nil {
				return storageErr("fsync transaction index", err)
			}
		}
	}
	l.mu.producers = state
	l.updateLSOLocked()
	return nil
}

// replayLocked applies the batches with offsets in [from, to) to state,
// adding the aborted transactions of segments marked txnRebuild to their
// transaction index.
func (l *Log) replayLocked(state *producerState, from, to int64) error {
	if from >= to {
		return nil
	}
	segs := l.mu.segs
	i := segmentFor(segs, from)
	pos, err := segs[i].idx.lookupPosition(from - segs[i].base)
	if err != nil {
		return storageErr("read offset index", err)
	}
	for k, s := range segs[i:] {
		if k > 0 {
			pos = 0
		}
		done, err := replaySegment(s, pos, state, from, to)
		if err != nil || done {
			return err
		}
	}
	return nil
}

func replaySegment(s *segment, pos int64, state *producerState, from, to int64) (bool, error) {
	var aborted []AbortedTxn
	done, err := replayBatches(s, pos, state, from, to, func(a AbortedTxn) { aborted = append(aborted, a) })
	if err == nil && s.txnRebuild {
		if err = s.appendTxns(aborted...); err != nil {
			err = storageErr("rebuild transaction index", err)
		}
	}
	return done, err
}

func replayBatches(s *segment, pos int64, state *producerState, from, to int64, onAbort func(AbortedTxn)) (bool, error) {
	f, err := s.logFile.acquire()
	if err != nil {
		return false, storageErr("replay producer state", err)
	}
	defer s.logFile.release()
	sc := newScanner(f, pos, s.size.Load())
	for {
		batch, h, _, err := sc.next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, storageErr("replay producer state", err)
		}
		if h.LastOffset() < from {
			continue
		}
		if h.BaseOffset >= to {
			return true, nil
		}
		if a, ok := state.replay(&h, markerOf(batch, &h)); ok {
			onAbort(a)
		}
	}
}

// TruncateTo removes every batch at or after offset (a follower diverging
// from its leader). A batch that straddles offset is removed whole, so the
// log end offset may end below offset. The epoch cache and producer state
// follow. Truncating below the log start offset empties the log and starts
// it at offset.
func (l *Log) TruncateTo(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.truncateLocked(offset, false)
}

// TruncateFullyAndStartAt empties the log and starts it at offset, which
// may lie past the log end: a follower whose log ended before the leader's
// log start offset (Kafka's truncateFullyAndStartAt). The epoch cache and
// the producer state are emptied with it.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.truncateLocked(offset, true); err != nil {
		return err
	}
	if l.mu.epochs.truncateFromEnd(0) {
		if err := l.mu.epochs.persist(); err != nil {
			return storageErr("write leader-epoch-checkpoint", err)
		}
	}
	return nil
}

// AssignEpoch records that leader epoch starts at the log end offset: a
// new leader's first act, so that its epoch cache answers its followers'
// divergence checks (Fetch's last fetched epoch) before it has appended
// anything in the epoch. An epoch not above the latest is ignored. The
// cache is written at the next flush; after a crash recovery rebuilds it
// from the batches, without an epoch that has none, which no later leader
// needs since the epoch is over by then.
func (l *Log) AssignEpoch(epoch int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.epochs.assign(epoch, l.leo.Load())
}

func (l *Log) truncateLocked(offset int64, full bool) error {
	if err := l.writableLocked(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("%w: truncate to %d", ErrOffsetOutOfRange, offset)
	}
	// A marker cut off may come back as another: verify again.
	l.mu.guards = nil
	if offset >= l.leo.Load() && !full {
		// Nothing to cut, but an epoch the log ends with and has no
		// batch of (this broker became leader at it and appended
		// nothing) goes, as in Kafka's truncateTo: a follower whose last
		// epoch its new leader never had would otherwise be told it
		// diverges at its own log end, forever.
		if l.mu.epochs.truncateFromEnd(l.leo.Load()) {
			if err := l.mu.epochs.persist(); err != nil {
				return storageErr("write leader-epoch-checkpoint", err)
			}
		}
		return nil
	}
	segs := l.mu.segs
	keep := 0 // segments kept; the last of them is cut at offset
	if offset >= l.logStart.Load() && !full {
		keep = segmentFor(segs, offset) + 1
	}
	for _, s := range segs[keep:] {
		s.close()
		for _, f := range s.files() {
			if err := removeMissing(l.fs, f); err != nil {
				l.mu.failed = err
				return storageErr("remove truncated segment", err)
			}
		}
	}
	l.mu.segs = append([]*segment(nil), segs[:keep]...)
	if keep == 0 {
		s, err := createSegment(l.cache, l.dir, offset, &l.mu.cfg)
		if err != nil {
			l.mu.failed = err
			return storageErr("create segment", err)
		}
		l.mu.segs = []*segment{s}
		l.logStart.Store(offset)
		l.hw.Store(offset)
	} else {
		s := l.activeLocked()
		if err := truncateSegment(s, offset); err != nil {
			l.mu.failed = err
			return storageErr("truncate", err)
		}
		if _, err := l.recoverSegment(s, false); err != nil {
			l.mu.failed = err
			return storageErr("rebuild index", err)
		}
		if err := truncateTxnsFrom(s, s.next); err != nil {
			l.mu.failed = err
			return storageErr("truncate transaction index", err)
		}
		if err := s.activate(&l.mu.cfg); err != nil {
			return storageErr("activate segment", err)
		}
		setRollStart(s, l.mu.lastNowMs)
	}
	leo := l.activeLocked().next
	l.leo.Store(leo)
	l.setHWLocked(l.hw.Load())
	l.mu.recoveryPoint = min(l.mu.recoveryPoint, leo)
	l.mu.cleanerOffset = min(l.mu.cleanerOffset, l.activeLocked().base)
	if l.mu.epochs.truncateFromEnd(leo) {
		if err := l.mu.epochs.persist(); err != nil {
			return storageErr("write leader-epoch-checkpoint", err)
		}
	}
	return l.reloadProducerStateLocked()
}

// truncateTxnsFrom drops the transaction index entries of s whose marker
// is at or after offset.
func truncateTxnsFrom(s *segment, offset int64) error {
	as, err := s.readTxns(s.txnN.Load())
	if err != nil {
		return err
	}
	keep := int64(0)
	for _, a := range as {
		if a.LastOffset >= offset {
			break
		}
		keep++
	}
	if keep == s.txnN.Load() {
		return nil
	}
	return s.truncateTxns(keep)
}

// truncateSegment cuts s before the batch holding offset, if any.
func truncateSegment(s *segment, offset int64) error {
	pos, err := s.idx.lookupPosition(offset - s.base)
	if err != nil {
		return err
	}
	f, err := s.logFile.acquire()
	if err != nil {
		return err
	}
	defer s.logFile.release()
	start, _, found, err := seekBatch(f, pos, s.size.Load(), offset)
	if err != nil || !found {
		return err
	}
	if err := f.Truncate(start); err != nil {
		return err
	}
	s.size.Store(start)
	return nil
}

// setRollStart sets the time a reopened or truncated active segment's age
// (segment.ms) counts from: its first batch's max timestamp as Kafka does,
// or nowMs when that is not a timestamp.
func setRollStart(s *segment, nowMs int64) {
	s.rollStartMs = -1
	if s.size.Load() == 0 {
		return
	}
	var buf [records.HeaderSize]byte
	if pk, err := peekAt(s.w, 0, s.size.Load(), &buf); err == nil && pk.maxTs >= 0 {
		s.rollStartMs = pk.maxTs
	} else {
		s.rollStartMs = nowMs
	}
}
