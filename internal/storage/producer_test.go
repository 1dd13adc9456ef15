package storage

import (
	"errors"
	"testing"
)

func idem(pid int64, epoch int16, seq int32, n int) batchSpec {
	return batchSpec{idem: true, producerID: pid, epoch: epoch, seq: seq, records: n}
}

func TestIdempotence(t *testing.T) {
	type step struct {
		spec     batchSpec
		wantErr  error
		wantBase int64 // for successes and duplicates
		wantDup  bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"in sequence", []step{
			{idem(1, 0, 0, 3), nil, 0, false},
			{idem(1, 0, 3, 2), nil, 3, false},
		}},
		{"duplicate of the last batch returns its offsets", []step{
			{idem(1, 0, 0, 3), nil, 0, false},
			{idem(1, 0, 3, 2), nil, 3, false},
			{idem(1, 0, 3, 2), nil, 3, true},
		}},
		{"duplicate of an older batch (within 5)", []step{
			{idem(1, 0, 0, 1), nil, 0, false},
			{idem(1, 0, 1, 1), nil, 1, false},
			{idem(1, 0, 2, 1), nil, 2, false},
			{idem(1, 0, 0, 1), nil, 0, true},
		}},
		{"only the last 5 batches are remembered", []step{
			{idem(1, 0, 0, 1), nil, 0, false},
			{idem(1, 0, 1, 1), nil, 1, false},
			{idem(1, 0, 2, 1), nil, 2, false},
			{idem(1, 0, 3, 1), nil, 3, false},
			{idem(1, 0, 4, 1), nil, 4, false},
			{idem(1, 0, 5, 1), nil, 5, false},
			{idem(1, 0, 0, 1), ErrOutOfOrderSequence, 0, false},
		}},
		{"gap", []step{
			{idem(1, 0, 0, 3), nil, 0, false},
			{idem(1, 0, 5, 1), ErrOutOfOrderSequence, 0, false},
		}},
		{"stale epoch is fenced", []step{
			{idem(1, 2, 0, 1), nil, 0, false},
			{idem(1, 1, 1, 1), ErrInvalidProducerEpoch, 0, false},
		}},
		{"new epoch starts at 0", []step{
			{idem(1, 0, 0, 2), nil, 0, false},
			{idem(1, 1, 0, 1), nil, 2, false},
			{idem(1, 1, 1, 1), nil, 3, false},
		}},
		{"new epoch with non-zero sequence", []step{
			{idem(1, 0, 0, 2), nil, 0, false},
			{idem(1, 1, 5, 1), ErrOutOfOrderSequence, 0, false},
		}},
		{"unknown producer accepts any sequence", []step{
			{idem(9, 3, 42, 2), nil, 0, false},
			{idem(9, 3, 44, 1), nil, 2, false},
		}},
		{"sequence wraps at MaxInt32", []step{
			{idem(1, 0, 1<<31-2, 2), nil, 0, false},
			{idem(1, 0, 0, 1), nil, 2, false},
		}},
		{"producers are independent", []step{
			{idem(1, 0, 0, 1), nil, 0, false},
			{idem(2, 0, 0, 1), nil, 1, false},
			{idem(1, 0, 1, 1), nil, 2, false},
			{idem(2, 0, 0, 1), nil, 1, true},
		}},
		{"non-idempotent batches are not checked", []step{
			{batchSpec{}, nil, 0, false},
			{batchSpec{}, nil, 1, false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, l, _ := newTestLog(t, testConfig())
			defer m.Close()
			for i, s := range tc.steps {
				leo := l.LogEndOffset()
				r, err := l.AppendAsLeader(makeBatch(s.spec), 0, t0)
				if s.wantErr != nil {
					if !errors.Is(err, s.wantErr) {
						t.Fatalf("step %d: err %v, want %v", i, err, s.wantErr)
					}
					if l.LogEndOffset() != leo {
						t.Fatalf("step %d: rejected batch moved LEO", i)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if r.BaseOffset != s.wantBase || r.Duplicate != s.wantDup {
					t.Fatalf("step %d: base %d dup %v, want %d %v", i, r.BaseOffset, r.Duplicate, s.wantBase, s.wantDup)
				}
				if s.wantDup && l.LogEndOffset() != leo {
					t.Fatalf("step %d: duplicate appended", i)
				}
			}
		})
	}
}

func TestIdempotenceMultiBatchSetIsAtomic(t *testing.T) {
	m, l, _ := newTestLog(t, testConfig())
	defer m.Close()
	mustAppend(t, l, idem(1, 0, 0, 2), 0, t0)
	// Two in-sequence batches in one set: both checked against the staged
	// state of the first.
	set := append(makeBatch(idem(1, 0, 2, 1)), makeBatch(idem(1, 0, 3, 1))...)
	if r, err := l.AppendAsLeader(set, 0, t0); err != nil || r.BaseOffset != 2 || r.LastOffset != 3 {
		t.Fatalf("set: %+v %v", r, err)
	}
	// A set whose second batch is out of sequence appends nothing.
	set = append(makeBatch(idem(1, 0, 4, 1)), makeBatch(idem(1, 0, 9, 1))...)
	if _, err := l.AppendAsLeader(set, 0, t0); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("bad set: %v", err)
	}
	if l.LogEndOffset() != 4 {
		t.Fatalf("LEO %d after rejected set", l.LogEndOffset())
	}
	// And the producer state did not take the first batch of it.
	if r := mustAppend(t, l, idem(1, 0, 4, 1), 0, t0); r.BaseOffset != 4 || r.Duplicate {
		t.Fatalf("after rejected set: %+v", r)
	}
	ps := l.ActiveProducers()
	if len(ps) != 1 || ps[0].ProducerID != 1 || ps[0].LastSequence != 4 || ps[0].Epoch != 0 || ps[0].CurrentTxnStartOffset != -1 {
		t.Fatalf("ActiveProducers: %+v", ps)
	}
}

func TestTransactionStartOffset(t *testing.T) {
	m, l, _ := newTestLog(t, testConfig())
	defer m.Close()
	s := idem(5, 1, 0, 2)
	s.txn = true
	mustAppend(t, l, batchSpec{}, 0, t0)
	mustAppend(t, l, s, 0, t0)
	if ps := l.ActiveProducers(); ps[0].CurrentTxnStartOffset != 1 {
		t.Fatalf("txn start %d", ps[0].CurrentTxnStartOffset)
	}
	// A non-transactional batch in the middle of the transaction.
	if _, err := l.AppendAsLeader(makeBatch(idem(5, 1, 2, 1)), 0, t0); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("non-transactional batch in a transaction: %v", err)
	}
	// Control batches go through AppendMarker only.
	marker := batchSpec{idem: true, producerID: 5, epoch: 1, seq: -1, txn: true, control: true}
	if _, err := l.AppendAsLeader(makeBatch(marker), 0, t0); !errors.Is(err, ErrInvalidSet) {
		t.Fatalf("control batch through AppendAsLeader: %v", err)
	}
	if off, err := l.AppendMarker(5, 1, true, 4, 0, t0); err != nil || off != 3 {
		t.Fatalf("marker: %d %v", off, err)
	}
	if ps := l.ActiveProducers(); ps[0].CurrentTxnStartOffset != -1 || ps[0].CoordinatorEpoch != 4 {
		t.Fatalf("after marker %+v", ps[0])
	}
	// A marker from an older producer epoch is fenced, and one from an
	// older coordinator epoch too.
	if _, err := l.AppendMarker(5, 0, true, 4, 0, t0); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("stale producer epoch: %v", err)
	}
	if _, err := l.AppendMarker(5, 1, false, 3, 0, t0); !errors.Is(err, ErrTransactionCoordinatorFenced) {
		t.Fatalf("stale coordinator epoch: %v", err)
	}
	if l.LogEndOffset() != 4 {
		t.Fatalf("LEO %d after refused markers", l.LogEndOffset())
	}
	// The same coordinator epoch and a newer producer epoch are fine.
	if off, err := l.AppendMarker(5, 2, false, 4, 0, t0); err != nil || off != 4 {
		t.Fatalf("marker of a bumped epoch: %d %v", off, err)
	}
	if ps := l.ActiveProducers(); ps[0].Epoch != 2 {
		t.Fatalf("epoch after marker %+v", ps[0])
	}
}

