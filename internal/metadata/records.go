package metadata

import (
	"encoding/json"
	"fmt"
)

// RecordType names a metadata record type. It is the type tag of the
// encoded record.
type RecordType string

// The record types. Every record is encoded at version 0 today; a change to
// a record's fields that old code cannot read gets a new version (see
// DecodeBatch).
const (
	TypeClusterID       RecordType = "ClusterID"
	TypeRegisterBroker  RecordType = "RegisterBroker"
	TypeTopic           RecordType = "Topic"
	TypePartition       RecordType = "Partition"
	TypePartitionChange RecordType = "PartitionChange"
	TypeRemoveTopic     RecordType = "RemoveTopic"
	TypeConfig          RecordType = "Config"
	TypeProducerIDs     RecordType = "ProducerIDs"
	// TypeBrokerRegistrationChange fences, unfences or marks the controlled
	// shutdown of a registered broker (Kafka's FenceBrokerRecord,
	// UnfenceBrokerRecord and BrokerRegistrationChangeRecord in one).
	TypeBrokerRegistrationChange RecordType = "BrokerRegistrationChange"
	// TypeUnregisterBroker removes a decommissioned broker's registration.
	TypeUnregisterBroker RecordType = "UnregisterBroker"
	// TypeFeatureLevel finalizes the level of a feature (features.go).
	TypeFeatureLevel RecordType = "FeatureLevel"
)

// Record is one metadata record. The concrete types are the *Record structs
// of this file.
type Record interface {
	RecordType() RecordType
}

// UnregisterBrokerRecord removes the registration of a broker at epoch
// BrokerEpoch (Kafka's UnregisterBrokerRecord).
type UnregisterBrokerRecord struct {
	BrokerID    int32
	BrokerEpoch int64
}

// FeatureLevelRecord finalizes a feature at a level (Kafka's
// FeatureLevelRecord); level 0 removes the feature (metadata.version
// cannot be removed).
type FeatureLevelRecord struct {
	Name         string
	FeatureLevel int16
}

// ClusterIDRecord is written once, by the first controller of a new
// cluster. Later ClusterID records are ignored.
type ClusterIDRecord struct {
	ClusterID string
}

// Endpoint is one listener of a broker.
type Endpoint struct {
	Name             string // listener name, e.g. PLAINTEXT
	Host             string
	Port             int32
	SecurityProtocol int16 // Kafka's SecurityProtocol id (0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL)
}

// RegisterBrokerRecord registers a broker or replaces its registration. The
// broker epoch is the raft index of the record (as Kafka uses the record's
// offset), so it grows with every registration.
type RegisterBrokerRecord struct {
	BrokerID int32
	// IncarnationID is a random id the broker process picks at start-up:
	// a second process with the same node.id has another one, which is how
	// the controller tells a restart from a duplicate (KIP-631).
	IncarnationID [16]byte `json:",omitempty"`
	Endpoints     []Endpoint
	Rack          *string `json:",omitempty"`
	Fenced        bool
	// Features are the feature levels the broker supports (nil in
	// registrations written before brokers reported them).
	Features map[string]FeatureRange `json:",omitempty"`
}

// BrokerRegistrationChangeRecord changes the state of a registered broker
// whose current epoch is BrokerEpoch (a record for an older registration
// is refused on apply). A nil field is left unchanged.
type BrokerRegistrationChangeRecord struct {
	BrokerID             int32
	BrokerEpoch          int64
	Fenced               *bool `json:",omitempty"`
	InControlledShutdown *bool `json:",omitempty"`
}

// TopicRecord creates a topic. Its partitions follow as PartitionRecords
// in the same batch.
type TopicRecord struct {
	Name string
	ID   [16]byte
}

// PartitionRecord creates a partition. Partitions are appended in order:
// Partition must equal the topic's current partition count.
type PartitionRecord struct {
	TopicID        [16]byte
	Partition      int32
	Replicas       []int32
	ISR            []int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
}

// PartitionChangeRecord changes the leader, ISR or replicas of a partition.
// A nil field is left unchanged (an empty, non-nil ISR is a change). Applying
// it bumps PartitionEpoch; LeaderEpoch is bumped when the leader changes.
type PartitionChangeRecord struct {
	TopicID   [16]byte
	Partition int32
	Leader    *int32 `json:",omitempty"` // -1: no leader
	ISR       []int32
	Replicas  []int32
	// AddingReplicas and RemovingReplicas set the reassignment state
	// (nil: unchanged, empty: none).
	AddingReplicas   []int32
	RemovingReplicas []int32
	// BumpLeaderEpoch bumps the leader epoch even though the leader stays
	// (a reassignment that removed replicas: their fetches are fenced).
	BumpLeaderEpoch bool `json:",omitempty"`
}

