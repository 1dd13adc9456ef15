package records

import (
	"bytes"
	"errors"
	"testing"
)

// seedBatches are valid batches of every codec (and raw snappy) for the
// fuzz corpora.
func seedBatches() [][]byte {
	var out [][]byte
	for _, c := range allCodecs {
		s := spec(c, 7)
		out = append(out, BuildBatch(s))
		s.Records = MakeRecords(2, nil)
		s.Attributes = AttrTransactional
		out = append(out, BuildBatch(s))
	}
	return append(out, rawSnappyBatch(mixedRecords(3)))
}

func FuzzParseHeader(f *testing.F) {
	for _, b := range seedBatches() {
		f.Add(b)
		f.Add(append(append([]byte{}, b...), b...))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err == nil {
			if h.Magic != 2 || h.Size() < HeaderSize || h.Size() > len(b) {
				t.Fatalf("accepted header %+v for %d bytes", h, len(b))
			}
			_ = CheckCRC(b, &h)
		}
		n := 0
		_ = Split(b, func(batch []byte, h *Header) error {
			if len(batch) != h.Size() {
				t.Fatalf("split batch %d bytes, header says %d", len(batch), h.Size())
			}
			n += len(batch)
			return nil
		})
		if n > len(b) {
			t.Fatalf("split %d of %d bytes", n, len(b))
		}
	})
}

func FuzzValidateProduce(f *testing.F) {
	for _, b := range seedBatches() {
		f.Add(b, byte(0))
		f.Add(b, byte(0xff))
	}
	f.Fuzz(func(t *testing.T, b []byte, flags byte) {
		// Most mutations break the CRC; fix it on request so the fuzzer
		// reaches the record checks.
		if flags&1 != 0 {
			if h, err := ParseHeader(b); err == nil {
				b = append([]byte(nil), b...)
				UpdateCRC(b[:h.Size()])
			}
		}
		o := DefaultProduceOptions(now)
		o.RequireKeys = flags&2 != 0
		o.LogAppendTime = flags&4 != 0
		o.Recompress = flags&8 != 0
		o.TargetCodec = Codec(flags>>4) % 5
		o.MaxDecompressedBytes = 1 << 20
		in := append([]byte(nil), b...)
		res, err := ValidateProduce(b, o)
		if !bytes.Equal(in, b) {
			t.Fatal("input modified")
		}
		if err != nil {
			for _, s := range []error{ErrCorrupt, ErrInvalidRecord, ErrInvalidTimestamp, ErrRecordTooLarge,
				ErrUnsupportedMagic, ErrUnsupportedCompression} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error without sentinel: %v", err)
		}
		h, err := ParseHeader(res.Set)
		if err != nil || h.Size() != len(res.Set) || CheckCRC(res.Set, &h) != nil {
			t.Fatalf("result is not a valid batch: %v", err)
		}
		if o.Recompress && h.Codec() != o.TargetCodec {
			t.Fatalf("codec %s, want %s", h.Codec(), o.TargetCodec)
		}
		if int(h.NumRecords) != res.Records || h.MaxTimestamp != res.MaxTimestamp {
			t.Fatalf("header %+v, result %+v", h, res)
		}
		n := 0
		if err := Records(res.Set, 1<<20, func(*Record) error { n++; return nil }); err != nil || n != res.Records {
			t.Fatalf("Records on the result: %d records, %v", n, err)
		}
		// The result passes again, unchanged (with LogAppendTime it now
		// carries the attribute a producer may not set).
		if o.LogAppendTime {
			return
		}
		again, err := ValidateProduce(res.Set, o)
		if err != nil || !bytes.Equal(again.Set, res.Set) {
			t.Fatalf("revalidation: %v", err)
		}
	})
}

func FuzzRecords(f *testing.F) {
	for _, b := range seedBatches() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var recs []Record
		err := Records(b, 1<<20, func(r *Record) error {
			c := *r
			c.Headers = append([]RecordHeader(nil), r.Headers...)
			recs = append(recs, c)
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) &&
				!errors.Is(err, ErrUnsupportedMagic) && !errors.Is(err, ErrUnsupportedCompression) {
				t.Fatalf("error without sentinel: %v", err)
			}
			return
		}
		// What parsed re-encodes to records that parse the same.
		h, _ := ParseHeader(b)
		spec := BatchSpec{FirstTimestamp: h.FirstTimestamp, Records: recs}
		if got := collect(t, BuildBatch(spec)); !sameRecords(got, recs) {
			t.Fatal("re-encoded records differ")
		}
	})
}

func FuzzDecompress(f *testing.F) {
	for _, c := range allCodecs {
		b, _ := Compress(c, sample(3000, 1))
		f.Add(byte(c), b)
	}
	f.Fuzz(func(t *testing.T, c byte, b []byte) {
		const limit = 1 << 16
		out, err := Decompress(Codec(c%8), b, limit)
		if err == nil && len(out) > limit {
			t.Fatalf("%d bytes out, limit %d", len(out), limit)
		}
	})
}