// TestIdempotenceSurvivesRestart checks duplicate detection and sequence
// checks after a clean Close and after a crash (no Close), with a roll in
// between so that both the snapshot and the replay are exercised.
func TestIdempotenceSurvivesRestart(t *testing.T) {
	for _, clean := range []bool{true, false} {
		name := "crash"
		if clean {
			name = "clean"
		}
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.SegmentBytes = 3 * int64(len(makeBatch(idem(1, 0, 0, 2))))
			m, l, dir := newTestLog(t, cfg)
			for i := int32(0); i < 5; i++ { // segments 0 (3 batches) and 6
				mustAppend(t, l, idem(1, 0, 2*i, 2), 0, t0)
			}
			mustAppend(t, l, idem(2, 7, 0, 1), 0, t0)
			if clean {
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				crash(m)
			}
			m2, l2 := reopen(t, dir)
			defer m2.Close()
			if r := mustAppend(t, l2, idem(1, 0, 6, 2), 0, t0); !r.Duplicate || r.BaseOffset != 6 || r.LastOffset != 7 {
				t.Fatalf("duplicate after restart: %+v", r)
			}
			if r := mustAppend(t, l2, idem(2, 7, 0, 1), 0, t0); !r.Duplicate || r.BaseOffset != 10 {
				t.Fatalf("duplicate of producer 2 after restart: %+v", r)
			}
			if _, err := l2.AppendAsLeader(makeBatch(idem(1, 0, 20, 1)), 0, t0); !errors.Is(err, ErrOutOfOrderSequence) {
				t.Fatalf("gap after restart: %v", err)
			}
			if _, err := l2.AppendAsLeader(makeBatch(idem(2, 6, 1, 1)), 0, t0); !errors.Is(err, ErrInvalidProducerEpoch) {
				t.Fatalf("stale epoch after restart: %v", err)
			}
			if r := mustAppend(t, l2, idem(1, 0, 10, 1), 0, t0); r.Duplicate || r.BaseOffset != 11 {
				t.Fatalf("next in sequence after restart: %+v", r)
			}
		})
	}
}

