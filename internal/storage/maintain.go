package storage

import (
	"errors"
	"fmt"
	"os"
)

// Flush fsyncs everything appended so far and moves the recovery point to
// the log end offset.
func (l *Log) Flush() error { return l.flushUpTo(l.leo.Load()) }

// flushUpTo fsyncs the segments holding offsets below upTo and moves the
// recovery point to upTo. Pending index entries are written under the
// log's mutex; the fsyncs run without it, so appends continue meanwhile.
// A segment removed concurrently is still synced (its renamed files are
// reopened through the cache) until its deletion deadline.
func (l *Log) flushUpTo(upTo int64) error {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ErrLogClosed
	}
	rp := l.mu.recoveryPoint
	if upTo <= rp {
		l.mu.Unlock()
		return nil
	}
	var segs []*segment
	for _, s := range l.mu.segs {
		if s.base < upTo && (s.next > rp || s == l.activeLocked()) {
			if err := s.idx.writePending(); err != nil {
				l.mu.Unlock()
				return storageErr("write index", err)
			}
			if err := s.tidx.writePending(); err != nil {
				l.mu.Unlock()
				return storageErr("write time index", err)
			}
			segs = append(segs, s)
		}
	}
	l.mu.Unlock()
	for _, s := range segs {
		if err := syncFiles(s); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return ErrLogClosed
			}
			return storageErr("fsync", err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// A concurrent TruncateTo may have moved the log end below upTo.
	if upTo = min(upTo, l.leo.Load()); upTo > l.mu.recoveryPoint {
		// The epochs learnt from appends are made durable before the
		// recovery point moves past their start offsets: recovery
		// rebuilds only the epochs of the batches at or after it.
		if err := l.mu.epochs.persistIfDirty(); err != nil {
			return storageErr("write leader-epoch-checkpoint", err)
		}
		l.mu.recoveryPoint = upTo
	}
	return nil
}

// maintain runs one pass of the periodic work for this log: retention,
// the flush of rolled segments and flush.ms, producer expiry, and the
// removal of deleted segment files whose delay passed, then a cleaner pass
// (compacted logs) with a key map of at most dedupeBytes.
func (l *Log) maintain(nowMs, producerExpirationMs, dedupeBytes int64) error {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return nil
	}
	l.mu.lastNowMs = max(l.mu.lastNowMs, nowMs)
	errs := []error{l.deleteOldSegmentsLocked(nowMs)}
	l.mu.producers.expire(nowMs, producerExpirationMs)
	errs = append(errs, l.removePendingLocked(nowMs, false))
	activeBase := l.activeLocked().base
	rp := l.mu.recoveryPoint
	leo := l.leo.Load()
	flushAll := leo > rp && nowMs-l.mu.lastFlushMs >= l.mu.cfg.FlushMs
	if flushAll || leo == rp {
		l.mu.lastFlushMs = nowMs
	}
	l.mu.Unlock()
	// Rolled segments are flushed in the background, as Kafka schedules
	// a flush up to the new segment's base offset on roll.
	upTo := activeBase
	if flushAll {
		upTo = leo
	}
	if upTo > rp {
		if err := l.flushUpTo(upTo); err != nil && !errors.Is(err, ErrLogClosed) {
			errs = append(errs, err)
		}
	}
	if err := l.clean(nowMs, dedupeBytes); err != nil && !errors.Is(err, ErrLogClosed) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// deleteOldSegmentsLocked removes the oldest segments that are wholly below
// the log start offset, older than retention.ms (by their largest
// timestamp) or beyond retention.bytes, oldest first, never past the high
// watermark. The active segment is only removed (after a roll) when the log
// start offset moved past all of it.
func (l *Log) deleteOldSegmentsLocked(nowMs int64) error {
	cfg := &l.mu.cfg
	logStart, leo, hw := l.logStart.Load(), l.leo.Load(), l.hw.Load()
	if a := l.activeLocked(); a.size.Load() > 0 && logStart >= leo && logStart > a.base {
		if err := l.rollLocked(leo, nowMs); err != nil {
			return err
		}
	}
	segs := l.mu.segs
	var total int64
	for _, s := range segs {
		total += s.size.Load()
	}
	n := 0
	for n < len(segs)-1 {
		s, nextBase := segs[n], segs[n+1].base
		size := s.size.Load()
		byStart := nextBase <= logStart
		if nextBase > hw && !byStart {
			break
		}
		byTime := cfg.RetentionMs >= 0 && nowMs-s.largestTimestamp() > cfg.RetentionMs
		bySize := cfg.RetentionBytes >= 0 && total-cfg.RetentionBytes >= size
		if !byStart && !byTime && !bySize {
			break
		}
		total -= size
		n++
	}
	if n == 0 {
		return nil
	}
	return l.removeSegmentsLocked(n, nowMs, "retention")
}

