package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record is one key/value pair for __consumer_offsets. A nil Value is a
// tombstone.
type Record struct {
	Key   []byte
	Value []byte
}

// Key versions of __consumer_offsets records, as in Kafka.
const (
	keyOffsetCommitV0  = 0
	keyOffsetCommitV1  = 1
	keyGroupMetadataV2 = 2
)

// ErrBadRecord is a __consumer_offsets record this package can't decode.
var ErrBadRecord = errors.New("undecodable __consumer_offsets record")

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: keyOffsetCommitV1, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func offsetRecord(group string, tp topicPartition, o offset) Record {
	v := kmsg.OffsetCommitValue{
		Version:         3,
		Offset:          o.offset,
		LeaderEpoch:     o.leaderEpoch,
		Metadata:        o.metadata,
		CommitTimestamp: o.commitTime.UnixMilli(),
	}
	if !o.expireTime.IsZero() {
		// Only value v1 carries an explicit expiry (OffsetCommit v2-v4
		// retention_time_ms); it has no leader epoch.
		v.Version = 1
		v.ExpireTimestamp = o.expireTime.UnixMilli()
	}
	return Record{Key: offsetKey(group, tp.topic, tp.partition), Value: v.AppendTo(nil)}
}

func offsetTombstone(group string, tp topicPartition) Record {
	return Record{Key: offsetKey(group, tp.topic, tp.partition)}
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: keyGroupMetadataV2, Group: group}
	return k.AppendTo(nil)
}

func groupTombstone(group string) Record { return Record{Key: groupKey(group)} }

// groupRecord is the GroupMetadataValue of a group's current generation:
// its members with their subscription (metadata of the selected protocol)
// and assignment.
func groupRecord(g *group) Record {
	v := kmsg.GroupMetadataValue{
		Version:               3,
		ProtocolType:          g.protocolType,
		Generation:            g.generation,
		CurrentStateTimestamp: g.stateTime.UnixMilli(),
	}
	if g.protocol != "" {
		p := g.protocol
		v.Protocol = &p
	}
	if g.leader != "" {
		l := g.leader
		v.Leader = &l
	}
	for _, m := range g.members {
		mv := kmsg.NewGroupMetadataValueMember()
		mv.MemberID = m.id
		mv.InstanceID = m.instanceID
		mv.ClientID = m.clientID
		mv.ClientHost = m.clientHost
		mv.RebalanceTimeoutMillis = m.rebalanceTimeoutMs
		mv.SessionTimeoutMillis = m.sessionTimeoutMs
		mv.Subscription = m.metadataFor(g.protocol)
		if mv.Subscription == nil {
			mv.Subscription = []byte{}
		}
		mv.Assignment = m.assignment
		if mv.Assignment == nil {
			mv.Assignment = []byte{}
		}
		v.Members = append(v.Members, mv)
	}
	return Record{Key: groupKey(g.id), Value: v.AppendTo(nil)}
}

// Batch is what a replayed record's batch says of its writer.
type Batch struct {
	// ProducerID is -1 for the coordinator's own batches.
	ProducerID    int64
	ProducerEpoch int16
	Transactional bool
}

// Replay applies one record of a batch without producer read back from the
// shard's partition (ReplayBatch).
func (s *Shard) Replay(r Record) error {
	return s.ReplayBatch(Batch{ProducerID: -1, ProducerEpoch: -1}, r)
}