// RemoveTopicRecord deletes a topic, its partitions and its configs.
type RemoveTopicRecord struct {
	TopicID [16]byte
}

// ConfigRecord sets (Value non-nil) or deletes (Value nil) one config of a
// resource. ResourceType is Kafka's ConfigResourceType (2 topic, 4 broker);
// a broker ResourceName "" is the cluster-wide default broker config.
type ConfigRecord struct {
	ResourceType int8
	ResourceName string
	Name         string
	Value        *string
}

// ProducerIDsRecord records that producer ids below NextBlockStart have been
// handed out.
type ProducerIDsRecord struct {
	NextBlockStart int64
}

func (*ClusterIDRecord) RecordType() RecordType       { return TypeClusterID }
func (*RegisterBrokerRecord) RecordType() RecordType  { return TypeRegisterBroker }
func (*TopicRecord) RecordType() RecordType           { return TypeTopic }
func (*PartitionRecord) RecordType() RecordType       { return TypePartition }
func (*PartitionChangeRecord) RecordType() RecordType { return TypePartitionChange }
func (*RemoveTopicRecord) RecordType() RecordType     { return TypeRemoveTopic }
func (*ConfigRecord) RecordType() RecordType          { return TypeConfig }
func (*ProducerIDsRecord) RecordType() RecordType     { return TypeProducerIDs }
func (*BrokerRegistrationChangeRecord) RecordType() RecordType {
	return TypeBrokerRegistrationChange
}
func (*UnregisterBrokerRecord) RecordType() RecordType { return TypeUnregisterBroker }
func (*FeatureLevelRecord) RecordType() RecordType     { return TypeFeatureLevel }

// newRecord returns a zero record of the type and the highest version this
// code reads, or nil for an unknown type.
func newRecord(t RecordType) (Record, int) {
	switch t {
	case TypeClusterID:
		return &ClusterIDRecord{}, 0
	case TypeRegisterBroker:
		return &RegisterBrokerRecord{}, 0
	case TypeTopic:
		return &TopicRecord{}, 0
	case TypePartition:
		return &PartitionRecord{}, 0
	case TypePartitionChange:
		return &PartitionChangeRecord{}, 0
	case TypeRemoveTopic:
		return &RemoveTopicRecord{}, 0
	case TypeConfig:
		return &ConfigRecord{}, 0
	case TypeProducerIDs:
		return &ProducerIDsRecord{}, 0
	case TypeBrokerRegistrationChange:
		return &BrokerRegistrationChangeRecord{}, 0
	case TypeUnregisterBroker:
		return &UnregisterBrokerRecord{}, 0
	case TypeFeatureLevel:
		return &FeatureLevelRecord{}, 0
	}
	return nil, 0
}

// envelope is the encoded form of one record.
type envelope struct {
	Type    RecordType      `json:"type"`
	Version int             `json:"v"`
	Data    json.RawMessage `json:"data"`
}

// EncodeBatch encodes records as one raft log entry: a JSON array of
// {"type": <RecordType>, "v": <version>, "data": <record>} objects. A batch
// is applied atomically. JSON keeps the log debuggable; the metadata log is
// small and written rarely, so its size does not matter. A future binary
// form would start with a byte other than '['.
func EncodeBatch(recs []Record) ([]byte, error) {
	envs := make([]envelope, len(recs))
	for i, r := range recs {
		data, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("encode %s record: %w", r.RecordType(), err)
		}
		envs[i] = envelope{Type: r.RecordType(), Version: 0, Data: data}
	}
	return json.Marshal(envs)
}

// DecodeBatch decodes a raft log entry written by EncodeBatch. It fails on
// an unknown record type or a version newer than this code reads.
func DecodeBatch(b []byte) ([]Record, error) {
	var envs []envelope
	if err := json.Unmarshal(b, &envs); err != nil {
		return nil, fmt.Errorf("%w: decode batch: %v", ErrInvalidRecord, err)
	}
	recs := make([]Record, len(envs))
	for i, e := range envs {
		r, maxVersion := newRecord(e.Type)
		if r == nil {
			return nil, fmt.Errorf("%w: unknown record type %q", ErrInvalidRecord, e.Type)
		}
		if e.Version < 0 || e.Version > maxVersion {
			return nil, fmt.Errorf("%w: %s record version %d not supported (max %d)", ErrInvalidRecord, e.Type, e.Version, maxVersion)
		}
		if err := json.Unmarshal(e.Data, r); err != nil {
			return nil, fmt.Errorf("%w: decode %s record: %v", ErrInvalidRecord, e.Type, err)
		}
		recs[i] = r
	}
	return recs, nil
}
