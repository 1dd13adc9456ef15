package storage

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

func TestAppendReadRoundTrip(t *testing.T) {
	m, l, _ := newTestLog(t, testConfig())
	defer m.Close()
	var want []byte
	for i := 0; i < 5; i++ {
		b := makeBatch(batchSpec{records: 3, valueSize: 50})
		if _, err := l.AppendAsLeader(b, 7, at(int64(i))); err != nil {
			t.Fatal(err)
		}
		want = append(want, b...) // b now carries its offsets and epoch
	}
	l.SetHighWatermark(l.LogEndOffset())
	res, err := l.Read(0, 1<<20, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Records, want) {
		t.Fatalf("read %d bytes, want the %d appended", len(res.Records), len(want))
	}
	if res.LogEndOffset != 15 || res.HighWatermark != 15 || res.LogStartOffset != 0 {
		t.Fatalf("offsets in result: %+v", res)
	}
	// A read from inside the third batch starts at the third batch.
	res, err = l.Read(7, 1<<20, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	hs := batchesOf(t, res.Records)
	if len(hs) != 3 || hs[0].BaseOffset != 6 {
		t.Fatalf("read from 7: %d batches, first at %d", len(hs), hs[0].BaseOffset)
	}
	// The log end offset reads nothing; past it is out of range.
	if res, err := l.Read(15, 1<<20, -1, false); err != nil || len(res.Records) != 0 {
		t.Fatalf("read at LEO: %d bytes, %v", len(res.Records), err)
	}
	if _, err := l.Read(16, 1<<20, -1, false); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past LEO: %v", err)
	}
}

