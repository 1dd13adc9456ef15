package records

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// End-transaction markers (control batches), in Kafka's format: a batch
// with the control and transactional attribute bits, the producer id and
// epoch of the transaction, base sequence -1, and one record whose key is
// (version int16 = 0, type int16) and, for COMMIT and ABORT, whose value is
// (version int16 = 0, coordinator epoch int32). Other control types (the
// metadata log's LEADER_CHANGE, snapshot headers ...) share the key but
// are not transaction markers.

// Control record types (the key's type field) of end-transaction markers.
const (
	ControlTypeAbort  int16 = 0
	ControlTypeCommit int16 = 1
)

const (
	markerKeyLen   = 4 // version int16, type int16
	markerValueLen = 6 // version int16, coordinator epoch int32
	// markerDecodeLimit bounds the decompression of a (compressed)
	// control batch: a marker's record is a few bytes.
	markerDecodeLimit = 1 << 16
)

// ErrNotTxnMarker means a batch is not a readable COMMIT or ABORT marker:
// not a control batch, another control type, no record (a cleaned-out
// marker), or a malformed key or value.
var ErrNotTxnMarker = errors.New("not an end-transaction marker")

// Marker is the content of an end-transaction marker.
type Marker struct {
	Commit           bool // COMMIT, else ABORT
	CoordinatorEpoch int32
}

// MarkerBatch describes a marker batch for BuildMarker.
type MarkerBatch struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	ProducerID           int64
	ProducerEpoch        int16
	Timestamp            int64
	Marker
}

// BuildMarker encodes an end-transaction marker batch (uncompressed,
// CreateTime, one record with offset and timestamp deltas 0), as the
// transaction coordinator writes it to each partition of a transaction.
func BuildMarker(m MarkerBatch) []byte {
	typ := ControlTypeAbort
	if m.Commit {
		typ = ControlTypeCommit
	}
	key := make([]byte, markerKeyLen)
	binary.BigEndian.PutUint16(key[2:], uint16(typ))
	value := make([]byte, markerValueLen)
	binary.BigEndian.PutUint32(value[2:], uint32(m.CoordinatorEpoch))
	f := batchFields{
		baseOffset:           m.BaseOffset,
		partitionLeaderEpoch: m.PartitionLeaderEpoch,
		attributes:           AttrControl | AttrTransactional,
		firstTimestamp:       m.Timestamp,
		maxTimestamp:         m.Timestamp,
		producerID:           m.ProducerID,
		producerEpoch:        m.ProducerEpoch,
		baseSequence:         NoSequence,
		numRecords:           1,
	}
	b, err := appendBatch(nil, &f, CodecNone, []Record{{Key: key, Value: value}})
	if err != nil {
		panic(fmt.Sprintf("records.BuildMarker: %v", err)) // a fixed 80-byte batch
	}
	return b
}

// ParseMarker reads the end-transaction marker of the control batch whose
// header is h. A batch that is not a COMMIT or ABORT marker is
// ErrNotTxnMarker; bytes that do not decode are ErrCorrupt.
func ParseMarker(batch []byte, h *Header) (Marker, error) {
	var m Marker
	if !h.IsControl() {
		return m, fmt.Errorf("%w: not a control batch", ErrNotTxnMarker)
	}
	if h.NumRecords < 1 {
		return m, fmt.Errorf("%w: control batch without records", ErrNotTxnMarker)
	}
	errStop := errors.New("stop")
	var perr error
	err := Records(batch, markerDecodeLimit, func(r *Record) error {
		perr = parseMarkerRecord(r, &m)
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return m, err
	}
	return m, perr
}

func parseMarkerRecord(r *Record, m *Marker) error {
	if len(r.Key) < markerKeyLen {
		return fmt.Errorf("%w: control key of %d bytes", ErrNotTxnMarker, len(r.Key))
	}
	if v := int16(binary.BigEndian.Uint16(r.Key)); v < 0 {
		return fmt.Errorf("%w: control key version %d", ErrNotTxnMarker, v)
	}
	switch typ := int16(binary.BigEndian.Uint16(r.Key[2:])); typ {
	case ControlTypeAbort, ControlTypeCommit:
		m.Commit = typ == ControlTypeCommit
	default:
		return fmt.Errorf("%w: control type %d", ErrNotTxnMarker, typ)
	}
	if len(r.Value) < markerValueLen {
		return fmt.Errorf("%w: marker value of %d bytes", ErrNotTxnMarker, len(r.Value))
	}
	if v := int16(binary.BigEndian.Uint16(r.Value)); v < 0 {
		return fmt.Errorf("%w: marker value version %d", ErrNotTxnMarker, v)
	}
	m.CoordinatorEpoch = int32(binary.BigEndian.Uint32(r.Value[2:]))
	return nil
}
