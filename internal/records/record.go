package records

import (
	"errors"
	"fmt"
)

// A record inside a v2 batch (after decompression) is:
//
//	length         varint   bytes that follow
//	attributes     int8     unused, 0
//	timestampDelta varlong  from the batch's FirstTimestamp
//	offsetDelta    varint   from the batch's BaseOffset
//	keyLength      varint   -1 for a null key
//	key            bytes
//	valueLength    varint   -1 for a null value
//	value          bytes
//	headerCount    varint
//	headers        (keyLength varint, key, valueLength varint (-1 null), value)...
//
// Every length is checked against the bytes left before it is used, so a
// hostile length never causes an allocation.

// Record is one decoded record. Null keys, values and header values are nil;
// empty ones are non-nil with length 0.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key            []byte
	Value          []byte
	Headers        []RecordHeader
}

// RecordHeader is a record header. Its key is never null.
type RecordHeader struct {
	Key   string
	Value []byte
}

// minRecordBody is the smallest record body: attributes and five one-byte
// varints (timestamp delta, offset delta, key length, value length, header
// count).
const minRecordBody = 6

// Static parse errors, wrapped with the record index by callers (errors
// must not allocate before they are needed).
var (
	errRecordLength   = errors.New("bad record length")
	errRecordBody     = errors.New("record body does not match its length")
	errKeyLength      = errors.New("bad key length")
	errValueLength    = errors.New("bad value length")
	errHeaderCount    = errors.New("bad header count")
	errHeaderKey      = errors.New("bad header key length")
	errHeaderValue    = errors.New("bad header value length")
	errVarint         = errors.New("malformed varint")
	errMissingRecords = errors.New("fewer records than the batch declares")
	errExtraBytes     = errors.New("bytes left after the declared records")
	errNumRecords     = errors.New("negative record count")
)

// rawRecord is a record parsed in place: slices alias the input and headers
// are left encoded (already validated) so that validation never allocates.
type rawRecord struct {
	attributes     int8
	timestampDelta int64
	offsetDelta    int32
	key            []byte // nil: null
	value          []byte // nil: null
	numHeaders     int
	headers        []byte
}

// nextRecord parses the record at the start of b and returns the bytes after
// it.
func nextRecord(b []byte, r *rawRecord) ([]byte, error) {
	length, n := readVarint(b)
	if n <= 0 {
		return nil, errRecordLength
	}
	b = b[n:]
	if length < minRecordBody || int(length) > len(b) {
		return nil, errRecordLength
	}
	body, rest := b[:length:length], b[length:]
	r.attributes = int8(body[0])
	p := 1
	if r.timestampDelta, n = readVarlong(body[p:]); n <= 0 {
		return nil, errVarint
	}
	p += n
	if r.offsetDelta, n = readVarint(body[p:]); n <= 0 {
		return nil, errVarint
	}
	p += n
	var err error
	if r.key, p, err = readBytes(body, p, errKeyLength); err != nil {
		return nil, err
	}
	if r.value, p, err = readBytes(body, p, errValueLength); err != nil {
		return nil, err
	}
	count, n := readVarint(body[p:])
	if n <= 0 {
		return nil, errHeaderCount
	}
	p += n
	// Each header takes at least two bytes.
	if count < 0 || int(count) > (len(body)-p)/2 {
		return nil, errHeaderCount
	}
	r.numHeaders = int(count)
	r.headers = body[p:]
	for range count {
		var k []byte
		if k, p, err = readBytes(body, p, errHeaderKey); err != nil {
			return nil, err
		}
		if k == nil {
			return nil, errHeaderKey
		}
		if _, p, err = readBytes(body, p, errHeaderValue); err != nil {
			return nil, err
		}
	}
	if p != len(body) {
		return nil, errRecordBody
	}
	return rest, nil
}

// readBytes reads a varint length and that many bytes at b[p:]. Length -1
// yields nil; other negative lengths are malformed.
func readBytes(b []byte, p int, bad error) ([]byte, int, error) {
	l, n := readVarint(b[p:])
	if n <= 0 {
		return nil, p, bad
	}
	p += n
	if l == -1 {
		return nil, p, nil
	}
	if l < 0 || int(l) > len(b)-p {
		return nil, p, bad
	}
	end := p + int(l)
	return b[p:end:end], end, nil
}