// ReplayBatch applies one record read back from the shard's partition, with
// the batch it was read from. Records must be replayed in log order, with
// the transaction markers among them (ReplayEndTxnMarker); the last record
// of a key wins, and a tombstone deletes. An offset commit in a
// transactional batch is pending for the batch's producer until its
// marker, as in Kafka. Replayed groups with members are Stable; call
// LoadComplete once the whole partition is replayed.
func (s *Shard) ReplayBatch(b Batch, r Record) error {
	if len(r.Key) < 2 {
		return fmt.Errorf("%w: key of %d bytes", ErrBadRecord, len(r.Key))
	}
	switch v := int16(binary.BigEndian.Uint16(r.Key)); v {
	case keyOffsetCommitV0, keyOffsetCommitV1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(r.Key); err != nil {
			return fmt.Errorf("%w: offset key: %v", ErrBadRecord, err)
		}
		tp := topicPartition{k.Topic, k.Partition}
		if r.Value == nil {
			if g := s.groups[k.Group]; g != nil {
				s.dropOffset(g, tp)
			}
			return nil
		}
		var val kmsg.OffsetCommitValue
		if err := val.ReadFrom(r.Value); err != nil {
			return fmt.Errorf("%w: offset value: %v", ErrBadRecord, err)
		}
		g := s.groups[k.Group]
		if g == nil {
			g = newGroup(k.Group, time.UnixMilli(val.CommitTimestamp))
			s.groups[k.Group] = g
		}
		o := offset{offset: val.Offset, leaderEpoch: -1, metadata: val.Metadata, commitTime: time.UnixMilli(val.CommitTimestamp)}
		if val.Version >= 3 {
			o.leaderEpoch = val.LeaderEpoch
		}
		if val.Version == 1 && val.ExpireTimestamp >= 0 {
			o.expireTime = time.UnixMilli(val.ExpireTimestamp)
		}
		// Kafka goes by the producer id alone; a batch with a producer
		// that is not transactional never gets a marker, so its
		// offsets would stay pending for ever.
		if b.Transactional && b.ProducerID >= 0 {
			s.putPending(g, b.ProducerID, tp, o)
		} else {
			s.putOffset(g, tp, o)
		}
		return nil
	case keyGroupMetadataV2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(r.Key); err != nil {
			return fmt.Errorf("%w: group key: %v", ErrBadRecord, err)
		}
		if r.Value == nil {
			// The classic group is gone. A consumer group of the
			// same id (a converted empty classic group) stays, and
			// so do offsets written after the tombstone.
			if g := s.groups[k.Group]; g != nil && g.cg == nil {
				if !g.hasOffsets() {
					delete(s.groups, k.Group)
				} else {
					g.resetMembers()
					g.protocolType, g.protocol, g.leader, g.generation = "", "", "", 0
					g.state = Empty
				}
			}
			return nil
		}
		var val kmsg.GroupMetadataValue
		if err := val.ReadFrom(r.Value); err != nil {
			return fmt.Errorf("%w: group value: %v", ErrBadRecord, err)
		}
		g := s.groups[k.Group]
		if g == nil {
			g = newGroup(k.Group, time.Time{})
			s.groups[k.Group] = g
		}
		g.cg = nil
		g.resetMembers()
		g.protocolType = val.ProtocolType
		g.generation = val.Generation
		g.protocol, g.leader = "", ""
		if val.Protocol != nil {
			g.protocol = *val.Protocol
		}
		if val.Leader != nil {
			g.leader = *val.Leader
		}
		g.stateTime = time.UnixMilli(val.CurrentStateTimestamp)
		for _, mv := range val.Members {
			m := &member{
				id:                 mv.MemberID,
				instanceID:         mv.InstanceID,
				clientID:           mv.ClientID,
				clientHost:         mv.ClientHost,
				sessionTimeoutMs:   mv.SessionTimeoutMillis,
				rebalanceTimeoutMs: mv.RebalanceTimeoutMillis,
				protocolType:       val.ProtocolType,
				protocols:          []protocol{{name: g.protocol, metadata: mv.Subscription}},
				assignment:         mv.Assignment,
			}
			if m.rebalanceTimeoutMs < 0 {
				m.rebalanceTimeoutMs = m.sessionTimeoutMs
			}
			g.addMember(m)
		}
		if len(g.members) == 0 {
			g.state = Empty
		} else {
			g.state = Stable
		}
		return nil
	case keyConsumerGroupMetadataV3, keyConsumerGroupPartitionMetaV4, keyConsumerGroupMemberMetadataV5,
		keyConsumerGroupTargetMetadataV6, keyConsumerGroupTargetMemberV7, keyConsumerGroupCurrentAssignmentV8:
		return s.replayConsumer(v, r)
	default:
		// Kafka 4 writes other key versions for share and streams
		// groups and resolved regular expressions; this coordinator
		// does not serve those, so it skips them rather than refuse
		// to load the partition.
		return nil
	}
}
