package storage

import (
	"errors"
	"io"
	"maps"
	"math"
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
	next int64 // offset after its last batch
}

// clean runs one pass of the log cleaner when cleanup.policy=compact and the
// dirty ratio reaches min.cleanable.dirty.ratio. The segments are read and
// rewritten without the log's mutex; only each run's swap takes it.
//
// As Kafka's LogCleaner, a pass builds its key map (key → highest offset)
// from the dirty segments only, starting at the cleaner offset, and stops
// before the segment whose keys would take the map past dedupeBytes; the
// segments below that point, clean and newly mapped alike, are rewritten
// with it, and the cleaner offset moves there. The clean part below the
// cleaner offset already holds each key once, so a key the map lacks is
// kept. A log whose first dirty segment alone does not fit is not
// cleaned (logged).
//
// Transactions follow Kafka's rules (see cleaner_txn.go): the cleanable
// segments end at or below the last stable offset; aborted data is removed
// and never mapped; committed data is compacted as any other; markers stay
// while their transaction has data, then go after delete.retention.ms.
func (l *Log) clean(nowMs, dedupeBytes int64) error {
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
	lso := l.lso.Load()
	cleanerOffset := l.mu.cleanerOffset
	pendingBases := map[int64]bool{}
	for _, p := range l.mu.pending {
		pendingBases[p.seg.base] = true
	}
	// The cleanable segments: a prefix of the sealed ones, below the last
	// stable offset (so below the high watermark, and with every
	// transaction in them decided) and older than min.compaction.lag.ms.
	n := 0
	for n < len(segs)-1 {
		if segs[n+1].base > lso ||
			(cfg.MinCompactionLagMs > 0 && nowMs-segs[n].largestTimestamp() < cfg.MinCompactionLagMs) {
			break
		}
		n++
	}
	var total, dirty int64
	for _, s := range segs[:len(segs)-1] {
		total += s.size.Load()
		if s.base >= cleanerOffset {
			dirty += s.size.Load()
		}
	}
	if n == 0 || total == 0 || segs[n].base <= cleanerOffset ||
		float64(dirty)/float64(total) < cfg.MinCleanableDirtyRatio {
		l.mu.Unlock()
		return nil
	}
	all := make([]cleanTarget, len(segs))
	for i, s := range segs {
		all[i] = cleanTarget{seg: s, size: s.size.Load(), next: s.next}
	}
	producers := l.producerBatchesLocked()
	firstSnapshot := int64(noSnapshot)
	if len(l.mu.snapshots) > 0 {
		firstSnapshot = l.mu.snapshots[0]
	}
	l.mu.Unlock()

	// The key map over the dirty cleanable segments that fit, without the
	// aborted transactions' records.
	aborted, err := l.AbortedTransactions(cleanerOffset, all[n].seg.base)
	if err != nil {
		return err
	}
	mapTxns := newTxnTracker(aborted)
	offsets := map[string]int64{}
	var mapBytes int64
	mapped := 0 // all[:mapped] are cleaned with the map
	mappedDirty := false
	for mapped < n {
		t := all[mapped]
		if t.seg.base < cleanerOffset {
			mapped++
			continue
		}
		// The segment's keys go to a map of their own first, and the scan
		// stops as soon as they would pass the budget: memory stays
		// within it even for a segment that does not fit.
		seg := map[string]int64{}
		var segBytes int64
		err := scanBatches(t.seg, t.size, func(batch []byte, h *records.Header) error {
			if h.IsControl() {
				mapTxns.onControl(batch, h)
				return nil
			}
			if mapTxns.onData(h) {
				return nil // aborted: removed whatever its keys
			}
			return records.Records(batch, 0, func(r *records.Record) error {
				if r.Key == nil {
					return nil
				}
				if _, ok := offsets[string(r.Key)]; !ok {
					if _, ok := seg[string(r.Key)]; !ok {
						segBytes += keyMapEntryBytes + int64(len(r.Key))
						if mapBytes+segBytes > dedupeBytes {
							return errKeyMapFull
						}
					}
				}
				seg[string(r.Key)] = h.BaseOffset + int64(r.OffsetDelta)
				return nil
			})
		})
		if errors.Is(err, errKeyMapFull) {
			break
		}
		if err != nil {
			return err
		}
		mapBytes += segBytes
		maps.Copy(offsets, seg)
		mapped++
		mappedDirty = true
	}
	if !mappedDirty {
		if mapped < n {
			l.logger.Warn("log cleaner: the keys of one segment do not fit log.cleaner.dedupe.buffer.size; not cleaning",
				"partition", l.tp, "segment", all[mapped].seg.base, "dedupe_buffer_bytes", dedupeBytes)
		}
		return nil
	}
	// The rewrite follows the transactions from the first segment on, so
	// that each marker is judged with all of its transaction's batches.
	end := all[mapped].seg.base
	if aborted, err = l.AbortedTransactions(all[0].seg.base, end); err != nil {
		return err
	}
	pass := &cleanPass{
		offsets:          offsets,
		producers:        producers,
		txns:             newTxnTracker(aborted),
		nowMs:            nowMs,
		tombstoneHorizon: nowMs - cfg.DeleteRetentionMs,
		markerHorizon:    nowMs + cfg.DeleteRetentionMs,
		firstSnapshot:    firstSnapshot,
	}
	groups := groupForCleaning(all[:mapped], pendingBases, cfg.SegmentBytes)
	for i := 0; i < mapped; {
		if len(groups) > 0 && groups[0][0].seg == all[i].seg {
			if err := l.cleanSegments(groups[0], pass, nowMs); err != nil {
				return err
			}
			i += len(groups[0])
			groups = groups[1:]
			continue
		}
		// Left out of the groups (its previous files wait for deletion),
		// the segment is not rewritten, but its batches count for the
		// transactions of later markers.
		if err := pass.follow(all[i]); err != nil {
			return err
		}
		i++
	}
	// Everything below the map's end is clean now, except a segment left
	// out because its previous files still wait for deletion: the cleaner
	// offset stops there (moving back if need be), so the next pass maps
	// it and what follows, and no key stays twice below the offset.
	next := end
	for _, t := range all[:mapped] {
		if pendingBases[t.seg.base] {
			next = t.seg.base
			break
		}
	}
	l.mu.Lock()
	l.mu.cleanerOffset = min(next, l.activeLocked().base)
	l.mu.Unlock()
	return nil
}

