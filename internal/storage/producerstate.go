package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
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

// producerBatches is how many batches per producer are remembered for
// duplicate detection (Kafka's NUM_BATCHES_TO_RETAIN, which is also the
// client's max.in.flight.requests.per.connection limit for idempotence).
const producerBatches = 5

// noProducerEpoch marks an entry whose epoch is not known.
const noProducerEpoch = -1

// ProducerInfo describes an active idempotent or transactional producer of
// one partition (DescribeProducers).
type ProducerInfo struct {
	ProducerID            int64
	Epoch                 int16
	LastSequence          int32
	LastTimestamp         int64
	CoordinatorEpoch      int32
	CurrentTxnStartOffset int64
}

// batchMeta is what is remembered of one appended batch.
type batchMeta struct {
	FirstSeq, LastSeq       int32
	FirstOffset, LastOffset int64
	Timestamp               int64
}

// producerEntry is the state of one producer id. It is a value type (no
// pointers) so the append path can copy it to stage updates.
type producerEntry struct {
	ID                    int64
	Epoch                 int16
	NBatches              int8
	Batches               [producerBatches]batchMeta // oldest first
	LastTimestamp         int64
	CoordinatorEpoch      int32
	CurrentTxnFirstOffset int64
}

func newProducerEntry(id int64) producerEntry {
	return producerEntry{ID: id, Epoch: noProducerEpoch, CoordinatorEpoch: -1, CurrentTxnFirstOffset: -1, LastTimestamp: -1}
}

