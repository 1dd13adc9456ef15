package storage

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// crash abandons a manager without closing it, as SIGKILL would: no
// flush, no snapshot, no checkpoint, no clean-shutdown marker. Its files
// stay open; what it wrote is in the page cache and visible to the next
// open.
func crash(m *Manager) { _ = m }

// appendN appends n batches of 2 records and returns the file position
// (end) after each batch.
func appendN(t *testing.T, l *Log, n int) []int64 {
	t.Helper()
	var ends []int64
	for i := 0; i < n; i++ {
		mustAppend(t, l, batchSpec{records: 2, valueSize: 100, ts: t0.UnixMilli() + int64(i)}, 0, t0)
		ends = append(ends, l.Size())
	}
	return ends
}

func TestRecoveryTornTail(t *testing.T) {
	m, l, dir := newTestLog(t, testConfig())
	ends := appendN(t, l, 5)
	crash(m)
	// Cut the segment in the middle of the last batch.
	cut := ends[3] + (ends[4]-ends[3])/2
	if err := os.Truncate(segFile(dir, 0, logSuffix), cut); err != nil {
		t.Fatal(err)
	}
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	if l2.LogEndOffset() != 8 {
		t.Fatalf("LEO after torn tail %d, want 8", l2.LogEndOffset())
	}
	if st, _ := os.Stat(segFile(dir, 0, logSuffix)); st.Size() != ends[3] {
		t.Fatalf("segment size %d, want %d (cut at the last whole batch)", st.Size(), ends[3])
	}
	r := mustAppend(t, l2, batchSpec{records: 2}, 0, t0)
	if r.BaseOffset != 8 {
		t.Fatalf("append after recovery at %d, want 8", r.BaseOffset)
	}
	res, err := l2.Read(0, 1<<20, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	if hs := batchesOf(t, res.Records); len(hs) != 5 || hs[4].BaseOffset != 8 {
		t.Fatalf("after recovery: %d batches", len(hs))
	}
	if _, err := os.Stat(dir + "/" + cleanShutdownFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("clean shutdown marker present while open: %v", err)
	}
}

func TestRecoveryBitFlipInTail(t *testing.T) {
	cfg := testConfig()
	m, l, dir := newTestLog(t, cfg)
	ends := appendN(t, l, 5)
	crash(m)
	// Flip a bit in the records of the fourth batch: its CRC fails, and
	// everything from it on is dropped.
	f, err := os.OpenFile(segFile(dir, 0, logSuffix), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	pos := ends[2] + 80
	b := make([]byte, 1)
	f.ReadAt(b, pos)
	b[0] ^= 0x10
	f.WriteAt(b, pos)
	f.Close()
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	if l2.LogEndOffset() != 6 {
		t.Fatalf("LEO after bit flip %d, want 6", l2.LogEndOffset())
	}
	if r := mustAppend(t, l2, batchSpec{}, 0, t0); r.BaseOffset != 6 {
		t.Fatalf("next append at %d", r.BaseOffset)
	}
}

func TestRecoveryDeletesSegmentsAfterCorruption(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 2 * int64(len(makeBatch(batchSpec{records: 2, valueSize: 100})))
	m, l, dir := newTestLog(t, cfg)
	appendN(t, l, 6) // segments 0, 4, 8
	crash(m)
	// Corrupt the middle segment's first batch (recovery point is 0: every
	// segment is recovered).
	if err := os.Truncate(segFile(dir, 4, logSuffix), 30); err != nil {
		t.Fatal(err)
	}
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	if l2.LogEndOffset() != 4 {
		t.Fatalf("LEO %d, want 4", l2.LogEndOffset())
	}
	if got := segmentBases(t, dir); len(got) != 2 {
		t.Fatalf("segments %v, want [0 4] (4 empty and active)", got)
	}
}

func TestRecoveryMissingIndexes(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes = 1
	m, l, dir := newTestLog(t, cfg)
	appendN(t, l, 8)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	idx, _ := os.ReadFile(segFile(dir, 0, indexSuffix))
	tidx, _ := os.ReadFile(segFile(dir, 0, timeIndexSuffix))
	if len(idx) != 7*offsetEntrySize || len(tidx) == 0 {
		t.Fatalf("index sizes after close: %d, %d", len(idx), len(tidx))
	}
	os.Remove(segFile(dir, 0, indexSuffix))
	os.Remove(segFile(dir, 0, timeIndexSuffix))
	m2, l2 := reopen(t, dir)
	if l2.LogEndOffset() != 16 {
		t.Fatalf("LEO %d", l2.LogEndOffset())
	}
	for off := int64(0); off < 16; off += 3 {
		res, err := l2.Read(off, 1<<20, -1, false)
		if err != nil || batchesOf(t, res.Records)[0].BaseOffset != off&^1 {
			t.Fatalf("read %d: %v", off, err)
		}
	}
	if off, _, ok, _ := l2.OffsetForTimestamp(t0.UnixMilli() + 5); !ok || off != 8 { // batch 4 (offsets 8-9) has max ts t0+5
		t.Fatalf("OffsetForTimestamp after rebuild: %d %v", off, ok)
	}
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	idx2, _ := os.ReadFile(segFile(dir, 0, indexSuffix))
	tidx2, _ := os.ReadFile(segFile(dir, 0, timeIndexSuffix))
	if string(idx2) != string(idx) || string(tidx2) != string(tidx) {
		t.Fatalf("rebuilt indexes differ from the originals")
	}
}

func TestRecoveryCorruptIndex(t *testing.T) {
	corruptions := []struct {
		name string
		mod  func(b []byte) []byte
	}{
		{"size not a multiple", func(b []byte) []byte { return append(b, 1, 2, 3) }},
		{"entries not increasing", func(b []byte) []byte {
			copy(b[8:16], b[0:8])
			return b
		}},
		{"position past the log", func(b []byte) []byte {
			b[len(b)-4] = 0x7f
			return b
		}},
	}
	for _, c := range corruptions {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.IndexIntervalBytes = 1
			m, l, dir := newTestLog(t, cfg)
			appendN(t, l, 6)
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			path := segFile(dir, 0, indexSuffix)
			orig, _ := os.ReadFile(path)
			os.WriteFile(path, c.mod(append([]byte(nil), orig...)), 0o644)
			m2, l2 := reopen(t, dir)
			for off := int64(0); off < 12; off++ {
				res, err := l2.Read(off, 1<<20, -1, false)
				if err != nil || batchesOf(t, res.Records)[0].BaseOffset != off&^1 {
					t.Fatalf("read %d: %v", off, err)
				}
			}
			m2.Close()
			if got, _ := os.ReadFile(path); string(got) != string(orig) {
				t.Fatalf("index not rebuilt to the original")
			}
		})
	}
}

