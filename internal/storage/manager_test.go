package storage

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// segmentedLog makes a log with one 2-record batch per segment, batch i
// having timestamps t0+i*1000 (+1).
func segmentedLog(t *testing.T, cfg LogConfig, n int) (*Manager, *Log, string) {
	t.Helper()
	cfg.SegmentBytes = int64(len(makeBatch(batchSpec{records: 2})))
	m, l, dir := newTestLog(t, cfg)
	for i := 0; i < n; i++ {
		mustAppend(t, l, batchSpec{records: 2, ts: t0.UnixMilli() + int64(i)*1000}, 0, at(int64(i)*1000))
	}
	l.SetHighWatermark(l.LogEndOffset())
	return m, l, dir
}

func TestRetentionByTime(t *testing.T) {
	cfg := testConfig()
	cfg.RetentionMs = 2500
	cfg.FileDeleteDelayMs = 1000
	m, l, dir := segmentedLog(t, cfg, 5) // segments 0,2,4,6,8 with max ts t0+1, +1001, ...
	defer m.Close()
	m.Maintain(at(4000)) // ages 3999, 2999, 1999, ... : segments 0 and 2 go
	if got := segmentBases(t, dir); !reflect.DeepEqual(got, []int64{4, 6, 8}) {
		t.Fatalf("segments %v, want [4 6 8]", got)
	}
	if l.LogStartOffset() != 4 {
		t.Fatalf("log start %d", l.LogStartOffset())
	}
	// The files wait file.delete.delay.ms under *.deleted.
	if _, err := os.Stat(segFile(dir, 0, logSuffix+deletedSuffix)); err != nil {
		t.Fatalf("deleted segment file: %v", err)
	}
	m.Maintain(at(5001))
	if _, err := os.Stat(segFile(dir, 0, logSuffix+deletedSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("deleted file still there after the delay: %v", err)
	}
	if _, err := l.Read(2, 100, -1, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below log start: %v", err)
	}
	// Everything expired: every segment but the active one goes.
	m.Maintain(at(1 << 40))
	if got := segmentBases(t, dir); !reflect.DeepEqual(got, []int64{8}) {
		t.Fatalf("segments %v, want only the active [8]", got)
	}
}

func TestRetentionNeverDeletesActiveOrAboveHW(t *testing.T) {
	cfg := testConfig()
	cfg.RetentionMs = 1
	m, l, dir := newTestLog(t, cfg)
	defer m.Close()
	mustAppend(t, l, batchSpec{records: 2}, 0, t0)
	l.SetHighWatermark(2)
	m.Maintain(at(1 << 40))
	if got := segmentBases(t, dir); len(got) != 1 || l.LogEndOffset() != 2 || l.LogStartOffset() != 0 {
		t.Fatalf("active segment deleted: %v", got)
	}
	// Segments not below the high watermark are kept too.
	m2, l2, dir2 := segmentedLog(t, cfg, 4)
	defer m2.Close()
	l2.SetHighWatermark(3)
	m2.Maintain(at(1 << 40))
	if got := segmentBases(t, dir2); !reflect.DeepEqual(got, []int64{2, 4, 6}) {
		t.Fatalf("segments %v, want [2 4 6] (HW 3)", got)
	}
}

func TestRetentionBySize(t *testing.T) {
	cfg := testConfig()
	cfg.RetentionMs = -1
	seg := int64(len(makeBatch(batchSpec{records: 2})))
	cfg.RetentionBytes = 2*seg + seg/2
	m, l, dir := segmentedLog(t, cfg, 5)
	defer m.Close()
	m.Maintain(at(0))
	// 5 segments, 2.5 allowed: deleting whole segments keeps 3 (Kafka
	// deletes a segment only if the log stays at or above retention.bytes).
	if got := segmentBases(t, dir); !reflect.DeepEqual(got, []int64{4, 6, 8}) {
		t.Fatalf("segments %v, want [4 6 8]", got)
	}
	if l.Size() != 3*seg {
		t.Fatalf("size %d", l.Size())
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	cfg := testConfig()
	cfg.RetentionMs = -1
	m, l, dir := segmentedLog(t, cfg, 5) // offsets 0-9
	l.SetHighWatermark(8)
	if _, err := l.DeleteRecordsBefore(9); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("above HW: %v", err)
	}
	start, err := l.DeleteRecordsBefore(5)
	if err != nil || start != 5 {
		t.Fatalf("DeleteRecordsBefore(5) = %d, %v", start, err)
	}
	if _, err := l.Read(4, 1<<20, -1, false); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below log start: %v", err)
	}
	res, err := l.Read(5, 1<<20, -1, false)
	if err != nil || len(batchesOf(t, res.Records)) == 0 || res.LogStartOffset != 5 {
		t.Fatalf("read at log start: %+v %v", res.LogStartOffset, err)
	}
	if got := segmentBases(t, dir); !reflect.DeepEqual(got, []int64{4, 6, 8}) {
		t.Fatalf("segments %v, want [4 6 8]", got)
	}
	if start, _ := l.DeleteRecordsBefore(3); start != 5 {
		t.Fatalf("moving back: %d", start)
	}
	// Survives restart via log-start-offset-checkpoint.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, logStartCheckpointFile))
	if string(data) != "0\n1\norders 3 5\n" {
		t.Fatalf("log-start-offset-checkpoint %q", data)
	}
	m2, l2 := reopen(t, dir)
	if l2.LogStartOffset() != 5 {
		t.Fatalf("log start after reopen %d", l2.LogStartOffset())
	}
	// Deleting up to the LEO removes the active segment too (after a roll).
	l2.SetHighWatermark(10)
	if start, err := l2.DeleteRecordsBefore(10); err != nil || start != 10 {
		t.Fatalf("DeleteRecordsBefore(LEO) = %d, %v", start, err)
	}
	if l2.Size() != 0 || l2.LogEndOffset() != 10 {
		t.Fatalf("size %d LEO %d", l2.Size(), l2.LogEndOffset())
	}
	if r := mustAppend(t, l2, batchSpec{}, 0, t0); r.BaseOffset != 10 || r.LogStartOffset != 10 {
		t.Fatalf("append after deleting everything: %+v", r)
	}
	m2.Close()
}

