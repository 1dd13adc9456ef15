package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// kv is a record for kvBatch: value "" with del is a tombstone.
type kv struct {
	key, value string
	del        bool
}

type kvOpts struct {
	codec    records.Codec
	ts       int64 // first timestamp, default t0
	pid      int64 // > 0: idempotent
	seq      int32
	gapAfter bool // leave an offset gap after the records (compacted-like input)
}

func kvBatch(opts kvOpts, kvs ...kv) []byte {
	if opts.ts == 0 {
		opts.ts = t0.UnixMilli()
	}
	recs := make([]records.Record, len(kvs))
	for i, r := range kvs {
		recs[i] = records.Record{OffsetDelta: int32(i), Key: []byte(r.key)}
		if !r.del {
			recs[i].Value = []byte(r.value)
		}
	}
	spec := records.BatchSpec{Codec: opts.codec, FirstTimestamp: opts.ts, Records: recs}
	if opts.pid > 0 {
		spec.Idempotent, spec.ProducerID, spec.BaseSequence = true, opts.pid, opts.seq
	}
	return records.BuildBatch(spec)
}

func compactConfig() LogConfig {
	c := testConfig()
	c.Compact = true
	c.MinCleanableDirtyRatio = 0
	c.DeleteRetentionMs = 1000
	return c
}

func appendKV(t *testing.T, l *Log, opts kvOpts, kvs ...kv) AppendResult {
	t.Helper()
	r, err := l.AppendAsLeader(kvBatch(opts, kvs...), 0, t0)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return r
}

// roll seals the active segment and moves the high watermark to the end.
func roll(t *testing.T, l *Log) {
	t.Helper()
	l.mu.Lock()
	err := l.rollLocked(l.leo.Load(), t0.UnixMilli())
	l.mu.Unlock()
	if err != nil {
		t.Fatalf("roll: %v", err)
	}
	l.SetHighWatermark(l.LogEndOffset())
}

type gotRecord struct {
	key, value string
	del        bool
	codec      records.Codec
}

// readAllKV reads the whole log: offset → record.
func readAllKV(t *testing.T, l *Log) map[int64]gotRecord {
	t.Helper()
	got := map[int64]gotRecord{}
	off := l.LogStartOffset()
	for off < l.LogEndOffset() {
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
			off = h.NextOffset()
			return records.Records(batch, 0, func(r *records.Record) error {
				got[h.BaseOffset+int64(r.OffsetDelta)] = gotRecord{string(r.Key), string(r.Value), r.Value == nil, h.Codec()}
				return nil
			})
		}); err != nil {
			t.Fatalf("bad batches: %v", err)
		}
	}
	return got
}

func wantKV(t *testing.T, got map[int64]gotRecord, want map[int64]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records %v, want %v", len(got), got, want)
	}
	for off, w := range want {
		g, ok := got[off]
		k, v, _ := strings.Cut(w, "=")
		if !ok || g.key != k || (v == "<nil>") != g.del || (!g.del && g.value != v) {
			t.Fatalf("offset %d: got %+v (present %v), want %s; all %v", off, g, ok, w, got)
		}
	}
}

