package records

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
)

var (
	// ErrRecordTooLarge means a batch is larger than the topic's
	// max.message.bytes (RECORD_TOO_LARGE).
	ErrRecordTooLarge = errors.New("record batch too large")
	// ErrInvalidRecord means a well-formed batch breaks a rule of the
	// produce path (INVALID_RECORD): offsets, counts, control batches from
	// clients, producer fields, a null key on a compacted topic.
	ErrInvalidRecord = errors.New("invalid record")
	// ErrInvalidTimestamp means a record timestamp is outside the topic's
	// bounds, or the producer set the LogAppendTime type (INVALID_TIMESTAMP).
	ErrInvalidTimestamp = errors.New("invalid record timestamp")
)

// NoTimestamp is the timestamp of a record without one. Such records are
// exempt from the timestamp bounds.
const NoTimestamp = -1

// DefaultMaxMessageBytes is Kafka's default max.message.bytes.
const DefaultMaxMessageBytes = 1048588

// RecordError is the error for one record of a batch. It unwraps to
// ErrInvalidRecord or ErrInvalidTimestamp; the broker can report Index and
// Message in the produce response's record_errors.
type RecordError struct {
	Index   int // index of the record in its batch
	Message string
	Err     error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("%v: record %d: %s", e.Err, e.Index, e.Message)
}

func (e *RecordError) Unwrap() error { return e.Err }

// ProduceOptions are the topic's rules for a produced record set. Every
// field is taken literally (zero means zero) except MaxDecompressedBytes;
// start from DefaultProduceOptions for Kafka's defaults.
type ProduceOptions struct {
	// MaxBatchBytes is max.message.bytes: a larger batch (whole, header
	// included, before and after any rewrite) is ErrRecordTooLarge.
	MaxBatchBytes int
	// RequireKeys rejects records with a null key (cleanup.policy
	// includes compact).
	RequireKeys bool
	// LogAppendTime is message.timestamp.type=LogAppendTime: the batch gets
	// the LogAppendTime attribute and MaxTimestamp = Now, as Kafka does.
	// FirstTimestamp and the records' deltas are left alone; readers take
	// every record's timestamp from MaxTimestamp when the attribute is set.
	LogAppendTime bool
	// Now is the broker's clock in milliseconds.
	Now int64
	// TimestampBeforeMaxMs and TimestampAfterMaxMs are
	// message.timestamp.before.max.ms and .after.max.ms. With CreateTime a
	// record whose timestamp is outside [Now-before, Now+after] is
	// ErrInvalidTimestamp (records without timestamp, -1, are exempt).
	TimestampBeforeMaxMs int64
	TimestampAfterMaxMs  int64
	// Recompress says the topic's compression.type is a codec, not
	// "producer": a batch in another codec is rebuilt with TargetCodec.
	Recompress  bool
	TargetCodec Codec
	// MaxDecompressedBytes bounds the decompressed size of a compressed
	// batch; beyond it the batch is ErrCorrupt. <= 0 means
	// DefaultMaxDecompressedBytes.
	MaxDecompressedBytes int
}

// DefaultProduceOptions returns Kafka 4's topic defaults at time now (ms):
// max.message.bytes 1048588, CreateTime, timestamp.before.max.ms unbounded,
// timestamp.after.max.ms one hour, compression.type producer, delete policy.
func DefaultProduceOptions(now int64) ProduceOptions {
	return ProduceOptions{
		MaxBatchBytes:        DefaultMaxMessageBytes,
		Now:                  now,
		TimestampBeforeMaxMs: math.MaxInt64,
		TimestampAfterMaxMs:  3600000,
	}
}

