package storage

import (
	"errors"
	"math"
)

// Sentinel errors. The broker maps them to Kafka error codes with errors.Is.
var (
	// ErrOffsetOutOfRange: a read or DeleteRecords below the log start
	// offset or beyond the log end offset (OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrOutOfOrderSequence: an idempotent batch whose sequence does not
	// follow the producer's last one (OUT_OF_ORDER_SEQUENCE_NUMBER).
	ErrOutOfOrderSequence = errors.New("out of order sequence number")
	// ErrInvalidProducerEpoch: a batch from a fenced (older) producer epoch
	// (INVALID_PRODUCER_EPOCH).
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")
	// ErrInvalidTxnState: a producer with an open transaction wrote a
	// non-transactional batch (INVALID_TXN_STATE).
	ErrInvalidTxnState = errors.New("invalid transaction state")
	// ErrTransactionCoordinatorFenced: an end-transaction marker whose
	// coordinator epoch is older than the last one the partition saw for
	// the producer (TRANSACTION_COORDINATOR_FENCED).
	ErrTransactionCoordinatorFenced = errors.New("transaction coordinator fenced")
	// ErrDuplicateSequence is internal: AppendAsLeader answers duplicates
	// with AppendResult.Duplicate instead.
	ErrDuplicateSequence = errors.New("duplicate sequence number")
	// ErrLogClosed: the log was closed (or deleted).
	ErrLogClosed = errors.New("log closed")
	// ErrKafkaStorage wraps every I/O failure (KAFKA_STORAGE_ERROR).
	ErrKafkaStorage = errors.New("kafka storage error")
	// ErrInconsistentTopicID: GetOrCreate with a topic id that differs from
	// the one recorded in partition.metadata (INCONSISTENT_TOPIC_ID).
	ErrInconsistentTopicID = errors.New("inconsistent topic id")
	// ErrInvalidSet: AppendAsLeader/AppendAsFollower got bytes that are not
	// whole v2 batches, or follower offsets that go backwards.
	ErrInvalidSet = errors.New("invalid record set")
)

// LogConfig is the per-topic log configuration (Kafka's topic configs of the
// same names).
type LogConfig struct {
	SegmentBytes       int64 // segment.bytes, default 1 GiB
	SegmentMs          int64 // segment.ms, default 7 days
	SegmentIndexBytes  int32 // segment.index.bytes, default 10 MiB
	IndexIntervalBytes int32 // index.interval.bytes, default 4096
	RetentionMs        int64 // retention.ms, -1 = forever, default 7 days
	RetentionBytes     int64 // retention.bytes, -1 = unlimited
	FlushMessages      int64 // flush.messages, default math.MaxInt64 (no fsync per write)
	FlushMs            int64 // flush.ms, default math.MaxInt64
	FileDeleteDelayMs  int64 // file.delete.delay.ms, default 60000

	// Compaction (cleanup.policy=compact; see "Compaction" in the package
	// documentation).
	Compact                bool    // cleanup.policy contains compact, default false
	DeleteRetentionMs      int64   // delete.retention.ms: tombstones' lifetime, default 1 day
	MinCompactionLagMs     int64   // min.compaction.lag.ms, default 0
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio, default 0.5
}

// DefaultLogConfig is Kafka's default topic configuration.
func DefaultLogConfig() LogConfig {
	return LogConfig{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * 60 * 60 * 1000,
		SegmentIndexBytes:  10 << 20,
		IndexIntervalBytes: 4096,
		RetentionMs:        7 * 24 * 60 * 60 * 1000,
		RetentionBytes:     -1,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,
		FileDeleteDelayMs:  60000,

		DeleteRetentionMs:      86400000,
		MinCleanableDirtyRatio: 0.5,
	}
}

// normalized replaces values the log cannot work with (zero or negative
// sizes, intervals and flush settings) by the defaults. Retention values are
// kept as given: 0 is a legal (if drastic) retention.
func (c LogConfig) normalized() LogConfig {
	d := DefaultLogConfig()
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	// Index entries hold int32 positions (Kafka bounds segment.bytes the
	// same way).
	c.SegmentBytes = min(c.SegmentBytes, math.MaxInt32)
	if c.SegmentMs <= 0 {
		c.SegmentMs = d.SegmentMs
	}
	if c.SegmentIndexBytes <= 0 {
		c.SegmentIndexBytes = d.SegmentIndexBytes
	} else if c.SegmentIndexBytes < timeEntrySize {
		c.SegmentIndexBytes = timeEntrySize
	}
	if c.IndexIntervalBytes < 0 {
		c.IndexIntervalBytes = d.IndexIntervalBytes
	}
	if c.FlushMessages <= 0 {
		c.FlushMessages = d.FlushMessages
	}
	if c.FlushMs <= 0 {
		c.FlushMs = d.FlushMs
	}
	if c.FileDeleteDelayMs < 0 {
		c.FileDeleteDelayMs = 0
	}
	return c
}
