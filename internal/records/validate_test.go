package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/klauspost/compress/s2"
)

const now = int64(1_700_000_000_000)

func opts() ProduceOptions { return DefaultProduceOptions(now) }

// spec is a valid idempotent batch of n records stamped around now.
func spec(c Codec, n int) BatchSpec {
	return BatchSpec{
		Codec:          c,
		FirstTimestamp: now - 1000,
		Idempotent:     true,
		ProducerID:     42,
		ProducerEpoch:  3,
		BaseSequence:   17,
		Records:        mixedRecords(n),
	}
}

// rawSnappyBatch is a batch whose records are one raw snappy block, as
// librdkafka writes them.
func rawSnappyBatch(recs []Record) []byte {
	var raw []byte
	for i := range recs {
		raw = appendRecord(raw, &recs[i])
	}
	b := BuildBatch(BatchSpec{Records: recs, FirstTimestamp: now})[:HeaderSize]
	b = append(b, s2.EncodeSnappy(nil, raw)...)
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-LogOverhead))
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(CodecSnappy))
	UpdateCRC(b)
	return b
}

func TestValidateProduceAccepts(t *testing.T) {
	type tc struct {
		name string
		b    []byte
	}
	cases := []tc{{"raw snappy", rawSnappyBatch(mixedRecords(30))}}
	for _, c := range allCodecs {
		cases = append(cases,
			tc{"ours " + c.String(), BuildBatch(spec(c, 30))},
			tc{"kmsg " + c.String(), kmsgBatch(t, c, now, mixedRecords(30))})
	}
	for _, tc := range cases {
		res, err := ValidateProduce(tc.b, opts())
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if &res.Set[0] != &tc.b[0] || len(res.Set) != len(tc.b) {
			t.Errorf("%s: set was copied though nothing changed", tc.name)
		}
		if res.Batches != 1 || res.Records != 30 {
			t.Errorf("%s: %+v", tc.name, res)
		}
	}
}

