package storage

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// noSyncFS skips fsync: the fuzz target runs thousands of recoveries and
// durability is not what it tests.
type noSyncFS struct{ vfs.FS }

type noSyncFile struct{ vfs.File }

func (noSyncFile) Sync() error        { return nil }
func (noSyncFS) SyncDir(string) error { return nil }
func (n noSyncFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := n.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

// FuzzRecoverSegment writes arbitrary bytes (after a valid prefix of
// batches) as the only segment of a partition that did not shut down
// cleanly. Recovery must not panic, must keep exactly the valid batches at
// the start, and the log must accept appends at its end offset afterwards.
func FuzzRecoverSegment(f *testing.F) {
	b1 := makeBatch(batchSpec{records: 2})
	records.SetBaseOffset(b1, 0)
	b2 := makeBatch(batchSpec{records: 3})
	records.SetBaseOffset(b2, 2)
	valid := append(append([]byte(nil), b1...), b2...)
	f.Add(uint8(0), []byte{})
	f.Add(uint8(1), b1[:30])
	f.Add(uint8(2), valid)
	f.Add(uint8(2), append(append([]byte(nil), valid...), 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff))
	f.Add(uint8(0), valid[5:])
	f.Fuzz(func(t *testing.T, prefix uint8, tail []byte) {
		var data []byte
		var wantLEO int64
		switch prefix % 3 {
		case 1:
			data, wantLEO = append(data, b1...), 2
		case 2:
			data, wantLEO = append(data, valid...), 5
		}
		data = append(data, tail...)
		dir := t.TempDir()
		pdir := filepath.Join(dir, partitionDirName(testTP))
		if err := os.MkdirAll(pdir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pdir, segmentName(0)+logSuffix), data, 0o644); err != nil {
			t.Fatal(err)
		}
		m := openManager(t, noSyncFS{vfs.OS}, dir)
		defer m.Close()
		l := m.Get(testTP)
		leo := l.LogEndOffset()
		if leo < wantLEO {
			t.Fatalf("recovery dropped valid batches: LEO %d, want >= %d", leo, wantLEO)
		}
		// Everything kept reads back as valid, contiguous batches.
		res, err := l.Read(0, 1<<30, -1, true)
		if err != nil && leo > 0 {
			t.Fatalf("read after recovery: %v", err)
		}
		next := int64(-1)
		_ = records.Split(res.Records, func(batch []byte, h *records.Header) error {
			if err := records.CheckCRC(batch, h); err != nil {
				t.Fatalf("recovered batch fails its CRC")
			}
			if h.BaseOffset < next {
				t.Fatalf("recovered offsets go backwards")
			}
			next = h.NextOffset()
			return nil
		})
		if int64(len(res.Records)) != l.Size() {
			t.Fatalf("read %d bytes of a %d-byte log", len(res.Records), l.Size())
		}
		if next >= 0 && next != leo {
			t.Fatalf("LEO %d, last batch ends at %d", leo, next)
		}
		r, err := l.AppendAsLeader(makeBatch(batchSpec{}), 0, t0)
		if err != nil || r.BaseOffset != leo {
			t.Fatalf("append after recovery: %+v %v (LEO %d)", r, err, leo)
		}
	})
}

// FuzzCheckpointParsers feeds arbitrary bytes to every text and binary
// checkpoint decoder: no panics, and whatever parses re-encodes to
// something that parses to the same value.
func FuzzCheckpointParsers(f *testing.F) {
	f.Add([]byte("0\n2\norders 0 5\na.b 1 7\n"))
	f.Add([]byte("0\n1\n3 100\n"))
	f.Add([]byte("version: 0\ntopic_id: AQIDAAAAAAAAAAAAAAAAAA\n"))
	f.Add(encodeSnapshot(newProducerState()))
	f.Add([]byte("0\n-1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, err := parseOffsetCheckpoint(data); err == nil {
			m2, err := parseOffsetCheckpoint(encodeOffsetCheckpoint(m))
			if err != nil || len(m2) != len(m) {
				// Topics with spaces cannot round trip; Kafka forbids them.
				for tp := range m {
					if len(tp.Topic) == 0 {
						return
					}
				}
				if err != nil {
					t.Fatalf("re-parse: %v", err)
				}
			}
		}
		if e, err := parseEpochCheckpoint(data); err == nil {
			if _, err := parseEpochCheckpoint(encodeEpochCheckpoint(e)); err != nil {
				t.Fatalf("epoch re-parse: %v", err)
			}
		}
		_, _ = parsePartitionMetadata(data)
		if s, err := decodeSnapshot(data); err == nil {
			if _, err := decodeSnapshot(encodeSnapshot(s)); err != nil {
				t.Fatalf("snapshot re-decode: %v", err)
			}
		}
	})
}