func TestRecoveryAfterCleanShutdownKeepsState(t *testing.T) {
	m, l, dir := newTestLog(t, testConfig())
	appendN(t, l, 3)
	l.SetHighWatermark(4)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/" + cleanShutdownFile); err != nil {
		t.Fatalf("no clean shutdown marker after Close: %v", err)
	}
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	if l2.LogEndOffset() != 6 || l2.HighWatermark() != 4 || l2.TopicID() != [16]byte{1, 2, 3} {
		t.Fatalf("after reopen: LEO %d HW %d id %x", l2.LogEndOffset(), l2.HighWatermark(), l2.TopicID())
	}
	if _, err := os.Stat(dir + "/" + cleanShutdownFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker not removed on open")
	}
	// The reopened active segment keeps appending with indexes.
	if r := mustAppend(t, l2, batchSpec{}, 0, t0); r.BaseOffset != 6 {
		t.Fatalf("append at %d", r.BaseOffset)
	}
}

func TestRecoveryLeftovers(t *testing.T) {
	m, l, dir := newTestLog(t, testConfig())
	appendN(t, l, 2)
	m.Close()
	for _, name := range []string{"00000000000000000099.index", "00000000000000000001.log.deleted", "leader-epoch-checkpoint.tmp"} {
		os.WriteFile(partDir(dir)+"/"+name, []byte("x"), 0o644)
	}
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	for _, name := range []string{"00000000000000000099.index", "00000000000000000001.log.deleted", "leader-epoch-checkpoint.tmp"} {
		if _, err := os.Stat(partDir(dir) + "/" + name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("leftover %s not removed", name)
		}
	}
	if l2.LogEndOffset() != 4 {
		t.Fatalf("LEO %d", l2.LogEndOffset())
	}
}

