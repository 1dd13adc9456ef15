package records

import (
	"encoding/binary"
	"fmt"
	"math"
)

// batchFields are the header fields of a batch being built. Length, magic,
// CRC and the codec bits of the attributes are filled by appendBatch.
type batchFields struct {
	baseOffset           int64
	partitionLeaderEpoch int32
	attributes           int16
	lastOffsetDelta      int32
	firstTimestamp       int64
	maxTimestamp         int64
	producerID           int64
	producerEpoch        int16
	baseSequence         int32
	numRecords           int32
}

// appendBatch appends a v2 batch holding recs, compressed with codec, to dst.
func appendBatch(dst []byte, f *batchFields, codec Codec, recs []Record) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	if codec == CodecNone {
		for i := range recs {
			dst = appendRecord(dst, &recs[i])
		}
	} else {
		size := 0
		for i := range recs {
			size += 16 + len(recs[i].Key) + len(recs[i].Value) + 8*len(recs[i].Headers)
		}
		raw := make([]byte, 0, size)
		for i := range recs {
			raw = appendRecord(raw, &recs[i])
		}
		var err error
		if dst, err = compressAppend(dst, codec, raw); err != nil {
			return nil, err
		}
	}
	b := dst[start:]
	if len(b)-LogOverhead > math.MaxInt32 {
		return nil, fmt.Errorf("%w: batch of %d bytes", ErrRecordTooLarge, len(b))
	}
	attrs := f.attributes&^AttrCompressionMask | int16(codec)
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(f.baseOffset))
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-LogOverhead))
	binary.BigEndian.PutUint32(b[offPartitionLeaderEpoch:], uint32(f.partitionLeaderEpoch))
	b[offMagic] = 2
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(attrs))
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(f.lastOffsetDelta))
	binary.BigEndian.PutUint64(b[offFirstTimestamp:], uint64(f.firstTimestamp))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(f.maxTimestamp))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(f.producerID))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(f.producerEpoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(f.baseSequence))
	binary.BigEndian.PutUint32(b[offNumRecords:], uint32(f.numRecords))
	UpdateCRC(b)
	return dst, nil
}