// check validates a batch (header h, offsets not yet assigned) against the
// entry, following Kafka's ProducerStateManager. It returns the remembered
// batch when h duplicates one.
func (e *producerEntry) check(h *records.Header) (*batchMeta, error) {
	if e.Epoch == noProducerEpoch {
		// Unknown producer (new, or its state expired or was removed with
		// the segments by retention): any sequence is accepted, as Kafka
		// 3.x/4.x does.
		return nil, nil
	}
	if h.ProducerEpoch < e.Epoch {
		return nil, fmt.Errorf("%w: producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.Epoch)
	}
	if !h.IsControl() && !h.IsTransactional() && e.CurrentTxnFirstOffset >= 0 {
		return nil, fmt.Errorf("%w: producer %d wrote a non-transactional batch during its transaction (started at %d)", ErrInvalidTxnState, h.ProducerID, e.CurrentTxnFirstOffset)
	}
	if h.IsControl() || h.BaseSequence == records.NoSequence {
		return nil, nil
	}
	if h.ProducerEpoch > e.Epoch {
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return nil, nil
	}
	last := h.LastSequence()
	for i := 0; i < int(e.NBatches); i++ {
		if b := &e.Batches[i]; b.FirstSeq == h.BaseSequence && b.LastSeq == last {
			return b, nil
		}
	}
	prev := int32(-1)
	if e.NBatches > 0 {
		prev = e.Batches[e.NBatches-1].LastSeq
	}
	if !inSequence(prev, h.BaseSequence) {
		return nil, fmt.Errorf("%w: producer %d epoch %d: sequence %d after %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence, prev)
	}
	return nil, nil
}

// inSequence reports whether next follows last, wrapping at MaxInt32.
func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || (next == 0 && last == 1<<31-1)
}

// apply records an appended batch (offsets assigned). mk is the marker of
// a control batch (nil when it is not a readable COMMIT or ABORT marker:
// such a batch changes no transaction, as in Kafka, where a control batch
// emptied by the cleaner is skipped).
func (e *producerEntry) apply(h *records.Header, mk *records.Marker) {
	if h.ProducerEpoch != e.Epoch {
		e.Epoch = h.ProducerEpoch
		e.NBatches = 0
	}
	if h.MaxTimestamp > e.LastTimestamp {
		e.LastTimestamp = h.MaxTimestamp
	}
	if h.IsControl() {
		if mk != nil {
			// A commit or abort marker ends the producer's transaction.
			e.CurrentTxnFirstOffset = -1
			e.CoordinatorEpoch = mk.CoordinatorEpoch
		}
		return
	}
	if h.BaseSequence != records.NoSequence {
		if int(e.NBatches) == producerBatches {
			copy(e.Batches[:], e.Batches[1:])
			e.NBatches--
		}
		e.Batches[e.NBatches] = batchMeta{
			FirstSeq: h.BaseSequence, LastSeq: h.LastSequence(),
			FirstOffset: h.BaseOffset, LastOffset: h.LastOffset(),
			Timestamp: h.MaxTimestamp,
		}
		e.NBatches++
	}
	if h.IsTransactional() && e.CurrentTxnFirstOffset < 0 {
		e.CurrentTxnFirstOffset = h.BaseOffset
	}
}

// producerState is the state of every producer of a partition, and the
// transactions that keep the last stable offset down. Guarded by the owning
// Log's mutex.
//
// ongoing holds the open transactions (Kafka's ongoingTxns), unreplicated
// those whose marker is written but not yet below the high watermark
// (Kafka's unreplicatedTxns: until the marker is replicated, a consumer
// reading committed data must not pass the transaction's first offset),
// each ordered by first offset, so the first unstable offset is the
// smaller of their heads. Both are small: one entry per producer with a
// transaction in flight.
type producerState struct {
	m            map[int64]*producerEntry
	ongoing      []txnMeta
	unreplicated []txnMeta
}

// txnMeta is a transaction of producer pid starting at first; last is its
// marker's offset once it is written (-1 before).
type txnMeta struct {
	pid         int64
	first, last int64
}

func newProducerState() *producerState {
	return &producerState{m: make(map[int64]*producerEntry)}
}

// insertTxn adds t to list, ordered by first offset.
func insertTxn(list []txnMeta, t txnMeta) []txnMeta {
	i := sort.Search(len(list), func(i int) bool { return list[i].first > t.first })
	list = append(list, txnMeta{})
	copy(list[i+1:], list[i:])
	list[i] = t
	return list
}

// firstUnstable is the first offset of the earliest transaction that is
// open or whose marker is not replicated yet, or MaxInt64 when none.
func (s *producerState) firstUnstable() int64 {
	fu := int64(math.MaxInt64)
	if len(s.ongoing) > 0 {
		fu = s.ongoing[0].first
	}
	if len(s.unreplicated) > 0 {
		fu = min(fu, s.unreplicated[0].first)
	}
	return fu
}

// onHighWatermark forgets the completed transactions whose marker is
// below hw (Kafka's onHighWatermarkUpdated).
func (s *producerState) onHighWatermark(hw int64) {
	s.unreplicated = slices.DeleteFunc(s.unreplicated, func(t txnMeta) bool { return t.last < hw })
}

// rebuildOngoing derives the open transactions from the entries (after a
// snapshot load).
func (s *producerState) rebuildOngoing() {
	s.ongoing = s.ongoing[:0]
	for _, e := range s.m {
		if e.CurrentTxnFirstOffset >= 0 {
			s.ongoing = insertTxn(s.ongoing, txnMeta{pid: e.ID, first: e.CurrentTxnFirstOffset, last: -1})
		}
	}
}

// lookup returns a copy of the entry of id, or a fresh unknown entry.
func (s *producerState) lookup(id int64) producerEntry {
	if e := s.m[id]; e != nil {
		return *e
	}
	return newProducerEntry(id)
}

func (s *producerState) store(e *producerEntry) {
	if cur := s.m[e.ID]; cur != nil {
		*cur = *e
		return
	}
	c := *e
	s.m[e.ID] = &c
}

// replay applies an appended batch (offsets assigned; the same for the
// leader's appends, a follower's and the batches recovery reads back). mk
// is the marker of a control batch, nil if it has none. For an ABORT
// marker it returns the aborted transaction to add to the segment's
// transaction index, with Kafka's last stable offset: the first offset of
// the earliest transaction still open of another producer, else the
// offset after the marker.
func (s *producerState) replay(h *records.Header, mk *records.Marker) (AbortedTxn, bool) {
	if !h.HasProducer() {
		return AbortedTxn{}, false
	}
	e := s.m[h.ProducerID]
	if e == nil {
		n := newProducerEntry(h.ProducerID)
		e = &n
		s.m[h.ProducerID] = e
	}
	if !h.IsControl() {
		started := h.IsTransactional() && e.CurrentTxnFirstOffset < 0
		e.apply(h, nil)
		if started {
			s.ongoing = insertTxn(s.ongoing, txnMeta{pid: h.ProducerID, first: h.BaseOffset, last: -1})
		}
		return AbortedTxn{}, false
	}
	if mk == nil {
		e.apply(h, nil)
		return AbortedTxn{}, false
	}
	first, marker := e.CurrentTxnFirstOffset, h.BaseOffset
	if first < 0 {
		first = marker // a marker without data: Kafka indexes it too
	}
	lso := marker + 1
	for _, t := range s.ongoing {
		if t.pid != h.ProducerID {
			lso = t.first
			break
		}
	}
	if i := slices.IndexFunc(s.ongoing, func(t txnMeta) bool { return t.pid == h.ProducerID }); i >= 0 {
		s.ongoing = slices.Delete(s.ongoing, i, i+1)
		s.unreplicated = insertTxn(s.unreplicated, txnMeta{pid: h.ProducerID, first: first, last: marker})
	}
	e.apply(h, mk)
	if mk.Commit {
		return AbortedTxn{}, false
	}
	return AbortedTxn{ProducerID: h.ProducerID, FirstOffset: first, LastOffset: marker, LastStableOffset: lso}, true
}

// expire removes the producers idle since before nowMs-expirationMs that
// have no open transaction (producer.id.expiration.ms).
func (s *producerState) expire(nowMs, expirationMs int64) {
	for id, e := range s.m {
		if e.CurrentTxnFirstOffset < 0 && nowMs-e.LastTimestamp >= expirationMs {
			delete(s.m, id)
		}
	}
}

func (s *producerState) infos() []ProducerInfo {
	out := make([]ProducerInfo, 0, len(s.m))
	for _, e := range s.m {
		ls := int32(-1)
		if e.NBatches > 0 {
			ls = e.Batches[e.NBatches-1].LastSeq
		}
		out = append(out, ProducerInfo{
			ProducerID: e.ID, Epoch: e.Epoch, LastSequence: ls, LastTimestamp: e.LastTimestamp,
			CoordinatorEpoch: e.CoordinatorEpoch, CurrentTxnStartOffset: e.CurrentTxnFirstOffset,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}

// Producer snapshot file format (<20-digit offset>.snapshot, big endian):
//
//	magic   [4]byte "SPSN"
//	version int16   (1)
//	crc     uint32  CRC-32C of everything after this field
//	count   int32
//	count entries:
//	  producerId int64, epoch int16, lastTimestamp int64,
//	  coordinatorEpoch int32, currentTxnFirstOffset int64, nbatches int8,
//	  nbatches × (firstSeq int32, lastSeq int32, firstOffset int64,
//	              lastOffset int64, timestamp int64)
//
// coordinatorEpoch (-1: none seen) and currentTxnFirstOffset (-1: no open
// transaction) are the producer's transaction state, as in Kafka's
// snapshot; the open transactions, and so the last stable offset, are
// rebuilt from them at load. Completed transactions whose marker was not yet
// below the high watermark are not kept (nor are they by Kafka).
//
// A snapshot at offset N holds the state after every batch below N. Unlike
// Kafka (which keeps only the last batch of each producer in a snapshot) it
// keeps all five, so duplicates of any of them are still caught after a
// restart.
const (
	snapshotVersion   = 1
	snapshotHeaderLen = 4 + 2 + 4 + 4
	snapshotEntryLen  = 8 + 2 + 8 + 4 + 8 + 1
	snapshotBatchLen  = 4 + 4 + 8 + 8 + 8
)

var snapshotMagic = [4]byte{'S', 'P', 'S', 'N'}

var errBadSnapshot = errors.New("corrupt producer snapshot")

func encodeSnapshot(s *producerState) []byte {
	ids := make([]int64, 0, len(s.m))
	for id := range s.m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	b := make([]byte, snapshotHeaderLen, snapshotHeaderLen+len(ids)*(snapshotEntryLen+2*snapshotBatchLen))
	copy(b, snapshotMagic[:])
	binary.BigEndian.PutUint16(b[4:], snapshotVersion)
	binary.BigEndian.PutUint32(b[10:], uint32(len(ids)))
	for _, id := range ids {
		e := s.m[id]
		b = binary.BigEndian.AppendUint64(b, uint64(e.ID))
		b = binary.BigEndian.AppendUint16(b, uint16(e.Epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.LastTimestamp))
		b = binary.BigEndian.AppendUint32(b, uint32(e.CoordinatorEpoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.CurrentTxnFirstOffset))
		b = append(b, byte(e.NBatches))
		for i := 0; i < int(e.NBatches); i++ {
			m := &e.Batches[i]
			b = binary.BigEndian.AppendUint32(b, uint32(m.FirstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.LastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.FirstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.LastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.Timestamp))
		}
	}
	binary.BigEndian.PutUint32(b[6:], crc32.Checksum(b[10:], castagnoli))
	return b
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func decodeSnapshot(b []byte) (*producerState, error) {
	if len(b) < snapshotHeaderLen || [4]byte(b[:4]) != snapshotMagic {
		return nil, fmt.Errorf("%w: bad magic", errBadSnapshot)
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d", errBadSnapshot, v)
	}
	if crc32.Checksum(b[10:], castagnoli) != binary.BigEndian.Uint32(b[6:]) {
		return nil, fmt.Errorf("%w: crc mismatch", errBadSnapshot)
	}
	n := int64(int32(binary.BigEndian.Uint32(b[10:])))
	if n < 0 || n > int64(len(b))/snapshotEntryLen {
		return nil, fmt.Errorf("%w: count %d", errBadSnapshot, n)
	}
	s := &producerState{m: make(map[int64]*producerEntry, n)}
	p := b[snapshotHeaderLen:]
	for i := int64(0); i < n; i++ {
		if len(p) < snapshotEntryLen {
			return nil, fmt.Errorf("%w: short entry", errBadSnapshot)
		}
		e := &producerEntry{
			ID:                    int64(binary.BigEndian.Uint64(p)),
			Epoch:                 int16(binary.BigEndian.Uint16(p[8:])),
			LastTimestamp:         int64(binary.BigEndian.Uint64(p[10:])),
			CoordinatorEpoch:      int32(binary.BigEndian.Uint32(p[18:])),
			CurrentTxnFirstOffset: int64(binary.BigEndian.Uint64(p[22:])),
			NBatches:              int8(p[30]),
		}
		p = p[snapshotEntryLen:]
		if e.NBatches < 0 || e.NBatches > producerBatches || len(p) < int(e.NBatches)*snapshotBatchLen {
			return nil, fmt.Errorf("%w: %d batches", errBadSnapshot, e.NBatches)
		}
		for j := 0; j < int(e.NBatches); j++ {
			e.Batches[j] = batchMeta{
				FirstSeq:    int32(binary.BigEndian.Uint32(p)),
				LastSeq:     int32(binary.BigEndian.Uint32(p[4:])),
				FirstOffset: int64(binary.BigEndian.Uint64(p[8:])),
				LastOffset:  int64(binary.BigEndian.Uint64(p[16:])),
				Timestamp:   int64(binary.BigEndian.Uint64(p[24:])),
			}
			p = p[snapshotBatchLen:]
		}
		s.m[e.ID] = e
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadSnapshot, len(p))
	}
	s.rebuildOngoing()
	return s, nil
}

func snapshotPath(dir string, offset int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d.snapshot", offset))
}

// listSnapshots returns the offsets of the snapshot files in dir, ascending.
func listSnapshots(fsys vfs.FS, dir string) ([]int64, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, de := range ents {
		name := de.Name()
		base, ok := strings.CutSuffix(name, ".snapshot")
		if !ok || len(base) != 20 {
			continue
		}
		off, err := strconv.ParseInt(base, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, off)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

func writeSnapshot(fsys vfs.FS, dir string, offset int64, s *producerState) error {
	return writeFileAtomic(fsys, snapshotPath(dir, offset), encodeSnapshot(s))
}

func removeMissing(fsys vfs.FS, path string) error {
	if err := fsys.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
