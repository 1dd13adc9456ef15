package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestBuildBatchMatchesKmsg(t *testing.T) {
	recs := mixedRecords(23)
	ours := BuildBatch(BatchSpec{FirstTimestamp: 1700000000000, Records: recs})
	theirs := kmsgBatch(t, CodecNone, 1700000000000, recs)
	if !bytes.Equal(ours, theirs) {
		t.Fatalf("BuildBatch differs from kmsg encoding:\n% x\n% x", ours[:80], theirs[:80])
	}
	h, err := ParseHeader(ours)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckCRC(ours, &h); err != nil {
		t.Fatal(err)
	}
	if h.NumRecords != 23 || h.LastOffsetDelta != 22 || h.ProducerID != -1 || h.BaseSequence != -1 {
		t.Fatalf("header %+v", h)
	}
}

func TestRecordsEachCodec(t *testing.T) {
	recs := mixedRecords(50)
	for _, c := range allCodecs {
		for name, b := range map[string][]byte{
			"kmsg":  kmsgBatch(t, c, 1000, recs),
			"ours":  BuildBatch(BatchSpec{Codec: c, FirstTimestamp: 1000, Records: recs}),
			"extra": append(BuildBatch(BatchSpec{Codec: c, Records: recs}), 1, 2, 3), // bytes after the batch are ignored
		} {
			if got := collect(t, b); !sameRecords(got, recs) {
				t.Errorf("%s %s: records differ", c, name)
			}
		}
	}
}

func TestRecordsNullVersusEmpty(t *testing.T) {
	b := BuildBatch(BatchSpec{Records: []Record{
		{Key: nil, Value: []byte{}, Headers: []RecordHeader{{Key: "a", Value: nil}}},
		{OffsetDelta: 1, Key: []byte{}, Value: nil},
	}})
	got := collect(t, b)
	if got[0].Key != nil || got[0].Value == nil || got[0].Headers[0].Value != nil {
		t.Errorf("record 0: %+v", got[0])
	}
	if got[1].Key == nil || got[1].Value != nil {
		t.Errorf("record 1: %+v", got[1])
	}
}

func TestRecordsStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := Records(BuildBatch(BatchSpec{Records: MakeRecords(5, nil)}), 0, func(*Record) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 {
		t.Fatalf("err %v after %d records", err, n)
	}
}

// recordBytes encodes one record by hand: body is everything after the
// length varint.
func recordBytes(body ...[]byte) []byte {
	var b []byte
	for _, p := range body {
		b = append(b, p...)
	}
	return append(appendVarint(nil, int32(len(b))), b...)
}

func vi(v int32) []byte { return appendVarint(nil, v) }

// rawBatch wraps hand-made record bytes in a valid uncompressed batch
// declaring n records.
func rawBatch(n int32, records []byte) []byte {
	b := BuildBatch(BatchSpec{Records: MakeRecords(1, nil)})[:HeaderSize]
	b = append(b, records...)
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-LogOverhead))
	binary.BigEndian.PutUint32(b[offNumRecords:], uint32(n))
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(n-1))
	UpdateCRC(b)
	return b
}

func TestRecordsMalformed(t *testing.T) {
	good := recordBytes([]byte{0}, vi(0), vi(0), vi(1), []byte("k"), vi(1), []byte("v"), vi(0))
	for name, b := range map[string][]byte{
		"more records declared":   rawBatch(2, good),
		"fewer records declared":  rawBatch(1, append(append([]byte{}, good...), good...)),
		"trailing byte":           rawBatch(1, append(append([]byte{}, good...), 0)),
		"negative count":          rawBatch(-1, good),
		"length past end":         rawBatch(1, append(vi(100), good[1:]...)),
		"negative length":         rawBatch(1, append(vi(-3), good[1:]...)),
		"huge key length":         rawBatch(1, recordBytes([]byte{0}, vi(0), vi(0), vi(1<<30), vi(-1), vi(0))),
		"key length -2":           rawBatch(1, recordBytes([]byte{0}, vi(0), vi(0), vi(-2), vi(-1), vi(0))),
		"huge header count":       rawBatch(1, recordBytes([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(1<<30))),
		"negative header count":   rawBatch(1, recordBytes([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(-1))),
		"null header key":         rawBatch(1, recordBytes([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(1), vi(-1), vi(-1))),
		"body longer than fields": rawBatch(1, recordBytes([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(0), []byte{0})),
		"overlong varint":         rawBatch(1, recordBytes([]byte{0}, vi(0), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, vi(-1), vi(-1), vi(0))),
	} {
		err := Records(b, 0, func(*Record) error { return nil })
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
	}
	// The hand-made good record itself parses.
	if err := Records(rawBatch(1, good), 0, func(*Record) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// Header errors pass through.
	if err := Records([]byte{1, 2, 3}, 0, nil); !errors.Is(err, ErrTruncated) {
		t.Errorf("short: %v", err)
	}
}

func TestVarints(t *testing.T) {
	for _, v := range []int32{0, 1, -1, 63, -64, 64, 1 << 20, -1 << 31, 1<<31 - 1} {
		b := appendVarint(nil, v)
		if len(b) != sizeVarint(v) {
			t.Errorf("sizeVarint(%d) = %d, encoded %d", v, sizeVarint(v), len(b))
		}
		got, n := readVarint(b)
		if got != v || n != len(b) {
			t.Errorf("varint %d: got %d (%d bytes)", v, got, n)
		}
	}
	for _, v := range []int64{0, -1, 1 << 40, -1 << 63, 1<<63 - 1} {
		b := appendVarlong(nil, v)
		if len(b) != varlongSize(v) {
			t.Errorf("varlongSize(%d)", v)
		}
		if got, n := readVarlong(b); got != v || n != len(b) {
			t.Errorf("varlong %d: got %d", v, got)
		}
	}
	if _, n := readVarint([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01}); n > 0 {
		t.Error("6-byte varint accepted")
	}
	if _, n := readVarint([]byte{0x80}); n > 0 {
		t.Error("truncated varint accepted")
	}
}

// TestUvarintFastPaths checks uvarint against binary.Uvarint on every
// one- and two-byte input, with and without trailing bytes, and on the
// longer and malformed forms it hands over.
func TestUvarintFastPaths(t *testing.T) {
	check := func(b []byte) {
		t.Helper()
		gu, gn := uvarint(b)
		wu, wn := binary.Uvarint(b)
		if gu != wu || gn != wn {
			t.Fatalf("uvarint(% x) = %d, %d; binary.Uvarint %d, %d", b, gu, gn, wu, wn)
		}
	}
	check(nil)
	for i := range 256 {
		check([]byte{byte(i)})
		check([]byte{byte(i), 0xff})
		for j := range 256 {
			check([]byte{byte(i), byte(j)})
			check([]byte{byte(i), byte(j), 0x01})
		}
	}
	check([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	check([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
}
