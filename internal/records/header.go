// Package records knows the on-wire and on-disk format of Kafka record
// batches (magic v2): the 61-byte batch header, the records inside it, CRC-32C
// validation, compression codecs and the in-place rewrites the broker makes
// (base offset, partition leader epoch, LogAppendTime).
//
// Batches are kept as the bytes the producer sent: the broker validates them
// and stores them unchanged except for the fields that the CRC does not cover
// (base offset, partition leader epoch) and, when the topic asks for it, the
// timestamp type. Nothing in this package allocates from a length it has not
// checked against the bytes actually present.
//
// # Files
//
//   - header.go: the batch header, CRC, Split and the in-place field writes.
//   - record.go: the records inside a batch; Records iterates them.
//   - validate.go: ValidateProduce, Kafka's produce-path rules for a batch
//     sent by a client, and the rewrites they imply (LogAppendTime, max
//     timestamp, recompression to the topic's codec).
//   - codec*.go: Compress and Decompress for gzip, snappy (xerial framing
//     and raw blocks), lz4 (frame format) and zstd, with pooled coders.
//   - marker.go: end-transaction markers (COMMIT/ABORT control batches),
//     BuildMarker and ParseMarker.
//   - build.go, testbatch.go: batch encoding; BuildBatch is a test helper
//     for this and other packages.
//
// # Errors
//
// Errors wrap sentinels and say what was wrong; mapping them to Kafka error
// codes is the broker's job. ErrCorrupt: the bytes are not a batch (bad
// length, CRC, torn tail, undecodable compression, or decompressed data over
// the limit). ErrTruncated: the bytes end inside a batch (a torn log tail;
// ValidateProduce reports it as ErrCorrupt). ErrUnsupportedMagic: not magic
// 2. ErrUnsupportedCompression: codec 5-7. ErrInvalidRecord: a CRC-valid
// batch that breaks a produce rule, including malformed records inside it
// (Kafka's InvalidRecordException; Records, which serves readers, calls those
// ErrCorrupt). ErrInvalidTimestamp and ErrRecordTooLarge as in Kafka. A rule
// broken by one record is a *RecordError carrying its index.
//
// # Compression bombs
//
// Decompression is always bounded by a caller's limit: the output buffer
// grows geometrically and decoding stops once it would pass the limit, so a
// small input cannot make the broker allocate more than a few times the
// limit. Snappy blocks and zstd frames that declare their size are rejected
// before decoding.
package records

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Byte offsets of the fields of a v2 record batch header.
const (
	offBaseOffset           = 0
	offLength               = 8
	offPartitionLeaderEpoch = 12
	offMagic                = 16
	offCRC                  = 17
	offAttributes           = 21
	offLastOffsetDelta      = 23
	offFirstTimestamp       = 27
	offMaxTimestamp         = 35
	offProducerID           = 43
	offProducerEpoch        = 51
	offBaseSequence         = 53
	offNumRecords           = 57

	// HeaderSize is the size of a v2 batch header, records excluded.
	HeaderSize = 61
	// LogOverhead is the part of the header that precedes the length-covered
	// bytes: base offset (8) and length (4).
	LogOverhead = 12
)

// Attribute bits.
const (
	AttrCompressionMask  = 0x07
	AttrTimestampLogTime = 0x08
	AttrTransactional    = 0x10
	AttrControl          = 0x20
	AttrDeleteHorizon    = 0x40
)

// Codec is a compression codec as stored in the attributes.
type Codec int8

const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

// NoSequence is the base sequence of a batch without idempotence.
const NoSequence = -1

// NoProducerID is the producer id of a batch without idempotence.
const NoProducerID = -1

