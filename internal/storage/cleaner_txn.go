package storage

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"

	"github.com/samsa-streaming/samsa/internal/records"
)

// Transactions in the cleaner, following Kafka's LogCleaner (its
// CleanedTransactionMetadata and the batch rules of Cleaner.cleanInto):
//
//   - The cleanable segments end at or below the last stable offset, so
//     every transaction with data in them is decided, and its ABORT marker,
//     if any, is in a transaction index already (perhaps of a later
//     segment, which the pass does not rewrite). A pass can therefore tell
//     from the indexes, ahead of reading, which transactional batches are
//     aborted.
//   - Aborted batches are removed whatever their keys, and stay out of the
//     key map; committed ones are compacted like any other.
//   - A marker stays while any batch of its transaction is left in the log
//     (an ABORT keeps its index entry then). The first pass that finds its
//     transaction without data gives it a delete horizon, now +
//     delete.retention.ms (KIP-534: the batch's first timestamp holds it,
//     flagged by the delete-horizon attribute, and the record's timestamp
//     delta is rebased so its timestamp stays), and drops an ABORT's index
//     entry; a later pass past the horizon removes it. The delay gives a
//     consumer that read the transaction's data time to reach its marker.
//     The pass follows the transactions from the log's first segment on,
//     through the segments it leaves out too, so a marker is judged with
//     every batch of its transaction. (Not in Kafka: a marker also keeps
//     its record while a producer snapshot at or below it exists, see
//     cleanPass.firstSnapshot.)
//   - The batch that holds the state of a producer known to the log (its
//     last data batch, or its markers when its epoch has no data) is
//     kept, as an empty batch if nothing of it survives: a producer state
//     rebuilt from the log still knows the last sequence and epoch.

// txnTracker follows the transactions through the batches of a pass, in
// offset order (Kafka's CleanedTransactionMetadata).
type txnTracker struct {
	ahead     []AbortedTxn             // aborted, first offset not reached yet; by first offset
	aborted   map[int64]*abortedInPass // producer → its aborted transaction being read
	committed map[int64]bool           // producers with data of a not-aborted transaction since their last marker
}

type abortedInPass struct {
	txn  AbortedTxn
	seen bool // a batch of it was read in this pass
}

func newTxnTracker(aborted []AbortedTxn) *txnTracker {
	sort.SliceStable(aborted, func(i, j int) bool { return aborted[i].FirstOffset < aborted[j].FirstOffset })
	return &txnTracker{ahead: aborted, aborted: map[int64]*abortedInPass{}, committed: map[int64]bool{}}
}

// reach starts the aborted transactions whose first offset is at or below
// off.
func (t *txnTracker) reach(off int64) {
	for len(t.ahead) > 0 && t.ahead[0].FirstOffset <= off {
		a := t.ahead[0]
		t.ahead = t.ahead[1:]
		if _, ok := t.aborted[a.ProducerID]; !ok {
			t.aborted[a.ProducerID] = &abortedInPass{txn: a}
		}
	}
}

// onData reads a data batch and reports whether it belongs to an aborted
// transaction.
func (t *txnTracker) onData(h *records.Header) bool {
	t.reach(h.LastOffset())
	if !h.IsTransactional() {
		return false
	}
	if a := t.aborted[h.ProducerID]; a != nil {
		a.seen = true
		return true
	}
	t.committed[h.ProducerID] = true
	return false
}

// onControl reads a control batch. It reports whether the batch's
// transaction has no data left in the log (so that the marker may go once
// past its delete horizon), and for an ABORT whose transaction still has
// data, the index entry the cleaned segment keeps. A control batch already
// emptied is without data; one that is not a COMMIT or ABORT marker (or
// unreadable) is kept, as Kafka does.
func (t *txnTracker) onControl(batch []byte, h *records.Header) (empty bool, keep *AbortedTxn) {
	t.reach(h.LastOffset())
	if h.NumRecords == 0 {
		return true, nil
	}
	m, err := records.ParseMarker(batch, h)
	if err != nil {
		return false, nil
	}
	if m.Commit {
		seen := t.committed[h.ProducerID]
		delete(t.committed, h.ProducerID)
		return !seen, nil
	}
	a := t.aborted[h.ProducerID]
	delete(t.aborted, h.ProducerID)
	if a != nil && a.seen {
		return false, &a.txn
	}
	return true, nil
}

// producerBatch identifies the batch that holds a producer's state (Kafka's
// LastRecord): its last data batch, by last offset, or, when the
// producer's current epoch has no data batch, its markers of that epoch.
type producerBatch struct {
	lastData int64 // -1: none
	epoch    int16
}

// producerBatchesLocked is the producerBatch of every producer in the log's
// state.
func (l *Log) producerBatchesLocked() map[int64]producerBatch {
	out := make(map[int64]producerBatch, len(l.mu.producers.m))
	for id, e := range l.mu.producers.m {
		pb := producerBatch{lastData: -1, epoch: e.Epoch}
		if e.NBatches > 0 {
			pb.lastData = e.Batches[e.NBatches-1].LastOffset
		}
		out[id] = pb
	}
	return out
}

// cleanPass holds what one pass of the cleaner decides batches by.
type cleanPass struct {
	offsets   map[string]int64 // key → its highest offset in the mapped dirty segments
	producers map[int64]producerBatch
	txns      *txnTracker
	nowMs     int64
	// Tombstones whose batch's max timestamp is below it are dropped.
	tombstoneHorizon int64
	// The delete horizon given to a marker found without data.
	markerHorizon int64
	// A marker may lose its record only below the oldest producer
	// snapshot: a snapshot at or below the marker may hold its
	// transaction open, and a replay from it (recovery, truncation) must
	// see the marker close it. Snapshots are taken at the log end, so none
	// is written below a marker later.
	firstSnapshot int64
}

