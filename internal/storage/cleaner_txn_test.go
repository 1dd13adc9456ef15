package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// keyedOps appends keyed batches of producers to a log: pid 0 is a plain
// batch, txn makes it transactional; a key "-" is a record without key.
type keyedOps struct {
	t   *testing.T
	l   *Log
	seq map[int64]int32
}

func newKeyedOps(t *testing.T, l *Log) *keyedOps {
	return &keyedOps{t: t, l: l, seq: map[int64]int32{}}
}

func keyedBatch(pid int64, seq int32, txn bool, kvs ...kv) []byte {
	recs := make([]records.Record, len(kvs))
	for i, r := range kvs {
		recs[i] = records.Record{OffsetDelta: int32(i)}
		if r.key != "-" {
			recs[i].Key = []byte(r.key)
		}
		if !r.del {
			recs[i].Value = []byte(r.value)
		}
	}
	spec := records.BatchSpec{FirstTimestamp: t0.UnixMilli(), Records: recs}
	if pid > 0 {
		spec.Idempotent, spec.ProducerID, spec.BaseSequence = true, pid, seq
	}
	if txn {
		spec.Attributes = records.AttrTransactional
	}
	return records.BuildBatch(spec)
}

func (o *keyedOps) put(pid int64, txn bool, kvs ...kv) int64 {
	o.t.Helper()
	r, err := o.l.AppendAsLeader(keyedBatch(pid, o.seq[pid], txn, kvs...), 0, t0)
	if err != nil {
		o.t.Fatalf("append of producer %d: %v", pid, err)
	}
	if pid > 0 {
		o.seq[pid] += int32(len(kvs))
	}
	return r.BaseOffset
}

func (o *keyedOps) end(pid int64, commit bool) int64 {
	o.t.Helper()
	off, err := o.l.AppendMarker(pid, 0, commit, 0, 0, t0)
	if err != nil {
		o.t.Fatalf("marker of producer %d: %v", pid, err)
	}
	return off
}

// maintainAt runs the log's maintenance (and so a cleaner pass) at ms,
// failing on an error.
func maintainAt(t *testing.T, m *Manager, l *Log, ms int64) {
	t.Helper()
	if err := l.maintain(at(ms).UnixMilli(), m.cfg.ProducerIDExpirationMs, m.cfg.CleanerDedupeBufferBytes); err != nil {
		t.Fatalf("maintain at %d: %v", ms, err)
	}
}

type physBatch struct {
	h records.Header
	b []byte
}

// physical reads every batch of the log, from its start.
func physical(t *testing.T, l *Log) []physBatch {
	t.Helper()
	var out []physBatch
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		res, err := l.Read(off, 1<<20, -1, true)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if len(res.Records) == 0 {
			t.Fatalf("read %d: nothing (end %d)", off, l.LogEndOffset())
		}
		if err := records.Split(res.Records, func(batch []byte, h *records.Header) error {
			if err := records.CheckCRC(batch, h); err != nil {
				return err
			}
			out = append(out, physBatch{*h, bytes.Clone(batch)})
			off = h.NextOffset()
			return nil
		}); err != nil {
			t.Fatalf("bad batches: %v", err)
		}
	}
	return out
}

func batchAt(bs []physBatch, base int64) *physBatch {
	for i := range bs {
		if bs[i].h.BaseOffset == base {
			return &bs[i]
		}
	}
	return nil
}

func bases(bs []physBatch) []int64 {
	var out []int64
	for _, b := range bs {
		out = append(out, b.h.BaseOffset)
	}
	return out
}

// visible is a record a read_committed consumer gets.
type visible struct {
	off        int64
	key, value string
	nilKey     bool
	del        bool
}

func (v visible) String() string {
	switch {
	case v.nilKey:
		return fmt.Sprintf("%d:-=%s", v.off, v.value)
	case v.del:
		return fmt.Sprintf("%d:%s=<nil>", v.off, v.key)
	}
	return fmt.Sprintf("%d:%s=%s", v.off, v.key, v.value)
}