func TestProducerSnapshotsKeptAndTrimmed(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = int64(len(makeBatch(idem(1, 0, 0, 1))))
	m, l, dir := newTestLog(t, cfg)
	defer m.Close()
	for i := int32(0); i < 6; i++ { // a roll per batch
		mustAppend(t, l, idem(1, 0, i, 1), 0, t0)
	}
	snaps, _ := listSnapshots(l.fs, partDir(dir))
	if len(snaps) != 2 || snaps[0] != 4 || snaps[1] != 5 {
		t.Fatalf("snapshots %v, want [4 5]", snaps)
	}
	// Producer expiry through Maintain.
	m.Maintain(at(25 * 60 * 60 * 1000))
	if ps := l.ActiveProducers(); len(ps) != 0 {
		t.Fatalf("producer not expired: %+v", ps)
	}
}

func TestSnapshotCodec(t *testing.T) {
	s := newProducerState()
	e := newProducerEntry(77)
	for i := int32(0); i < 7; i++ {
		h := makeHeader(77, 3, i*2, 1, int64(i*2))
		e.apply(&h, nil)
	}
	s.store(&e)
	e2 := newProducerEntry(-5 + 10)
	s.store(&e2)
	got, err := decodeSnapshot(encodeSnapshot(s))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.m) != 2 || *got.m[77] != e || *got.m[5] != e2 {
		t.Fatalf("round trip: %+v", got.m)
	}
	b := encodeSnapshot(s)
	b[len(b)-1] ^= 1
	if _, err := decodeSnapshot(b); !errors.Is(err, errBadSnapshot) {
		t.Fatalf("corrupt snapshot: %v", err)
	}
}
