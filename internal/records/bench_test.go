package records

import "testing"

// benchBatch is a 16 KiB batch: 16 records of 1 KiB values.
func benchBatch(c Codec) []byte {
	return BuildBatch(BatchSpec{Codec: c, FirstTimestamp: now, Idempotent: true, ProducerID: 1, BaseSequence: 0,
		Records: MakeRecords(16, func(i int, r *Record) { r.Value = sample(1024, uint64(i)) })})
}

func BenchmarkValidateProduce(b *testing.B) {
	for _, c := range allCodecs {
		batch := benchBatch(c)
		o := DefaultProduceOptions(now)
		b.Run(c.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(16 << 10)
			for b.Loop() {
				if _, err := ValidateProduce(batch, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// W2's shape: many small records, where the walk over the records,
	// not the CRC, is most of the work.
	b.Run("none-100B", func(b *testing.B) {
		batch := BuildBatch(BatchSpec{Codec: CodecNone, FirstTimestamp: now, Idempotent: true, ProducerID: 1,
			Records: MakeRecords(160, func(i int, r *Record) { r.Value = sample(100, uint64(i)) })})
		o := DefaultProduceOptions(now)
		b.ReportAllocs()
		b.SetBytes(int64(len(batch)))
		for b.Loop() {
			if _, err := ValidateProduce(batch, o); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("none-to-zstd", func(b *testing.B) {
		batch := benchBatch(CodecNone)
		o := DefaultProduceOptions(now)
		o.Recompress, o.TargetCodec = true, CodecZstd
		b.ReportAllocs()
		b.SetBytes(16 << 10)
		for b.Loop() {
			if _, err := ValidateProduce(batch, o); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRecords(b *testing.B) {
	batch := benchBatch(CodecNone)
	b.ReportAllocs()
	b.SetBytes(16 << 10)
	for b.Loop() {
		if err := Records(batch, 0, func(*Record) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