// ProduceResult is what ValidateProduce found.
type ProduceResult struct {
	// Set is the batch to append: the input itself when nothing was
	// rewritten, otherwise a new slice (the input is never modified).
	Set []byte
	// Batches is always 1 (see ValidateProduce); Records counts records.
	Batches int
	Records int
	// MaxTimestamp is the largest record timestamp (Now with
	// LogAppendTime, NoTimestamp if no record has one), as written in the
	// batch header of Set.
	MaxTimestamp int64
	// ShallowOffsetOfMaxTimestamp is the offset delta (from the batch's base
	// offset) of the first record carrying MaxTimestamp: 0 with
	// LogAppendTime, -1 when MaxTimestamp is NoTimestamp. Add the assigned
	// base offset to get the absolute offset.
	ShallowOffsetOfMaxTimestamp int32
	// Producer fields of the batch (NoProducerID / -1 / NoSequence when the
	// producer is not idempotent).
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	Transactional bool
}

// ValidateProduce checks a record set received in a Produce request (v3+,
// magic 2) the way Kafka's broker does (ProduceRequest.validateRecords,
// UnifiedLog.analyzeAndValidateRecords and LogValidator), in this order:
//
//   - the set is exactly one whole batch (Kafka allows one batch per
//     partition since Produce v3): empty or a second batch is
//     ErrInvalidRecord, a torn or garbage tail ErrCorrupt;
//   - magic 2, else ErrUnsupportedMagic;
//   - base offset 0, else ErrInvalidRecord;
//   - size at most MaxBatchBytes, else ErrRecordTooLarge;
//   - CRC-32C, else ErrCorrupt; a known codec, else ErrUnsupportedCompression;
//   - NumRecords >= 1 and LastOffsetDelta == NumRecords-1; not a control
//     batch; with a producer id, epoch and base sequence >= 0; transactional
//     only with a producer id: else ErrInvalidRecord. The LogAppendTime
//     attribute set by a producer is ErrInvalidTimestamp;
//   - the records (decompressed within MaxDecompressedBytes, else ErrCorrupt)
//     decode to exactly NumRecords records ending at the batch end, with
//     offset deltas 0..n-1 in order and no null header key: else
//     ErrInvalidRecord (Kafka's InvalidRecordException);
//   - per record (as a *RecordError): a null key with RequireKeys is
//     ErrInvalidRecord, a timestamp out of bounds ErrInvalidTimestamp.
//
// Then it rewrites, into a new slice, what Kafka rewrites: the batch is
// rebuilt in TargetCodec when Recompress asks for another codec (same
// records, timestamps, producer fields and leader epoch); LogAppendTime sets
// the attribute and MaxTimestamp; with CreateTime a MaxTimestamp that is not
// the records' maximum is corrected. The CRC is recomputed.
//
// An uncompressed batch is validated in place without allocating.
func ValidateProduce(set []byte, opts ProduceOptions) (ProduceResult, error) {
	var res ProduceResult
	if len(set) == 0 {
		return res, fmt.Errorf("%w: no record batch", ErrInvalidRecord)
	}
	if len(set) > offMagic && set[offMagic] != 2 {
		return res, fmt.Errorf("%w: magic %d", ErrUnsupportedMagic, int8(set[offMagic]))
	}
	h, err := ParseHeader(set)
	if err != nil {
		if errors.Is(err, ErrTruncated) {
			return res, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return res, err
	}
	size := h.Size()
	if len(set) > size {
		if Split(set[size:], func([]byte, *Header) error { return nil }) == nil {
			return res, fmt.Errorf("%w: more than one record batch", ErrInvalidRecord)
		}
		return res, fmt.Errorf("%w: %d bytes after the batch", ErrCorrupt, len(set)-size)
	}
	if h.BaseOffset != 0 {
		return res, fmt.Errorf("%w: base offset %d, want 0", ErrInvalidRecord, h.BaseOffset)
	}
	if size > opts.MaxBatchBytes {
		return res, fmt.Errorf("%w: %d bytes, max.message.bytes %d", ErrRecordTooLarge, size, opts.MaxBatchBytes)
	}
	if err := CheckCRC(set, &h); err != nil {
		return res, err
	}
	codec := h.Codec()
	if !codec.Valid() {
		return res, fmt.Errorf("%w: %d", ErrUnsupportedCompression, int8(codec))
	}
	if err := checkBatch(&h); err != nil {
		return res, err
	}

	data := set[HeaderSize:]
	if codec != CodecNone {
		buf := getBuffer()
		defer putBuffer(buf)
		data, err = decompressAppend((*buf)[:0], codec, data, opts.MaxDecompressedBytes)
		if err != nil {
			return res, err
		}
		*buf = data
	}
	maxTs, offOfMax, err := checkRecords(data, &h, &opts)
	if err != nil {
		return res, err
	}

	res = ProduceResult{
		Set:                         set,
		Batches:                     1,
		Records:                     int(h.NumRecords),
		MaxTimestamp:                maxTs,
		ShallowOffsetOfMaxTimestamp: offOfMax,
		ProducerID:                  h.ProducerID,
		ProducerEpoch:               h.ProducerEpoch,
		BaseSequence:                h.BaseSequence,
		Transactional:               h.IsTransactional(),
	}
	if opts.LogAppendTime {
		res.MaxTimestamp, res.ShallowOffsetOfMaxTimestamp = opts.Now, 0
	}
	switch {
	case opts.Recompress && codec != opts.TargetCodec:
		out, err := rebuild(&h, data, opts.TargetCodec, opts.LogAppendTime, res.MaxTimestamp)
		if err != nil {
			return res, err
		}
		if len(out) > opts.MaxBatchBytes {
			return res, fmt.Errorf("%w: %d bytes after recompression to %s, max.message.bytes %d",
				ErrRecordTooLarge, len(out), opts.TargetCodec, opts.MaxBatchBytes)
		}
		res.Set = out
	case opts.LogAppendTime || h.MaxTimestamp != maxTs:
		out := append([]byte(nil), set...)
		if opts.LogAppendTime {
			SetLogAppendTime(out, opts.Now)
		} else {
			binary.BigEndian.PutUint64(out[offMaxTimestamp:], uint64(maxTs))
			UpdateCRC(out)
		}
		res.Set = out
	}
	return res, nil
}

// checkBatch applies the header rules of a client batch (LogValidator's
// validateBatch).
func checkBatch(h *Header) error {
	switch {
	case h.NumRecords <= 0:
		return fmt.Errorf("%w: record count %d", ErrInvalidRecord, h.NumRecords)
	case h.LastOffsetDelta != h.NumRecords-1:
		return fmt.Errorf("%w: last offset delta %d with %d records", ErrInvalidRecord, h.LastOffsetDelta, h.NumRecords)
	case h.IsControl():
		return fmt.Errorf("%w: clients may not write control batches", ErrInvalidRecord)
	case h.HasProducer() && h.BaseSequence < 0:
		return fmt.Errorf("%w: producer id %d with base sequence %d", ErrInvalidRecord, h.ProducerID, h.BaseSequence)
	case h.HasProducer() && h.ProducerEpoch < 0:
		return fmt.Errorf("%w: producer id %d with epoch %d", ErrInvalidRecord, h.ProducerID, h.ProducerEpoch)
	case h.IsTransactional() && !h.HasProducer():
		return fmt.Errorf("%w: transactional batch without producer id", ErrInvalidRecord)
	case h.LogAppendTime():
		return fmt.Errorf("%w: producers may not set the LogAppendTime timestamp type", ErrInvalidTimestamp)
	}
	return nil
}

// checkRecords walks the records of a batch (already decompressed) without
// allocating, and returns the largest timestamp and the offset delta of its
// first record.
func checkRecords(data []byte, h *Header, opts *ProduceOptions) (maxTs int64, offOfMax int32, err error) {
	lo, hi := timestampBounds(opts)
	checkTs := !opts.LogAppendTime
	maxTs, offOfMax = NoTimestamp, -1
	var r rawRecord
	n := int(h.NumRecords)
	for i := range n {
		if len(data) == 0 {
			return 0, 0, fmt.Errorf("%w: %w: %d of %d", ErrInvalidRecord, errMissingRecords, i, n)
		}
		if data, err = nextRecord(data, &r); err != nil {
			return 0, 0, fmt.Errorf("%w: record %d: %w", ErrInvalidRecord, i, err)
		}
		if r.offsetDelta != int32(i) {
			return 0, 0, &RecordError{Index: i, Err: ErrInvalidRecord,
				Message: fmt.Sprintf("offset delta %d, want %d", r.offsetDelta, i)}
		}
		if opts.RequireKeys && r.key == nil {
			return 0, 0, &RecordError{Index: i, Err: ErrInvalidRecord,
				Message: "compacted topic cannot accept a record without key"}
		}
		ts := h.FirstTimestamp + r.timestampDelta
		if checkTs && ts != NoTimestamp && (ts < lo || ts > hi) {
			return 0, 0, &RecordError{Index: i, Err: ErrInvalidTimestamp,
				Message: fmt.Sprintf("timestamp %d outside [%d, %d]", ts, lo, hi)}
		}
		if ts > maxTs {
			maxTs, offOfMax = ts, int32(i)
		}
	}
	if len(data) != 0 {
		return 0, 0, fmt.Errorf("%w: %w", ErrInvalidRecord, errExtraBytes)
	}
	return maxTs, offOfMax, nil
}

// timestampBounds returns [Now-before, Now+after], saturating.
func timestampBounds(o *ProduceOptions) (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	// With non-negative bounds an overflow moves the result across Now.
	if l := o.Now - max(o.TimestampBeforeMaxMs, 0); l <= o.Now {
		lo = l
	}
	if h := o.Now + max(o.TimestampAfterMaxMs, 0); h >= o.Now {
		hi = h
	}
	return lo, hi
}

// rebuild encodes the records of a validated batch again with codec.
func rebuild(h *Header, data []byte, codec Codec, logAppendTime bool, maxTs int64) ([]byte, error) {
	recs := make([]Record, h.NumRecords)
	var raw rawRecord
	for i := range recs {
		data, _ = nextRecord(data, &raw) // validated by checkRecords
		recs[i] = Record{
			Attributes:     raw.attributes,
			TimestampDelta: raw.timestampDelta,
			OffsetDelta:    raw.offsetDelta,
			Key:            raw.key,
			Value:          raw.value,
		}
		if raw.numHeaders > 0 {
			recs[i].Headers = raw.decodeHeaders(make([]RecordHeader, 0, raw.numHeaders))
		}
	}
	attrs := h.Attributes & AttrTransactional
	if logAppendTime {
		attrs |= AttrTimestampLogTime
	}
	f := batchFields{
		partitionLeaderEpoch: h.PartitionLeaderEpoch,
		attributes:           attrs,
		lastOffsetDelta:      h.NumRecords - 1,
		firstTimestamp:       h.FirstTimestamp,
		maxTimestamp:         maxTs,
		producerID:           h.ProducerID,
		producerEpoch:        h.ProducerEpoch,
		baseSequence:         h.BaseSequence,
		numRecords:           h.NumRecords,
	}
	return appendBatch(nil, &f, codec, recs)
}

// SetLogAppendTime marks a whole batch as LogAppendTime with timestamp ts:
// it sets the attribute bit and MaxTimestamp, leaves FirstTimestamp and the
// records alone (readers take every record's timestamp from MaxTimestamp
// when the bit is set, as Kafka does) and recomputes the CRC.
func SetLogAppendTime(batch []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(batch[offAttributes:]) | AttrTimestampLogTime
	binary.BigEndian.PutUint16(batch[offAttributes:], attrs)
	binary.BigEndian.PutUint64(batch[offMaxTimestamp:], uint64(ts))
	UpdateCRC(batch)
}

// Decompression buffers of the validation path are pooled; large ones are
// left to the garbage collector so that one big batch does not pin memory.
const maxPooledBuffer = 4 << 20

var buffers = sync.Pool{New: func() any { return new([]byte) }}

func getBuffer() *[]byte { return buffers.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) > maxPooledBuffer {
		*b = nil
	}
	buffers.Put(b)
}
