package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// logBases are the bases of l's segments in memory, in order.
func logBases(l *Log) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var bs []int64
	for _, s := range l.mu.segs {
		bs = append(bs, s.base)
	}
	return bs
}

// fillSegments appends n sealed segments of 4 records each (offsets 4i to
// 4i+3): keys k0..k3 rewritten in every segment, and one key of its own,
// so cleaning keeps one record per sealed segment plus the last k0..k2.
// It returns what a cleaned log must hold.
func fillSegments(t *testing.T, l *Log, n int) map[int64]string {
	t.Helper()
	want := map[int64]string{}
	for i := range n {
		base := int64(4 * i)
		own := fmt.Sprintf("own%d", i)
		appendKV(t, l, kvOpts{}, kv{"k0", fmt.Sprint(i), false}, kv{"k1", fmt.Sprint(i), false},
			kv{"k2", fmt.Sprint(i), false}, kv{own, "x", false})
		want[base+3] = own + "=x"
		roll(t, l)
	}
	last := int64(4 * (n - 1))
	for k := range 3 {
		want[last+int64(k)] = fmt.Sprintf("k%d=%d", k, n-1)
	}
	return want
}

// TestCleanerMergesSegments: the cleaner rewrites runs of small sealed
// segments into one segment each, at most segment.bytes, keeping every
// offset; reads, appends and a reopen see the same records.
func TestCleanerMergesSegments(t *testing.T) {
	cfg := compactConfig()
	m, l, dir := newTestLog(t, cfg)
	want := fillSegments(t, l, 12)
	segSize := l.Size() / 12
	// Room for three of the original segments in a cleaned one.
	cfg.SegmentBytes = 3*segSize + segSize/2
	l.UpdateConfig(cfg)
	if n := len(logBases(l)); n != 13 {
		t.Fatalf("%d segments before cleaning, want 12 sealed + the active one", n)
	}
	m.Maintain(at(10))
	bases := logBases(l)
	// 12 sealed segments in runs of at most 3 of their original sizes:
	// 4 cleaned segments at bases 0, 12, 24, 36, then the active one.
	if fmt.Sprint(bases) != "[0 12 24 36 48]" {
		t.Fatalf("segments after cleaning at %v, want [0 12 24 36 48]", bases)
	}
	wantKV(t, readAllKV(t, l), want)
	if l.LogStartOffset() != 0 || l.LogEndOffset() != 48 {
		t.Fatalf("offsets changed: start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
	// Every offset still finds its record or the next kept one.
	for off := int64(0); off < 48; off++ {
		res, err := l.Read(off, 1<<20, -1, true)
		if err != nil || len(res.Records) == 0 {
			t.Fatalf("read %d: %v", off, err)
		}
		if h := batchesOf(t, res.Records)[0]; h.LastOffset() < off {
			t.Fatalf("read %d returned a batch ending at %d", off, h.LastOffset())
		}
	}
	// A later pass merges the cleaned segments further as they allow.
	appendKV(t, l, kvOpts{}, kv{"k0", "new", false}) // 48
	roll(t, l)
	m.Maintain(at(20))
	delete(want, 44)
	want[48] = "k0=new"
	wantKV(t, readAllKV(t, l), want)
	if n := len(logBases(l)); n >= 6 {
		t.Fatalf("%d segments after the second pass: %v", n, logBases(l))
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	wantKV(t, readAllKV(t, l2), want)
	if fmt.Sprint(logBases(l2)) != fmt.Sprint(logBases(l)) {
		t.Fatalf("segments after reopen %v, before %v", logBases(l2), logBases(l))
	}
	for _, suf := range []string{".cleaned", ".swap", ".deleted"} {
		if ms, _ := filepath.Glob(filepath.Join(partDir(dir), "*"+suf)); len(ms) > 0 {
			t.Fatalf("leftover files %v", ms)
		}
	}
}

func TestGroupForCleaning(t *testing.T) {
	seg := func(base, size, next int64) cleanTarget {
		return cleanTarget{seg: &segment{base: base}, size: size, next: next}
	}
	ts := []cleanTarget{seg(0, 40, 10), seg(10, 40, 20), seg(20, 40, 30), seg(30, 90, 40),
		seg(40, 5, 50), seg(50, 5, 60), seg(60, 5, 70), seg(70, 5, 1<<32)}
	groups := groupForCleaning(ts, map[int64]bool{50: true}, 100)
	var got []string
	for _, g := range groups {
		var bs []int64
		for _, t := range g {
			bs = append(bs, t.seg.base)
		}
		got = append(got, fmt.Sprint(bs))
	}
	// Sizes up to 100; 50 waits for deletion (left out, ends a run); 70
	// alone since its offsets would pass the 32-bit range of a run from 60.
	if fmt.Sprint(got) != "[[0 10] [20] [30 40] [60] [70]]" {
		t.Fatalf("groups %v", got)
	}
}

// TestCleanerCrashMidMerge fails a merge half-way through its swap: the
// first segment's files already renamed away, the second's rename fails,
// so the swap file and the second segment's own file are both on disk.
// The next open completes the swap and drops the second segment, whose
// offsets the merged file holds: no offset twice, nothing lost.
func TestCleanerCrashMidMerge(t *testing.T) {
	ffs, m, l, dir := faultyCompactLog(t)
	want := fillSegments(t, l, 3)
	appendKV(t, l, kvOpts{}, kv{"tail", "1", false}) // 12, in the active segment
	want[12] = "tail=1"
	ffs.FailAfter(vfs.OpRename, 0, false, segmentName(4)+logSuffix)
	m.Maintain(at(10))
	if _, err := l.AppendAsLeader(kvBatch(kvOpts{}, kv{"x", "1", false}), 0, t0); !errors.Is(err, ErrKafkaStorage) {
		t.Fatalf("append after a failed swap: %v", err)
	}
	for _, f := range []string{segFile(dir, 0, logSuffix+swapSuffix), segFile(dir, 4, logSuffix)} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("crash state: %v", err)
		}
	}
	m.Close()
	m2, l2 := reopen(t, dir)
	defer m2.Close()
	wantKV(t, readAllKV(t, l2), want)
	if fmt.Sprint(logBases(l2)) != "[0 12]" {
		t.Fatalf("segments after recovery %v, want [0 12]", logBases(l2))
	}
	if ms, _ := filepath.Glob(filepath.Join(partDir(dir), "*.swap")); len(ms) > 0 {
		t.Fatalf("leftover %v", ms)
	}
}

// TestCleanerOffsetCheckpoint: the cleaner offset is written to the log
// dir's cleaner-offset-checkpoint (Kafka's file and format) and read back
// at open, after a clean shutdown or a crash, so that a restart does not
// make the whole compacted log dirty again.
func TestCleanerOffsetCheckpoint(t *testing.T) {
	cfg := compactConfig()
	m, l, dir := newTestLog(t, cfg)
	fillSegments(t, l, 3)
	m.Maintain(at(10)) // cleans, then writes the checkpoints
	l.mu.Lock()
	co := l.mu.cleanerOffset
	l.mu.Unlock()
	if co != 12 {
		t.Fatalf("cleaner offset %d after a pass, want 12 (the active segment's base)", co)
	}
	data, err := os.ReadFile(filepath.Join(dir, cleanerOffsetCheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("0\n1\n%s %d 12\n", testTP.Topic, testTP.Partition); string(data) != want {
		t.Fatalf("cleaner-offset-checkpoint:\n%q\nwant\n%q", data, want)
	}
	// Both a clean shutdown and then a crash (no clean-shutdown marker)
	// keep it.
	reopenCompact := func() (*Manager, *Log) {
		m, err := OpenManager(ManagerConfig{FS: vfs.OS, Dirs: []string{dir}, Logger: quietLogger(), Now: t0,
			ConfigFor: func(TopicPartition) LogConfig { return cfg }})
		if err != nil {
			t.Fatal(err)
		}
		return m, m.Get(testTP)
	}
	for _, clean := range []bool{true, false} {
		if clean {
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
		} else {
			m.Maintain(at(20)) // rewrites nothing: the content is the same
			crash(m)
		}
		m2, l2 := reopenCompact()
		l2.mu.Lock()
		got := l2.mu.cleanerOffset
		l2.mu.Unlock()
		if got != 12 {
			t.Fatalf("clean shutdown %v: cleaner offset %d after reopen, want 12", clean, got)
		}
		m = m2
	}
	m.Close()
}

// TestCleanerBoundedKeyMap: with a key map too small for the whole dirty
// part, each pass maps what fits, cleans below it and moves the cleaner
// offset there; the passes together give the same log as one unbounded
// pass. A map too small for one segment cleans nothing.
func TestCleanerBoundedKeyMap(t *testing.T) {
	const segs, own = 6, 5 // sealed segments; keys of their own each
	build := func(t *testing.T) (*Log, map[int64]string) {
		_, l, _ := newTestLog(t, compactConfig())
		want := map[int64]string{}
		for i := range segs {
			base := int64(i * (own + 1))
			var kvs []kv
			for j := range own {
				k := fmt.Sprintf("s%d-k%d", i, j)
				kvs = append(kvs, kv{k, "v", false})
				want[base+int64(j)] = k + "=v"
			}
			kvs = append(kvs, kv{"shared", fmt.Sprint(i), false})
			appendKV(t, l, kvOpts{}, kvs...)
			roll(t, l)
		}
		want[int64((segs-1)*(own+1)+own)] = fmt.Sprintf("shared=%d", segs-1)
		return l, want
	}
	cleanerOffset := func(l *Log) int64 {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.mu.cleanerOffset
	}
	perSegment := int64(own) * (keyMapEntryBytes + int64(len("s0-k0")))
	perSegment += keyMapEntryBytes + int64(len("shared")) // the first segment maps it too

	t.Run("passes", func(t *testing.T) {
		l, want := build(t)
		budget := 2 * perSegment // two segments' new keys per pass
		var offs []int64
		for i := range 4 {
			// maintain: deleted files go first (file.delete.delay.ms 0),
			// then a cleaner pass.
			if err := l.maintain(at(int64(10+i)).UnixMilli(), 86400000, budget); err != nil {
				t.Fatal(err)
			}
			offs = append(offs, cleanerOffset(l))
		}
		if fmt.Sprint(offs) != "[12 24 36 36]" {
			t.Fatalf("cleaner offset after each pass %v, want [12 24 36 36]", offs)
		}
		wantKV(t, readAllKV(t, l), want)
	})
	t.Run("pending", func(t *testing.T) {
		// The second pass comes before the first one's replaced files are
		// deleted: it must leave the merged segment alone and move the
		// cleaner offset back to it, so that a later pass still drops its
		// shadowed records.
		l, want := build(t)
		budget := 2 * perSegment
		for _, wantCo := range []int64{12, 0} {
			if err := l.clean(at(10).UnixMilli(), budget); err != nil {
				t.Fatal(err)
			}
			if co := cleanerOffset(l); co != wantCo {
				t.Fatalf("cleaner offset %d, want %d", co, wantCo)
			}
		}
		for i := range 6 {
			if err := l.maintain(at(int64(20+i)).UnixMilli(), 86400000, budget); err != nil {
				t.Fatal(err)
			}
		}
		if co := cleanerOffset(l); co != 36 {
			t.Fatalf("cleaner offset %d after the later passes, want 36", co)
		}
		wantKV(t, readAllKV(t, l), want)
	})
	t.Run("unbounded", func(t *testing.T) {
		l, want := build(t)
		if err := l.clean(at(10).UnixMilli(), 1<<30); err != nil {
			t.Fatal(err)
		}
		if co := cleanerOffset(l); co != 36 {
			t.Fatalf("cleaner offset %d, want 36", co)
		}
		wantKV(t, readAllKV(t, l), want)
	})
	t.Run("too small", func(t *testing.T) {
		l, _ := build(t)
		before := l.Size()
		if err := l.clean(at(10).UnixMilli(), perSegment/2); err != nil {
			t.Fatal(err)
		}
		if co := cleanerOffset(l); co != 0 || l.Size() != before {
			t.Fatalf("cleaner offset %d, size %d (before %d): cleaned with a map too small", co, l.Size(), before)
		}
	})
}
