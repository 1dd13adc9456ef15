package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// Suffixes of the files of a segment being replaced by the cleaner (see
// "Compaction" in the package documentation): <base>.log.cleaned while it is
// written, <base>.log.swap once it is complete and fsynced.
const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
)

// cleanTarget is a sealed segment the cleaner may rewrite, as observed
// under the log's mutex.
type cleanTarget struct {
	seg  *segment
	size int64
}

// clean runs one pass of the log cleaner when cleanup.policy=compact and the
// dirty ratio reaches min.cleanable.dirty.ratio. The segments are read and
// rewritten without the log's mutex; only each segment's swap takes it.
func (l *Log) clean(nowMs int64) error {
	if !l.cleaning.TryLock() {
		return nil
	}
	defer l.cleaning.Unlock()
	l.mu.Lock()
	if l.mu.closed || l.mu.failed != nil || !l.mu.cfg.Compact {
		l.mu.Unlock()
		return nil
	}
	cfg := l.mu.cfg
	segs := l.mu.segs
	hw := l.hw.Load()
	pendingBases := map[int64]bool{}
	for _, p := range l.mu.pending {
		pendingBases[p.seg.base] = true
	}
	// The cleanable segments: a prefix of the sealed ones, below the high
	// watermark and older than min.compaction.lag.ms.
	n := 0
	for n < len(segs)-1 {
		if segs[n+1].base > hw ||
			(cfg.MinCompactionLagMs > 0 && nowMs-segs[n].largestTimestamp() < cfg.MinCompactionLagMs) {
			break
		}
		n++
	}
	var total, dirty int64
	for _, s := range segs[:len(segs)-1] {
		total += s.size.Load()
		if s.base >= l.mu.cleanerOffset {
			dirty += s.size.Load()
		}
	}
	if n == 0 || total == 0 || segs[n].base <= l.mu.cleanerOffset ||
		float64(dirty)/float64(total) < cfg.MinCleanableDirtyRatio {
		l.mu.Unlock()
		return nil
	}
	all := make([]cleanTarget, len(segs))
	for i, s := range segs {
		all[i] = cleanTarget{seg: s, size: s.size.Load()}
	}
	firstUncleanable := segs[n].base
	l.mu.Unlock()

	// The offset map (key → highest offset) over the cleanable segments,
	// and the last batch of each producer over the whole log.
	offsets := map[string]int64{}
	lastBatch := map[int64]int64{}
	for i, t := range all {
		err := scanBatches(t.seg, t.size, func(batch []byte, h *records.Header) error {
			if h.HasProducer() {
				lastBatch[h.ProducerID] = h.BaseOffset
			}
			if i >= n || h.IsControl() || h.IsTransactional() {
				return nil
			}
			return records.Records(batch, 0, func(r *records.Record) error {
				if r.Key != nil {
					offsets[string(r.Key)] = h.BaseOffset + int64(r.OffsetDelta)
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
	}
	horizon := nowMs - cfg.DeleteRetentionMs
	for _, t := range all[:n] {
		if pendingBases[t.seg.base] {
			continue // a previous version's files are still pending deletion
		}
		if err := l.cleanSegment(t, offsets, lastBatch, horizon, nowMs); err != nil {
			return err
		}
	}
	l.mu.Lock()
	l.mu.cleanerOffset = max(l.mu.cleanerOffset, firstUncleanable)
	l.mu.Unlock()
	return nil
}

// scanBatches calls fn for each batch of s's first size bytes.
func scanBatches(s *segment, size int64, fn func(batch []byte, h *records.Header) error) error {
	f, err := s.logFile.acquire()
	if err != nil {
		return readErr(err)
	}
	defer s.logFile.release()
	sc := newScanner(f, 0, size)
	for {
		batch, h, _, err := sc.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return storageErr("clean: read segment", err)
		}
		if err := fn(batch, &h); err != nil {
			return storageErr("clean: decode batch", err)
		}
	}
}

// filterBatch returns the batch with only the records the cleaner keeps:
// the batch itself when it keeps them all, nil when it keeps none.
func filterBatch(batch []byte, h *records.Header, offsets map[string]int64, horizon int64) ([]byte, error) {
	var kept []records.Record
	n := 0
	err := records.Records(batch, 0, func(r *records.Record) error {
		n++
		if r.Key != nil {
			if offsets[string(r.Key)] != h.BaseOffset+int64(r.OffsetDelta) {
				return nil // shadowed by a later record with the same key
			}
			if r.Value == nil && h.MaxTimestamp < horizon {
				return nil // tombstone past delete.retention.ms
			}
		}
		c := *r
		c.Headers = append([]records.RecordHeader(nil), r.Headers...)
		kept = append(kept, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(kept) == n {
		return batch, nil
	}
	if len(kept) == 0 {
		return nil, nil
	}
	spec := records.BatchSpec{
		BaseOffset:           h.BaseOffset,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Codec:                h.Codec(),
		Attributes:           h.Attributes &^ records.AttrCompressionMask,
		FirstTimestamp:       h.FirstTimestamp,
		MaxTimestamp:         h.MaxTimestamp,
		Idempotent:           true, // writes the producer fields as they are
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		BaseSequence:         h.BaseSequence,
		Records:              kept,
	}
	if !h.Codec().Valid() {
		return nil, fmt.Errorf("unknown codec %d", h.Codec())
	}
	b := records.BuildBatch(spec)
	// The batch keeps its offset range (v2 allows gaps).
	binary.BigEndian.PutUint32(b[peekLastDeltaAt:], uint32(h.LastOffsetDelta))
	records.UpdateCRC(b)
	return b, nil
}

// cleanSegment rewrites t's segment without the records the cleaner drops
// and swaps it in: <base>.log.cleaned is written and fsynced, renamed to
// <base>.log.swap (the decision), then, under the log's mutex, the old
// files are renamed to *.deleted (removed after file.delete.delay.ms), the
// swap file becomes <base>.log and the indexes are rebuilt.
func (l *Log) cleanSegment(t cleanTarget, offsets map[string]int64, lastBatch map[int64]int64, horizon, nowMs int64) error {
	s := t.seg
	cleaned := s.path + logSuffix + cleanedSuffix
	swap := s.path + logSuffix + swapSuffix
	f, err := l.fs.OpenFile(cleaned, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return storageErr("clean: create", err)
	}
	discard := func(err error) error {
		f.Close()
		removeMissing(l.fs, cleaned)
		return err
	}
	var pos int64
	var buf []byte // written in chunks
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if _, err := f.WriteAt(buf, pos); err != nil {
			return err
		}
		pos += int64(len(buf))
		buf = buf[:0]
		return nil
	}
	changed := false
	err = scanBatches(s, t.size, func(batch []byte, h *records.Header) error {
		out := batch
		// Control and transactional batches (whose outcome the cleaner does
		// not track) and each producer's last batch are kept as they are.
		if !h.IsControl() && !h.IsTransactional() && !(h.HasProducer() && lastBatch[h.ProducerID] == h.BaseOffset) {
			var err error
			if out, err = filterBatch(batch, h, offsets, horizon); err != nil {
				return err
			}
		}
		if len(out) != len(batch) || (len(out) > 0 && &out[0] != &batch[0]) {
			changed = true
		}
		buf = append(buf, out...)
		if len(buf) >= scanChunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return discard(err)
	}
	if !changed {
		return discard(nil)
	}
	if err := f.Sync(); err != nil {
		return discard(storageErr("clean: fsync", err))
	}
	if err := f.Close(); err != nil {
		removeMissing(l.fs, cleaned)
		return storageErr("clean: close", err)
	}
	if err := l.fs.Rename(cleaned, swap); err != nil {
		removeMissing(l.fs, cleaned)
		return storageErr("clean: rename to swap", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		removeMissing(l.fs, swap)
		return storageErr("clean: fsync dir", err)
	}
	ns, err := l.swapSegment(s, t.size, swap, nowMs)
	if err != nil || ns == nil {
		return err
	}
	if err := syncFiles(ns); err != nil && !errors.Is(err, os.ErrClosed) {
		return storageErr("clean: fsync index", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return storageErr("clean: fsync dir", err)
	}
	l.logger.Debug("cleaned segment", "partition", l.tp, "base", s.base, "size", t.size, "cleaned", pos)
	return nil
}

// swapSegment replaces s by the segment in the swap file, unless s changed
// or left the log meanwhile (retention, truncation, close): then the swap
// file is removed and nil returned.
func (l *Log) swapSegment(s *segment, size int64, swap string, nowMs int64) (*segment, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := -1
	for i, g := range l.mu.segs {
		if g == s {
			idx = i
		}
	}
	if l.mu.closed || l.mu.failed != nil || idx < 0 || idx == len(l.mu.segs)-1 || s.size.Load() != size {
		if err := removeMissing(l.fs, swap); err != nil {
			return nil, storageErr("clean: remove swap", err)
		}
		return nil, nil
	}
	fail := func(op string, err error) (*segment, error) {
		// The old segment is half replaced: take the log offline; the
		// next open completes the swap.
		l.mu.failed = err
		return nil, storageErr(op, err)
	}
	for _, h := range s.handles() {
		if err := h.rename(h.currentName() + deletedSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fail("clean: rename replaced segment", err)
		}
	}
	l.mu.pending = append(l.mu.pending, pendingDelete{deadlineMs: nowMs + l.mu.cfg.FileDeleteDelayMs, seg: s})
	if err := l.fs.Rename(swap, s.path+logSuffix); err != nil {
		return fail("clean: rename swap", err)
	}
	ns, _, err := openSegment(l.cache, l.dir, s.base, false)
	if err != nil {
		return fail("clean: open cleaned segment", err)
	}
	if _, err := l.recoverSegment(ns, false); err != nil {
		ns.close()
		return fail("clean: index cleaned segment", err)
	}
	if err := ns.seal(); err != nil {
		ns.close()
		return fail("clean: write cleaned index", err)
	}
	ns.next = s.next
	segs := append([]*segment(nil), l.mu.segs...)
	segs[idx] = ns
	l.mu.segs = segs
	return ns, nil
}

// completeSwaps finishes the swaps the cleaner decided before a crash (see
// cleanSegment): for each <base>.log.swap, the segment files of base are
// removed and the swap file becomes <base>.log (its indexes, now missing,
// are rebuilt by recovery). It returns the bases swapped in.
func completeSwaps(fsys vfs.FS, dir string, names []string) ([]int64, error) {
	var bases []int64
	for _, name := range names {
		b, err := strconv.ParseInt(strings.TrimSuffix(name, logSuffix+swapSuffix), 10, 64)
		if err != nil || b < 0 || !strings.HasSuffix(name, logSuffix+swapSuffix) {
			if err := removeMissing(fsys, filepath.Join(dir, name)); err != nil {
				return nil, err
			}
			continue
		}
		path := filepath.Join(dir, segmentName(b))
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			if err := removeMissing(fsys, path+suf); err != nil {
				return nil, err
			}
		}
		if err := fsys.Rename(filepath.Join(dir, name), path+logSuffix); err != nil {
			return nil, err
		}
		bases = append(bases, b)
	}
	if len(bases) > 0 {
		if err := fsys.SyncDir(dir); err != nil {
			return nil, err
		}
	}
	return bases, nil
}