// keyMapEntryBytes is what one key of the cleaner's map costs besides its
// bytes: the string header, the offset, and the map's own overhead.
const keyMapEntryBytes = 64

// errKeyMapFull stops the scan of a segment whose keys do not fit.
var errKeyMapFull = errors.New("cleaner key map full")

// groupForCleaning splits the cleanable segments into runs that the
// cleaner rewrites into one segment each, as Kafka's groupSegmentsBySize
// does: consecutive segments whose sizes add up to at most segment.bytes
// and whose offsets stay within a segment's 32-bit relative range. Without
// this, a compacted topic would keep one (ever smaller) segment per roll
// forever. A segment whose previous files still wait for deletion under
// its name is left out, and ends a run.
func groupForCleaning(ts []cleanTarget, pending map[int64]bool, segmentBytes int64) [][]cleanTarget {
	var groups [][]cleanTarget
	for i := 0; i < len(ts); {
		if pending[ts[i].seg.base] {
			i++
			continue
		}
		j, size := i+1, ts[i].size
		for j < len(ts) && !pending[ts[j].seg.base] &&
			size+ts[j].size <= segmentBytes &&
			ts[j].next-1-ts[i].seg.base <= math.MaxInt32 {
			size += ts[j].size
			j++
		}
		groups = append(groups, ts[i:j])
		i = j
	}
	return groups
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
			if o, ok := offsets[string(r.Key)]; ok && o != h.BaseOffset+int64(r.OffsetDelta) {
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
	return rebuildBatch(h, h.Attributes, h.FirstTimestamp, kept)
}

// cleanSegments rewrites a run of segments (see groupForCleaning) into one,
// without the records the cleaner drops, and swaps it in: the first
// segment's <base>.log.cleaned is written and fsynced, renamed to
// <base>.log.swap (the decision), then, under the log's mutex, the old
// segments' files are renamed to *.deleted (removed after
// file.delete.delay.ms), the swap file becomes <base>.log and its indexes
// are built. The new segment's transaction index holds the entries of the
// ABORT markers kept with data (see cleaner_txn.go).
func (l *Log) cleanSegments(g []cleanTarget, pass *cleanPass, nowMs int64) error {
	first := g[0].seg
	cleaned := first.path + logSuffix + cleanedSuffix
	swap := first.path + logSuffix + swapSuffix
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
	changed := len(g) > 1 // merging is a change by itself
	var txns []AbortedTxn
	for _, t := range g {
		err = scanBatches(t.seg, t.size, func(batch []byte, h *records.Header) error {
			out, entry, err := pass.retain(batch, h)
			if err != nil {
				return err
			}
			if entry != nil {
				txns = append(txns, *entry)
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
		if err != nil {
			break
		}
	}
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
	ns, err := l.swapSegments(g, swap, txns, nowMs)
	if err != nil || ns == nil {
		return err
	}
	if err := syncFiles(ns); err != nil && !errors.Is(err, os.ErrClosed) {
		return storageErr("clean: fsync index", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return storageErr("clean: fsync dir", err)
	}
	var size int64
	for _, t := range g {
		size += t.size
	}
	l.logger.Debug("cleaned segments", "partition", l.tp, "base", first.base, "segments", len(g), "size", size, "cleaned", pos)
	return nil
}

// swapSegments replaces the run g by the segment in the swap file, whose
// transaction index entries are txns, unless one of them changed or left
// the log meanwhile (retention, truncation, close): then the swap file is
// removed and nil returned.
func (l *Log) swapSegments(g []cleanTarget, swap string, txns []AbortedTxn, nowMs int64) (*segment, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := -1
	for i, s := range l.mu.segs {
		if s == g[0].seg {
			idx = i
		}
	}
	intact := !l.mu.closed && l.mu.failed == nil && idx >= 0 && idx+len(g) < len(l.mu.segs)
	for i := 0; intact && i < len(g); i++ {
		intact = l.mu.segs[idx+i] == g[i].seg && g[i].seg.size.Load() == g[i].size
	}
	if !intact {
		if err := removeMissing(l.fs, swap); err != nil {
			return nil, storageErr("clean: remove swap", err)
		}
		return nil, nil
	}
	fail := func(op string, err error) (*segment, error) {
		// The old segments are half replaced: take the log offline; the
		// next open completes the swap.
		l.mu.failed = err
		return nil, storageErr(op, err)
	}
	// The new segment's transaction index is written before its offset
	// index. Should a crash come before, the next open finds the segment
	// without indexes and recovers it, which rebuilds the entries from its
	// ABORT markers (those of kept data, and those waiting for their
	// delete horizon, whose entries without data are harmless).
	for _, t := range g {
		for _, h := range t.seg.handles() {
			if err := h.rename(h.currentName() + deletedSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fail("clean: rename replaced segment", err)
			}
		}
		l.mu.pending = append(l.mu.pending, pendingDelete{deadlineMs: nowMs + l.mu.cfg.FileDeleteDelayMs, seg: t.seg})
	}
	first := g[0].seg
	if err := l.fs.Rename(swap, first.path+logSuffix); err != nil {
		return fail("clean: rename swap", err)
	}
	ns, _, err := openSegment(l.cache, l.dir, first.base, false)
	if err != nil {
		return fail("clean: open cleaned segment", err)
	}
	if _, err := l.recoverSegment(ns, false); err != nil {
		ns.close()
		return fail("clean: index cleaned segment", err)
	}
	// Before the offset index: a crash (or failure) between the two
	// leaves the segment without indexes, which the next open recovers.
	if err := ns.appendTxns(txns...); err != nil {
		ns.close()
		return fail("clean: write transaction index", err)
	}
	if err := ns.seal(); err != nil {
		ns.close()
		return fail("clean: write cleaned index", err)
	}
	// The segment keeps the offset range of the run, dropped tail included.
	ns.next = g[len(g)-1].seg.next
	segs := append([]*segment(nil), l.mu.segs[:idx]...)
	segs = append(segs, ns)
	segs = append(segs, l.mu.segs[idx+len(g):]...)
	l.mu.segs = segs
	return ns, nil
}

// completeSwaps finishes the swaps the cleaner decided before a crash (see
// cleanSegments): for each <base>.log.swap, the files of every segment it
// replaces are removed (the one at base, and those whose base falls
// inside the swap's offsets: a merged run) and the swap file becomes
// <base>.log (its indexes, now missing, are rebuilt by recovery). It
// returns the bases swapped in and the bases removed.
func completeSwaps(fsys vfs.FS, dir string, names []string, bases []int64) (swapped, removed []int64, err error) {
	for _, name := range names {
		b, err := strconv.ParseInt(strings.TrimSuffix(name, logSuffix+swapSuffix), 10, 64)
		if err != nil || b < 0 || !strings.HasSuffix(name, logSuffix+swapSuffix) {
			if err := removeMissing(fsys, filepath.Join(dir, name)); err != nil {
				return nil, nil, err
			}
			continue
		}
		last, err := lastOffsetIn(fsys, filepath.Join(dir, name))
		if err != nil {
			return nil, nil, err
		}
		replaced := []int64{b}
		for _, o := range bases {
			if o > b && o <= last {
				replaced = append(replaced, o)
				removed = append(removed, o)
			}
		}
		for _, o := range replaced {
			path := filepath.Join(dir, segmentName(o))
			for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
				if err := removeMissing(fsys, path+suf); err != nil {
					return nil, nil, err
				}
			}
		}
		path := filepath.Join(dir, segmentName(b))
		if err := fsys.Rename(filepath.Join(dir, name), path+logSuffix); err != nil {
			return nil, nil, err
		}
		swapped = append(swapped, b)
	}
	if len(swapped) > 0 {
		if err := fsys.SyncDir(dir); err != nil {
			return nil, nil, err
		}
	}
	return swapped, removed, nil
}

// lastOffsetIn is the last offset of the valid batches at the start of a
// swap file (-1 if none), validated as recovery validates a segment
// (header, CRC-32C, increasing offsets): the file was fsynced before it
// was named .swap and should be whole, but a damaged one must not make
// recovery delete segments on the word of a garbage header.
func lastOffsetIn(fsys vfs.FS, path string) (int64, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	last := int64(-1)
	sc := newScanner(f, 0, st.Size())
	for {
		batch, h, _, err := sc.next()
		if err == nil {
			err = records.CheckCRC(batch, &h)
		}
		if err != nil || h.BaseOffset <= last || h.LastOffsetDelta < 0 {
			return last, nil // io.EOF, or a tail recovery cuts off
		}
		last = h.LastOffset()
	}
}