func TestRecoveryStartsAtRecoveryPoint(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 2 * int64(len(makeBatch(batchSpec{records: 2, valueSize: 100})))
	m, l, dir := newTestLog(t, cfg)
	appendN(t, l, 4) // segments 0 (0-3) and 4 (4-7)
	// Maintain flushes the rolled segment and checkpoints the recovery point.
	m.Maintain(at(0))
	if rp, _, _, _ := l.checkpointValues(); rp != 4 {
		t.Fatalf("recovery point %d after Maintain, want 4 (the active segment's base)", rp)
	}
	appendN(t, l, 1) // a third segment at 8
	crash(m)
	// A bit flip below the recovery point goes unnoticed (as in Kafka: that
	// data was fsynced and is trusted); the unflushed segments are checked.
	f, _ := os.OpenFile(segFile(dir, 0, logSuffix), os.O_RDWR, 0)
	f.WriteAt([]byte{0xee}, 100)
	f.Close()
	os.Truncate(segFile(dir, 8, logSuffix), 70)
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	if l2.LogEndOffset() != 8 {
		t.Fatalf("LEO %d, want 8", l2.LogEndOffset())
	}
}

func TestRecoveryCorruptSnapshotFallsBack(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = int64(len(makeBatch(idem(1, 0, 0, 1))))
	m, l, dir := newTestLog(t, cfg)
	for i := int32(0); i < 4; i++ {
		mustAppend(t, l, idem(1, 0, i, 1), 0, t0)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	snaps, _ := listSnapshots(vfsOS(), partDir(dir))
	last := snapshotPath(partDir(dir), snaps[len(snaps)-1])
	os.WriteFile(last, []byte("garbage"), 0o644)
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	if _, err := os.Stat(last); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("corrupt snapshot not deleted")
	}
	if r := mustAppend(t, l2, idem(1, 0, 3, 1), 0, t0); !r.Duplicate || r.BaseOffset != 3 {
		t.Fatalf("duplicate after snapshot fallback: %+v", r)
	}
	if _, err := l2.AppendAsLeader(makeBatch(idem(1, 0, 9, 1)), 0, t0); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap after snapshot fallback: %v", err)
	}
}

func TestRecoveryLogStartAheadOfData(t *testing.T) {
	m, l, dir := newTestLog(t, testConfig())
	appendN(t, l, 2)
	m.Close()
	// A log-start checkpoint past the data (e.g. DeleteRecords checkpointed,
	// then the data lost): the log restarts empty at the log start.
	os.WriteFile(dir+"/"+logStartCheckpointFile, []byte("0\n1\norders 3 50\n"), 0o644)
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	if l2.LogStartOffset() != 50 || l2.LogEndOffset() != 50 || l2.Size() != 0 {
		t.Fatalf("start %d end %d size %d", l2.LogStartOffset(), l2.LogEndOffset(), l2.Size())
	}
	if r := mustAppend(t, l2, batchSpec{}, 0, t0); r.BaseOffset != 50 {
		t.Fatalf("append at %d", r.BaseOffset)
	}
}

// TestRecoveryEpochsNotYetCheckpointed: an append that starts a new leader
// epoch does not write leader-epoch-checkpoint; a crash before the next
// flush loses the file's update, and recovery rebuilds the epochs from the
// batches after the recovery point.
func TestRecoveryEpochsNotYetCheckpointed(t *testing.T) {
	m, l, dir := newTestLog(t, testConfig())
	mustAppend(t, l, batchSpec{records: 2}, 1, t0)
	mustAppend(t, l, batchSpec{records: 2}, 3, t0)
	if _, err := os.Stat(partDir(dir) + "/" + leaderEpochCheckpointFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leader-epoch-checkpoint written by the append: %v", err)
	}
	crash(m)
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	if e, off := l2.EndOffsetForEpoch(1); e != 1 || off != 2 {
		t.Fatalf("EndOffsetForEpoch(1) = %d, %d; want 1, 2", e, off)
	}
	if l2.LatestEpoch() != 3 {
		t.Fatalf("latest epoch %d, want 3", l2.LatestEpoch())
	}
}

