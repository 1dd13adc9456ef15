package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestBuildMarkerFormat(t *testing.T) {
	b := BuildMarker(MarkerBatch{
		BaseOffset: 42, PartitionLeaderEpoch: 7, ProducerID: 1000, ProducerEpoch: 3,
		Timestamp: 1_700_000_000_123, Marker: Marker{Commit: true, CoordinatorEpoch: 9},
	})
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckCRC(b, &h); err != nil {
		t.Fatal(err)
	}
	if h.BaseOffset != 42 || h.PartitionLeaderEpoch != 7 || h.ProducerID != 1000 || h.ProducerEpoch != 3 ||
		h.BaseSequence != NoSequence || h.NumRecords != 1 || h.LastOffsetDelta != 0 ||
		h.Attributes != AttrControl|AttrTransactional || h.FirstTimestamp != 1_700_000_000_123 ||
		h.MaxTimestamp != 1_700_000_000_123 {
		t.Fatalf("header %+v", h)
	}
	// The record, by hand: length 16 (varint 32), attributes 0, timestamp
	// delta 0, offset delta 0, key length 4 (varint 8), key 00 00 00 01
	// (version 0, COMMIT), value length 6 (varint 12), value 00 00 00 00
	// 00 09 (version 0, coordinator epoch 9), 0 headers.
	want := []byte{32, 0, 0, 0, 8, 0, 0, 0, 1, 12, 0, 0, 0, 0, 0, 9, 0}
	if got := b[HeaderSize:]; !bytes.Equal(got, want) {
		t.Fatalf("record bytes % x, want % x", got, want)
	}
	m, err := ParseMarker(b, &h)
	if err != nil || !m.Commit || m.CoordinatorEpoch != 9 {
		t.Fatalf("ParseMarker: %+v %v", m, err)
	}
	a := BuildMarker(MarkerBatch{ProducerID: 1, Marker: Marker{CoordinatorEpoch: -1}})
	ha, _ := ParseHeader(a)
	if m, err := ParseMarker(a, &ha); err != nil || m.Commit || m.CoordinatorEpoch != -1 {
		t.Fatalf("abort: %+v %v", m, err)
	}
	if a[HeaderSize+8] != 0 { // type ABORT
		t.Fatalf("abort type byte %d", a[HeaderSize+8])
	}
}

func TestParseMarkerRejects(t *testing.T) {
	good := BuildMarker(MarkerBatch{ProducerID: 1, Marker: Marker{Commit: true, CoordinatorEpoch: 2}})
	ctl := func(recs []Record) []byte {
		return BuildBatch(BatchSpec{Attributes: AttrControl | AttrTransactional, Idempotent: true,
			ProducerID: 1, BaseSequence: NoSequence, Records: recs})
	}
	key := func(v, typ int16) []byte {
		return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, uint16(v)), uint16(typ))
	}
	val := []byte{0, 0, 0, 0, 0, 5}
	tests := []struct {
		name  string
		batch []byte
		want  error
	}{
		{"not control", BuildBatch(BatchSpec{Records: MakeRecords(1, nil)}), ErrNotTxnMarker},
		{"no records", ctl(nil), ErrNotTxnMarker},
		{"short key", ctl([]Record{{Key: []byte{0, 0, 1}, Value: val}}), ErrNotTxnMarker},
		{"negative key version", ctl([]Record{{Key: key(-1, 1), Value: val}}), ErrNotTxnMarker},
		{"leader change type", ctl([]Record{{Key: key(0, 2), Value: val}}), ErrNotTxnMarker},
		{"short value", ctl([]Record{{Key: key(0, 0), Value: []byte{0, 0, 0}}}), ErrNotTxnMarker},
		{"null value", ctl([]Record{{Key: key(0, 1)}}), ErrNotTxnMarker},
		{"torn", good[:len(good)-3], ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHeader(tt.batch)
			if err == nil {
				_, err = ParseMarker(tt.batch, &h)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// A newer key or value version is read as Kafka reads it.
	b := ctl([]Record{{Key: key(3, 0), Value: []byte{0, 1, 0, 0, 0, 4, 0xff}}})
	h, _ := ParseHeader(b)
	if m, err := ParseMarker(b, &h); err != nil || m.Commit || m.CoordinatorEpoch != 4 {
		t.Fatalf("newer versions: %+v %v", m, err)
	}
}

func FuzzParseMarker(f *testing.F) {
	f.Add(BuildMarker(MarkerBatch{ProducerID: 1, Marker: Marker{Commit: true, CoordinatorEpoch: 2}}))
	f.Add(BuildMarker(MarkerBatch{ProducerID: 1}))
	for _, b := range seedBatches() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		m, err := ParseMarker(b, &h)
		if err != nil {
			return
		}
		// A marker that parsed re-encodes to one that parses the same.
		rb := BuildMarker(MarkerBatch{ProducerID: h.ProducerID, Marker: m})
		rh, _ := ParseHeader(rb)
		if m2, err := ParseMarker(rb, &rh); err != nil || m2 != m {
			t.Fatalf("round trip %+v -> %+v %v", m, m2, err)
		}
	})
}