var (
	// ErrCorrupt means the bytes are not a well-formed record batch.
	ErrCorrupt = errors.New("corrupt record batch")
	// ErrTruncated means the bytes end inside a batch. A reader of a log
	// segment treats it as a torn tail; a produce request as corrupt.
	ErrTruncated = errors.New("truncated record batch")
	// ErrUnsupportedMagic means the batch is not magic v2.
	ErrUnsupportedMagic = errors.New("unsupported record batch magic")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is a decoded v2 batch header.
type Header struct {
	BaseOffset           int64
	Length               int32 // bytes after the Length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the whole batch size in bytes, header included.
func (h *Header) Size() int { return LogOverhead + int(h.Length) }

// LastOffset is the offset of the last record in the batch.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset following the batch.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Codec is the batch's compression codec.
func (h *Header) Codec() Codec { return Codec(h.Attributes & AttrCompressionMask) }

// IsTransactional reports whether the batch belongs to a transaction.
func (h *Header) IsTransactional() bool { return h.Attributes&AttrTransactional != 0 }

// IsControl reports whether the batch is a control batch (commit/abort marker).
func (h *Header) IsControl() bool { return h.Attributes&AttrControl != 0 }

// LogAppendTime reports whether the timestamp type is LogAppendTime.
func (h *Header) LogAppendTime() bool { return h.Attributes&AttrTimestampLogTime != 0 }

// HasProducer reports whether the batch carries an idempotent producer id.
func (h *Header) HasProducer() bool { return h.ProducerID >= 0 }

// LastSequence is the sequence number of the last record, wrapping at
// MaxInt32 like Kafka does.
func (h *Header) LastSequence() int32 {
	if h.BaseSequence == NoSequence {
		return NoSequence
	}
	s := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if s > 1<<31-1 {
		s -= 1 << 31
	}
	return int32(s)
}

// ParseHeader decodes the header of the batch at the start of b. It checks
// only what the header itself can tell: enough bytes for the header, the
// magic, and a length that is neither below the header size nor beyond b.
// It returns ErrTruncated when b ends before the batch does.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < LogOverhead {
		return h, ErrTruncated
	}
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
	h.Length = int32(binary.BigEndian.Uint32(b[offLength:]))
	if h.Length < HeaderSize-LogOverhead {
		return h, fmt.Errorf("%w: batch length %d below header size", ErrCorrupt, h.Length)
	}
	if len(b) < HeaderSize {
		return h, ErrTruncated
	}
	h.Magic = int8(b[offMagic])
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: magic %d", ErrUnsupportedMagic, h.Magic)
	}
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[offPartitionLeaderEpoch:]))
	h.CRC = binary.BigEndian.Uint32(b[offCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))
	h.FirstTimestamp = int64(binary.BigEndian.Uint64(b[offFirstTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[offMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[offProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[offBaseSequence:]))
	h.NumRecords = int32(binary.BigEndian.Uint32(b[offNumRecords:]))
	if int64(len(b)) < int64(h.Size()) {
		return h, ErrTruncated
	}
	return h, nil
}

// CheckCRC verifies the CRC-32C of a whole batch whose header parsed.
func CheckCRC(batch []byte, h *Header) error {
	if got := crc32.Checksum(batch[offAttributes:h.Size()], castagnoli); got != h.CRC {
		return fmt.Errorf("%w: crc %08x, header says %08x", ErrCorrupt, got, h.CRC)
	}
	return nil
}

// UpdateCRC recomputes the CRC of a batch after a rewrite of a field it
// covers (attributes, timestamps, records).
func UpdateCRC(batch []byte) {
	binary.BigEndian.PutUint32(batch[offCRC:], crc32.Checksum(batch[offAttributes:], castagnoli))
}

// SetBaseOffset writes the base offset. The CRC does not cover it.
func SetBaseOffset(batch []byte, offset int64) {
	binary.BigEndian.PutUint64(batch[offBaseOffset:], uint64(offset))
}

// SetPartitionLeaderEpoch writes the leader epoch. The CRC does not cover it.
func SetPartitionLeaderEpoch(batch []byte, epoch int32) {
	binary.BigEndian.PutUint32(batch[offPartitionLeaderEpoch:], uint32(epoch))
}

// Split cuts a record set (one or more whole batches back to back) into
// batches, parsing each header. It fails if any batch is truncated or its
// header is bad; it does not check CRCs.
func Split(set []byte, fn func(batch []byte, h *Header) error) error {
	for len(set) > 0 {
		h, err := ParseHeader(set)
		if err != nil {
			return err
		}
		n := h.Size()
		if err := fn(set[:n:n], &h); err != nil {
			return err
		}
		set = set[n:]
	}
	return nil
}
