package storage

import (
	"bytes"
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

// FuzzCompleteSwap leaves arbitrary bytes (after an optional valid merged
// prefix) as the cleaner's <0>.log.swap next to three segments, as a crash
// in the middle of a merge would. The open must not panic, must complete
// the swap, and the log must read as batches with increasing offsets and
// take appends at its end.
func FuzzCompleteSwap(f *testing.F) {
	batch := func(base int64, n int) []byte {
		b := makeBatch(batchSpec{records: n})
		records.SetBaseOffset(b, base)
		return b
	}
	segs := map[int64][]byte{0: batch(0, 2), 2: batch(2, 3), 5: batch(5, 2)}
	merged := append(append([]byte(nil), segs[0]...), segs[2]...)
	f.Add(false, []byte{})
	f.Add(true, []byte{})
	f.Add(true, segs[5])
	f.Add(false, merged[:40])
	f.Fuzz(func(t *testing.T, prefix bool, tail []byte) {
		var swap []byte
		if prefix {
			swap = append(swap, merged...)
		}
		swap = append(swap, tail...)
		dir := t.TempDir()
		pdir := filepath.Join(dir, partitionDirName(testTP))
		if err := os.MkdirAll(pdir, 0o755); err != nil {
			t.Fatal(err)
		}
		for base, data := range segs {
			if err := os.WriteFile(filepath.Join(pdir, segmentName(base)+logSuffix), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(pdir, segmentName(0)+logSuffix+swapSuffix), swap, 0o644); err != nil {
			t.Fatal(err)
		}
		m := openManager(t, noSyncFS{vfs.OS}, dir)
		defer m.Close()
		l := m.Get(testTP)
		if l == nil {
			t.Fatal("log not opened")
		}
		if ms, _ := filepath.Glob(filepath.Join(pdir, "*.swap")); len(ms) > 0 {
			t.Fatalf("swap not completed: %v", ms)
		}
		leo := l.LogEndOffset()
		next := int64(-1)
		for off := l.LogStartOffset(); off < leo; {
			res, err := l.Read(off, 1<<30, -1, true)
			if err != nil || len(res.Records) == 0 {
				t.Fatalf("read %d (end %d): %v", off, leo, err)
			}
			_ = records.Split(res.Records, func(b []byte, h *records.Header) error {
				if err := records.CheckCRC(b, h); err != nil {
					t.Fatalf("batch at %d fails its CRC", h.BaseOffset)
				}
				if h.BaseOffset < next {
					t.Fatalf("offsets go backwards: %d after %d", h.BaseOffset, next)
				}
				next = h.NextOffset()
				off = next
				return nil
			})
		}
		r, err := l.AppendAsLeader(makeBatch(batchSpec{}), 0, t0)
		if err != nil || r.BaseOffset != leo {
			t.Fatalf("append after recovery: %+v %v (LEO %d)", r, err, leo)
		}
	})
}

// FuzzDecodeTxnIndex: the .txnindex decoder never allocates past the
// input, returns only whole valid entries, and what it accepts encodes
// back to the same bytes.
func FuzzDecodeTxnIndex(f *testing.F) {
	f.Add(appendTxnEntry(appendTxnEntry(nil, AbortedTxn{1, 0, 3, 2}), AbortedTxn{9, 5, 6, 7}))
	f.Add(appendTxnEntry(nil, AbortedTxn{1, 0, 3, 2})[:20])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		as, err := decodeTxnIndex(b)
		if len(as) > len(b)/txnEntrySize {
			t.Fatalf("%d entries from %d bytes", len(as), len(b))
		}
		var enc []byte
		for i, a := range as {
			if a.FirstOffset > a.LastOffset || (i > 0 && a.LastOffset <= as[i-1].LastOffset) {
				t.Fatalf("invalid entry accepted: %+v", a)
			}
			enc = appendTxnEntry(enc, a)
		}
		if !bytes.Equal(enc, b[:len(enc)]) {
			t.Fatalf("re-encoding differs")
		}
		if err == nil && len(enc) != len(b) {
			t.Fatalf("no error but %d of %d bytes decoded", len(enc), len(b))
		}
	})
}
