package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/samsa-streaming/samsa/internal/records"
)

// AbortedTxn is an entry of a segment's transaction index: producer
// ProducerID aborted the transaction with data from FirstOffset on, whose
// ABORT marker is at LastOffset; LastStableOffset was the partition's
// last stable offset just after the marker (lets a search stop early).
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

// Transaction index file format (<base>.txnindex), Kafka's: 34-byte
// big-endian entries, one per ABORT marker in the segment, in marker
// order:
//
//	version int16 (0), producer_id int64, first_offset int64,
//	last_offset int64, last_stable_offset int64
//
// The file exists only once the segment has an aborted transaction.
const (
	txnIndexSuffix  = ".txnindex"
	txnEntrySize    = 34
	txnIndexVersion = 0
)

var errBadTxnIndex = errors.New("corrupt transaction index")

func appendTxnEntry(b []byte, a AbortedTxn) []byte {
	b = binary.BigEndian.AppendUint16(b, txnIndexVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(a.ProducerID))
	b = binary.BigEndian.AppendUint64(b, uint64(a.FirstOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(a.LastOffset))
	return binary.BigEndian.AppendUint64(b, uint64(a.LastStableOffset))
}

// decodeTxnIndex decodes the entries of b. It returns the entries before
// the first bad one (a partial trailing entry, an unknown version, a first
// offset past the last, last offsets not increasing) with errBadTxnIndex.
// It allocates only for the entries b holds.
func decodeTxnIndex(b []byte) ([]AbortedTxn, error) {
	out := make([]AbortedTxn, 0, len(b)/txnEntrySize)
	for len(b) >= txnEntrySize {
		if v := int16(binary.BigEndian.Uint16(b)); v != txnIndexVersion {
			return out, fmt.Errorf("%w: entry %d: version %d", errBadTxnIndex, len(out), v)
		}
		a := AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(b[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
		}
		if a.FirstOffset < 0 || a.FirstOffset > a.LastOffset || (len(out) > 0 && a.LastOffset <= out[len(out)-1].LastOffset) {
			return out, fmt.Errorf("%w: entry %d: offsets %d-%d out of order", errBadTxnIndex, len(out), a.FirstOffset, a.LastOffset)
		}
		out = append(out, a)
		b = b[txnEntrySize:]
	}
	if len(b) != 0 {
		return out, fmt.Errorf("%w: %d trailing bytes", errBadTxnIndex, len(b))
	}
	return out, nil
}

// appendTxns adds entries to the segment's transaction index, creating
// the file with the first one. Called with the log's mutex held.
func (s *segment) appendTxns(as ...AbortedTxn) error {
	if len(as) == 0 {
		return nil
	}
	n := s.txnN.Load()
	if n == 0 {
		f, err := s.logFile.c.fs.OpenFile(s.txnFile.currentName(), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	b := make([]byte, 0, len(as)*txnEntrySize)
	for _, a := range as {
		b = appendTxnEntry(b, a)
	}
	f, err := s.txnFile.acquire()
	if err != nil {
		return err
	}
	defer s.txnFile.release()
	if _, err := f.WriteAt(b, n*txnEntrySize); err != nil {
		return err
	}
	s.txnN.Add(int64(len(as)))
	return nil
}

// readTxns returns the first n entries of the segment's transaction index.
func (s *segment) readTxns(n int64) ([]AbortedTxn, error) {
	if n <= 0 {
		return nil, nil
	}
	f, err := s.txnFile.acquire()
	if err != nil {
		return nil, err
	}
	defer s.txnFile.release()
	b := make([]byte, n*txnEntrySize)
	got, err := f.ReadAt(b, 0)
	if got < len(b) && err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	// A concurrent truncation may have shortened the file: what was read
	// is whole entries that were valid.
	as, _ := decodeTxnIndex(b[:got-got%txnEntrySize])
	return as, nil
}

// truncateTxns keeps the first n entries of the transaction index.
func (s *segment) truncateTxns(n int64) error {
	if s.txnN.Load() == 0 {
		return nil
	}
	f, err := s.txnFile.acquire()
	if err != nil {
		return err
	}
	defer s.txnFile.release()
	if err := f.Truncate(n * txnEntrySize); err != nil {
		return err
	}
	s.txnN.Store(n)
	return nil
}

// resetTxns empties the transaction index before a rebuild (recovery); an
// existing file is truncated, not removed, so that a descriptor the cache
// holds stays the file's.
func (s *segment) resetTxns() error {
	f, err := s.txnFile.acquire()
	if errors.Is(err, os.ErrNotExist) {
		s.txnN.Store(0)
		return nil
	}
	if err != nil {
		return err
	}
	defer s.txnFile.release()
	if err := f.Truncate(0); err != nil {
		return err
	}
	s.txnN.Store(0)
	return nil
}

// loadTxns reads the transaction index of a segment that needs no
// recovery (next known) and checks it: entries whole and valid, markers
// inside the segment. An error makes the segment recovered, which
// rebuilds the index.
func (s *segment) loadTxns() error {
	f, err := s.txnFile.acquire()
	if errors.Is(err, os.ErrNotExist) {
		s.txnN.Store(0)
		return nil
	}
	if err != nil {
		return err
	}
	st, err := f.Stat()
	s.txnFile.release()
	if err != nil {
		return err
	}
	if st.Size()%txnEntrySize != 0 {
		return fmt.Errorf("%w: %s: size %d not a multiple of %d", errBadTxnIndex, s.txnFile.currentName(), st.Size(), txnEntrySize)
	}
	s.txnN.Store(st.Size() / txnEntrySize)
	as, err := s.readTxns(s.txnN.Load())
	if err == nil && int64(len(as)) != s.txnN.Load() {
		err = fmt.Errorf("%w: %s: %d of %d entries valid", errBadTxnIndex, s.txnFile.currentName(), len(as), s.txnN.Load())
	}
	if err == nil && len(as) > 0 && (as[0].LastOffset < s.base || as[len(as)-1].LastOffset >= s.next) {
		err = fmt.Errorf("%w: %s: markers outside [%d, %d)", errBadTxnIndex, s.txnFile.currentName(), s.base, s.next)
	}
	if err != nil {
		s.txnN.Store(0)
	}
	return err
}

// LastStableOffset is the offset below which every transaction is decided
// and its marker replicated: the first offset of the earliest open (or
// completed but unreplicated) transaction, at least the log start offset,
// and at most the high watermark (Kafka's lastStableOffset). It reads one
// atomic.
func (l *Log) LastStableOffset() int64 { return l.lso.Load() }

// updateLSOLocked recomputes the last stable offset after a change of the
// high watermark, the log start offset or the transactions.
func (l *Log) updateLSOLocked() {
	hw := l.hw.Load()
	ps := l.mu.producers
	ps.onHighWatermark(hw)
	fu := ps.firstUnstable()
	if fu != math.MaxInt64 {
		// Retention may delete a transaction's start: it stays open, and
		// the log start offset is the first unstable one (Kafka's
		// maybeIncrementFirstUnstableOffset).
		fu = max(fu, l.logStart.Load())
	}
	l.lso.Store(min(fu, hw))
}

// replayAppendedLocked applies the batches just written to the active
// segment (set, whose headers are hdrs) to producer state, indexes their
// aborted transactions and moves the last stable offset: the same steps
// for the leader and a follower, so both build the same state and index.
func (l *Log) replayAppendedLocked(set []byte, hdrs []records.Header) error {
	s := l.activeLocked()
	pos := 0
	var aborted []AbortedTxn
	for i := range hdrs {
		h := &hdrs[i]
		batch := set[pos : pos+h.Size()]
		pos += h.Size()
		if h.IsControl() || h.IsTransactional() {
			l.dropGuardLocked(h.ProducerID)
		}
		if a, ok := l.mu.producers.replay(h, markerOf(batch, h)); ok {
			aborted = append(aborted, a)
		}
	}
	err := s.appendTxns(aborted...)
	if err != nil {
		// The batches are in the log but the index lacks them: offline
		// until a restart recovers the segment (which rebuilds it).
		l.mu.failed = err
		err = storageErr("append transaction index", err)
	}
	l.updateLSOLocked()
	return err
}

// markerOf parses the marker of a control batch; nil for other batches and
// for control batches without a readable COMMIT or ABORT marker.
func markerOf(batch []byte, h *records.Header) *records.Marker {
	if !h.IsControl() {
		return nil
	}
	m, err := records.ParseMarker(batch, h)
	if err != nil {
		return nil
	}
	return &m
}

// AppendMarker appends, as leader, the end-transaction marker (COMMIT or
// ABORT) of producerID's transaction and returns its offset. The marker's
// producer epoch may not be older than the producer's
// (ErrInvalidProducerEpoch), nor its coordinator epoch older than the last
// marker's for the producer (ErrTransactionCoordinatorFenced). An ABORT is
// added to the transaction index of the active segment.
func (l *Log) AppendMarker(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch, leaderEpoch int32, now time.Time) (int64, error) {
	nowMs := now.UnixMilli()
	l.mu.Lock()
	off, flush, err := l.appendMarkerLocked(producerID, producerEpoch, commit, coordinatorEpoch, leaderEpoch, nowMs)
	l.mu.Unlock()
	if err != nil || !flush {
		return off, err
	}
	if err := l.flushUpTo(off + 1); err != nil && !errors.Is(err, ErrLogClosed) {
		return off, err
	}
	return off, nil
}

func (l *Log) appendMarkerLocked(pid int64, epoch int16, commit bool, coordinatorEpoch, leaderEpoch int32, nowMs int64) (int64, bool, error) {
	if err := l.writableLocked(); err != nil {
		return -1, false, err
	}
	if pid < 0 {
		return -1, false, fmt.Errorf("%w: marker without producer id", ErrInvalidSet)
	}
	l.mu.lastNowMs = max(l.mu.lastNowMs, nowMs)
	e := l.mu.producers.lookup(pid)
	if e.Epoch != noProducerEpoch && epoch < e.Epoch {
		return -1, false, fmt.Errorf("%w: marker of producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, pid, epoch, e.Epoch)
	}
	if coordinatorEpoch < e.CoordinatorEpoch {
		return -1, false, fmt.Errorf("%w: marker of producer %d with coordinator epoch %d, last was %d", ErrTransactionCoordinatorFenced, pid, coordinatorEpoch, e.CoordinatorEpoch)
	}
	off := l.leo.Load()
	set := records.BuildMarker(records.MarkerBatch{
		BaseOffset: off, PartitionLeaderEpoch: leaderEpoch, ProducerID: pid, ProducerEpoch: epoch,
		Timestamp: nowMs, Marker: records.Marker{Commit: commit, CoordinatorEpoch: coordinatorEpoch},
	})
	hdrs, err := splitHeaders(set, l.mu.hdrs[:0])
	l.mu.hdrs = hdrs
	if err != nil {
		return -1, false, err
	}
	if err := l.appendLocked(set, hdrs, nowMs); err != nil {
		return -1, false, err
	}
	l.mu.epochs.assign(leaderEpoch, off)
	if err := l.replayAppendedLocked(set, hdrs); err != nil {
		return off, false, err
	}
	return off, off+1-l.mu.recoveryPoint >= l.mu.cfg.FlushMessages, nil
}

// AbortedTransactions returns the aborted transactions a read_committed
// fetch of [fetchOffset, upperBound) must be told about: every one whose
// marker is at or after fetchOffset and whose first offset is below
// upperBound, from the transaction indexes of the segment holding
// fetchOffset and the later ones, stopping at the first entry whose last
// stable offset reaches upperBound (Kafka's collectAbortedTransactions).
// The indexes are read without the log's mutex.
func (l *Log) AbortedTransactions(fetchOffset, upperBound int64) ([]AbortedTxn, error) {
	type src struct {
		s *segment
		n int64
	}
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return nil, ErrLogClosed
	}
	segs := l.mu.segs
	var srcs []src
	for _, s := range segs[segmentFor(segs, fetchOffset):] {
		if n := s.txnN.Load(); n > 0 {
			srcs = append(srcs, src{s, n})
		}
	}
	l.mu.Unlock()
	var out []AbortedTxn
	for _, x := range srcs {
		as, err := x.s.readTxns(x.n)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				continue // the segment was removed meanwhile
			}
			return nil, storageErr("read transaction index", err)
		}
		for _, a := range as {
			if a.LastOffset >= fetchOffset && a.FirstOffset < upperBound {
				out = append(out, a)
			}
			if a.LastStableOffset >= upperBound {
				return out, nil
			}
		}
	}
	return out, nil
}