func TestValidateProduceResult(t *testing.T) {
	s := spec(CodecNone, 10)
	s.Attributes = AttrTransactional
	s.Records = MakeRecords(10, func(i int, r *Record) { r.TimestampDelta = int64([]int{5, 9, 1, 9, 0, 0, 0, 0, 0, 0}[i]) })
	res, err := ValidateProduce(BuildBatch(s), opts())
	if err != nil {
		t.Fatal(err)
	}
	want := ProduceResult{Batches: 1, Records: 10, MaxTimestamp: s.FirstTimestamp + 9, ShallowOffsetOfMaxTimestamp: 1,
		ProducerID: 42, ProducerEpoch: 3, BaseSequence: 17, Transactional: true}
	res.Set = nil
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("got %+v\nwant %+v", res, want)
	}
	// Without producer.
	res, err = ValidateProduce(BuildBatch(BatchSpec{FirstTimestamp: now, Records: MakeRecords(1, nil)}), opts())
	if err != nil || res.ProducerID != -1 || res.ProducerEpoch != -1 || res.BaseSequence != -1 || res.Transactional {
		t.Fatalf("%+v %v", res, err)
	}
	// No timestamps at all.
	res, err = ValidateProduce(BuildBatch(BatchSpec{FirstTimestamp: -1, MaxTimestamp: -1,
		Records: MakeRecords(3, func(_ int, r *Record) { r.TimestampDelta = 0 })}), opts())
	if err != nil || res.MaxTimestamp != NoTimestamp || res.ShallowOffsetOfMaxTimestamp != -1 {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestValidateProduceRejects(t *testing.T) {
	good := BuildBatch(spec(CodecNone, 5))
	goodZstd := BuildBatch(spec(CodecZstd, 5))
	set16 := func(off int, v uint16) func([]byte) {
		return func(b []byte) { binary.BigEndian.PutUint16(b[off:], v) }
	}
	set32 := func(off int, v uint32) func([]byte) {
		return func(b []byte) { binary.BigEndian.PutUint32(b[off:], v) }
	}
	badDeltas := spec(CodecNone, 3)
	badDeltas.Records[1].OffsetDelta = 2
	badDeltas.Records[2].OffsetDelta = 1
	badDeltasZstd := badDeltas
	badDeltasZstd.Codec = CodecZstd
	noKeyNoProducer := BuildBatch(BatchSpec{FirstTimestamp: now, Records: MakeRecords(3, nil)})

	for _, tc := range []struct {
		name string
		b    []byte
		o    func(*ProduceOptions)
		want error
	}{
		{"empty", nil, nil, ErrInvalidRecord},
		{"bad crc", func() []byte { b := append([]byte(nil), good...); b[len(b)-1] ^= 1; return b }(), nil, ErrCorrupt},
		{"bad crc zstd", func() []byte { b := append([]byte(nil), goodZstd...); b[30] ^= 1; return b }(), nil, ErrCorrupt},
		{"magic 1", rewrite(good, func(b []byte) { b[offMagic] = 1 }), nil, ErrUnsupportedMagic},
		{"magic 0 short", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 14, 0, 0, 0, 0, 0, 1, 2}, nil, ErrUnsupportedMagic},
		{"base offset", rewrite(good, func(b []byte) { SetBaseOffset(b, 7) }), nil, ErrInvalidRecord},
		{"truncated", good[:len(good)-1], nil, ErrCorrupt},
		{"truncated header", good[:40], nil, ErrCorrupt},
		{"trailing garbage", append(append([]byte(nil), good...), 1, 2, 3), nil, ErrCorrupt},
		{"two batches", append(append([]byte(nil), good...), good...), nil, ErrInvalidRecord},
		{"count too high", rewrite(good, func(b []byte) { set32(offNumRecords, 6)(b); set32(offLastOffsetDelta, 5)(b) }), nil, ErrInvalidRecord},
		{"count too low", rewrite(good, func(b []byte) { set32(offNumRecords, 4)(b); set32(offLastOffsetDelta, 3)(b) }), nil, ErrInvalidRecord},
		{"count too low zstd", rewrite(goodZstd, func(b []byte) { set32(offNumRecords, 4)(b); set32(offLastOffsetDelta, 3)(b) }), nil, ErrInvalidRecord},
		{"zero count", rewrite(good, func(b []byte) { set32(offNumRecords, 0)(b); set32(offLastOffsetDelta, 0xffffffff)(b) }), nil, ErrInvalidRecord},
		{"last offset delta", rewrite(good, set32(offLastOffsetDelta, 7)), nil, ErrInvalidRecord},
		{"offset deltas", BuildBatch(badDeltas), nil, ErrInvalidRecord},
		{"offset deltas zstd", BuildBatch(badDeltasZstd), nil, ErrInvalidRecord},
		{"control", rewrite(good, set16(offAttributes, AttrControl)), nil, ErrInvalidRecord},
		{"no sequence", rewrite(good, set32(offBaseSequence, 0xffffffff)), nil, ErrInvalidRecord},
		{"negative epoch", rewrite(good, set16(offProducerEpoch, 0xffff)), nil, ErrInvalidRecord},
		{"transactional without producer", rewrite(noKeyNoProducer, set16(offAttributes, AttrTransactional)), nil, ErrInvalidRecord},
		{"producer log append time", rewrite(good, set16(offAttributes, AttrTimestampLogTime)), nil, ErrInvalidTimestamp},
		{"codec 6", rewrite(good, set16(offAttributes, 6)), nil, ErrUnsupportedCompression},
		{"codec says zstd, data is not", rewrite(good, set16(offAttributes, uint16(CodecZstd))), nil, ErrCorrupt},
		{"oversize", good, func(o *ProduceOptions) { o.MaxBatchBytes = len(good) - 1 }, ErrRecordTooLarge},
		{"null key compacted", good, func(o *ProduceOptions) { o.RequireKeys = true }, ErrInvalidRecord},
		{"too old", good, func(o *ProduceOptions) { o.TimestampBeforeMaxMs = 500 }, ErrInvalidTimestamp},
		{"too new", good, func(o *ProduceOptions) { o.Now, o.TimestampAfterMaxMs = now-2000, 0 }, ErrInvalidTimestamp},
		{"decompressed too large", goodZstd, func(o *ProduceOptions) { o.MaxDecompressedBytes = 100 }, ErrCorrupt},
	} {
		o := opts()
		if tc.o != nil {
			tc.o(&o)
		}
		_, err := ValidateProduce(tc.b, o)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestValidateProduceRecordError(t *testing.T) {
	o := opts()
	o.RequireKeys = true
	_, err := ValidateProduce(BuildBatch(spec(CodecLZ4, 5)), o) // mixedRecords: record 0 has no key
	var re *RecordError
	if !errors.As(err, &re) || re.Index != 0 || !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("got %v", err)
	}
	// Keys everywhere pass.
	s := spec(CodecLZ4, 5)
	s.Records = MakeRecords(5, nil)
	if _, err := ValidateProduce(BuildBatch(s), o); err != nil {
		t.Fatal(err)
	}
	// The timestamp error names its record too.
	s.Records[3].TimestampDelta = 10 * 3600 * 1000
	_, err = ValidateProduce(BuildBatch(s), opts())
	if !errors.As(err, &re) || re.Index != 3 || !errors.Is(err, ErrInvalidTimestamp) {
		t.Fatalf("got %v", err)
	}
}

func TestValidateProduceTimestamps(t *testing.T) {
	at := func(ts int64) []byte {
		return BuildBatch(BatchSpec{FirstTimestamp: ts, Records: MakeRecords(1, func(_ int, r *Record) { r.TimestampDelta = 0 })})
	}
	o := opts()
	o.TimestampBeforeMaxMs, o.TimestampAfterMaxMs = 1000, 2000
	for ts, ok := range map[int64]bool{
		now: true, now - 1000: true, now - 1001: false, now + 2000: true, now + 2001: false,
		-1: true, // no timestamp: exempt
		0:  false,
	} {
		_, err := ValidateProduce(at(ts), o)
		if ok != (err == nil) || err != nil && !errors.Is(err, ErrInvalidTimestamp) {
			t.Errorf("ts %d: %v", ts, err)
		}
	}
	// Kafka's defaults: anything old is fine, no overflow at the extremes.
	o = opts()
	o.TimestampAfterMaxMs = math.MaxInt64
	for _, ts := range []int64{-1 << 62, 0, math.MaxInt64} {
		if _, err := ValidateProduce(at(ts), o); err != nil {
			t.Errorf("ts %d with unbounded limits: %v", ts, err)
		}
	}
	// LogAppendTime topics ignore the bounds.
	o = opts()
	o.LogAppendTime, o.TimestampBeforeMaxMs, o.TimestampAfterMaxMs = true, 0, 0
	if _, err := ValidateProduce(at(5), o); err != nil {
		t.Error(err)
	}
}

func checkValid(t *testing.T, b []byte) Header {
	t.Helper()
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckCRC(b, &h); err != nil {
		t.Fatal(err)
	}
	if h.Size() != len(b) {
		t.Fatalf("size %d, have %d bytes", h.Size(), len(b))
	}
	return h
}

func TestValidateProduceLogAppendTime(t *testing.T) {
	for _, c := range allCodecs {
		in := BuildBatch(spec(c, 20))
		orig := append([]byte(nil), in...)
		o := opts()
		o.LogAppendTime = true
		res, err := ValidateProduce(in, o)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if !bytes.Equal(in, orig) {
			t.Fatalf("%s: input modified", c)
		}
		h := checkValid(t, res.Set)
		if !h.LogAppendTime() || h.MaxTimestamp != now || h.FirstTimestamp != now-1000 || h.Codec() != c {
			t.Fatalf("%s: header %+v", c, h)
		}
		if res.MaxTimestamp != now || res.ShallowOffsetOfMaxTimestamp != 0 {
			t.Fatalf("%s: %+v", c, res)
		}
		if !sameRecords(collect(t, res.Set), collect(t, in)) {
			t.Fatalf("%s: records changed", c)
		}
		// Only attributes, MaxTimestamp and CRC differ.
		for i := range in {
			if in[i] != res.Set[i] && !(i >= offCRC && i < offCRC+4) && !(i >= offAttributes && i < offAttributes+2) &&
				!(i >= offMaxTimestamp && i < offMaxTimestamp+8) {
				t.Fatalf("%s: byte %d changed", c, i)
			}
		}
	}
}

func TestValidateProduceFixesMaxTimestamp(t *testing.T) {
	s := spec(CodecSnappy, 4)
	s.MaxTimestamp = now + 999999 // wrong: the records' maximum is smaller
	in := BuildBatch(s)
	res, err := ValidateProduce(in, opts())
	if err != nil {
		t.Fatal(err)
	}
	h := checkValid(t, res.Set)
	want := s.FirstTimestamp + 2 // mixedRecords(4): deltas 0,1,2,-5
	if h.MaxTimestamp != want || res.MaxTimestamp != want || res.ShallowOffsetOfMaxTimestamp != 2 {
		t.Fatalf("max timestamp %d / %+v, want %d", h.MaxTimestamp, res, want)
	}
}

func TestValidateProduceRecompress(t *testing.T) {
	for _, from := range allCodecs {
		for _, to := range allCodecs {
			in := BuildBatch(spec(from, 40))
			SetPartitionLeaderEpoch(in, 9)
			o := opts()
			o.Recompress, o.TargetCodec = true, to
			res, err := ValidateProduce(in, o)
			if err != nil {
				t.Fatalf("%s to %s: %v", from, to, err)
			}
			if from == to {
				if &res.Set[0] != &in[0] {
					t.Errorf("%s to %s: rewritten though the codec matches", from, to)
				}
				continue
			}
			h := checkValid(t, res.Set)
			hin, _ := ParseHeader(in)
			if h.Codec() != to || h.ProducerID != 42 || h.ProducerEpoch != 3 || h.BaseSequence != 17 ||
				h.PartitionLeaderEpoch != 9 || h.NumRecords != 40 || h.LastOffsetDelta != 39 ||
				h.FirstTimestamp != hin.FirstTimestamp || h.MaxTimestamp != hin.MaxTimestamp ||
				h.IsTransactional() || h.LogAppendTime() {
				t.Fatalf("%s to %s: header %+v", from, to, h)
			}
			if !sameRecords(collect(t, res.Set), collect(t, in)) {
				t.Fatalf("%s to %s: records differ", from, to)
			}
			// The result is itself a valid produce batch, now in place.
			again, err := ValidateProduce(res.Set, o)
			if err != nil || &again.Set[0] != &res.Set[0] {
				t.Fatalf("%s to %s: revalidate: %v", from, to, err)
			}
		}
	}
	// With LogAppendTime, the rebuilt batch carries it.
	o := opts()
	o.Recompress, o.TargetCodec, o.LogAppendTime = true, CodecGzip, true
	s := spec(CodecNone, 3)
	s.Attributes = AttrTransactional
	res, err := ValidateProduce(BuildBatch(s), o)
	if err != nil {
		t.Fatal(err)
	}
	if h := checkValid(t, res.Set); !h.LogAppendTime() || !h.IsTransactional() || h.MaxTimestamp != now || h.Codec() != CodecGzip {
		t.Fatalf("header %+v", h)
	}
}

func TestRecompressTooLarge(t *testing.T) {
	// Incompressible values grow by the codec's framing.
	s := spec(CodecNone, 1)
	s.Records[0].Value = sample(2000, 1)
	for i := range s.Records[0].Value {
		s.Records[0].Value[i] ^= byte(i * 7919 >> 3)
	}
	in := BuildBatch(s)
	o := opts()
	o.Recompress, o.TargetCodec, o.MaxBatchBytes = true, CodecGzip, len(in)
	res, err := ValidateProduce(in, o)
	if err == nil {
		if len(res.Set) <= len(in) {
			t.Skip("value compressed after all")
		}
		t.Fatalf("accepted %d bytes > %d", len(res.Set), len(in))
	}
	if !errors.Is(err, ErrRecordTooLarge) {
		t.Fatal(err)
	}
}

func TestValidateProduceBomb(t *testing.T) {
	// A batch whose single record value is 50 MB of zeros, zstd-compressed.
	s := BatchSpec{Codec: CodecZstd, FirstTimestamp: now, Records: MakeRecords(1, func(_ int, r *Record) {
		r.Value = make([]byte, 50<<20)
	})}
	b := BuildBatch(s)
	o := opts()
	o.MaxDecompressedBytes = 1 << 20
	if _, err := ValidateProduce(b, o); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v", err)
	}
}

func TestValidateProduceNoAllocs(t *testing.T) {
	b := BuildBatch(spec(CodecNone, 100))
	o := opts()
	if n := testing.AllocsPerRun(100, func() {
		if _, err := ValidateProduce(b, o); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per uncompressed validation", n)
	}
}
