package storage

import (
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

// txnOps drives a leader log through transactional steps, keeping each
// producer's next sequence.
type txnOps struct {
	t   *testing.T
	l   *Log
	seq map[int64]int32
}

func newTxnOps(t *testing.T, l *Log) *txnOps { return &txnOps{t: t, l: l, seq: map[int64]int32{}} }

// data appends n transactional records of pid (pid < 0: a plain batch).
func (o *txnOps) data(pid int64, n int) AppendResult {
	o.t.Helper()
	if pid < 0 {
		return mustAppend(o.t, o.l, batchSpec{records: n}, 0, t0)
	}
	s := idem(pid, 0, o.seq[pid], n)
	s.txn = true
	o.seq[pid] += int32(n)
	return mustAppend(o.t, o.l, s, 0, t0)
}

func (o *txnOps) end(pid int64, commit bool) int64 {
	o.t.Helper()
	off, err := o.l.AppendMarker(pid, 0, commit, 0, 0, t0)
	if err != nil {
		o.t.Fatalf("AppendMarker(%d, %v): %v", pid, commit, err)
	}
	return off
}

func TestLastStableOffset(t *testing.T) {
	type step struct {
		op  string // txn, data, commit, abort, hw (to hw, -1: the log end)
		pid int64
		hw  int64
		lso int64 // wanted after the step
	}
	tests := []struct {
		name    string
		steps   []step
		aborted []AbortedTxn // AbortedTransactions(0, LEO) at the end
	}{
		{"no transactions: the high watermark", []step{
			{"data", -1, 0, 0},
			{"hw", 0, -1, 1},
			{"data", -1, 0, 1},
			{"hw", 0, -1, 2},
		}, nil},
		{"one producer commits", []step{
			{"data", -1, 0, 0},
			{"hw", 0, -1, 1},
			{"txn", 1, 0, 1}, // txn at 1
			{"hw", 0, -1, 1},
			{"txn", 1, 0, 1},
			{"hw", 0, -1, 1},
			{"commit", 1, 0, 1}, // marker at 3, above the high watermark
			{"hw", 0, 3, 1},     // not yet replicated
			{"hw", 0, 4, 4},
		}, nil},
		{"interleaved producers", []step{
			{"txn", 1, 0, 0}, // 0
			{"txn", 2, 0, 0}, // 1
			{"hw", 0, -1, 0},
			{"commit", 2, 0, 0}, // 2
			{"hw", 0, -1, 0},    // producer 1 still open at 0
			{"abort", 1, 0, 0},  // 3
			{"hw", 0, -1, 4},
			{"txn", 2, 0, 4}, // 4: producer 2's next transaction
			{"data", -1, 0, 4},
			{"hw", 0, -1, 4},
			{"commit", 2, 0, 4}, // 6
			{"hw", 0, -1, 7},
		}, []AbortedTxn{{1, 0, 3, 4}}},
		{"later transaction decided first", []step{
			{"txn", 1, 0, 0}, // 0
			{"txn", 2, 0, 0}, // 1
			{"txn", 3, 0, 0}, // 2
			{"abort", 3, 0, 0},
			{"abort", 1, 0, 0}, // 4
			{"hw", 0, -1, 1},   // producer 2 open at 1
			{"abort", 2, 0, 1}, // 5
			{"hw", 0, -1, 6},
		}, []AbortedTxn{{3, 2, 3, 0}, {1, 0, 4, 1}, {2, 1, 5, 6}}},
		{"marker without data", []step{
			{"abort", 1, 0, 0},
			{"hw", 0, -1, 1},
		}, []AbortedTxn{{1, 0, 0, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, l, _ := newTestLog(t, testConfig())
			defer m.Close()
			o := newTxnOps(t, l)
			for i, s := range tt.steps {
				switch s.op {
				case "txn":
					o.data(s.pid, 1)
				case "data":
					o.data(-1, 1)
				case "commit", "abort":
					o.end(s.pid, s.op == "commit")
				case "hw":
					hw := s.hw
					if hw < 0 {
						hw = l.LogEndOffset()
					}
					l.SetHighWatermark(hw)
				}
				if got := l.LastStableOffset(); got != s.lso {
					t.Fatalf("step %d %+v: LSO %d, want %d", i, s, got, s.lso)
				}
			}
			got, err := l.AbortedTransactions(0, l.LogEndOffset())
			if err != nil || !slices.Equal(got, tt.aborted) {
				t.Fatalf("aborted %+v %v, want %+v", got, err, tt.aborted)
			}
		})
	}
}

// TestTxnIndexFormat checks the .txnindex bytes against Kafka's format,
// computed by hand.
func TestTxnIndexFormat(t *testing.T) {
	m, l, dir := newTestLog(t, testConfig())
	defer m.Close()
	o := newTxnOps(t, l)
	o.data(0x0102, 2) // 0-1
	o.data(7, 1)      // 2
	o.end(0x0102, false)
	o.end(7, true)
	o.data(9, 1)    // 5
	o.end(9, false) // 6
	want := strings.Join([]string{
		// version, producer id, first offset, last offset, last stable offset
		"0000", "0000000000000102", "0000000000000000", "0000000000000003", "0000000000000002",
		"0000", "0000000000000009", "0000000000000005", "0000000000000006", "0000000000000007",
	}, "")
	got, err := os.ReadFile(segFile(dir, 0, txnIndexSuffix))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != want {
		t.Fatalf("txnindex\n got %x\nwant %s", got, want)
	}
	as, err := decodeTxnIndex(got)
	if err != nil || len(as) != 2 || as[0] != (AbortedTxn{0x102, 0, 3, 2}) || as[1] != (AbortedTxn{9, 5, 6, 7}) {
		t.Fatalf("decode: %+v %v", as, err)
	}
	// A partial entry, a bad version and offsets out of order are refused,
	// keeping the entries before them.
	for _, bad := range [][]byte{got[:50], append(slices.Clone(got[:34]), got[:34]...), func() []byte {
		b := slices.Clone(got)
		b[34+1] = 1
		return b
	}()} {
		as, err := decodeTxnIndex(bad)
		if !errors.Is(err, errBadTxnIndex) || len(as) != 1 {
			t.Fatalf("bad index %x: %+v %v", bad, as, err)
		}
	}
	// A segment without aborted transactions has no file.
	if _, err := os.Stat(segFile(dir, 100, txnIndexSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("txnindex of no segment: %v", err)
	}
}

// TestAbortedTransactionsAcrossSegments: the entry of a transaction lives
// in the segment of its marker; a fetch in an earlier segment finds it, and
// the range filters apply.
func TestAbortedTransactionsAcrossSegments(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 3 * int64(len(makeBatch(batchSpec{})))
	m, l, dir := newTestLog(t, cfg)
	defer m.Close()
	o := newTxnOps(t, l)
	o.data(1, 1)    // 0
	o.data(-1, 1)   // 1
	o.data(2, 1)    // 2
	o.data(-1, 1)   // 3 (segment 3)
	o.end(2, false) // 4
	o.data(-1, 1)   // 5
	o.data(-1, 1)   // 6 (segment 6)
	o.end(1, false) // 7
	o.data(3, 1)    // 8
	o.end(3, false) // 9 (segment 9)
	if got := segmentBases(t, dir); !slices.Equal(got, []int64{0, 3, 6, 9}) {
		t.Fatalf("segments %v", got)
	}
	a2, a1, a3 := AbortedTxn{2, 2, 4, 0}, AbortedTxn{1, 0, 7, 8}, AbortedTxn{3, 8, 9, 10}
	tests := []struct {
		from, upper int64
		want        []AbortedTxn
	}{
		{0, 10, []AbortedTxn{a2, a1, a3}},
		{0, 2, []AbortedTxn{a1}},  // a2 starts at 2; a1 (LSO 8) ends the search
		{5, 8, []AbortedTxn{a1}},  // a2's marker is before 5; a3 starts at 8; stops at a1 (LSO 8)
		{8, 10, []AbortedTxn{a3}}, // from segment 6
		{9, 10, []AbortedTxn{a3}},
		{10, 10, nil},
	}
	for _, tt := range tests {
		got, err := l.AbortedTransactions(tt.from, tt.upper)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("AbortedTransactions(%d, %d) = %+v %v, want %+v", tt.from, tt.upper, got, err, tt.want)
		}
	}
}

// TestLSORetentionPastOpenTransaction: deleting the segment an open
// transaction started in leaves it open, and the last stable offset at
// the log start offset (Kafka).
func TestLSORetentionPastOpenTransaction(t *testing.T) {
	m, l, _ := newTestLog(t, testConfig())
	defer m.Close()
	o := newTxnOps(t, l)
	o.data(-1, 1) // 0
	o.data(1, 1)  // 1
	o.data(-1, 3) // 2-4
	l.SetHighWatermark(5)
	if l.LastStableOffset() != 1 {
		t.Fatalf("LSO %d", l.LastStableOffset())
	}
	if _, err := l.DeleteRecordsBefore(3); err != nil {
		t.Fatal(err)
	}
	if l.LastStableOffset() != 3 {
		t.Fatalf("LSO after DeleteRecords %d, want the log start 3", l.LastStableOffset())
	}
	o.end(1, true) // 5
	l.SetHighWatermark(6)
	if l.LastStableOffset() != 6 {
		t.Fatalf("LSO after commit %d", l.LastStableOffset())
	}
}

// txnScenario writes, with small segments, transactions of three
// producers that span segments and end in aborts and commits, and leaves
// producer 3's last one open. It returns the log end.
func txnScenario(t *testing.T, l *Log) {
	o := newTxnOps(t, l)
	o.data(1, 2)
	o.data(2, 1)
	o.data(-1, 1)
	o.end(1, false)
	o.data(3, 1)
	o.data(2, 2)
	o.end(2, false)
	o.data(1, 1)
	o.end(3, true)
	o.end(1, false)
	o.data(3, 1) // open
	o.data(2, 1)
	o.end(2, false)
	o.data(-1, 1)
}

func smallSegments() LogConfig {
	cfg := testConfig()
	cfg.SegmentBytes = 4 * int64(len(makeBatch(batchSpec{})))
	return cfg
}

// txnFiles returns the .txnindex files of the test partition by name.
func txnFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(partDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), txnIndexSuffix) {
			b, err := os.ReadFile(partDir(dir) + "/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = hex.EncodeToString(b)
		}
	}
	return out
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

type txnView struct {
	lso       int64
	aborted   []AbortedTxn
	producers []ProducerInfo
}

func viewOf(t *testing.T, l *Log) txnView {
	t.Helper()
	as, err := l.AbortedTransactions(l.LogStartOffset(), l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	return txnView{l.LastStableOffset(), as, l.ActiveProducers()}
}

func sameView(a, b txnView) bool {
	return a.lso == b.lso && slices.Equal(a.aborted, b.aborted) && slices.Equal(a.producers, b.producers)
}

// TestFollowerTxnStateEqualsLeader appends the leader's batches, read back,
// to a follower's log: producer state, last stable offset, aborted list and
// the .txnindex files are the same.
func TestFollowerTxnStateEqualsLeader(t *testing.T) {
	m1, leader, dir1 := newTestLog(t, smallSegments())
	defer m1.Close()
	txnScenario(t, leader)
	m2, follower, dir2 := newTestLog(t, smallSegments())
	defer m2.Close()
	for off := int64(0); off < leader.LogEndOffset(); {
		res, err := leader.Read(off, 200, -1, true) // a few batches at a time
		if err != nil {
			t.Fatal(err)
		}
		hs := batchesOf(t, res.Records)
		if err := follower.AppendAsFollower(res.Records); err != nil {
			t.Fatal(err)
		}
		off = hs[len(hs)-1].NextOffset()
	}
	for _, l := range []*Log{leader, follower} {
		l.SetHighWatermark(l.LogEndOffset())
	}
	lv, fv := viewOf(t, leader), viewOf(t, follower)
	if !sameView(lv, fv) {
		t.Fatalf("leader %+v\nfollower %+v", lv, fv)
	}
	if len(lv.aborted) != 4 || lv.lso == leader.LogEndOffset() {
		t.Fatalf("scenario: %+v (LEO %d)", lv, leader.LogEndOffset())
	}
	tl, tf := txnFiles(t, dir1), txnFiles(t, dir2)
	if len(tl) < 2 || !sameMap(tl, tf) {
		t.Fatalf("txnindex files\nleader %v\nfollower %v", tl, tf)
	}
}

// TestTxnRecoveryRebuildsIndex: after a crash, the recovered segments'
// transaction indexes are rebuilt from the batches (here: deleted, and one
// truncated mid-entry) to the same bytes, and the open transactions and
// last stable offset come back.
func TestTxnRecoveryRebuildsIndex(t *testing.T) {
	m, l, dir := newTestLog(t, smallSegments())
	txnScenario(t, l)
	l.SetHighWatermark(l.LogEndOffset())
	want := viewOf(t, l)
	wantFiles := txnFiles(t, dir)
	crash(m) // nothing flushed: every segment is recovered
	names := make([]string, 0, len(wantFiles))
	for name := range wantFiles {
		names = append(names, name)
	}
	slices.Sort(names)
	if err := os.Remove(partDir(dir) + "/" + names[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(partDir(dir)+"/"+names[len(names)-1], 20); err != nil {
		t.Fatal(err)
	}
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	l2.SetHighWatermark(l2.LogEndOffset()) // no checkpoint was written
	if got := viewOf(t, l2); !sameView(got, want) {
		t.Fatalf("after recovery %+v\nwant %+v", got, want)
	}
	if got := txnFiles(t, dir); !sameMap(got, wantFiles) {
		t.Fatalf("txnindex after recovery\n got %v\nwant %v", got, wantFiles)
	}
}

// TestTxnCleanRestartKeepsState: after a clean shutdown the open
// transaction comes back from the snapshot, and a corrupt .txnindex
// (partial entry) makes its segment recovered and the index rebuilt.
func TestTxnCleanRestartKeepsState(t *testing.T) {
	m, l, dir := newTestLog(t, smallSegments())
	txnScenario(t, l)
	l.SetHighWatermark(l.LogEndOffset())
	want := viewOf(t, l)
	wantFiles := txnFiles(t, dir)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for name := range wantFiles {
		f, err := os.OpenFile(partDir(dir)+"/"+name, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte{0, 0, 1})
		f.Close()
		break
	}
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	if got := viewOf(t, l2); !sameView(got, want) {
		t.Fatalf("after restart %+v\nwant %+v", got, want)
	}
	if got := txnFiles(t, dir); !sameMap(got, wantFiles) {
		t.Fatalf("txnindex after restart\n got %v\nwant %v", got, wantFiles)
	}
	// The open transaction of producer 3 is still open: its commit moves
	// the last stable offset to the end.
	if _, err := l2.AppendMarker(3, 0, true, 0, 0, t0); err != nil {
		t.Fatal(err)
	}
	l2.SetHighWatermark(l2.LogEndOffset())
	if l2.LastStableOffset() != l2.LogEndOffset() {
		t.Fatalf("LSO %d after the last commit, LEO %d", l2.LastStableOffset(), l2.LogEndOffset())
	}
}

// TestTxnRecoveryCutsMarker: a crash that loses the tail with an ABORT
// marker (the segment cut inside it) leaves the transaction open again and
// its index entry gone.
func TestTxnRecoveryCutsMarker(t *testing.T) {
	m, l, dir := newTestLog(t, testConfig())
	o := newTxnOps(t, l)
	o.data(1, 1) // 0
	o.data(2, 1) // 1
	o.end(2, false)
	size := l.Size()
	o.end(1, false) // 3
	l.SetHighWatermark(l.LogEndOffset())
	if l.LastStableOffset() != 4 {
		t.Fatalf("LSO %d", l.LastStableOffset())
	}
	m.Maintain(at(1))
	crash(m)
	if err := os.Truncate(segFile(dir, 0, logSuffix), size+10); err != nil {
		t.Fatal(err)
	}
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	if l2.LogEndOffset() != 3 || l2.LastStableOffset() != 0 {
		t.Fatalf("after recovery LEO %d LSO %d, want 3 and 0", l2.LogEndOffset(), l2.LastStableOffset())
	}
	if as, _ := l2.AbortedTransactions(0, 3); len(as) != 1 || as[0] != (AbortedTxn{2, 1, 2, 0}) {
		t.Fatalf("aborted after recovery %+v", as)
	}
	if ps := l2.ActiveProducers(); ps[0].CurrentTxnStartOffset != 0 {
		t.Fatalf("producer 1 %+v", ps[0])
	}
}

// TestTruncateRollsBackTransactions: a follower's truncation drops the
// index entries and transaction ends past the point, and the transactions
// they ended are open again; a later start is forgotten.
func TestTruncateRollsBackTransactions(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 3 * int64(len(makeBatch(batchSpec{})))
	m, l, dir := newTestLog(t, cfg)
	defer m.Close()
	o := newTxnOps(t, l)
	o.data(1, 1)    // 0
	o.end(1, false) // 1
	o.data(2, 1)    // 2
	o.data(1, 1)    // 3: producer 1's second transaction (segment 3)
	o.end(1, false) // 4
	o.data(-1, 1)   // 5
	o.data(-1, 1)   // 6 (segment 6)
	l.SetHighWatermark(l.LogEndOffset())
	if as, _ := l.AbortedTransactions(0, 7); len(as) != 2 {
		t.Fatalf("aborted %+v", as)
	}
	if err := l.TruncateTo(4); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if as, _ := l.AbortedTransactions(0, 4); len(as) != 1 || as[0] != (AbortedTxn{1, 0, 1, 2}) {
		t.Fatalf("aborted after truncation to 4: %+v", as)
	}
	if _, err := os.Stat(segFile(dir, 3, txnIndexSuffix)); err == nil {
		if b, _ := os.ReadFile(segFile(dir, 3, txnIndexSuffix)); len(b) != 0 {
			t.Fatalf("segment 3 txnindex %x after truncation", b)
		}
	}
	if l.LastStableOffset() != 2 {
		t.Fatalf("LSO %d, want 2 (producer 2 open)", l.LastStableOffset())
	}
	if err := l.TruncateTo(1); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if as, _ := l.AbortedTransactions(0, 1); len(as) != 0 {
		t.Fatalf("aborted after truncation to 1: %+v", as)
	}
	if b, _ := os.ReadFile(segFile(dir, 0, txnIndexSuffix)); len(b) != 0 {
		t.Fatalf("segment 0 txnindex %x after truncation", b)
	}
	ps := l.ActiveProducers()
	if len(ps) != 1 || ps[0].ProducerID != 1 || ps[0].CurrentTxnStartOffset != 0 || l.LastStableOffset() != 0 {
		t.Fatalf("after truncation to 1: %+v LSO %d", ps, l.LastStableOffset())
	}
	// And the log goes on: the abort is written again.
	if off, err := l.AppendMarker(1, 0, false, 0, 0, t0); err != nil || off != 1 {
		t.Fatalf("marker after truncation: %d %v", off, err)
	}
	if as, _ := l.AbortedTransactions(0, 2); len(as) != 1 || as[0] != (AbortedTxn{1, 0, 1, 2}) {
		t.Fatalf("aborted after the new marker: %+v", as)
	}
}

func TestTxnIndexGoesWithRetention(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 2 * int64(len(makeBatch(batchSpec{})))
	m, l, dir := newTestLog(t, cfg)
	defer m.Close()
	o := newTxnOps(t, l)
	o.data(1, 1)
	o.end(1, false) // segment 0 has the entry
	o.data(-1, 1)
	o.data(-1, 1)
	o.data(-1, 1)
	l.SetHighWatermark(l.LogEndOffset())
	if _, err := os.Stat(segFile(dir, 0, txnIndexSuffix)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.DeleteRecordsBefore(2); err != nil {
		t.Fatal(err)
	}
	m.Maintain(at(1))
	if _, err := os.Stat(segFile(dir, 0, txnIndexSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("txnindex of a deleted segment: %v", err)
	}
	if as, _ := l.AbortedTransactions(2, 5); len(as) != 0 {
		t.Fatalf("aborted after retention %+v", as)
	}
}
