package storage

import (
	"bytes"
	"testing"
)

// regionBytes reads a region's bytes back from its file.
func regionBytes(t *testing.T, rg *Region) []byte {
	t.Helper()
	b := make([]byte, rg.Len)
	if _, err := rg.File().ReadAt(b, rg.Pos); err != nil {
		t.Fatalf("reading region %d+%d: %v", rg.Pos, rg.Len, err)
	}
	return b
}

// regionLog is a log of n batches of 4 records, perSegment batches to a
// segment, with the high watermark at the log end; size is a batch's size.
func regionLog(t *testing.T, n, perSegment int) (m *Manager, l *Log, dir string, size int64) {
	t.Helper()
	spec := batchSpec{records: 4, valueSize: 200}
	cfg := testConfig()
	size = int64(len(makeBatch(spec)))
	cfg.SegmentBytes = int64(perSegment) * size
	m, l, dir = newTestLog(t, cfg)
	for range n {
		mustAppend(t, l, spec, 0, t0)
	}
	l.SetHighWatermark(l.LogEndOffset())
	return m, l, dir, size
}

func TestReadRegion(t *testing.T) {
	m, l, _, size := regionLog(t, 12, 5) // segments at 0, 20, 40 (active) of 5, 5 and 2 batches
	defer m.Close()

	// A sealed segment: the region runs to its end, the same bytes Read
	// gives.
	res, rg, err := l.ReadRegion(0, 1<<20, -1, false, 1, nil)
	if err != nil || rg == nil || res.Records != nil {
		t.Fatalf("sealed: region %v records %d err %v", rg, len(res.Records), err)
	}
	want, _ := l.Read(0, 1<<20, -1, false)
	if rg.Pos != 0 || rg.Len != 5*size || !bytes.Equal(regionBytes(t, rg), want.Records) {
		t.Fatalf("sealed: region %d+%d, want 0+%d and Read's bytes", rg.Pos, rg.Len, 5*size)
	}
	rg.Release()
	rg.Release() // twice is harmless

	// From the middle of a batch's offsets: the region starts at its batch.
	_, rg, _ = l.ReadRegion(22, 1<<20, -1, false, 1, nil)
	if rg == nil || rg.Pos != 0 || rg.Len != 5*size {
		t.Fatalf("offset 22: region %+v, want the whole second segment", rg)
	}
	rg.Release()

	// maxBytes inside a batch: the region stops after the last whole one.
	_, rg, _ = l.ReadRegion(0, int32(size+size/2), -1, false, 1, nil)
	if rg == nil || rg.Len != size {
		t.Fatalf("cut: region %+v, want %d bytes", rg, size)
	}
	rg.Release()

	// A first batch larger than maxBytes: whole with minOneBatch, nothing
	// without.
	_, rg, _ = l.ReadRegion(4, 10, -1, true, 1, nil)
	if rg == nil || rg.Pos != size || rg.Len != size {
		t.Fatalf("min one batch: region %+v, want %d+%d", rg, size, size)
	}
	rg.Release()
	if res, rg, err := l.ReadRegion(4, 10, -1, false, 1, nil); rg != nil || res.Records != nil || err != nil {
		t.Fatalf("without min one batch: region %+v records %d err %v", rg, len(res.Records), err)
	}

	// The active segment when the high watermark is the log end: up to
	// the end seen at the lookup.
	_, rg, _ = l.ReadRegion(40, 1<<20, l.HighWatermark(), false, 1, nil)
	if rg == nil || rg.Len != 2*size {
		t.Fatalf("active: region %+v, want %d bytes", rg, 2*size)
	}
	rg.Release()

	// Below minRegion, or with the high watermark inside the active
	// segment, the records are read and cut at whole batches below it.
	if res, rg, _ := l.ReadRegion(40, 1<<20, -1, false, 3*size, nil); rg != nil || int64(len(res.Records)) != 2*size {
		t.Fatalf("below minRegion: region %+v, %d bytes read", rg, len(res.Records))
	}
	res, rg, _ = l.ReadRegion(40, 1<<20, 44, false, 1, nil)
	if rg != nil || int64(len(res.Records)) != size {
		t.Fatalf("high watermark inside the active segment: region %+v, %d bytes read, want %d", rg, len(res.Records), size)
	}
	// A sealed segment is wholly below a high watermark past it.
	if _, rg, _ := l.ReadRegion(20, 1<<20, 44, false, 1, nil); rg == nil || rg.Len != 5*size {
		t.Fatalf("sealed below the high watermark: region %+v", rg)
	} else {
		rg.Release()
	}
}

