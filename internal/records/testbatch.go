package records

import (
	"fmt"
	"strconv"
)

// BuildBatch builds well-formed v2 batches from a plain description: tests
// of this and other packages use it, and so does the group coordinator for
// its small __consumer_offsets batches. It favours simplicity over speed, so
// it stays off the produce and fetch paths.

// BatchSpec describes a batch for BuildBatch.
type BatchSpec struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	Codec                Codec
	// Extra attribute bits (AttrTransactional, AttrControl,
	// AttrTimestampLogTime); the codec bits come from Codec.
	Attributes     int16
	FirstTimestamp int64
	// MaxTimestamp 0 means FirstTimestamp plus the largest record
	// TimestampDelta.
	MaxTimestamp int64
	// Idempotent writes ProducerID, ProducerEpoch and BaseSequence;
	// otherwise the batch has no producer (-1, -1, -1).
	Idempotent    bool
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	// Records are written as given (offset deltas included; see
	// MakeRecords). LastOffsetDelta is the last record's OffsetDelta and
	// NumRecords len(Records).
	Records []Record
}

// BuildBatch encodes spec as a v2 batch with a valid CRC. It is a test
// helper: it panics on an unknown codec.
func BuildBatch(spec BatchSpec) []byte {
	f := batchFields{
		baseOffset:           spec.BaseOffset,
		partitionLeaderEpoch: spec.PartitionLeaderEpoch,
		attributes:           spec.Attributes,
		firstTimestamp:       spec.FirstTimestamp,
		maxTimestamp:         spec.MaxTimestamp,
		producerID:           NoProducerID,
		producerEpoch:        -1,
		baseSequence:         NoSequence,
		numRecords:           int32(len(spec.Records)),
	}
	if spec.Idempotent {
		f.producerID, f.producerEpoch, f.baseSequence = spec.ProducerID, spec.ProducerEpoch, spec.BaseSequence
	}
	if n := len(spec.Records); n > 0 {
		f.lastOffsetDelta = spec.Records[n-1].OffsetDelta
		if f.maxTimestamp == 0 {
			maxDelta := spec.Records[0].TimestampDelta
			for i := range spec.Records {
				maxDelta = max(maxDelta, spec.Records[i].TimestampDelta)
			}
			f.maxTimestamp = spec.FirstTimestamp + maxDelta
		}
	}
	b, err := appendBatch(nil, &f, spec.Codec, spec.Records)
	if err != nil {
		panic(fmt.Sprintf("records.BuildBatch: %v", err))
	}
	return b
}

// MakeRecords returns n records with OffsetDelta and TimestampDelta i, key
// "k<i>" and value "v<i>"; fn, if not nil, may then change each record.
func MakeRecords(n int, fn func(i int, r *Record)) []Record {
	recs := make([]Record, n)
	for i := range recs {
		s := strconv.Itoa(i)
		recs[i] = Record{
			OffsetDelta:    int32(i),
			TimestampDelta: int64(i),
			Key:            []byte("k" + s),
			Value:          []byte("v" + s),
		}
		if fn != nil {
			fn(i, &recs[i])
		}
	}
	return recs
}