// removeSegmentsLocked removes the first n segments: out of the log at once,
// files renamed to *.deleted and removed after file.delete.delay.ms.
func (l *Log) removeSegmentsLocked(n int, nowMs int64, reason string) error {
	segs := l.mu.segs
	gone := segs[:n]
	l.mu.segs = append([]*segment(nil), segs[n:]...)
	newStart := max(l.logStart.Load(), l.mu.segs[0].base)
	l.logStart.Store(newStart)
	l.setHWLocked(l.hw.Load())
	var errs []error
	for _, s := range gone {
		l.logger.Info("deleting segment", "partition", l.tp, "base", s.base, "reason", reason)
		for _, h := range s.handles() {
			if err := h.rename(h.currentName() + deletedSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, storageErr("rename deleted segment", err))
			}
		}
		l.mu.pending = append(l.mu.pending, pendingDelete{deadlineMs: nowMs + l.mu.cfg.FileDeleteDelayMs, seg: s})
	}
	errs = append(errs, l.removePendingLocked(nowMs, false))
	if l.mu.epochs.truncateFromStart(newStart) {
		if err := l.mu.epochs.persist(); err != nil {
			errs = append(errs, storageErr("write leader-epoch-checkpoint", err))
		}
	}
	errs = append(errs, l.deleteSnapshotsBelowLocked(newStart))
	return errors.Join(errs...)
}

// removePendingLocked closes and removes the deleted segments whose delay
// passed (all of them if force).
func (l *Log) removePendingLocked(nowMs int64, force bool) error {
	var errs []error
	kept := l.mu.pending[:0]
	for _, p := range l.mu.pending {
		if !force && p.deadlineMs > nowMs {
			kept = append(kept, p)
			continue
		}
		p.seg.close()
		for _, f := range p.seg.files() {
			if err := removeMissing(l.fs, f+deletedSuffix); err != nil {
				errs = append(errs, storageErr("remove deleted segment", err))
			}
		}
	}
	l.mu.pending = kept
	return errors.Join(errs...)
}

// deleteSnapshotsBelowLocked removes producer snapshots below offset.
func (l *Log) deleteSnapshotsBelowLocked(offset int64) error {
	snaps := l.mu.snapshots
	for len(snaps) > 0 && snaps[0] < offset {
		if err := removeMissing(l.fs, snapshotPath(l.dir, snaps[0])); err != nil {
			return storageErr("remove producer snapshot", err)
		}
		snaps = snaps[1:]
	}
	l.mu.snapshots = snaps
	return nil
}

// DeleteRecordsBefore moves the log start offset to offset (DeleteRecords)
// and removes the segments wholly below it. An offset above the high
// watermark is ErrOffsetOutOfRange; one at or below the current log start
// offset changes nothing. It returns the new log start offset.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return -1, err
	}
	if offset > l.hw.Load() || offset < 0 {
		return -1, fmt.Errorf("%w: %d above the high watermark %d", ErrOffsetOutOfRange, offset, l.hw.Load())
	}
	if offset <= l.logStart.Load() {
		return l.logStart.Load(), nil
	}
	l.logStart.Store(offset)
	l.updateLSOLocked()
	if l.mu.epochs.truncateFromStart(offset) {
		if err := l.mu.epochs.persist(); err != nil {
			return offset, storageErr("write leader-epoch-checkpoint", err)
		}
	}
	// The deletion delay counts from the last time the log was given.
	if err := l.deleteOldSegmentsLocked(l.mu.lastNowMs); err != nil {
		return l.logStart.Load(), err
	}
	return l.logStart.Load(), nil
}

// Close writes the pending index entries, trims the active segment's
// indexes, fsyncs, writes a producer snapshot at the log end offset and
// closes every file. A closed log answers ErrLogClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closeLocked(true)
}

func (l *Log) closeLocked(clean bool) error {
	if l.mu.closed {
		return nil
	}
	l.mu.closed = true
	var errs []error
	if l.mu.failed != nil {
		// The tail may hold a partial write: leave the dir unclean so the
		// next open recovers it.
		errs = append(errs, storageErr("log offline after failed write", l.mu.failed))
	}
	errs = append(errs, l.removePendingLocked(0, true))
	leo := l.leo.Load()
	if clean && l.mu.failed == nil {
		if err := l.activeLocked().seal(); err != nil {
			errs = append(errs, storageErr("seal active segment", err))
		}
		for _, s := range l.mu.segs {
			if s.next > l.mu.recoveryPoint || s == l.activeLocked() {
				if err := s.sync(); err != nil {
					errs = append(errs, storageErr("fsync", err))
				}
			}
		}
		if err := l.takeSnapshotLocked(leo); err != nil {
			errs = append(errs, err)
		}
		if err := l.mu.epochs.persistIfDirty(); err != nil {
			errs = append(errs, storageErr("write leader-epoch-checkpoint", err))
		}
		if errors.Join(errs...) == nil {
			l.mu.recoveryPoint = leo
		}
	}
	for _, s := range l.mu.segs {
		s.close()
	}
	return errors.Join(errs...)
}

// checkpointValues returns what the manager checkpoints for this log.
func (l *Log) checkpointValues() (recoveryPoint, logStart, hw, cleanerOffset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.cfg.Compact {
		cleanerOffset = l.mu.cleanerOffset
	}
	return l.mu.recoveryPoint, l.logStart.Load(), l.hw.Load(), cleanerOffset
}

// largestTimestamp is the segment's largest batch timestamp, or (batches
// without timestamps) the file's modification time, as in Kafka.
func (s *segment) largestTimestamp() int64 {
	if s.maxTs >= 0 {
		return s.maxTs
	}
	f, err := s.logFile.acquire()
	if err != nil {
		return s.maxTs
	}
	defer s.logFile.release()
	st, err := f.Stat()
	if err != nil {
		return s.maxTs
	}
	return st.ModTime().UnixMilli()
}