// follow reads a segment that the pass does not rewrite, for the
// transactions of the markers after it.
func (p *cleanPass) follow(t cleanTarget) error {
	return scanBatches(t.seg, t.size, func(batch []byte, h *records.Header) error {
		if h.IsControl() {
			p.txns.onControl(batch, h)
		} else {
			p.txns.onData(h)
		}
		return nil
	})
}

// holdsProducerState reports whether h is the batch that keeps its
// producer's state.
func (p *cleanPass) holdsProducerState(h *records.Header) bool {
	if !h.HasProducer() {
		return false
	}
	pb, ok := p.producers[h.ProducerID]
	switch {
	case !ok:
		return false
	case pb.lastData >= 0:
		return h.LastOffset() == pb.lastData
	default:
		return h.IsControl() && h.ProducerEpoch == pb.epoch
	}
}

// retain returns what the cleaned segment keeps of a batch (the batch
// itself when unchanged, nil when nothing), and for a kept ABORT marker
// whose transaction still has data, its transaction index entry.
func (p *cleanPass) retain(batch []byte, h *records.Header) ([]byte, *AbortedTxn, error) {
	state := p.holdsProducerState(h)
	if h.IsControl() {
		empty, entry := p.txns.onControl(batch, h)
		if !empty {
			return batch, entry, nil
		}
		out, err := p.markerWithoutData(batch, h, state)
		return out, nil, err
	}
	var out []byte
	if !p.txns.onData(h) { // aborted: nothing of it is kept
		var err error
		if out, err = filterBatch(batch, h, p.offsets, p.tombstoneHorizon); err != nil {
			return nil, nil, err
		}
	}
	if out == nil && state {
		return emptyBatch(batch, h), nil, nil
	}
	return out, nil, nil
}

// markerWithoutData is what is kept of a control batch whose transaction has
// no data left: the first time, the marker with its delete horizon set;
// past the horizon, nothing (an empty batch when it holds its producer's
// state).
func (p *cleanPass) markerWithoutData(batch []byte, h *records.Header, state bool) ([]byte, error) {
	switch {
	case h.NumRecords == 0: // emptied by an earlier pass
		if state {
			return batch, nil
		}
		return nil, nil
	case h.Attributes&records.AttrDeleteHorizon == 0:
		return withDeleteHorizon(batch, h, p.markerHorizon)
	case h.FirstTimestamp > p.nowMs || h.BaseOffset >= p.firstSnapshot:
		return batch, nil
	case state:
		return emptyBatch(batch, h), nil
	default:
		return nil, nil
	}
}

// withDeleteHorizon rewrites a batch with the delete-horizon attribute and
// horizonMs as its first timestamp (KIP-534), the records' timestamp
// deltas rebased on it so that their timestamps stay.
func withDeleteHorizon(batch []byte, h *records.Header, horizonMs int64) ([]byte, error) {
	var recs []records.Record
	err := records.Records(batch, 0, func(r *records.Record) error {
		c := *r
		c.Headers = append([]records.RecordHeader(nil), r.Headers...)
		c.TimestampDelta = h.FirstTimestamp + r.TimestampDelta - horizonMs
		recs = append(recs, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rebuildBatch(h, h.Attributes|records.AttrDeleteHorizon, horizonMs, recs)
}

// rebuildBatch encodes recs as a batch with h's fields (offset range,
// producer, codec, max timestamp), attrs and first timestamp firstTs.
func rebuildBatch(h *records.Header, attrs int16, firstTs int64, recs []records.Record) ([]byte, error) {
	if !h.Codec().Valid() {
		return nil, fmt.Errorf("unknown codec %d", h.Codec())
	}
	b := records.BuildBatch(records.BatchSpec{
		BaseOffset:           h.BaseOffset,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Codec:                h.Codec(),
		Attributes:           attrs &^ records.AttrCompressionMask,
		FirstTimestamp:       firstTs,
		MaxTimestamp:         h.MaxTimestamp,
		Idempotent:           true, // writes the producer fields as they are
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		BaseSequence:         h.BaseSequence,
		Records:              recs,
	})
	// The batch keeps its offset range (v2 allows gaps), so the last
	// sequence stays too.
	binary.BigEndian.PutUint32(b[peekLastDeltaAt:], uint32(h.LastOffsetDelta))
	records.UpdateCRC(b)
	return b, nil
}

// emptyBatch is a batch's header without records, as Kafka's cleaner keeps
// it (writeEmptyHeader: uncompressed, no first timestamp, no delete
// horizon, the offset range, producer fields, max timestamp and the
// timestamp type, transactional and control bits kept). An empty batch is
// returned as it is.
func emptyBatch(batch []byte, h *records.Header) []byte {
	if h.NumRecords == 0 {
		return batch
	}
	attrs := h.Attributes & (records.AttrTimestampLogTime | records.AttrTransactional | records.AttrControl)
	b, _ := rebuildBatch(&records.Header{
		BaseOffset: h.BaseOffset, PartitionLeaderEpoch: h.PartitionLeaderEpoch, LastOffsetDelta: h.LastOffsetDelta,
		MaxTimestamp: h.MaxTimestamp, ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
	}, attrs, -1, nil)
	return b
}

// noSnapshot stands for the first snapshot of a log without one.
const noSnapshot = math.MaxInt64