func TestCheckpointFilesRoundTrip(t *testing.T) {
	m, l, dir := newTestLog(t, testConfig())
	l2, err := m.GetOrCreate(TopicPartition{"a.b_c", 0}, [16]byte{9}, testConfig(), t0)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3)
	l.SetHighWatermark(5)
	mustAppend(t, l2, batchSpec{}, 0, t0)
	m.Maintain(at(0))
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	m.Maintain(at(1))
	check := func(name, want string) {
		t.Helper()
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Fatalf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	check(replicationCheckpointFile, "0\n2\na.b_c 0 0\norders 3 5\n")
	check(recoveryPointCheckpointFile, "0\n2\na.b_c 0 0\norders 3 6\n")
	check(logStartCheckpointFile, "0\n2\na.b_c 0 0\norders 3 0\n")
	meta, _ := os.ReadFile(filepath.Join(partDir(dir), partitionMetadataFile))
	if string(meta) != "version: 0\ntopic_id: AQIDAAAAAAAAAAAAAAAAAA\n" {
		t.Fatalf("partition.metadata %q", meta)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	check(recoveryPointCheckpointFile, "0\n2\na.b_c 0 1\norders 3 6\n")
	// Codec round trips.
	cp := map[TopicPartition]int64{{"x", 1}: 5, {"y", 0}: -1}
	got, err := parseOffsetCheckpoint(encodeOffsetCheckpoint(cp))
	if err != nil || !reflect.DeepEqual(got, cp) {
		t.Fatalf("offset checkpoint round trip: %v %v", got, err)
	}
	for _, bad := range []string{"", "1\n0\n", "0\n2\nx 1 5\n", "0\n1\nx 1\n", "0\n1\nx -1 5\n", "0\nz\n"} {
		if _, err := parseOffsetCheckpoint([]byte(bad)); !errors.Is(err, errBadCheckpoint) {
			t.Errorf("parse %q: %v", bad, err)
		}
	}
	ep := []epochEntry{{1, 0}, {4, 100}}
	if got, err := parseEpochCheckpoint(encodeEpochCheckpoint(ep)); err != nil || !reflect.DeepEqual(got, ep) {
		t.Fatalf("epoch checkpoint round trip: %v %v", got, err)
	}
	if _, err := parseEpochCheckpoint([]byte("0\n2\n4 100\n1 0\n")); err == nil {
		t.Fatal("decreasing epochs accepted")
	}
	id := [16]byte{0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	if got, err := parsePartitionMetadata(encodePartitionMetadata(id)); err != nil || got != id {
		t.Fatalf("partition.metadata round trip: %x %v", got, err)
	}
}

func TestManagerGetOrCreateAndTopicID(t *testing.T) {
	dir1, dir2 := t.TempDir(), t.TempDir()
	m := openManager(t, nil, dir1, dir2)
	a, err := m.GetOrCreate(TopicPartition{"t", 0}, [16]byte{1}, testConfig(), t0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.GetOrCreate(TopicPartition{"t", 1}, [16]byte{1}, testConfig(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(a.Dir()) == filepath.Dir(b.Dir()) {
		t.Fatalf("both partitions in %s; want spread over the dirs", filepath.Dir(a.Dir()))
	}
	if again, err := m.GetOrCreate(TopicPartition{"t", 0}, [16]byte{1}, testConfig(), t0); err != nil || again != a {
		t.Fatalf("GetOrCreate of existing: %v", err)
	}
	if _, err := m.GetOrCreate(TopicPartition{"t", 0}, [16]byte{2}, testConfig(), t0); !errors.Is(err, ErrInconsistentTopicID) {
		t.Fatalf("other topic id: %v", err)
	}
	if m.Get(TopicPartition{"t", 9}) != nil || len(m.All()) != 2 {
		t.Fatal("Get/All")
	}
	mustAppend(t, a, batchSpec{valueSize: 1000}, 0, t0)
	infos := m.DirInfos()
	if len(infos) != 2 {
		t.Fatalf("DirInfos: %+v", infos)
	}
	var total int64
	for _, d := range infos {
		if len(d.Partitions) != 1 || d.TotalBytes <= 0 || d.UsableBytes < 0 {
			t.Fatalf("DirInfo %+v", d)
		}
		total += d.Partitions[0].Size
	}
	if total != a.Size() || total < 1000 {
		t.Fatalf("sizes %d, %d", total, a.Size())
	}
	cfg := testConfig()
	cfg.RetentionMs = 123
	m.UpdateConfig(TopicPartition{"t", 0}, cfg)
	if a.Config().RetentionMs != 123 {
		t.Fatal("UpdateConfig not applied")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := openManager(t, nil, dir1, dir2)
	defer m2.Close()
	if len(m2.All()) != 2 || m2.Get(TopicPartition{"t", 0}).LogEndOffset() != 1 {
		t.Fatal("partitions not found in both dirs after reopen")
	}
}

func TestManagerDelete(t *testing.T) {
	m, l, dir := newTestLog(t, testConfig())
	defer m.Close()
	mustAppend(t, l, batchSpec{}, 0, t0)
	if err := m.Delete(testTP); err != nil {
		t.Fatal(err)
	}
	if m.Get(testTP) != nil {
		t.Fatal("deleted log still returned")
	}
	if _, err := l.Read(0, 100, -1, true); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("read deleted log: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	renamed := ""
	for _, e := range ents {
		if e.IsDir() {
			renamed = e.Name()
		}
	}
	if !strings.HasPrefix(renamed, "orders-3.") || !strings.HasSuffix(renamed, "-delete") || len(renamed) != len("orders-3.")+32+len("-delete") {
		t.Fatalf("renamed dir %q", renamed)
	}
	m.Maintain(at(0))
	if _, err := os.Stat(filepath.Join(dir, renamed)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("deleted dir not removed: %v", err)
	}
	// A new log of the same partition starts from scratch.
	l2, err := m.GetOrCreate(testTP, [16]byte{}, testConfig(), t0)
	if err != nil || l2.LogEndOffset() != 0 {
		t.Fatalf("recreate: %v", err)
	}
}

func TestManagerRemovesDeleteDirsAtOpen(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "x-0.0123456789abcdef0123456789abcdef-delete"), 0o755)
	m := openManager(t, nil, dir)
	if len(m.All()) != 0 {
		t.Fatal("delete dir opened as a partition")
	}
	m.Maintain(at(0))
	m.Close()
	if _, err := os.Stat(filepath.Join(dir, "x-0.0123456789abcdef0123456789abcdef-delete")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("leftover -delete dir not removed")
	}
}

// TestReadDuringSegmentDeletion checks that a read that found its segment
// before retention removed it can still read it: the files stay open
// until file.delete.delay.ms has passed.
func TestReadDuringSegmentDeletion(t *testing.T) {
	cfg := testConfig()
	cfg.RetentionMs = 1
	cfg.FileDeleteDelayMs = 60000
	m, l, _ := segmentedLog(t, cfg, 3)
	defer m.Close()
	l.mu.Lock()
	old := l.mu.segs // what a reader saw before the deletion
	l.mu.Unlock()
	m.Maintain(at(1 << 30))
	if l.LogStartOffset() != 4 {
		t.Fatalf("log start %d", l.LogStartOffset())
	}
	b, _, _, err := readFrom(old, 0, 0, 1<<20, 100, false, readOpts{})
	if err != nil || batchesOf(t, b)[0].BaseOffset != 0 {
		t.Fatalf("read of a deleted segment within the delay: %v", err)
	}
	m.Maintain(at(1<<30 + 60001))
	if _, _, _, err := readFrom(old, 0, 0, 1<<20, 100, false, readOpts{}); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("read of a removed segment: %v", err)
	}
}