func TestOffsetsAssigned(t *testing.T) {
	m, l, _ := newTestLog(t, testConfig())
	defer m.Close()
	set := append(makeBatch(batchSpec{records: 2}), makeBatch(batchSpec{records: 5})...)
	r, err := l.AppendAsLeader(set, 4, t0)
	if err != nil {
		t.Fatal(err)
	}
	if r.BaseOffset != 0 || r.LastOffset != 6 || r.LogAppendTime != -1 || r.Duplicate {
		t.Fatalf("first append: %+v", r)
	}
	r = mustAppend(t, l, batchSpec{records: 3}, 4, t0)
	if r.BaseOffset != 7 || r.LastOffset != 9 {
		t.Fatalf("second append: %+v", r)
	}
	res, err := l.Read(0, 1<<20, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	hs := batchesOf(t, res.Records)
	wantBase := []int64{0, 2, 7}
	for i, h := range hs {
		if h.BaseOffset != wantBase[i] || h.PartitionLeaderEpoch != 4 {
			t.Errorf("batch %d: base %d epoch %d, want %d epoch 4", i, h.BaseOffset, h.PartitionLeaderEpoch, wantBase[i])
		}
	}
	if l.LogEndOffset() != 10 {
		t.Fatalf("LEO %d", l.LogEndOffset())
	}
	// Garbage is rejected without changing the log.
	if _, err := l.AppendAsLeader([]byte{1, 2, 3}, 4, t0); !errors.Is(err, ErrInvalidSet) {
		t.Fatalf("garbage append: %v", err)
	}
}

func TestRollOnSegmentBytes(t *testing.T) {
	cfg := testConfig()
	size := int64(len(makeBatch(batchSpec{valueSize: 100})))
	cfg.SegmentBytes = 3 * size
	m, l, dir := newTestLog(t, cfg)
	defer m.Close()
	for i := 0; i < 10; i++ {
		mustAppend(t, l, batchSpec{valueSize: 100}, 0, t0)
	}
	got := segmentBases(t, dir)
	want := []int64{0, 3, 6, 9}
	if len(got) != len(want) {
		t.Fatalf("segments %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("segments %v, want %v", got, want)
		}
	}
	// Sealed segments' indexes are written at roll, holding exactly their
	// entries; the active one's live in memory until a flush.
	st, _ := os.Stat(segFile(dir, 0, indexSuffix))
	if st.Size()%offsetEntrySize != 0 || st.Size() >= int64(cfg.SegmentIndexBytes) {
		t.Fatalf("sealed index size %d", st.Size())
	}
	if _, err := os.Stat(segFile(dir, 9, indexSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("active index written before any flush: %v", err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	n := l.activeLocked().idx.n
	l.mu.Unlock()
	if st, err := os.Stat(segFile(dir, 9, indexSuffix)); err != nil || st.Size() != int64(n*offsetEntrySize) {
		t.Fatalf("active index after Flush: %v, want %d entries", err, n)
	}
	// Reads cross segments one batch at a time.
	for off := int64(0); off < 10; off++ {
		res, err := l.Read(off, 1<<20, -1, false)
		if err != nil {
			t.Fatal(err)
		}
		hs := batchesOf(t, res.Records)
		if len(hs) == 0 || hs[0].BaseOffset != off {
			t.Fatalf("read %d: %v", off, hs)
		}
	}
}

func TestRollOnSegmentMs(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentMs = 1000
	m, l, dir := newTestLog(t, cfg)
	defer m.Close()
	mustAppend(t, l, batchSpec{}, 0, at(0))
	mustAppend(t, l, batchSpec{}, 0, at(500))
	mustAppend(t, l, batchSpec{}, 0, at(1000))
	if n := len(segmentBases(t, dir)); n != 1 {
		t.Fatalf("%d segments before segment.ms elapsed", n)
	}
	mustAppend(t, l, batchSpec{}, 0, at(1001))
	if got := segmentBases(t, dir); len(got) != 2 || got[1] != 3 {
		t.Fatalf("segments %v after segment.ms", got)
	}
	// The new segment's age counts from its own first append.
	mustAppend(t, l, batchSpec{}, 0, at(1500))
	if n := len(segmentBases(t, dir)); n != 2 {
		t.Fatalf("%d segments", n)
	}
}

func TestRollOnFullIndex(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentIndexBytes = 3 * offsetEntrySize // 3 offset entries, 2 time entries
	cfg.IndexIntervalBytes = 1
	m, l, dir := newTestLog(t, cfg)
	defer m.Close()
	// Every batch after the first of a segment adds an offset index entry,
	// and (timestamps grow) a time index entry: the time index (2 entries)
	// fills after 3 batches.
	for i := 0; i < 7; i++ {
		mustAppend(t, l, batchSpec{ts: t0.UnixMilli() + int64(i)*10}, 0, t0)
	}
	got := segmentBases(t, dir)
	if len(got) != 3 || got[1] != 3 || got[2] != 6 {
		t.Fatalf("segments %v, want [0 3 6]", got)
	}
	// Reads through the (full) indexes still find every batch.
	for off := int64(0); off < 7; off++ {
		res, err := l.Read(off, 1<<20, -1, false)
		if err != nil || batchesOf(t, res.Records)[0].BaseOffset != off {
			t.Fatalf("read %d: %v", off, err)
		}
	}
}

func TestReadLimits(t *testing.T) {
	m, l, _ := newTestLog(t, testConfig())
	defer m.Close()
	var sizes []int
	for i := 0; i < 5; i++ {
		b := makeBatch(batchSpec{records: 2, valueSize: 100})
		sizes = append(sizes, len(b))
		if _, err := l.AppendAsLeader(b, 0, t0); err != nil {
			t.Fatal(err)
		}
	}
	one := int32(sizes[0])
	tests := []struct {
		name        string
		offset      int64
		maxBytes    int32
		maxOffset   int64
		minOne      bool
		wantBatches int
		wantFirst   int64
	}{
		{"all", 0, 1 << 20, -1, false, 5, 0},
		{"maxBytes exactly two batches", 0, 2 * one, -1, false, 2, 0},
		{"maxBytes two and a half", 0, 2*one + one/2, -1, false, 2, 0},
		{"maxBytes below one batch", 0, one - 1, -1, false, 0, 0},
		{"minOneBatch returns whole first batch", 0, 10, -1, true, 1, 0},
		{"minOneBatch from the middle", 5, 10, -1, true, 1, 4},
		{"maxOffset stops before batch at 6", 0, 1 << 20, 6, false, 3, 0},
		{"maxOffset inside a batch includes it", 0, 1 << 20, 5, false, 3, 0},
		{"offset at maxOffset reads nothing", 6, 1 << 20, 6, true, 0, 0},
		{"offset past maxOffset reads nothing", 8, 1 << 20, 6, true, 0, 0},
		{"maxOffset 0 reads nothing", 0, 1 << 20, 0, true, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := l.Read(tc.offset, tc.maxBytes, tc.maxOffset, tc.minOne)
			if err != nil {
				t.Fatal(err)
			}
			hs := batchesOf(t, res.Records)
			if len(hs) != tc.wantBatches {
				t.Fatalf("%d batches, want %d", len(hs), tc.wantBatches)
			}
			if len(hs) > 0 && hs[0].BaseOffset != tc.wantFirst {
				t.Fatalf("first batch %d, want %d", hs[0].BaseOffset, tc.wantFirst)
			}
		})
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes = 1
	cfg.SegmentBytes = 3 * int64(len(makeBatch(batchSpec{records: 2})))
	cfg.RetentionMs = -1 // the timestamps below are ancient
	m, l, _ := newTestLog(t, cfg)
	defer m.Close()
	// Batches of 2 records at ts 1000,1001 / 2000,2001 / ... / 8000,8001.
	for i := int64(1); i <= 8; i++ {
		mustAppend(t, l, batchSpec{records: 2, ts: i * 1000}, 0, t0)
	}
	tests := []struct {
		ts       int64
		wantOff  int64
		wantTs   int64
		wantFind bool
	}{
		{0, 0, 1001, true},
		{1001, 0, 1001, true},
		{1002, 2, 2001, true},
		{2500, 4, 3001, true},
		{5001, 8, 5001, true},
		{7999, 14, 8001, true},
		{8001, 14, 8001, true},
		{8002, -1, -1, false},
	}
	for _, tc := range tests {
		off, ts, ok, err := l.OffsetForTimestamp(tc.ts)
		if err != nil {
			t.Fatal(err)
		}
		if ok != tc.wantFind || (ok && (off != tc.wantOff || ts != tc.wantTs)) {
			t.Errorf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d, %v", tc.ts, off, ts, ok, tc.wantOff, tc.wantTs, tc.wantFind)
		}
	}
	if ts, off := l.MaxTimestampOffset(); ts != 8001 || off != 15 {
		t.Errorf("MaxTimestampOffset = %d, %d", ts, off)
	}
	// After DeleteRecords, answers never go below the log start offset.
	l.SetHighWatermark(l.LogEndOffset())
	if _, err := l.DeleteRecordsBefore(5); err != nil {
		t.Fatal(err)
	}
	if off, _, ok, _ := l.OffsetForTimestamp(0); !ok || off != 5 {
		t.Errorf("after DeleteRecords(5): offset %d ok %v", off, ok)
	}
}

func TestMaxTimestampOffsetNonMonotonic(t *testing.T) {
	m, l, _ := newTestLog(t, testConfig())
	defer m.Close()
	if ts, off := l.MaxTimestampOffset(); ts != -1 || off != -1 {
		t.Fatalf("empty log: %d, %d", ts, off)
	}
	mustAppend(t, l, batchSpec{records: 2, ts: 5000}, 0, t0) // offsets 0-1, max 5001
	mustAppend(t, l, batchSpec{records: 3, ts: 9000}, 0, t0) // offsets 2-4, max 9002
	mustAppend(t, l, batchSpec{records: 1, ts: 100}, 0, t0)  // offset 5
	if ts, off := l.MaxTimestampOffset(); ts != 9002 || off != 4 {
		t.Fatalf("MaxTimestampOffset = %d, %d; want 9002, 4", ts, off)
	}
}

func TestEndOffsetForEpoch(t *testing.T) {
	m, l, dir := newTestLog(t, testConfig())
	// epoch 1: offsets 0-3, epoch 3: 4-5, epoch 5: 6-8
	mustAppend(t, l, batchSpec{records: 2}, 1, t0)
	mustAppend(t, l, batchSpec{records: 2}, 1, t0)
	mustAppend(t, l, batchSpec{records: 2}, 3, t0)
	mustAppend(t, l, batchSpec{records: 3}, 5, t0)
	check := func(l *Log) {
		t.Helper()
		tests := []struct {
			epoch     int32
			wantEpoch int32
			wantEnd   int64
		}{
			{-1, -1, -1},
			{0, 0, 0}, // below every known epoch: (requested, start of first)
			{1, 1, 4},
			{2, 1, 4}, // unknown epoch between: floor epoch, next start
			{3, 3, 6},
			{4, 3, 6},
			{5, 5, 9}, // latest: LEO
			{6, -1, -1},
		}
		for _, tc := range tests {
			e, off := l.EndOffsetForEpoch(tc.epoch)
			if e != tc.wantEpoch || off != tc.wantEnd {
				t.Errorf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", tc.epoch, e, off, tc.wantEpoch, tc.wantEnd)
			}
		}
		if l.LatestEpoch() != 5 {
			t.Errorf("LatestEpoch %d", l.LatestEpoch())
		}
	}
	check(l)
	// New epochs are persisted by the next flush (not by the append).
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(partDir(dir) + "/" + leaderEpochCheckpointFile)
	if err != nil || string(data) != "0\n3\n1 0\n3 4\n5 6\n" {
		t.Fatalf("leader-epoch-checkpoint %q, %v", data, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	check(l2)
	// Truncation drops the epochs past the new end.
	if err := l2.TruncateTo(5); err != nil {
		t.Fatal(err)
	}
	if l2.LogEndOffset() != 4 || l2.LatestEpoch() != 1 {
		t.Fatalf("after TruncateTo(5): LEO %d (batch 4-5 removed whole), latest epoch %d", l2.LogEndOffset(), l2.LatestEpoch())
	}
	if e, off := l2.EndOffsetForEpoch(1); e != 1 || off != 4 {
		t.Fatalf("EndOffsetForEpoch(1) after truncate = %d, %d", e, off)
	}
}

func TestTruncateToAndFollowerAppend(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 2 * int64(len(makeBatch(batchSpec{records: 2})))
	m, l, dir := newTestLog(t, cfg)
	defer m.Close()
	for i := 0; i < 6; i++ {
		mustAppend(t, l, batchSpec{records: 2}, 1, t0) // 0-11, segments 0,4,8
	}
	l.SetHighWatermark(12)
	if err := l.TruncateTo(6); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 6 || l.HighWatermark() != 6 {
		t.Fatalf("LEO %d HW %d after TruncateTo(6)", l.LogEndOffset(), l.HighWatermark())
	}
	if got := segmentBases(t, dir); len(got) != 2 {
		t.Fatalf("segments %v after truncate", got)
	}
	// A follower appends batches with leader-assigned offsets.
	b := makeBatch(batchSpec{records: 3})
	records.SetBaseOffset(b, 6)
	records.SetPartitionLeaderEpoch(b, 2)
	if err := l.AppendAsFollower(b); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 9 || l.LatestEpoch() != 2 {
		t.Fatalf("LEO %d epoch %d after follower append", l.LogEndOffset(), l.LatestEpoch())
	}
	// Offsets going backwards are refused.
	records.SetBaseOffset(b, 3)
	if err := l.AppendAsFollower(b); !errors.Is(err, ErrInvalidSet) {
		t.Fatalf("backwards follower append: %v", err)
	}
	// The follower batch did not fit in segment 4 and rolled a segment at 6;
	// a read returns batches of one segment.
	for _, off := range []int64{4, 6} {
		res, err := l.Read(off, 1<<20, -1, false)
		if err != nil {
			t.Fatal(err)
		}
		if hs := batchesOf(t, res.Records); len(hs) != 1 || hs[0].BaseOffset != off {
			t.Fatalf("read %d after truncate+append: %+v", off, hs)
		}
	}
	// Truncating below the log start offset empties the log.
	if err := l.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 0 || l.Size() != 0 {
		t.Fatalf("LEO %d size %d after TruncateTo(0)", l.LogEndOffset(), l.Size())
	}
}

func TestConcurrentAppendRead(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 64 << 10
	m, l, _ := newTestLog(t, cfg)
	defer m.Close()
	const appends = 400
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := 0; i < appends; i++ {
			if _, err := l.AppendAsLeader(makeBatch(batchSpec{records: 4, valueSize: 200}), 0, t0); err != nil {
				t.Error(err)
				return
			}
			l.SetHighWatermark(l.LogEndOffset())
		}
	}()
	for r := 0; r < 2; r++ {
		go func() {
			defer wg.Done()
			next := int64(0)
			for next < appends*4 {
				res, err := l.Read(next, 16<<10, res0(l), false)
				if err != nil {
					t.Error(err)
					return
				}
				for _, h := range batchesOf(t, res.Records) {
					if h.BaseOffset != next {
						t.Errorf("batch at %d, want %d", h.BaseOffset, next)
						return
					}
					next = h.NextOffset()
				}
				_ = l.Size()
				_, _, _, _ = l.OffsetForTimestamp(0)
			}
		}()
	}
	wg.Wait()
}

func res0(l *Log) int64 { return l.HighWatermark() }

func TestWriteFailure(t *testing.T) {
	dir := t.TempDir()
	ffs := vfs.NewFaulty(vfs.OS)
	m := openManager(t, ffs, dir)
	defer m.Close()
	l, err := m.GetOrCreate(testTP, [16]byte{}, testConfig(), t0)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batchSpec{records: 2}, 0, t0)
	ffs.FailAfter(vfs.OpWrite, 0, false, logSuffix) // the next .log write fails half-way
	_, err = l.AppendAsLeader(makeBatch(batchSpec{records: 3}), 0, t0)
	if !errors.Is(err, ErrKafkaStorage) || !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("append on failing disk: %v", err)
	}
	if l.LogEndOffset() != 2 {
		t.Fatalf("LEO %d after failed append", l.LogEndOffset())
	}
	r := mustAppend(t, l, batchSpec{records: 3}, 0, t0)
	if r.BaseOffset != 2 {
		t.Fatalf("append after failure at %d", r.BaseOffset)
	}
	res, err := l.Read(0, 1<<20, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	if hs := batchesOf(t, res.Records); len(hs) != 2 || hs[1].BaseOffset != 2 {
		t.Fatalf("after recovery from failed write: %+v", hs)
	}
	// When the failed write cannot be undone, the log goes offline.
	ffs.FailAfter(vfs.OpWrite, 0, false, logSuffix)
	ffs.FailAfter(vfs.OpTruncate, 0, false, logSuffix)
	if _, err := l.AppendAsLeader(makeBatch(batchSpec{}), 0, t0); !errors.Is(err, ErrKafkaStorage) {
		t.Fatalf("append: %v", err)
	}
	if _, err := l.AppendAsLeader(makeBatch(batchSpec{}), 0, t0); !errors.Is(err, ErrKafkaStorage) {
		t.Fatalf("append to offline log: %v", err)
	}
	// A failing fsync surfaces from Flush.
	ffs.FailAfter(vfs.OpSync, 0, false, "")
	if err := l.Flush(); !errors.Is(err, ErrKafkaStorage) {
		t.Fatalf("Flush on failing fsync: %v", err)
	}
}

func TestFlushMessages(t *testing.T) {
	dir := t.TempDir()
	ffs := vfs.NewFaulty(vfs.OS)
	m := openManager(t, ffs, dir)
	defer m.Close()
	cfg := testConfig()
	cfg.FlushMessages = 4
	l, err := m.GetOrCreate(testTP, [16]byte{}, cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batchSpec{records: 1}, 0, t0)
	syncs := ffs.Count(vfs.OpSync)
	mustAppend(t, l, batchSpec{records: 2}, 0, t0)
	if ffs.Count(vfs.OpSync) != syncs {
		t.Fatal("fsync before flush.messages reached")
	}
	mustAppend(t, l, batchSpec{records: 1}, 0, t0)
	if ffs.Count(vfs.OpSync) == syncs {
		t.Fatal("no fsync at flush.messages")
	}
	if rp, _, _, _ := l.checkpointValues(); rp != 4 {
		t.Fatalf("recovery point %d", rp)
	}
	// flush.ms through Maintain.
	cfg.FlushMessages = 1 << 62
	cfg.FlushMs = 1000
	l.UpdateConfig(cfg)
	mustAppend(t, l, batchSpec{records: 1}, 0, t0)
	m.Maintain(at(10))
	if rp, _, _, _ := l.checkpointValues(); rp != 4 {
		t.Fatalf("recovery point %d before flush.ms", rp)
	}
	m.Maintain(at(2000))
	if rp, _, _, _ := l.checkpointValues(); rp != 5 {
		t.Fatalf("recovery point %d after flush.ms", rp)
	}
}

func TestClosedLog(t *testing.T) {
	m, l, _ := newTestLog(t, testConfig())
	mustAppend(t, l, batchSpec{}, 0, t0)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendAsLeader(makeBatch(batchSpec{}), 0, t0); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("append to closed log: %v", err)
	}
	if _, err := l.Read(0, 100, -1, true); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("read closed log: %v", err)
	}
}

// TestTruncateDropsEmptyTrailingEpoch: a broker that became leader at an
// epoch (AssignEpoch) and appended nothing before losing the leadership
// keeps that epoch at its log end; truncating to the log end as a
// follower drops it (Kafka's truncateTo), so its last fetched epoch is the
// one its batches have and its new leader can answer it. (The cluster
// chaos test found a follower stuck forever on such an epoch.)
func TestTruncateDropsEmptyTrailingEpoch(t *testing.T) {
	m, l, dir := newTestLog(t, testConfig())
	for i := 0; i < 3; i++ {
		mustAppend(t, l, batchSpec{records: 2}, 0, t0)
	}
	l.AssignEpoch(4)
	if e := l.LatestEpoch(); e != 4 {
		t.Fatalf("latest epoch %d after AssignEpoch(4)", e)
	}
	if err := l.TruncateTo(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if e := l.LatestEpoch(); e != 0 {
		t.Fatalf("latest epoch %d after truncating to the log end, want 0 (the batches')", e)
	}
	if l.LogEndOffset() != 6 {
		t.Fatalf("truncating to the log end cut batches: LEO %d", l.LogEndOffset())
	}
	// And it stays so across a restart (the checkpoint was written).
	m.Close()
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	if e := l2.LatestEpoch(); e != 0 {
		t.Fatalf("latest epoch %d after a restart", e)
	}
}
