package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// openFDs counts this process's open file descriptors, or skips the test
// where /proc is absent.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(ents) - 1 // the descriptor ReadDir itself used
}

func openManagerWith(t testing.TB, cfg ManagerConfig) *Manager {
	t.Helper()
	if cfg.FS == nil {
		cfg.FS = vfs.OS
	}
	cfg.Logger, cfg.Now = quietLogger(), t0
	if cfg.ConfigFor == nil {
		cfg.ConfigFor = func(TopicPartition) LogConfig { return testConfig() }
	}
	m, err := OpenManager(cfg)
	if err != nil {
		t.Fatalf("OpenManager: %v", err)
	}
	return m
}

// createMany creates logs for partitions 0..n-1 of topic from workers
// goroutines.
func createMany(t testing.TB, m *Manager, topic string, n, workers int, id [16]byte, cfg LogConfig) []*Log {
	t.Helper()
	logs := make([]*Log, n)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := w; p < n; p += workers {
				l, err := m.GetOrCreate(TopicPartition{topic, int32(p)}, id, cfg, t0)
				if err != nil {
					t.Error(err)
					return
				}
				logs[p] = l
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return logs
}

// TestOneFilePerLog checks that an open log holds at most one file
// descriptor (its active segment's .log) while idle, after appends, after
// a flush and after a reopen; the indexes of the active segment hold
// none.
func TestOneFilePerLog(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	dir := t.TempDir()
	fsys := noSyncFS{vfs.OS} // fsyncs are not what this test is about
	m := openManagerWith(t, ManagerConfig{FS: fsys, Dirs: []string{dir}})
	// A first log, so that whatever the runtime opens once is counted in
	// the baseline.
	if _, err := m.GetOrCreate(TopicPartition{"warmup", 0}, [16]byte{}, testConfig(), t0); err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	logs := createMany(t, m, "fds", n, 16, [16]byte{}, testConfig())
	check := func(when string) {
		t.Helper()
		if got := openFDs(t) - before; got > n {
			t.Fatalf("%s: %d files open for %d logs", when, got, n)
		}
	}
	check("after creation")
	for _, l := range logs {
		for i := 0; i < 3; i++ {
			mustAppend(t, l, batchSpec{records: 4, valueSize: 100}, 0, t0)
		}
	}
	check("after appends")
	for _, l := range logs {
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	check("after flush")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := openFDs(t) - before; got > 0 {
		t.Fatalf("%d files still open after Close", got)
	}
	m = openManagerWith(t, ManagerConfig{FS: fsys, Dirs: []string{dir}})
	defer m.Close()
	check("after reopen")
	if l := m.Get(TopicPartition{"fds", int32(n - 1)}); l == nil || l.LogEndOffset() != 12 {
		t.Fatalf("log after reopen: %v", l)
	}
}

// TestSealedSegmentFilesLRU checks that the files of sealed segments beyond
// the cache's capacity are closed and reopened transparently: concurrent
// readers of every segment of several logs, while appends roll new
// segments, always get their data.
func TestSealedSegmentFilesLRU(t *testing.T) {
	const (
		capacity = 4
		nlogs    = 3
		nsegs    = 8
	)
	dir := t.TempDir()
	m := openManagerWith(t, ManagerConfig{Dirs: []string{dir}, MaxOpenSegmentFiles: capacity})
	defer m.Close()
	cfg := testConfig()
	cfg.SegmentBytes = int64(len(makeBatch(batchSpec{records: 2, valueSize: 100})))
	logs := createMany(t, m, "lru", nlogs, 1, [16]byte{}, cfg)
	for _, l := range logs {
		for i := 0; i < nsegs; i++ { // one batch of 2 records per segment
			mustAppend(t, l, batchSpec{records: 2, valueSize: 100, ts: t0.UnixMilli() + int64(i)}, 0, t0)
		}
		l.SetHighWatermark(l.LogEndOffset())
	}
	fdBefore := openFDs(t)
	var wg sync.WaitGroup
	for r := 0; r < 8; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 20; round++ {
				for k := range logs {
					l := logs[(k+r)%nlogs]
					for off := int64(0); off < 2*nsegs; off += 2 {
						off := (off + int64(2*r)) % (2 * nsegs)
						res, err := l.Read(off, 1<<20, 2*nsegs, false)
						if err != nil {
							t.Errorf("read %s at %d: %v", l.tp, off, err)
							return
						}
						hs := batchesOf(t, res.Records)
						if len(hs) != 1 || hs[0].BaseOffset != off {
							t.Errorf("read %s at %d: %d batches", l.tp, off, len(hs))
							return
						}
						if _, _, ok, err := l.OffsetForTimestamp(t0.UnixMilli() + off/2); err != nil || !ok {
							t.Errorf("OffsetForTimestamp %s: %v %v", l.tp, ok, err)
							return
						}
					}
				}
			}
		}()
	}
	// A writer keeps rolling segments (sealing, unpinning) meanwhile, and
	// one log is flushed (fsyncs through the cache).
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 40; i++ {
			if _, err := logs[0].AppendAsLeader(makeBatch(batchSpec{records: 2, valueSize: 100}), 0, t0); err != nil {
				t.Error(err)
				return
			}
			if i%10 == 0 {
				if err := logs[1].Flush(); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	wg.Wait()
	open, opened, evicted := m.cache.stats()
	if open > capacity {
		t.Errorf("%d sealed-segment files open, capacity %d", open, capacity)
	}
	if evicted == 0 || opened == 0 {
		t.Errorf("no file was evicted (%d) or reopened (%d)", evicted, opened)
	}
	// The fds of this process: one active .log per log, plus at most the
	// capacity (the writer's new segments replaced sealed ones).
	if got := openFDs(t); got > fdBefore+capacity {
		t.Errorf("%d files open, %d before the reads (capacity %d)", got, fdBefore, capacity)
	}
	// Retention of sealed files that are closed still works: their
	// renamed files are reopened for a read in flight.
	l := logs[2]
	l.mu.Lock()
	old := l.mu.segs
	l.mu.Unlock()
	cfg.RetentionMs = 1
	cfg.FileDeleteDelayMs = 60000
	l.UpdateConfig(cfg)
	m.Maintain(at(1 << 30))
	if l.LogStartOffset() != 2*nsegs-2 {
		t.Fatalf("log start %d after retention", l.LogStartOffset())
	}
	for _, s := range old[:len(old)-1] {
		b, _, _, err := readFrom([]*segment{s}, 0, s.base, 1<<20, 1<<40, false, readOpts{})
		if err != nil || len(batchesOf(t, b)) != 1 {
			t.Fatalf("read of deleted segment %d within the delay: %v", s.base, err)
		}
	}
	m.Maintain(at(1<<30 + 60001))
	if _, _, _, err := readFrom(old[:1], 0, 0, 1<<20, 1<<40, false, readOpts{}); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("read of a removed segment: %v", err)
	}
}

// TestFileCacheRefcount checks the cache's rules directly: a file in use is
// never closed by eviction, a closed one is reopened, a gone one fails.
func TestFileCacheRefcount(t *testing.T) {
	dir := t.TempDir()
	c := newFileCache(vfs.OS, 1)
	var hs []*cachedFile
	for i := 0; i < 3; i++ {
		name := filepath.Join(dir, fmt.Sprint(i))
		if err := os.WriteFile(name, []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		hs = append(hs, c.newFile(name, os.O_RDONLY, nil, false))
	}
	read := func(f vfs.File) byte {
		t.Helper()
		var b [1]byte
		if _, err := f.ReadAt(b[:], 0); err != nil {
			t.Fatalf("read: %v", err)
		}
		return b[0]
	}
	f0, err := hs[0].acquire()
	if err != nil {
		t.Fatal(err)
	}
	f1, err := hs[1].acquire() // over capacity: nothing idle to evict
	if err != nil {
		t.Fatal(err)
	}
	if open, _, _ := c.stats(); open != 2 {
		t.Fatalf("open %d, want 2 (both in use)", open)
	}
	if read(f0) != 0 || read(f1) != 1 {
		t.Fatal("wrong content")
	}
	hs[0].release()
	hs[1].release() // hs[0] is evicted now
	if open, _, evicted := c.stats(); open != 1 || evicted != 1 {
		t.Fatalf("open %d evicted %d, want 1 and 1", open, evicted)
	}
	if _, err := f0.ReadAt(make([]byte, 1), 0); err == nil {
		t.Fatal("evicted file still open")
	}
	f0, err = hs[0].acquire()
	if err != nil || read(f0) != 0 {
		t.Fatalf("reopen: %v", err)
	}
	// A rename while closed: the reopen follows it.
	hs[0].release()
	if _, err := hs[2].acquire(); err != nil { // evicts hs[0] (or hs[1])
		t.Fatal(err)
	}
	hs[2].release()
	if err := hs[0].rename(hs[0].currentName() + deletedSuffix); err != nil {
		t.Fatal(err)
	}
	f0, err = hs[0].acquire()
	if err != nil || read(f0) != 0 {
		t.Fatalf("reopen after rename: %v", err)
	}
	// close while in use: the file stays usable until released.
	if err := hs[0].close(); err != nil {
		t.Fatal(err)
	}
	if read(f0) != 0 {
		t.Fatal("closed under its user")
	}
	hs[0].release()
	if _, err := hs[0].acquire(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("acquire of a gone file: %v", err)
	}
	// Pinned files are not counted and not evicted.
	if _, err := hs[1].pin(); err != nil {
		t.Fatal(err)
	}
	if _, err := hs[2].acquire(); err != nil {
		t.Fatal(err)
	}
	hs[2].release()
	if open, _, _ := c.stats(); open != 1 {
		t.Fatalf("open %d with one pinned, one idle", open)
	}
	hs[1].unpin() // now counted: one of the two is evicted
	if open, _, _ := c.stats(); open != 1 {
		t.Fatalf("open %d after unpin", open)
	}
	hs[1].close()
	hs[2].close()
	if open, _, _ := c.stats(); open != 0 {
		t.Fatalf("open %d after close", open)
	}
}

// TestGetOrCreateConcurrent creates logs from many goroutines, several of
// them asking for the same partitions: each partition gets exactly one
// log, the log dirs get balanced counts, and a concurrent Close waits for
// creations in flight.
func TestGetOrCreateConcurrent(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	m := openManagerWith(t, ManagerConfig{Dirs: dirs})
	const n, workers = 200, 16
	id := [16]byte{7}
	got := make([][]*Log, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every worker asks for every partition, in its own order.
			for k := 0; k < n; k++ {
				p := (k*7 + w*13) % n
				l, err := m.GetOrCreate(TopicPartition{"conc", int32(p)}, id, testConfig(), t0)
				if err != nil {
					t.Error(err)
					return
				}
				if got[w] == nil {
					got[w] = make([]*Log, n)
				}
				got[w][p] = l
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for p := 0; p < n; p++ {
		for w := 1; w < workers; w++ {
			if got[w][p] != got[0][p] {
				t.Fatalf("partition %d: two logs", p)
			}
		}
		if got[0][p].TopicID() != id {
			t.Fatalf("partition %d: topic id %x", p, got[0][p].TopicID())
		}
	}
	if all := m.All(); len(all) != n {
		t.Fatalf("%d logs, want %d", len(all), n)
	}
	var perDir []int
	for _, d := range m.DirInfos() {
		perDir = append(perDir, len(d.Partitions))
	}
	if perDir[0] != n/2 || perDir[1] != n/2 {
		t.Fatalf("logs per dir %v, want balanced", perDir)
	}
	// Deleting and creating concurrently keeps the counts right.
	wg.Add(2)
	go func() {
		defer wg.Done()
		for p := 0; p < n; p += 2 {
			if err := m.Delete(TopicPartition{"conc", int32(p)}); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for p := 0; p < n; p += 2 {
			if _, err := m.GetOrCreate(TopicPartition{"other", int32(p)}, id, testConfig(), t0); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	m.mu.Lock()
	c0, c1 := m.mu.counts[dirs[0]], m.mu.counts[dirs[1]]
	m.mu.Unlock()
	if c0+c1 != n || c0 < n/2-n/4 || c1 < n/2-n/4 {
		t.Fatalf("counts %d and %d after deletes and creates", c0, c1)
	}
	// Close while creations run: every log that was created is closed,
	// the others fail with ErrLogClosed.
	created := make(chan *Log, n)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := w; p < n; p += 4 {
				l, err := m.GetOrCreate(TopicPartition{"late", int32(p)}, id, testConfig(), t0)
				if errors.Is(err, ErrLogClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				created <- l
			}
		}()
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(created)
	for l := range created {
		if !l.isClosed() {
			t.Fatalf("%s created during Close is still open", l.tp)
		}
	}
}

// TestRecoveryActiveIndexNotWritten: the active segment's index lives in
// memory until a flush, so a crash loses it (or the part after the last
// flush); recovery rebuilds it from the log, as it does for any segment
// past the recovery point.
func TestRecoveryActiveIndexNotWritten(t *testing.T) {
	for _, flushFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("flushed=%v", flushFirst), func(t *testing.T) {
			m, l, dir := newTestLog(t, testConfig()) // an index entry every ~100 bytes
			appendN(t, l, 10)
			if flushFirst {
				if err := l.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			appendN(t, l, 10)
			l.mu.Lock()
			want := l.activeLocked().idx.n
			l.mu.Unlock()
			st, err := os.Stat(segFile(dir, 0, indexSuffix))
			if !flushFirst && !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("index file before any flush: %v", err)
			}
			if flushFirst && (err != nil || st.Size() >= int64(want*offsetEntrySize)) {
				t.Fatalf("index file after a flush and more appends: %v (want fewer than %d entries)", err, want)
			}
			crash(m)
			m2, l2 := reopen(t, dir)
			l2.mu.Lock()
			got := l2.activeLocked().idx.n
			l2.mu.Unlock()
			if got != want || l2.LogEndOffset() != 40 {
				t.Fatalf("after recovery: %d index entries (want %d), LEO %d", got, want, l2.LogEndOffset())
			}
			for off := int64(0); off < 40; off += 3 {
				res, err := l2.Read(off, 1, -1, true)
				if err != nil || batchesOf(t, res.Records)[0].LastOffset() < off {
					t.Fatalf("read %d after recovery: %v", off, err)
				}
			}
			if err := m2.Close(); err != nil {
				t.Fatal(err)
			}
			if st, err := os.Stat(segFile(dir, 0, indexSuffix)); err != nil || st.Size() != int64(want*offsetEntrySize) {
				t.Fatalf("index file after a clean close: %v", err)
			}
		})
	}
}