func TestCleanerKeepsLatestPerKey(t *testing.T) {
	m, l, dir := newTestLog(t, compactConfig())
	appendKV(t, l, kvOpts{}, kv{"a", "1", false}, kv{"b", "1", false}, kv{"c", "1", false}) // 0-2
	appendKV(t, l, kvOpts{}, kv{"d", "1", false})                                           // 3
	roll(t, l)
	appendKV(t, l, kvOpts{}, kv{"a", "2", false}, kv{"b", "2", false}) // 4-5
	roll(t, l)
	appendKV(t, l, kvOpts{}, kv{"a", "3", false}) // 6
	appendKV(t, l, kvOpts{}, kv{"d", "2", false}) // 7
	roll(t, l)
	// The active segment is never cleaned: both of its "a" stay.
	appendKV(t, l, kvOpts{}, kv{"a", "4", false}) // 8
	appendKV(t, l, kvOpts{}, kv{"a", "5", false}) // 9
	l.SetHighWatermark(l.LogEndOffset())
	before := l.Size()
	m.Maintain(at(10))
	want := map[int64]string{2: "c=1", 5: "b=2", 6: "a=3", 7: "d=2", 8: "a=4", 9: "a=5"}
	wantKV(t, readAllKV(t, l), want)
	if l.Size() >= before {
		t.Fatalf("size %d not below %d", l.Size(), before)
	}
	if l.LogStartOffset() != 0 || l.LogEndOffset() != 10 {
		t.Fatalf("offsets changed: start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
	// Reads from offsets that were removed land on the next kept record.
	res, err := l.Read(3, 1<<20, -1, true)
	if err != nil || len(res.Records) == 0 {
		t.Fatalf("read 3: %v", err)
	}
	if h := batchesOf(t, res.Records)[0]; h.LastOffset() < 3 {
		t.Fatalf("read 3 returned batch ending at %d", h.LastOffset())
	}
	// A second pass without new dirty segments changes nothing; appends
	// continue; the cleaned log survives a reopen.
	m.Maintain(at(20))
	appendKV(t, l, kvOpts{}, kv{"e", "1", false}) // 10
	want[10] = "e=1"
	wantKV(t, readAllKV(t, l), want)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	wantKV(t, readAllKV(t, l2), want)
	for _, suf := range []string{".cleaned", ".swap", ".deleted"} {
		if ms, _ := filepath.Glob(filepath.Join(partDir(dir), "*"+suf)); len(ms) > 0 {
			t.Fatalf("leftover files %v", ms)
		}
	}
}

func TestCleanerNotCompactNotCleaned(t *testing.T) {
	cfg := compactConfig()
	cfg.Compact = false
	m, l, _ := newTestLog(t, cfg)
	defer m.Close()
	appendKV(t, l, kvOpts{}, kv{"a", "1", false})
	appendKV(t, l, kvOpts{}, kv{"a", "2", false})
	roll(t, l)
	m.Maintain(at(10))
	wantKV(t, readAllKV(t, l), map[int64]string{0: "a=1", 1: "a=2"})
}

func TestCleanerDirtyRatioAndLag(t *testing.T) {
	cfg := compactConfig()
	cfg.MinCompactionLagMs = 1000
	m, l, _ := newTestLog(t, cfg)
	defer m.Close()
	appendKV(t, l, kvOpts{}, kv{"a", "1", false})
	appendKV(t, l, kvOpts{}, kv{"a", "2", false})
	roll(t, l)
	m.Maintain(at(10)) // within min.compaction.lag.ms
	wantKV(t, readAllKV(t, l), map[int64]string{0: "a=1", 1: "a=2"})
	m.Maintain(at(2000))
	wantKV(t, readAllKV(t, l), map[int64]string{1: "a=2"})
}

func TestCleanerTombstones(t *testing.T) {
	m, l, _ := newTestLog(t, compactConfig())
	defer m.Close()
	appendKV(t, l, kvOpts{}, kv{"a", "1", false}, kv{"b", "1", false}) // 0-1
	roll(t, l)
	appendKV(t, l, kvOpts{}, kv{"a", "", true}) // 2: tombstone
	roll(t, l)
	m.Maintain(at(500)) // before delete.retention.ms: the tombstone stays
	wantKV(t, readAllKV(t, l), map[int64]string{1: "b=1", 2: "a=<nil>"})
	appendKV(t, l, kvOpts{}, kv{"c", "1", false}) // 3, new dirty segment
	roll(t, l)
	m.Maintain(at(5000)) // after: gone
	wantKV(t, readAllKV(t, l), map[int64]string{1: "b=1", 3: "c=1"})
	// The emptied segment still answers reads at its offsets.
	res, err := l.Read(2, 1<<20, -1, true)
	if err != nil || batchesOf(t, res.Records)[0].BaseOffset != 3 {
		t.Fatalf("read 2: %v", err)
	}
}

func TestCleanerCompressed(t *testing.T) {
	m, l, _ := newTestLog(t, compactConfig())
	defer m.Close()
	z := kvOpts{codec: records.CodecZstd}
	appendKV(t, l, z, kv{"a", "1", false}, kv{"b", "1", false}, kv{"c", "1", false}, kv{"d", "1", false}) // 0-3
	appendKV(t, l, z, kv{"a", "2", false}, kv{"d", "2", false})                                           // 4-5
	roll(t, l)
	m.Maintain(at(10))
	got := readAllKV(t, l)
	wantKV(t, got, map[int64]string{1: "b=1", 2: "c=1", 4: "a=2", 5: "d=2"})
	for off, r := range got {
		if r.codec != records.CodecZstd {
			t.Fatalf("offset %d: codec %v", off, r.codec)
		}
	}
	res, err := l.Read(0, 1<<20, -1, true)
	if err != nil {
		t.Fatal(err)
	}
	hs := batchesOf(t, res.Records)
	if hs[0].BaseOffset != 0 || hs[0].LastOffset() != 3 || hs[0].NumRecords != 2 {
		t.Fatalf("rewritten batch: %+v", hs[0])
	}
}

func TestCleanerIdempotentProducer(t *testing.T) {
	m, l, dir := newTestLog(t, compactConfig())
	appendKV(t, l, kvOpts{pid: 7, seq: 0}, kv{"a", "1", false}) // 0
	appendKV(t, l, kvOpts{pid: 7, seq: 1}, kv{"b", "1", false}) // 1: last batch of producer 7
	appendKV(t, l, kvOpts{}, kv{"a", "2", false})               // 2
	roll(t, l)
	appendKV(t, l, kvOpts{}, kv{"b", "2", false}) // 3
	roll(t, l)
	m.Maintain(at(10))
	// Offset 0 goes; offset 1 is shadowed, but its batch, producer 7's
	// last, stays as an empty batch (Kafka's RETAIN_EMPTY), with the
	// producer's sequence.
	wantKV(t, readAllKV(t, l), map[int64]string{2: "a=2", 3: "b=2"})
	res, err := l.Read(1, 1<<20, -1, true)
	if err != nil {
		t.Fatal(err)
	}
	if h := batchesOf(t, res.Records)[0]; h.BaseOffset != 1 || h.NumRecords != 0 || h.ProducerID != 7 || h.BaseSequence != 1 ||
		h.Size() != records.HeaderSize || h.FirstTimestamp != -1 || h.MaxTimestamp != t0.UnixMilli() {
		t.Fatalf("producer 7's last batch: %+v", h)
	}
	retry := func(l *Log) {
		t.Helper()
		r, err := l.AppendAsLeader(kvBatch(kvOpts{pid: 7, seq: 1}, kv{"b", "1", false}), 0, t0)
		if err != nil || !r.Duplicate || r.BaseOffset != 1 {
			t.Fatalf("retry: %+v %v", r, err)
		}
	}
	retry(l)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// Without snapshots the state is replayed from the cleaned log.
	snaps, _ := filepath.Glob(filepath.Join(partDir(dir), "*.snapshot"))
	for _, s := range snaps {
		os.Remove(s)
	}
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	retry(l2)
	r, err := l2.AppendAsLeader(kvBatch(kvOpts{pid: 7, seq: 2}, kv{"c", "1", false}), 0, t0)
	if err != nil || r.Duplicate || r.BaseOffset != 4 {
		t.Fatalf("next sequence: %+v %v", r, err)
	}
}

func TestCleanerConcurrentReads(t *testing.T) {
	m, l, _ := newTestLog(t, compactConfig())
	defer m.Close()
	for i := 0; i < 20; i++ {
		appendKV(t, l, kvOpts{}, kv{"k", "v", false}, kv{"x" + string(rune('a'+i)), "x", false})
		if i%4 == 3 {
			roll(t, l)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := l.Read(0, 1<<20, -1, true); err != nil {
				t.Errorf("read: %v", err)
				return
			}
		}
	}()
	for i := 0; i < 5; i++ {
		m.Maintain(at(int64(10 + i)))
		appendKV(t, l, kvOpts{}, kv{"k", "w", false})
		roll(t, l)
		time.Sleep(time.Millisecond)
	}
	m.Maintain(at(100))
	close(stop)
	wg.Wait()
	got := readAllKV(t, l)
	n := 0
	for _, r := range got {
		if r.key == "k" {
			n++
		}
	}
	if n != 1 || len(got) != 21 {
		t.Fatalf("got %d records, %d of key k: %v", len(got), n, got)
	}
}

// faultyCompactLog is a compacted log on a file system that can be told
// to fail.
func faultyCompactLog(t *testing.T) (*vfs.Faulty, *Manager, *Log, string) {
	t.Helper()
	dir := t.TempDir()
	ffs := vfs.NewFaulty(vfs.OS)
	m := openManager(t, ffs, dir)
	l, err := m.GetOrCreate(testTP, [16]byte{1}, compactConfig(), t0)
	if err != nil {
		t.Fatal(err)
	}
	return ffs, m, l, dir
}

// TestCleanerCrashMidSwap fails the rename of the swap file into place:
// the log goes offline and the next open completes the swap.
func TestCleanerCrashMidSwap(t *testing.T) {
	ffs, m, l, dir := faultyCompactLog(t)
	appendKV(t, l, kvOpts{}, kv{"a", "1", false}, kv{"b", "1", false}) // 0-1
	appendKV(t, l, kvOpts{}, kv{"a", "2", false})                      // 2
	roll(t, l)
	appendKV(t, l, kvOpts{}, kv{"c", "1", false}) // 3
	// Renames to names holding "<0>.log": .cleaned → .swap, .log →
	// .log.deleted, then .swap → .log, which fails.
	ffs.FailAfter(vfs.OpRename, 2, false, segmentName(0)+logSuffix)
	m.Maintain(at(10))
	if _, err := l.AppendAsLeader(kvBatch(kvOpts{}, kv{"x", "1", false}), 0, t0); !errors.Is(err, ErrKafkaStorage) {
		t.Fatalf("append after failed swap: %v", err)
	}
	if _, err := os.Stat(segFile(dir, 0, logSuffix+swapSuffix)); err != nil {
		t.Fatalf("swap file: %v", err)
	}
	m.Close()
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	wantKV(t, readAllKV(t, l2), map[int64]string{1: "b=1", 2: "a=2", 3: "c=1"})
	if ms, _ := filepath.Glob(filepath.Join(partDir(dir), "*.swap")); len(ms) > 0 {
		t.Fatalf("leftover %v", ms)
	}
}
