package records

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// kmsgBatch encodes records with franz-go's kmsg types, an encoder written
// independently of ours, so that BuildBatch and the parser are checked
// against a second implementation of the format.
func kmsgBatch(t testing.TB, codec Codec, firstTs int64, recs []Record) []byte {
	t.Helper()
	var raw []byte
	for _, r := range recs {
		kr := kmsg.Record{
			Attributes:       r.Attributes,
			TimestampDelta64: r.TimestampDelta,
			OffsetDelta:      r.OffsetDelta,
			Key:              r.Key,
			Value:            r.Value,
		}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		kr.Length = int32(len(kr.AppendTo(nil)) - 1) // Length 0 encodes in one byte
		raw = kr.AppendTo(raw)
	}
	comp, err := Compress(codec, raw)
	if err != nil {
		t.Fatal(err)
	}
	maxTs := firstTs + recs[0].TimestampDelta
	for _, r := range recs {
		maxTs = max(maxTs, firstTs+r.TimestampDelta)
	}
	b := kmsg.RecordBatch{
		Magic:           2,
		Attributes:      int16(codec),
		LastOffsetDelta: int32(len(recs) - 1),
		FirstTimestamp:  firstTs,
		MaxTimestamp:    maxTs,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		NumRecords:      int32(len(recs)),
		Records:         comp,
	}
	b.Length = int32(HeaderSize - LogOverhead + len(comp))
	out := b.AppendTo(nil)
	crc := crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(out[17:], crc)
	return out
}

// collect returns the records of a batch, copied.
func collect(t testing.TB, batch []byte) []Record {
	t.Helper()
	var out []Record
	err := Records(batch, 0, func(r *Record) error {
		c := *r
		c.Headers = append([]RecordHeader(nil), r.Headers...)
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatalf("Records: %v", err)
	}
	return out
}

// sameRecords compares records, telling null from empty.
func sameRecords(a, b []Record) bool {
	if len(a) != len(b) {
		return false
	}
	eq := func(x, y []byte) bool {
		return (x == nil) == (y == nil) && string(x) == string(y)
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Attributes != y.Attributes || x.TimestampDelta != y.TimestampDelta ||
			x.OffsetDelta != y.OffsetDelta || !eq(x.Key, y.Key) || !eq(x.Value, y.Value) ||
			len(x.Headers) != len(y.Headers) {
			return false
		}
		for j := range x.Headers {
			if x.Headers[j].Key != y.Headers[j].Key || !eq(x.Headers[j].Value, y.Headers[j].Value) {
				return false
			}
		}
	}
	return true
}

// mixedRecords has null and empty keys and values, headers with null and
// empty values, negative and large timestamp deltas.
func mixedRecords(n int) []Record {
	return MakeRecords(n, func(i int, r *Record) {
		switch i % 5 {
		case 0:
			r.Key = nil
		case 1:
			r.Key, r.Value = []byte{}, []byte{}
		case 2:
			r.Value = nil
			r.Headers = []RecordHeader{{Key: "h", Value: nil}, {Key: "", Value: []byte{}}}
		case 3:
			r.TimestampDelta = -5
			r.Headers = []RecordHeader{{Key: "trace", Value: []byte("abc")}}
		case 4:
			r.TimestampDelta = 1 << 20
			r.Value = make([]byte, 300)
		}
	})
}

// rewrite changes a batch with fn and fixes its CRC.
func rewrite(b []byte, fn func(b []byte)) []byte {
	b = append([]byte(nil), b...)
	fn(b)
	UpdateCRC(b)
	return b
}