// readCommitted reads the log from its start to its last stable offset as a
// read_committed consumer does (Kafka's fetcher): reads of at most maxBytes,
// each with the aborted transactions the broker lists for it
// (AbortedTransactions up to the read's NextOffset); a listed producer's
// transactional batches are skipped from the entry's first offset until
// its ABORT marker; control batches are not shown.
func readCommitted(t *testing.T, l *Log, maxBytes int32) []visible {
	t.Helper()
	lso := l.LastStableOffset()
	var out []visible
	for off := l.LogStartOffset(); off < lso; {
		res, err := l.Read(off, maxBytes, lso, true)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if len(res.Records) == 0 {
			break // nothing below the last stable offset from here
		}
		as, err := l.AbortedTransactions(off, res.NextOffset)
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(as, func(i, j int) bool { return as[i].FirstOffset < as[j].FirstOffset })
		aborted := map[int64]bool{}
		from := off
		if err := records.Split(res.Records, func(batch []byte, h *records.Header) error {
			off = h.NextOffset()
			for len(as) > 0 && as[0].FirstOffset <= h.LastOffset() {
				aborted[as[0].ProducerID] = true
				as = as[1:]
			}
			if h.IsControl() {
				if m, err := records.ParseMarker(batch, h); err == nil && !m.Commit {
					delete(aborted, h.ProducerID)
				}
				return nil
			}
			if h.IsTransactional() && aborted[h.ProducerID] {
				return nil
			}
			return records.Records(batch, 0, func(r *records.Record) error {
				if o := h.BaseOffset + int64(r.OffsetDelta); o >= from {
					out = append(out, visible{o, string(r.Key), string(r.Value), r.Key == nil, r.Value == nil})
				}
				return nil
			})
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func viewString(vs []visible) string { return fmt.Sprint(vs) }

// wantView checks a read_committed read, with small and large reads.
func wantView(t *testing.T, l *Log, want string) {
	t.Helper()
	for _, n := range []int32{1, 150, 1 << 20} {
		if got := viewString(readCommitted(t, l, n)); got != want {
			t.Fatalf("read_committed (reads of %d bytes):\n got %s\nwant %s", n, got, want)
		}
	}
}

// markerHorizon returns the delete horizon of a marker batch (-1: none)
// and checks that the marker still reads and kept its timestamp.
func markerHorizon(t *testing.T, b *physBatch, commit bool) int64 {
	t.Helper()
	m, err := records.ParseMarker(b.b, &b.h)
	if err != nil || m.Commit != commit {
		t.Fatalf("marker at %d: %+v %v", b.h.BaseOffset, m, err)
	}
	var ts int64
	records.Records(b.b, 0, func(r *records.Record) error {
		ts = b.h.FirstTimestamp + r.TimestampDelta
		return nil
	})
	if ts != t0.UnixMilli() || b.h.MaxTimestamp != t0.UnixMilli() {
		t.Fatalf("marker at %d: record timestamp %d, max %d, want %d", b.h.BaseOffset, ts, b.h.MaxTimestamp, t0.UnixMilli())
	}
	if b.h.Attributes&records.AttrDeleteHorizon == 0 {
		return -1
	}
	return b.h.FirstTimestamp
}

func wantAborted(t *testing.T, l *Log, want ...AbortedTxn) {
	t.Helper()
	got, err := l.AbortedTransactions(0, l.LogEndOffset())
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("aborted transactions %+v %v, want %+v", got, err, want)
	}
}

// TestCleanerAbortedTxn: aborted data is removed whatever its keys (even
// a key's only record) and shadows nothing; the producer's last batch
// stays as an empty header while it is the last; the ABORT marker and its
// index entry stay while any batch of the transaction does, then the
// marker gets a delete horizon (the entry goes) and a pass past it
// removes it.
func TestCleanerAbortedTxn(t *testing.T) {
	m, l, dir := newTestLog(t, compactConfig())
	o := newKeyedOps(t, l)
	o.put(0, false, kv{"a", "1", false})                       // 0
	o.put(1, true, kv{"a", "c1", false}, kv{"b", "c1", false}) // 1-2
	o.put(2, true, kv{"z", "ab", false})                       // 3: z's only record
	o.put(2, true, kv{"a", "ab", false})                       // 4: after 1's a
	o.end(1, true)                                             // 5
	o.end(2, false)                                            // 6
	o.put(0, false, kv{"b", "2", false})                       // 7
	roll(t, l)
	wantView(t, l, "[0:a=1 1:a=c1 2:b=c1 7:b=2]")
	maintainAt(t, m, l, 10)
	wantView(t, l, "[1:a=c1 7:b=2]")
	bs := physical(t, l)
	if fmt.Sprint(bases(bs)) != "[1 4 5 6 7]" {
		t.Fatalf("batches %v, want [1 4 5 6 7]", bases(bs))
	}
	// Offset 4 is producer 2's last data batch: kept empty, with its
	// sequence, so its ABORT stays with the index entry.
	if h := batchAt(bs, 4).h; h.NumRecords != 0 || !h.IsTransactional() || h.ProducerID != 2 || h.BaseSequence != 1 || h.LastOffsetDelta != 0 {
		t.Fatalf("producer 2's last batch %+v", h)
	}
	wantAborted(t, l, AbortedTxn{2, 3, 6, 7})
	if b, err := os.ReadFile(segFile(dir, 0, txnIndexSuffix)); err != nil || len(b) != txnEntrySize {
		t.Fatalf("txnindex of the cleaned segment: %d bytes, %v", len(b), err)
	}
	for _, off := range []int64{5, 6} {
		if markerHorizon(t, batchAt(bs, off), off == 5) != -1 {
			t.Fatalf("marker %d has a delete horizon while its data stays", off)
		}
	}

	// Producer 2 goes on: offset 4 is no longer its last batch and goes,
	// but that pass still read it, so the marker stays.
	o.put(2, true, kv{"y", "c2", false}) // 8
	o.end(2, true)                       // 9
	o.put(0, false, kv{"x", "1", false}) // 10
	roll(t, l)
	maintainAt(t, m, l, 20)
	bs = physical(t, l)
	if fmt.Sprint(bases(bs)) != "[1 5 6 7 8 9 10]" {
		t.Fatalf("batches %v", bases(bs))
	}
	wantAborted(t, l, AbortedTxn{2, 3, 6, 7})

	// The next pass finds the ABORT without data: delete horizon now +
	// delete.retention.ms, no index entry.
	o.put(0, false, kv{"w", "1", false}) // 11
	roll(t, l)
	maintainAt(t, m, l, 30)
	bs = physical(t, l)
	if h := markerHorizon(t, batchAt(bs, 6), false); h != at(30+1000).UnixMilli() {
		t.Fatalf("ABORT's delete horizon %d, want %d", h, at(1030).UnixMilli())
	}
	if markerHorizon(t, batchAt(bs, 5), true) != -1 || markerHorizon(t, batchAt(bs, 9), true) != -1 {
		t.Fatal("a COMMIT whose data stays got a delete horizon")
	}
	wantAborted(t, l)
	want := "[1:a=c1 7:b=2 8:y=c2 10:x=1 11:w=1]"
	wantView(t, l, want)

	// Before the horizon it stays, at the horizon it goes.
	o.put(0, false, kv{"v", "1", false}) // 12
	roll(t, l)
	maintainAt(t, m, l, 1029)
	if batchAt(physical(t, l), 6) == nil {
		t.Fatal("ABORT removed before its delete horizon")
	}
	o.put(0, false, kv{"u", "1", false}) // 13
	roll(t, l)
	maintainAt(t, m, l, 1030)
	bs = physical(t, l)
	if fmt.Sprint(bases(bs)) != "[1 5 7 8 9 10 11 12 13]" {
		t.Fatalf("batches %v after the horizon", bases(bs))
	}
	want = "[1:a=c1 7:b=2 8:y=c2 10:x=1 11:w=1 12:v=1 13:u=1]"
	wantView(t, l, want)

	// Reopened, the log and its producers are the same.
	producers := l.ActiveProducers()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	wantView(t, l2, want)
	wantAborted(t, l2)
	if got := l2.ActiveProducers(); !slices.Equal(got, producers) {
		t.Fatalf("producers after reopen %+v, want %+v", got, producers)
	}
}

// TestCleanerCommittedTxn: committed transactional records are compacted
// by key with the others, both ways; the COMMIT stays while its
// transaction has a batch, and goes in two passes once it has none.
func TestCleanerCommittedTxn(t *testing.T) {
	m, l, _ := newTestLog(t, compactConfig())
	defer m.Close()
	o := newKeyedOps(t, l)
	o.put(0, false, kv{"c", "0", false})                                             // 0
	o.put(1, true, kv{"a", "c1", false}, kv{"b", "c1", false}, kv{"c", "c1", false}) // 1-3: shadows 0
	o.end(1, true)                                                                   // 4
	o.put(0, false, kv{"a", "2", false})                                             // 5
	o.put(0, false, kv{"b", "2", false})                                             // 6
	roll(t, l)
	o.put(1, true, kv{"p", "c2", false}) // 7: producer 1's last batch
	o.end(1, true)                       // 8
	roll(t, l)
	maintainAt(t, m, l, 10)
	wantView(t, l, "[3:c=c1 5:a=2 6:b=2 7:p=c2]")
	bs := physical(t, l)
	if fmt.Sprint(bases(bs)) != "[1 4 5 6 7 8]" || batchAt(bs, 1).h.NumRecords != 1 || batchAt(bs, 1).h.LastOffsetDelta != 2 {
		t.Fatalf("batches %v, first %+v", bases(bs), bs[0].h)
	}
	o.put(0, false, kv{"c", "3", false}) // 9: shadows 3, the last of the transaction
	roll(t, l)
	maintainAt(t, m, l, 20)
	bs = physical(t, l)
	if fmt.Sprint(bases(bs)) != "[4 5 6 7 8 9]" || markerHorizon(t, batchAt(bs, 4), true) != -1 {
		t.Fatalf("batches %v: the data goes, the marker stays", bases(bs))
	}
	o.put(0, false, kv{"q", "1", false}) // 10
	roll(t, l)
	maintainAt(t, m, l, 30)
	bs = physical(t, l)
	if h := markerHorizon(t, batchAt(bs, 4), true); h != at(1030).UnixMilli() {
		t.Fatalf("COMMIT's horizon %d", h)
	}
	if markerHorizon(t, batchAt(bs, 8), true) != -1 {
		t.Fatal("the second COMMIT, whose batch stays, got a horizon")
	}
	o.put(0, false, kv{"r", "1", false}) // 11
	roll(t, l)
	maintainAt(t, m, l, 2000)
	bs = physical(t, l)
	if fmt.Sprint(bases(bs)) != "[5 6 7 8 9 10 11]" {
		t.Fatalf("batches %v after the horizon", bases(bs))
	}
	wantView(t, l, "[5:a=2 6:b=2 7:p=c2 9:c=3 10:q=1 11:r=1]")
}

// TestCleanerOpenTxnUntouched: with a transaction open, nothing from the
// segment holding its start on is cleaned, sealed and below the high
// watermark though it is; once it is aborted the next pass removes it.
func TestCleanerOpenTxnUntouched(t *testing.T) {
	m, l, dir := newTestLog(t, compactConfig())
	defer m.Close()
	o := newKeyedOps(t, l)
	o.put(0, false, kv{"a", "1", false}) // 0
	o.put(0, false, kv{"a", "2", false}) // 1
	roll(t, l)
	o.put(1, true, kv{"a", "open", false}) // 2: open
	o.put(0, false, kv{"a", "3", false})   // 3
	o.put(0, false, kv{"b", "1", false})   // 4
	roll(t, l)
	o.put(0, false, kv{"b", "2", false}) // 5
	roll(t, l)
	if l.LastStableOffset() != 2 || l.HighWatermark() != 6 {
		t.Fatalf("LSO %d HW %d", l.LastStableOffset(), l.HighWatermark())
	}
	file := func(base int64) []byte {
		b, err := os.ReadFile(segFile(dir, base, logSuffix))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	seg2, seg5 := file(2), file(5)
	maintainAt(t, m, l, 10)
	// Only segment 0 is cleaned, with a map of its own keys.
	wantView(t, l, "[1:a=2]")
	if !bytes.Equal(file(2), seg2) || !bytes.Equal(file(5), seg5) {
		t.Fatal("a segment at or above the last stable offset was rewritten")
	}
	if fmt.Sprint(bases(physical(t, l))) != "[1 2 3 4 5]" {
		t.Fatalf("batches %v", bases(physical(t, l)))
	}
	o.end(1, false) // 6
	roll(t, l)
	wantView(t, l, "[1:a=2 3:a=3 4:b=1 5:b=2]")
	maintainAt(t, m, l, 20)
	wantView(t, l, "[3:a=3 5:b=2]")
	// Offset 2, producer 1's last data batch, stays empty, and so its
	// marker and entry.
	bs := physical(t, l)
	if fmt.Sprint(bases(bs)) != "[2 3 5 6]" || batchAt(bs, 2).h.NumRecords != 0 {
		t.Fatalf("batches %v", bases(bs))
	}
	wantAborted(t, l, AbortedTxn{1, 2, 6, 7})
}

// TestCleanerEpochMarkerKeptEmpty: a producer whose epoch the coordinator
// bumped with an ABORT (no data in the new epoch) keeps that marker for
// its state: past the horizon it stays as an empty control batch, and a
// producer state rebuilt from the log still fences the old epoch.
func TestCleanerEpochMarkerKeptEmpty(t *testing.T) {
	m, l, dir := newTestLog(t, compactConfig())
	o := newKeyedOps(t, l)
	o.put(1, true, kv{"a", "x", false})                              // 0, epoch 0
	if _, err := l.AppendMarker(1, 1, false, 0, 0, t0); err != nil { // 1, epoch 1
		t.Fatal(err)
	}
	o.put(0, false, kv{"b", "1", false}) // 2
	roll(t, l)
	maintainAt(t, m, l, 10)
	if fmt.Sprint(bases(physical(t, l))) != "[1 2]" {
		t.Fatalf("batches %v: the aborted batch goes, the marker stays", bases(physical(t, l)))
	}
	wantAborted(t, l, AbortedTxn{1, 0, 1, 2})
	o.put(0, false, kv{"c", "1", false}) // 3
	roll(t, l)
	maintainAt(t, m, l, 20)
	if markerHorizon(t, batchAt(physical(t, l), 1), false) != at(1020).UnixMilli() {
		t.Fatal("no delete horizon")
	}
	wantAborted(t, l)
	for i, ms := range []int64{2000, 3000} {
		o.put(0, false, kv{fmt.Sprint("d", i), "1", false})
		roll(t, l)
		maintainAt(t, m, l, ms)
		mk := batchAt(physical(t, l), 1)
		if mk == nil || mk.h.NumRecords != 0 || !mk.h.IsControl() || mk.h.ProducerEpoch != 1 || mk.h.Size() != records.HeaderSize {
			t.Fatalf("pass at %d: producer 1's marker %+v", ms, mk)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	snaps, _ := filepath.Glob(filepath.Join(partDir(dir), "*.snapshot"))
	for _, s := range snaps {
		os.Remove(s)
	}
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	if ps := l2.ActiveProducers(); len(ps) != 1 || ps[0].ProducerID != 1 || ps[0].Epoch != 1 || ps[0].CurrentTxnStartOffset != -1 {
		t.Fatalf("producers rebuilt from the log: %+v", ps)
	}
	if _, err := l2.AppendAsLeader(keyedBatch(1, 1, true, kv{"z", "1", false}), 0, t0); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("append with the fenced epoch: %v", err)
	}
}

// TestCleanerMarkerBelowSnapshot: a marker without data keeps its record
// while a producer snapshot at or below it exists (a replay from the
// snapshot needs the marker to close the transaction).
func TestCleanerMarkerBelowSnapshot(t *testing.T) {
	b := records.BuildMarker(records.MarkerBatch{BaseOffset: 10, ProducerID: 1, Timestamp: t0.UnixMilli(), Marker: records.Marker{Commit: true}})
	h, err := records.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	p := &cleanPass{nowMs: 5000, markerHorizon: 6000, firstSnapshot: 10}
	withHorizon, err := p.markerWithoutData(b, &h, false)
	if err != nil {
		t.Fatal(err)
	}
	hh, _ := records.ParseHeader(withHorizon)
	if hh.Attributes&records.AttrDeleteHorizon == 0 || hh.FirstTimestamp != 6000 || records.CheckCRC(withHorizon, &hh) != nil {
		t.Fatalf("horizon not set: %+v", hh)
	}
	p.nowMs = 7000
	if out, _ := p.markerWithoutData(withHorizon, &hh, false); !bytes.Equal(out, withHorizon) {
		t.Fatal("marker removed with a snapshot at its offset")
	}
	p.firstSnapshot = 11
	if out, _ := p.markerWithoutData(withHorizon, &hh, false); out != nil {
		t.Fatal("marker kept past its horizon, above every snapshot")
	}
	out, _ := p.markerWithoutData(withHorizon, &hh, true)
	eh, _ := records.ParseHeader(out)
	if eh.NumRecords != 0 || !eh.IsControl() || eh.Attributes&records.AttrDeleteHorizon != 0 || eh.ProducerID != 1 || records.CheckCRC(out, &eh) != nil {
		t.Fatalf("empty marker kept for the producer: %+v", eh)
	}
}

// TestCleanerTxnCrashMidSwap: a crash in the swap of a cleaned segment
// with transactions: the next open completes it and recovery rebuilds the
// transaction index; read_committed sees the same records.
func TestCleanerTxnCrashMidSwap(t *testing.T) {
	ffs, m, l, dir := faultyCompactLog(t)
	o := newKeyedOps(t, l)
	o.put(1, true, kv{"a", "ab", false}) // 0
	o.put(0, false, kv{"a", "1", false}) // 1
	o.end(1, false)                      // 2
	o.put(2, true, kv{"b", "c", false})  // 3
	o.end(2, true)                       // 4
	o.put(0, false, kv{"a", "2", false}) // 5
	roll(t, l)
	want := "[1:a=1 3:b=c 5:a=2]"
	wantView(t, l, want)
	ffs.FailAfter(vfs.OpRename, 2, false, segmentName(0)+logSuffix)
	m.Maintain(at(10))
	if _, err := os.Stat(segFile(dir, 0, logSuffix+swapSuffix)); err != nil {
		t.Fatalf("swap file: %v", err)
	}
	m.Close()
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	l2.SetHighWatermark(l2.LogEndOffset())
	wantView(t, l2, "[3:b=c 5:a=2]")
	// Rebuilt from the kept (empty) batch of producer 1 and its marker.
	wantAborted(t, l2, AbortedTxn{1, 0, 2, 3})
	if ms, _ := filepath.Glob(filepath.Join(partDir(dir), "*.swap")); len(ms) > 0 {
		t.Fatalf("leftover %v", ms)
	}
}

// TestCleanerTxnProperty: random interleavings of transactional (committed,
// aborted, open), idempotent and plain batches, rolls, high watermark moves
// and cleaner passes. Each pass keeps what read_committed showed before it
// but for older records of a key (and tombstones past
// delete.retention.ms), and leaves everything from the last stable offset
// on as it was; a transaction's batches never outlive its marker. At the
// end, with every transaction decided and every segment cleaned, the log
// holds exactly the last record of each key, no aborted record, and only
// the markers of transactions with batches left; reopening, cleanly or
// after a crash that lost the transaction indexes and producer snapshots,
// gives the same records and producers that go on where they were.
func TestCleanerTxnProperty(t *testing.T) {
	for seed := int64(1); seed <= 16; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { cleanerTxnProperty(t, seed, 150) })
	}
}

type genTxn struct {
	pid           int64
	first, marker int64
	commit        bool
}

type txnGen struct {
	t      *testing.T
	rng    *rand.Rand
	m      *Manager
	l      *Log
	o      *keyedOps
	nowMs  int64
	n      int
	open   map[int64]int64 // producer → first offset of its open transaction
	txnRec map[int64][]visible
	txns   []genTxn
	model  []visible      // what read_committed must show before any cleaning
	abort  map[int64]bool // offsets of aborted records
	last   [2]int32       // producer 10's last batch: sequence, records
}

const genIdem = 10

func (g *txnGen) records() []kv {
	kvs := make([]kv, 1+g.rng.Intn(3))
	for i := range kvs {
		g.n++
		kvs[i] = kv{key: fmt.Sprintf("k%d", g.rng.Intn(8)), value: fmt.Sprint(g.n)}
		switch r := g.rng.Intn(100); {
		case r < 5:
			kvs[i].key = "-"
		case r < 15:
			kvs[i].del = true
		}
	}
	return kvs
}

func asVisible(base int64, kvs []kv) []visible {
	out := make([]visible, len(kvs))
	for i, r := range kvs {
		out[i] = visible{base + int64(i), r.key, r.value, r.key == "-", r.del}
		if r.key == "-" {
			out[i].key = ""
		}
		if r.del {
			out[i].value = ""
		}
	}
	return out
}

func (g *txnGen) openPID() (int64, bool) {
	var ps []int64
	for p := range g.open {
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return 0, false
	}
	slices.Sort(ps)
	return ps[g.rng.Intn(len(ps))], true
}

func (g *txnGen) decide(pid int64, commit bool) {
	off := g.o.end(pid, commit)
	g.txns = append(g.txns, genTxn{pid, g.open[pid], off, commit})
	for _, v := range g.txnRec[pid] {
		if commit {
			g.model = append(g.model, v)
		} else {
			g.abort[v.off] = true
		}
	}
	delete(g.open, pid)
	delete(g.txnRec, pid)
}

func (g *txnGen) step() {
	switch r := g.rng.Intn(100); {
	case r < 30:
		pid := int64(1 + g.rng.Intn(3))
		kvs := g.records()
		off := g.o.put(pid, true, kvs...)
		if _, ok := g.open[pid]; !ok {
			g.open[pid] = off
		}
		g.txnRec[pid] = append(g.txnRec[pid], asVisible(off, kvs)...)
	case r < 40:
		if pid, ok := g.openPID(); ok {
			g.decide(pid, true)
		}
	case r < 48:
		if pid, ok := g.openPID(); ok {
			g.decide(pid, false)
		}
	case r < 63:
		kvs := g.records()
		g.model = append(g.model, asVisible(g.o.put(0, false, kvs...), kvs)...)
	case r < 72:
		kvs := g.records()
		g.last = [2]int32{g.o.seq[genIdem], int32(len(kvs))}
		g.model = append(g.model, asVisible(g.o.put(genIdem, false, kvs...), kvs)...)
	case r < 85:
		if g.l.activeSegmentSize() > 0 {
			roll(g.t, g.l)
		}
	case r < 90:
		g.l.SetHighWatermark(g.l.LogEndOffset())
	default:
		g.pass(300 + g.rng.Int63n(400))
	}
}

// pass runs a cleaner pass dt ms later and checks it against the log as it
// was.
func (g *txnGen) pass(dt int64) {
	t, l := g.t, g.l
	t.Helper()
	lso, leo, start := l.LastStableOffset(), l.LogEndOffset(), l.LogStartOffset()
	maxBytes := int32(60 + g.rng.Intn(1000))
	before := readCommitted(t, l, maxBytes)
	var tail []physBatch
	for _, b := range physical(t, l) {
		if b.h.BaseOffset >= lso {
			tail = append(tail, b)
		}
	}
	tailAborted, err := l.AbortedTransactions(lso, leo)
	if err != nil {
		t.Fatal(err)
	}
	g.nowMs += dt
	maintainAt(t, g.m, l, g.nowMs)
	if l.LastStableOffset() != lso || l.LogEndOffset() != leo || l.LogStartOffset() != start {
		t.Fatalf("offsets moved: LSO %d→%d, LEO %d→%d, start %d→%d", lso, l.LastStableOffset(), leo, l.LogEndOffset(), start, l.LogStartOffset())
	}
	after := readCommitted(t, l, maxBytes)
	// Kept: a subset of what was shown, with the last record of each key
	// (unless a tombstone past delete.retention.ms: every batch here has
	// timestamp t0) and every record without a key.
	was := map[visible]bool{}
	lastOf := map[string]visible{}
	for _, v := range before {
		was[v] = true
		if !v.nilKey {
			lastOf[v.key] = v
		}
	}
	is := map[visible]bool{}
	for _, v := range after {
		if !was[v] {
			t.Fatalf("pass at %d: %v shown after cleaning, not before\nbefore %v\nafter  %v", g.nowMs, v, before, after)
		}
		is[v] = true
	}
	expired := at(g.nowMs).UnixMilli()-compactConfig().DeleteRetentionMs > t0.UnixMilli()
	for _, v := range before {
		if (v.nilKey || lastOf[v.key] == v) && !is[v] && !(v.del && expired) {
			t.Fatalf("pass at %d: %v lost\nbefore %v\nafter  %v", g.nowMs, v, before, after)
		}
	}
	// Untouched from the last stable offset on.
	var tailAfter []physBatch
	for _, b := range physical(t, l) {
		if b.h.BaseOffset >= lso {
			tailAfter = append(tailAfter, b)
		}
	}
	if len(tail) != len(tailAfter) {
		t.Fatalf("pass at %d: %d batches from the LSO %d, %d before", g.nowMs, len(tailAfter), lso, len(tail))
	}
	for i := range tail {
		if !bytes.Equal(tail[i].b, tailAfter[i].b) {
			t.Fatalf("pass at %d: batch %d (above the LSO %d) changed", g.nowMs, tail[i].h.BaseOffset, lso)
		}
	}
	if as, _ := l.AbortedTransactions(lso, leo); !slices.Equal(as, tailAborted) {
		t.Fatalf("pass at %d: aborted transactions from the LSO %+v, were %+v", g.nowMs, as, tailAborted)
	}
	g.checkMarkers(physical(t, l))
}

// checkMarkers: a decided transaction with a batch left in the log has its
// marker, readable (a replay of producer state must see it end).
func (g *txnGen) checkMarkers(bs []physBatch) {
	g.t.Helper()
	for _, tx := range g.txns {
		data := false
		for _, b := range bs {
			if !b.h.IsControl() && b.h.ProducerID == tx.pid && b.h.BaseOffset >= tx.first && b.h.BaseOffset < tx.marker {
				data = true
			}
		}
		mk := batchAt(bs, tx.marker)
		if data && (mk == nil || markerOf(mk.b, &mk.h) == nil) {
			g.t.Fatalf("transaction %+v: a batch left without its marker (batches %v)", tx, bases(bs))
		}
	}
}

func (l *Log) activeSegmentSize() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.activeLocked().size.Load()
}

func cleanerTxnProperty(t *testing.T, seed int64, steps int) {
	cfg := compactConfig()
	cfg.SegmentBytes = 700 // a few batches a segment, and merged runs
	if seed%2 == 0 {
		// Rewritten segments' old files wait: the next passes leave
		// those segments out, following their batches only.
		cfg.FileDeleteDelayMs = 500
	}
	m, l, dir := newTestLog(t, cfg)
	g := &txnGen{t: t, rng: rand.New(rand.NewSource(seed)), m: m, l: l, o: newKeyedOps(t, l),
		open: map[int64]int64{}, txnRec: map[int64][]visible{}, abort: map[int64]bool{}}
	for range steps {
		g.step()
	}
	// Decide everything, then pass until all is clean.
	for {
		pid, ok := g.openPID()
		if !ok {
			break
		}
		g.decide(pid, g.rng.Intn(2) == 0)
	}
	for i := range 6 {
		kvs := []kv{{fmt.Sprintf("fill%d", i), "x", false}}
		g.model = append(g.model, asVisible(g.o.put(0, false, kvs...), kvs)...)
		roll(t, l)
		g.pass(700)
	}
	// Exactly the last record of each key (no tombstone: past
	// delete.retention.ms) and those without a key.
	sort.Slice(g.model, func(i, j int) bool { return g.model[i].off < g.model[j].off })
	lastOf := map[string]int64{}
	for _, v := range g.model {
		lastOf[v.key] = v.off
	}
	var want []visible
	for _, v := range g.model {
		if v.nilKey || (lastOf[v.key] == v.off && !v.del) {
			want = append(want, v)
		}
	}
	wantS := viewString(want)
	wantView(t, l, wantS)
	bs := physical(t, l)
	for _, b := range bs {
		if b.h.IsControl() {
			continue
		}
		records.Records(b.b, 0, func(r *records.Record) error {
			if o := b.h.BaseOffset + int64(r.OffsetDelta); g.abort[o] {
				t.Fatalf("aborted record at %d left", o)
			}
			return nil
		})
	}
	// Markers: only those of transactions with a batch left, and the
	// ABORTs among them indexed.
	var entries []int64
	for _, tx := range g.txns {
		data := false
		for _, b := range bs {
			if !b.h.IsControl() && b.h.ProducerID == tx.pid && b.h.BaseOffset >= tx.first && b.h.BaseOffset < tx.marker {
				data = true
			}
		}
		mk := batchAt(bs, tx.marker)
		if !data && mk != nil && mk.h.NumRecords > 0 {
			t.Fatalf("transaction %+v without data: its marker is left", tx)
		}
		if data && !tx.commit {
			entries = append(entries, tx.marker)
		}
	}
	slices.Sort(entries)
	as, err := l.AbortedTransactions(0, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, a := range as {
		got = append(got, a.LastOffset)
	}
	if !slices.Equal(got, entries) {
		t.Fatalf("index entries at %v, want the ABORTs with data %v", got, entries)
	}

	// A clean reopen keeps everything.
	producers := l.ActiveProducers()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, l2 := reopen(t, dir)
	wantView(t, l2, wantS)
	if as2, _ := l2.AbortedTransactions(0, l2.LogEndOffset()); !slices.Equal(as2, as) {
		t.Fatalf("aborted after reopen %+v, want %+v", as2, as)
	}
	if got := l2.ActiveProducers(); !slices.Equal(got, producers) {
		t.Fatalf("producers after reopen %+v\nwant %+v", got, producers)
	}
	// A crash that loses the transaction indexes and the producer
	// snapshots: rebuilt from the cleaned log.
	crash(m2)
	for _, pat := range []string{"*" + txnIndexSuffix, "*.snapshot"} {
		fs, _ := filepath.Glob(filepath.Join(partDir(dir), pat))
		for _, f := range fs {
			os.Remove(f)
		}
	}
	os.Remove(filepath.Join(dir, "recovery-point-offset-checkpoint")) // recover every segment
	m3, l3 := reopen(t, dir)
	defer m3.Close()
	l3.SetHighWatermark(l3.LogEndOffset())
	wantView(t, l3, wantS)
	if l3.LastStableOffset() != l3.LogEndOffset() {
		t.Fatalf("LSO %d after recovery, LEO %d: a transaction reopened", l3.LastStableOffset(), l3.LogEndOffset())
	}
	// The producers go on where they were: the idempotent one's last
	// batch is still a duplicate, the next sequences are accepted.
	o := &keyedOps{t: t, l: l3, seq: g.o.seq}
	if g.last[1] > 0 {
		kvs := make([]kv, g.last[1])
		for i := range kvs {
			kvs[i] = kv{"dup", "x", false}
		}
		r, err := l3.AppendAsLeader(keyedBatch(genIdem, g.last[0], false, kvs...), 0, t0)
		if err != nil || !r.Duplicate {
			t.Fatalf("retry of producer %d's last batch: %+v %v", genIdem, r, err)
		}
		o.put(genIdem, false, kv{"next", "1", false})
	}
	for pid := int64(1); pid <= 3; pid++ {
		if o.seq[pid] > 0 {
			o.put(pid, true, kv{"next", "1", false})
			o.end(pid, true)
		}
	}
	l3.SetHighWatermark(l3.LogEndOffset())
	if l3.LastStableOffset() != l3.LogEndOffset() {
		t.Fatalf("LSO %d, LEO %d after the producers' next transactions", l3.LastStableOffset(), l3.LogEndOffset())
	}
}