// TestRecoveryEpochsCheckpointedBeforeRecoveryPoint: once a flush moves the
// recovery point past an epoch's start, the epoch is in the file (recovery
// does not rescan those batches); a later epoch, not yet flushed, comes
// back from the batches.
func TestRecoveryEpochsCheckpointedBeforeRecoveryPoint(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 2 * int64(len(makeBatch(batchSpec{records: 2, valueSize: 100})))
	m, l, dir := newTestLog(t, cfg)
	mustAppend(t, l, batchSpec{records: 2, valueSize: 100}, 1, t0)
	mustAppend(t, l, batchSpec{records: 2, valueSize: 100}, 2, t0)
	mustAppend(t, l, batchSpec{records: 2, valueSize: 100}, 2, t0) // rolls: segments 0 (0-3), 4
	m.Maintain(at(0))                                              // flushes segment 0: recovery point 4
	if rp, _, _, _ := l.checkpointValues(); rp != 4 {
		t.Fatalf("recovery point %d, want 4", rp)
	}
	data, err := os.ReadFile(partDir(dir) + "/" + leaderEpochCheckpointFile)
	if err != nil || string(data) != "0\n2\n1 0\n2 2\n" {
		t.Fatalf("leader-epoch-checkpoint after the flush %q, %v", data, err)
	}
	mustAppend(t, l, batchSpec{records: 2, valueSize: 100}, 5, t0) // epoch 5 at 6, not flushed
	crash(m)
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	for _, tc := range []struct {
		epoch, wantEpoch int32
		wantEnd          int64
	}{{1, 1, 2}, {2, 2, 6}, {5, 5, 8}} {
		if e, off := l2.EndOffsetForEpoch(tc.epoch); e != tc.wantEpoch || off != tc.wantEnd {
			t.Errorf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", tc.epoch, e, off, tc.wantEpoch, tc.wantEnd)
		}
	}
}

// TestRecoveryCleanerLeftovers: a *.cleaned file is dropped; a *.swap file
// completes its swap, with the old segment files present or renamed away.
func TestRecoveryCleanerLeftovers(t *testing.T) {
	for _, tc := range []string{"cleaned", "swap", "swap-old-deleted"} {
		t.Run(tc, func(t *testing.T) {
			m, l, dir := newTestLog(t, testConfig())
			appendKV(t, l, kvOpts{}, kv{"a", "1", false}) // 0
			b1 := kvBatch(kvOpts{}, kv{"b", "1", false})
			if _, err := l.AppendAsLeader(b1, 0, t0); err != nil { // 1
				t.Fatal(err)
			}
			roll(t, l)
			appendKV(t, l, kvOpts{}, kv{"c", "1", false}) // 2
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			// The "cleaned" segment 0 holds only the batch at offset 1
			// (b1 as appended: offset 1 was stamped into it).
			log0 := segFile(dir, 0, logSuffix)
			want := map[int64]string{0: "a=1", 1: "b=1", 2: "c=1"}
			switch tc {
			case "cleaned":
				if err := os.WriteFile(log0+cleanedSuffix, b1, 0o644); err != nil {
					t.Fatal(err)
				}
			case "swap", "swap-old-deleted":
				if err := os.WriteFile(log0+swapSuffix, b1, 0o644); err != nil {
					t.Fatal(err)
				}
				if tc == "swap-old-deleted" {
					for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
						f := segFile(dir, 0, suf)
						if _, err := os.Stat(f); err == nil {
							if err := os.Rename(f, f+deletedSuffix); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
				delete(want, 0)
			}
			m2, l2 := reopen(t, dir)
			defer m2.Close()
			wantKV(t, readAllKV(t, l2), want)
			ents, _ := os.ReadDir(partDir(dir))
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), cleanedSuffix) || strings.HasSuffix(e.Name(), swapSuffix) ||
					strings.HasSuffix(e.Name(), deletedSuffix) {
					t.Fatalf("leftover %s", e.Name())
				}
			}
			if _, err := os.Stat(segFile(dir, 0, logSuffix)); err != nil {
				t.Fatalf("segment 0: %v", err)
			}
			appendKV(t, l2, kvOpts{}, kv{"d", "1", false})
			if l2.LogEndOffset() != 4 {
				t.Fatalf("end %d", l2.LogEndOffset())
			}
		})
	}
}
