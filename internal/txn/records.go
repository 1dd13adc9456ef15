package txn

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/group"
)

// Record is one key/value pair for __transaction_state. A nil Value is a
// tombstone (an expired transactional id).
type Record struct {
	Key   []byte
	Value []byte
}

// TopicPartition names a partition of a transaction.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

func compareTP(a, b TopicPartition) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// ErrBadRecord is a __transaction_state record this package can't decode.
var ErrBadRecord = errors.New("undecodable __transaction_state record")

// errUnknownKey is a key of a version this package does not know; Kafka
// skips those on load, and so does Replay.
var errUnknownKey = errors.New("unknown __transaction_state key version")

// Key and value versions of Kafka's TransactionLogKey and
// TransactionLogValue: value version 1 (flexible, with the tagged fields
// previous_producer_id, next_producer_id and client_transaction_version)
// is written from transaction.version 1 on, version 0 below it.
const (
	keyVersion      = 0
	maxValueVersion = 1
)

// PartitionFor is the __transaction_state partition of a transactional
// id: Utils.abs(transactionalId.hashCode) % numPartitions, the same
// placement as a group's on __consumer_offsets.
func PartitionFor(transactionalID string, numPartitions int32) int32 {
	return group.PartitionFor(transactionalID, numPartitions)
}

// Value is a decoded TransactionLogValue.
type Value struct {
	ProducerID int64
	// PreviousProducerID is the producer id before the last change of
	// producer id (-1 if none); NextProducerID is the id a transaction
	// version 2 EndTxn rolled over to, until it completes (-1 if none).
	// Both are only in version 1 values.
	PreviousProducerID int64
	NextProducerID     int64
	ProducerEpoch      int16
	TimeoutMs          int32
	State              State
	// Partitions are sorted; an Empty transaction has none (the field
	// is null on the wire).
	Partitions   []TopicPartition
	LastUpdateMs int64
	// StartMs is when the first partition was added; -1 if none.
	StartMs int64
	// ClientTransactionVersion is the transaction version the client
	// used (0 in version 0 values).
	ClientTransactionVersion int16
}

// EncodeKey is the TransactionLogKey of a transactional id.
func EncodeKey(transactionalID string) []byte {
	k := kmsg.TxnMetadataKey{Version: keyVersion, TransactionalID: transactionalID}
	return k.AppendTo(nil)
}

// EncodeValue is v as a TransactionLogValue of the given version (0 or 1).
// Version 0 has no tagged fields: the previous and next producer ids and
// the client transaction version are dropped.
func EncodeValue(v Value, version int16) []byte {
	kv := kmsg.NewTxnMetadataValue()
	kv.Version = version
	kv.ProducerID = v.ProducerID
	kv.ProducerEpoch = v.ProducerEpoch
	kv.TimeoutMillis = v.TimeoutMs
	kv.State = kmsg.TransactionState(v.State)
	kv.LastUpdateTimestamp = v.LastUpdateMs
	kv.StartTimestamp = v.StartMs
	if version >= 1 {
		kv.PreviousProducerID = v.PreviousProducerID
		kv.NextProducerID = v.NextProducerID
		kv.ClientTransactionVersion = v.ClientTransactionVersion
	}
	if v.State != Empty {
		// Grouped by topic, in order (Kafka's order is a hash set's).
		kv.Topics = []kmsg.TxnMetadataValueTopic{}
		tps := slices.Clone(v.Partitions)
		slices.SortFunc(tps, compareTP)
		for _, tp := range tps {
			if n := len(kv.Topics); n == 0 || kv.Topics[n-1].Topic != tp.Topic {
				kv.Topics = append(kv.Topics, kmsg.TxnMetadataValueTopic{Topic: tp.Topic, Partitions: []int32{}})
			}
			t := &kv.Topics[len(kv.Topics)-1]
			if m := len(t.Partitions); m == 0 || t.Partitions[m-1] != tp.Partition {
				t.Partitions = append(t.Partitions, tp.Partition)
			}
		}
	}
	return kv.AppendTo(nil)
}

// DecodeKey is the transactional id of a __transaction_state key.
func DecodeKey(key []byte) (string, error) {
	if len(key) < 2 {
		return "", fmt.Errorf("%w: key of %d bytes", ErrBadRecord, len(key))
	}
	if v := int16(binary.BigEndian.Uint16(key)); v != keyVersion {
		return "", fmt.Errorf("%w %d", errUnknownKey, v)
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return "", fmt.Errorf("%w: key: %v", ErrBadRecord, err)
	}
	return k.TransactionalID, nil
}

// DecodeValue decodes a TransactionLogValue of version 0 or 1. The
// decoder (kmsg's) refuses an array or string longer than the bytes
// left, so a corrupt length cannot make it allocate more than the input.
func DecodeValue(value []byte) (Value, error) {
	if len(value) < 2 {
		return Value{}, fmt.Errorf("%w: value of %d bytes", ErrBadRecord, len(value))
	}
	if ver := int16(binary.BigEndian.Uint16(value)); ver < 0 || ver > maxValueVersion {
		return Value{}, fmt.Errorf("%w: value version %d", ErrBadRecord, ver)
	}
	var kv kmsg.TxnMetadataValue
	if err := kv.ReadFrom(value); err != nil {
		return Value{}, fmt.Errorf("%w: value: %v", ErrBadRecord, err)
	}
	v := Value{
		ProducerID:               kv.ProducerID,
		PreviousProducerID:       kv.PreviousProducerID,
		NextProducerID:           kv.NextProducerID,
		ProducerEpoch:            kv.ProducerEpoch,
		TimeoutMs:                kv.TimeoutMillis,
		State:                    State(kv.State),
		LastUpdateMs:             kv.LastUpdateTimestamp,
		StartMs:                  kv.StartTimestamp,
		ClientTransactionVersion: kv.ClientTransactionVersion,
	}
	if !v.State.valid() {
		return Value{}, fmt.Errorf("%w: transaction status %d", ErrBadRecord, int8(kv.State))
	}
	if v.State != Empty {
		for _, t := range kv.Topics {
			for _, p := range t.Partitions {
				v.Partitions = append(v.Partitions, TopicPartition{t.Topic, p})
			}
		}
		slices.SortFunc(v.Partitions, compareTP)
		v.Partitions = slices.CompactFunc(v.Partitions, func(a, b TopicPartition) bool { return a == b })
	}
	return v, nil
}