// decodeHeaders appends the headers of a parsed record to hs.
func (r *rawRecord) decodeHeaders(hs []RecordHeader) []RecordHeader {
	b, p := r.headers, 0
	for range r.numHeaders {
		var k, v []byte
		k, p, _ = readBytes(b, p, nil) // validated by nextRecord
		v, p, _ = readBytes(b, p, nil)
		hs = append(hs, RecordHeader{Key: string(k), Value: v})
	}
	return hs
}

// Records calls fn for each record of the batch at the start of b (bytes
// past the batch's length are ignored), decompressing it first when needed;
// limit bounds the decompressed size (limit <= 0: DefaultMaxDecompressedBytes).
// It does not check the CRC (see CheckCRC) nor the records' offset deltas
// (compacted batches have gaps), but it does check that the records decode
// to exactly NumRecords and end where the batch ends. Malformed records are
// ErrCorrupt.
//
// fn receives the same *Record each time, and r.Headers reuses its backing
// array: copy what must outlive the call. Key, Value and header values alias
// b or a decompressed buffer private to this call, so they may be kept.
// An error from fn stops the iteration and is returned as is.
func Records(b []byte, limit int, fn func(r *Record) error) error {
	h, err := ParseHeader(b)
	if err != nil {
		return err
	}
	if h.NumRecords < 0 {
		return fmt.Errorf("%w: %w", ErrCorrupt, errNumRecords)
	}
	data := b[HeaderSize:h.Size()]
	if c := h.Codec(); c != CodecNone {
		if data, err = decompressAppend(nil, c, data, limit); err != nil {
			return err
		}
	}
	var (
		raw  rawRecord
		rec  Record
		hdrs []RecordHeader
	)
	for i := range int(h.NumRecords) {
		if len(data) == 0 {
			return fmt.Errorf("%w: %w: %d of %d", ErrCorrupt, errMissingRecords, i, h.NumRecords)
		}
		if data, err = nextRecord(data, &raw); err != nil {
			return fmt.Errorf("%w: record %d: %w", ErrCorrupt, i, err)
		}
		hdrs = raw.decodeHeaders(hdrs[:0])
		rec = Record{
			Attributes:     raw.attributes,
			TimestampDelta: raw.timestampDelta,
			OffsetDelta:    raw.offsetDelta,
			Key:            raw.key,
			Value:          raw.value,
			Headers:        hdrs,
		}
		if err := fn(&rec); err != nil {
			return err
		}
	}
	if len(data) != 0 {
		return fmt.Errorf("%w: %w", ErrCorrupt, errExtraBytes)
	}
	return nil
}

// appendRecord appends the encoding of r to b.
func appendRecord(b []byte, r *Record) []byte {
	size := 1 + varlongSize(r.TimestampDelta) + sizeVarint(r.OffsetDelta) +
		bytesSize(r.Key) + bytesSize(r.Value) + sizeVarint(int32(len(r.Headers)))
	for i := range r.Headers {
		k := len(r.Headers[i].Key)
		size += sizeVarint(int32(k)) + k + bytesSize(r.Headers[i].Value)
	}
	b = appendVarint(b, int32(size))
	b = append(b, byte(r.Attributes))
	b = appendVarlong(b, r.TimestampDelta)
	b = appendVarint(b, r.OffsetDelta)
	b = appendBytes(b, r.Key)
	b = appendBytes(b, r.Value)
	b = appendVarint(b, int32(len(r.Headers)))
	for i := range r.Headers {
		b = appendVarint(b, int32(len(r.Headers[i].Key)))
		b = append(b, r.Headers[i].Key...)
		b = appendBytes(b, r.Headers[i].Value)
	}
	return b
}

func appendBytes(b, v []byte) []byte {
	if v == nil {
		return appendVarint(b, -1)
	}
	b = appendVarint(b, int32(len(v)))
	return append(b, v...)
}

func bytesSize(v []byte) int {
	if v == nil {
		return 1
	}
	return sizeVarint(int32(len(v))) + len(v)
}

func varlongSize(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}