// TestReadNextOffset checks ReadResult.NextOffset, the upper bound a
// read_committed fetch asks aborted transactions for: the offset after the
// last batch read, the end of a region's segment below maxOffset, the
// offset read from when nothing is.
func TestReadNextOffset(t *testing.T) {
	m, l, _, size := regionLog(t, 12, 5) // segments at 0, 20, 40 (active); batches of 4 offsets
	defer m.Close()
	cases := []struct {
		name      string
		offset    int64
		maxBytes  int32
		maxOffset int64
		minRegion int64
		region    bool
		want      int64
	}{
		{"records", 0, int32(2 * size), -1, 0, false, 8},
		{"records cut at maxOffset", 20, 1 << 20, 28, 0, false, 28},
		{"records across a batch", 22, int32(size), -1, 0, false, 24},
		{"records in the active segment", 40, 1 << 20, -1, 0, false, 48},
		{"sealed region", 0, int32(2 * size), -1, 1, true, 20},
		{"sealed region below maxOffset", 20, 1 << 20, 44, 1, true, 40},
		{"active region", 40, 1 << 20, -1, 1, true, 48},
		{"nothing at maxOffset", 28, 1 << 20, 28, 1, false, 28},
		{"nothing at the end", 48, 1 << 20, -1, 1, false, 48},
	}
	for _, c := range cases {
		var (
			res ReadResult
			rg  *Region
			err error
		)
		if c.minRegion > 0 {
			res, rg, err = l.ReadRegion(c.offset, c.maxBytes, c.maxOffset, true, c.minRegion, nil)
		} else {
			res, err = l.Read(c.offset, c.maxBytes, c.maxOffset, true)
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if (rg != nil) != c.region || res.NextOffset != c.want {
			t.Errorf("%s: region %v next %d, want region %v next %d", c.name, rg != nil, res.NextOffset, c.region, c.want)
		}
		if rg != nil {
			rg.Release()
		}
	}
}

// TestReadRegionOutlivesSegmentDeletion holds a region while its segment
// is deleted by DeleteRecords and retention: the file stays readable until
// the region is released.
func TestReadRegionOutlivesSegmentDeletion(t *testing.T) {
	m, l, dir, _ := regionLog(t, 6, 2)
	defer m.Close()
	_, rg, err := l.ReadRegion(0, 1<<20, -1, false, 1, nil)
	if err != nil || rg == nil {
		t.Fatalf("region: %v %v", rg, err)
	}
	want, _ := l.Read(0, 1<<20, -1, false)
	if _, err := l.DeleteRecordsBefore(16); err != nil {
		t.Fatal(err)
	}
	m.Maintain(at(1000))
	if bases := segmentBases(t, dir); len(bases) == 0 || bases[0] == 0 {
		t.Fatalf("segment 0 not deleted: %v", bases)
	}
	if !bytes.Equal(regionBytes(t, rg), want.Records) {
		t.Fatal("region bytes changed after its segment was deleted")
	}
	rg.Release()
}

// TestReadRegionManySmallBatches: finding the last whole batch would take
// more than regionPeeks header reads, so the region is cut at maxBytes,
// inside a batch, as Kafka's fetch does (consumers drop the partial batch).
func TestReadRegionManySmallBatches(t *testing.T) {
	m, l, _ := newTestLog(t, testConfig())
	defer m.Close()
	size := int64(len(makeBatch(batchSpec{})))
	for range 100 {
		mustAppend(t, l, batchSpec{}, 0, t0)
	}
	l.SetHighWatermark(l.LogEndOffset())
	_, rg, _ := l.ReadRegion(0, int32(10*size+size/2), -1, false, 1, nil)
	if rg == nil || rg.Len != 10*size {
		t.Fatalf("10.5 batches: region %+v, want 10 whole batches (%d bytes)", rg, 10*size)
	}
	rg.Release()
	limit := 60*size + size/2
	_, rg, _ = l.ReadRegion(0, int32(limit), -1, false, 1, nil)
	if rg == nil || rg.Len != limit {
		t.Fatalf("60.5 batches: region %+v, want %d bytes", rg, limit)
	}
	b := regionBytes(t, rg)
	if h := batchesOf(t, b[:60*size]); len(h) != 60 || h[59].BaseOffset != 59 {
		t.Fatalf("60.5 batches: %d whole batches", len(h))
	}
	rg.Release()
}
