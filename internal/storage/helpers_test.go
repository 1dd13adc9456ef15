package storage

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// t0 is the tests' clock origin.
var t0 = time.UnixMilli(1_700_000_000_000)

func at(ms int64) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// batchSpec describes a v2 batch built by makeBatch.
type batchSpec struct {
	records    int   // number of records (default 1)
	valueSize  int   // bytes per value (default 10)
	ts         int64 // first timestamp (default t0); record i has ts+i
	producerID int64 // -1 (default when 0 and !idempotent) = none
	epoch      int16
	seq        int32
	idem       bool // carry producerID/epoch/seq
	txn        bool
	control    bool
}

// makeBatch builds an uncompressed v2 batch with a valid CRC (our own
// encoder: the record format is varint length, attributes, timestamp delta,
// offset delta, key, value, headers).
func makeBatch(s batchSpec) []byte {
	if s.records == 0 {
		s.records = 1
	}
	if s.valueSize == 0 {
		s.valueSize = 10
	}
	if s.ts == 0 {
		s.ts = t0.UnixMilli()
	}
	b := make([]byte, records.HeaderSize, records.HeaderSize+s.records*(s.valueSize+16))
	for i := 0; i < s.records; i++ {
		var rec []byte
		rec = append(rec, 0)                               // attributes
		rec = binary.AppendVarint(rec, int64(i))           // timestamp delta
		rec = binary.AppendVarint(rec, int64(i))           // offset delta
		rec = binary.AppendVarint(rec, -1)                 // null key
		rec = binary.AppendVarint(rec, int64(s.valueSize)) // value length
		for j := 0; j < s.valueSize; j++ {
			rec = append(rec, byte('a'+(i+j)%26))
		}
		rec = binary.AppendVarint(rec, 0) // headers
		b = binary.AppendVarint(b, int64(len(rec)))
		b = append(b, rec...)
	}
	binary.BigEndian.PutUint64(b[0:], 0)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-records.LogOverhead))
	binary.BigEndian.PutUint32(b[12:], 0xffffffff)
	b[16] = 2
	var attrs int16
	if s.txn {
		attrs |= records.AttrTransactional
	}
	if s.control {
		attrs |= records.AttrControl
	}
	binary.BigEndian.PutUint16(b[21:], uint16(attrs))
	binary.BigEndian.PutUint32(b[23:], uint32(s.records-1))
	binary.BigEndian.PutUint64(b[27:], uint64(s.ts))
	binary.BigEndian.PutUint64(b[35:], uint64(s.ts+int64(s.records-1)))
	pid, epoch, seq := int64(-1), int16(-1), int32(-1)
	if s.idem {
		pid, epoch, seq = s.producerID, s.epoch, s.seq
	}
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[57:], uint32(s.records))
	records.UpdateCRC(b)
	return b
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var testTP = TopicPartition{Topic: "orders", Partition: 3}

// testConfig is a config with small segments for tests.
func testConfig() LogConfig {
	c := DefaultLogConfig()
	c.SegmentIndexBytes = 4096
	c.IndexIntervalBytes = 100
	c.FileDeleteDelayMs = 0
	return c
}

func openManager(t testing.TB, fsys vfs.FS, dirs ...string) *Manager {
	t.Helper()
	m, err := OpenManager(ManagerConfig{FS: fsys, Dirs: dirs, Logger: quietLogger(), Now: t0,
		ConfigFor: func(TopicPartition) LogConfig { return testConfig() }})
	if err != nil {
		t.Fatalf("OpenManager: %v", err)
	}
	return m
}

// newTestLog opens a manager on a fresh dir and creates the test partition.
func newTestLog(t testing.TB, cfg LogConfig) (*Manager, *Log, string) {
	t.Helper()
	dir := t.TempDir()
	m := openManager(t, vfs.OS, dir)
	l, err := m.GetOrCreate(testTP, [16]byte{1, 2, 3}, cfg, t0)
	if err != nil {
		t.Fatalf("GetOrCreate: %v", err)
	}
	return m, l, dir
}

// reopen opens a new manager on dir and returns the test partition's log.
func reopen(t testing.TB, dir string) (*Manager, *Log) {
	t.Helper()
	m := openManager(t, vfs.OS, dir)
	l := m.Get(testTP)
	if l == nil {
		t.Fatalf("partition %s not found after reopen", testTP)
	}
	return m, l
}

func mustAppend(t testing.TB, l *Log, s batchSpec, epoch int32, now time.Time) AppendResult {
	t.Helper()
	r, err := l.AppendAsLeader(makeBatch(s), epoch, now)
	if err != nil {
		t.Fatalf("AppendAsLeader: %v", err)
	}
	return r
}

// batchesOf splits read bytes into headers.
func batchesOf(t testing.TB, b []byte) []records.Header {
	t.Helper()
	var hs []records.Header
	if err := records.Split(b, func(batch []byte, h *records.Header) error {
		if err := records.CheckCRC(batch, h); err != nil {
			return err
		}
		hs = append(hs, *h)
		return nil
	}); err != nil {
		t.Fatalf("read bytes are not whole valid batches: %v", err)
	}
	return hs
}

func partDir(dir string) string { return filepath.Join(dir, partitionDirName(testTP)) }

func segFile(dir string, base int64, suffix string) string {
	return filepath.Join(partDir(dir), segmentName(base)+suffix)
}

func segmentBases(t testing.TB, dir string) []int64 {
	t.Helper()
	ents, err := os.ReadDir(partDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, e := range ents {
		var b int64
		if n, _ := fmtSscanf(e.Name(), &b); n == 1 && filepath.Ext(e.Name()) == logSuffix {
			out = append(out, b)
		}
	}
	return out
}

func fmtSscanf(name string, b *int64) (int, error) {
	if len(name) != 20+len(logSuffix) {
		return 0, errors.New("no")
	}
	var v int64
	for _, c := range name[:20] {
		if c < '0' || c > '9' {
			return 0, errors.New("no")
		}
		v = v*10 + int64(c-'0')
	}
	*b = v
	return 1, nil
}

// makeHeader returns the header of a batch with offsets assigned.
func makeHeader(pid int64, epoch int16, seq int32, n int, base int64) records.Header {
	b := makeBatch(batchSpec{idem: true, producerID: pid, epoch: epoch, seq: seq, records: n})
	records.SetBaseOffset(b, base)
	h, err := records.ParseHeader(b)
	if err != nil {
		panic(err)
	}
	return h
}

func recordsUpdateCRC(b []byte) { records.UpdateCRC(b) }

func vfsOS() vfs.FS { return vfs.OS }
