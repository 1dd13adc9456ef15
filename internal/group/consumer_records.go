package group

import (
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
)

// Records of consumer-protocol (KIP-848) groups. kmsg has no types for
// them, so they are encoded here after the schemas of Kafka's new group
// coordinator (group-coordinator/src/main/resources/common/message/*.json
// in apache/kafka). A key is its int16 version followed by the key fields
// in the non-flexible encoding; a value is its int16 version (0 for all of
// these) followed by the fields in the flexible encoding (compact strings
// and arrays, a tagged-field section at the end):
//
//	key 3 ConsumerGroupMetadataKey{GroupId}
//	      ConsumerGroupMetadataValue{Epoch int32}
//	key 5 ConsumerGroupMemberMetadataKey{GroupId, MemberId}
//	      ConsumerGroupMemberMetadataValue{InstanceId string?, RackId string?,
//	        ClientId, ClientHost, SubscribedTopicNames []string,
//	        SubscribedTopicRegex string?, RebalanceTimeoutMs int32,
//	        ServerAssignor string?} (+ tag 0 ClassicMemberMetadata, not written)
//	key 6 ConsumerGroupTargetAssignmentMetadataKey{GroupId}
//	      ConsumerGroupTargetAssignmentMetadataValue{AssignmentEpoch int32}
//	key 7 ConsumerGroupTargetAssignmentMemberKey{GroupId, MemberId}
//	      ConsumerGroupTargetAssignmentMemberValue{TopicPartitions
//	        [{TopicId uuid, Partitions []int32}]}
//	key 8 ConsumerGroupCurrentMemberAssignmentKey{GroupId, MemberId}
//	      ConsumerGroupCurrentMemberAssignmentValue{MemberEpoch int32,
//	        PreviousMemberEpoch int32, State int8, AssignedPartitions,
//	        PartitionsPendingRevocation (both [{TopicId, Partitions}])}
//
// Key 4 (ConsumerGroupPartitionMetadata, the subscribed topics' metadata,
// deprecated in Kafka 4.1) and key 16 (resolved regular expressions) are
// not written and are skipped on replay: the coordinator recomputes both
// from the metadata image after loading.
const (
	keyConsumerGroupMetadataV3          = 3
	keyConsumerGroupPartitionMetaV4     = 4
	keyConsumerGroupMemberMetadataV5    = 5
	keyConsumerGroupTargetMetadataV6    = 6
	keyConsumerGroupTargetMemberV7      = 7
	keyConsumerGroupCurrentAssignmentV8 = 8
)

func cgKey(version int16, group string, member string) []byte {
	b := kbin.AppendInt16(nil, version)
	b = kbin.AppendString(b, group)
	switch version {
	case keyConsumerGroupMemberMetadataV5, keyConsumerGroupTargetMemberV7, keyConsumerGroupCurrentAssignmentV8:
		b = kbin.AppendString(b, member)
	}
	return b
}

func appendNoTags(b []byte) []byte { return kbin.AppendUvarint(b, 0) }

func appendTopicPartitions(b []byte, a tps) []byte {
	ids := a.sortedIDs()
	b = kbin.AppendCompactArrayLen(b, len(ids))
	for _, id := range ids {
		b = kbin.AppendUuid(b, id)
		ps := a[id]
		b = kbin.AppendCompactArrayLen(b, len(ps))
		for _, p := range ps {
			b = kbin.AppendInt32(b, p)
		}
		b = appendNoTags(b)
	}
	return b
}

func cgEpochRecord(group string, epoch int32) Record {
	v := kbin.AppendInt16(nil, 0)
	v = kbin.AppendInt32(v, epoch)
	return Record{Key: cgKey(keyConsumerGroupMetadataV3, group, ""), Value: appendNoTags(v)}
}

func cgTargetEpochRecord(group string, epoch int32) Record {
	v := kbin.AppendInt16(nil, 0)
	v = kbin.AppendInt32(v, epoch)
	return Record{Key: cgKey(keyConsumerGroupTargetMetadataV6, group, ""), Value: appendNoTags(v)}
}

func cgMemberRecord(group string, m *consumerMember) Record {
	v := kbin.AppendInt16(nil, 0)
	v = kbin.AppendCompactNullableString(v, m.instanceID)
	v = kbin.AppendCompactNullableString(v, m.rackID)
	v = kbin.AppendCompactString(v, m.clientID)
	v = kbin.AppendCompactString(v, m.clientHost)
	v = kbin.AppendCompactArrayLen(v, len(m.topics))
	for _, t := range m.topics {
		v = kbin.AppendCompactString(v, t)
	}
	v = kbin.AppendCompactNullableString(v, m.regex)
	v = kbin.AppendInt32(v, m.rebalanceTimeoutMs)
	v = kbin.AppendCompactNullableString(v, m.assignor)
	return Record{Key: cgKey(keyConsumerGroupMemberMetadataV5, group, m.id), Value: appendNoTags(v)}
}

func cgTargetRecord(group, member string, a tps) Record {
	v := kbin.AppendInt16(nil, 0)
	v = appendTopicPartitions(v, a)
	return Record{Key: cgKey(keyConsumerGroupTargetMemberV7, group, member), Value: appendNoTags(v)}
}

func cgCurrentRecord(group string, m *consumerMember) Record {
	v := kbin.AppendInt16(nil, 0)
	v = kbin.AppendInt32(v, m.epoch)
	v = kbin.AppendInt32(v, m.prevEpoch)
	v = kbin.AppendInt8(v, int8(m.state))
	v = appendTopicPartitions(v, m.assigned)
	v = appendTopicPartitions(v, m.pending)
	return Record{Key: cgKey(keyConsumerGroupCurrentAssignmentV8, group, m.id), Value: appendNoTags(v)}
}

// cgMemberTombstones delete a member: its current assignment, target
// assignment and metadata, in that order (as Kafka writes them).
func cgMemberTombstones(group, member string) []Record {
	return []Record{
		{Key: cgKey(keyConsumerGroupCurrentAssignmentV8, group, member)},
		{Key: cgKey(keyConsumerGroupTargetMemberV7, group, member)},
		{Key: cgKey(keyConsumerGroupMemberMetadataV5, group, member)},
	}
}

// cgGroupTombstones delete an empty consumer group.
func cgGroupTombstones(group string) []Record {
	return []Record{
		{Key: cgKey(keyConsumerGroupTargetMetadataV6, group, "")},
		{Key: cgKey(keyConsumerGroupMetadataV3, group, "")},
	}
}

func skipTags(b *kbin.Reader) {
	n := b.Uvarint()
	for i := uint32(0); i < n && b.Ok(); i++ {
		b.Uvarint()
		b.Span(int(b.Uvarint()))
	}
}

func readTopicPartitions(b *kbin.Reader) tps {
	n := b.CompactArrayLen()
	out := tps{}
	for i := int32(0); i < n && b.Ok(); i++ {
		id := b.Uuid()
		np := b.CompactArrayLen()
		var ps []int32
		for j := int32(0); j < np && b.Ok(); j++ {
			ps = append(ps, b.Int32())
		}
		skipTags(b)
		if len(ps) > 0 {
			slices.Sort(ps)
			out[id] = slices.Compact(ps)
		}
	}
	return out
}

func readCompactNullableString(b *kbin.Reader) *string { return b.CompactNullableString() }

// replayConsumer applies one consumer-group record (key versions 3-8).
func (s *Shard) replayConsumer(version int16, r Record) error {
	kb := kbin.Reader{Src: r.Key[2:]}
	groupID := kb.String()
	var memberID string
	switch version {
	case keyConsumerGroupMemberMetadataV5, keyConsumerGroupTargetMemberV7, keyConsumerGroupCurrentAssignmentV8:
		memberID = kb.String()
	case keyConsumerGroupPartitionMetaV4:
		return nil
	}
	if err := kb.Complete(); err != nil {
		return fmt.Errorf("%w: consumer group key %d: %v", ErrBadRecord, version, err)
	}
	g := s.groups[groupID]
	if r.Value == nil {
		if g == nil || g.cg == nil {
			return nil
		}
		cg := g.cg
		switch version {
		case keyConsumerGroupMetadataV3:
			g.cg = nil
			g.protocolType = ""
			if !g.hasOffsets() {
				delete(s.groups, groupID)
			}
		case keyConsumerGroupMemberMetadataV5, keyConsumerGroupCurrentAssignmentV8:
			if m := cg.members[memberID]; m != nil {
				cg.removeMember(m)
			}
		case keyConsumerGroupTargetMemberV7:
			delete(cg.target, memberID)
		}
		return nil
	}
	vb := kbin.Reader{Src: r.Value}
	if vv := vb.Int16(); vv != 0 {
		// A newer value version: its fields are a superset we may not
		// read correctly; skip the record.
		return fmt.Errorf("%w: consumer group value version %d", ErrBadRecord, vv)
	}
	if g == nil {
		g = newGroup(groupID, time.Time{})
		s.groups[groupID] = g
	}
	if g.cg == nil {
		g.resetMembers()
		g.cg = newConsumerGroup()
		g.protocolType = consumerProtocolType
	}
	cg := g.cg
	member := func() *consumerMember {
		m := cg.members[memberID]
		if m == nil {
			m = &consumerMember{id: memberID, rebalanceTimeoutMs: -1, prevEpoch: -1, assigned: tps{}, pending: tps{}}
			cg.members[memberID] = m
		}
		return m
	}
	switch version {
	case keyConsumerGroupMetadataV3:
		cg.epoch = vb.Int32()
	case keyConsumerGroupTargetMetadataV6:
		cg.assignmentEpoch = vb.Int32()
	case keyConsumerGroupMemberMetadataV5:
		instance := readCompactNullableString(&vb)
		rack := readCompactNullableString(&vb)
		clientID := vb.CompactString()
		host := vb.CompactString()
		n := vb.CompactArrayLen()
		var topics []string
		for i := int32(0); i < n && vb.Ok(); i++ {
			topics = append(topics, vb.CompactString())
		}
		regex := readCompactNullableString(&vb)
		rebalance := vb.Int32()
		assignor := readCompactNullableString(&vb)
		if !vb.Ok() {
			return fmt.Errorf("%w: consumer group member value truncated", ErrBadRecord)
		}
		m := member()
		if m.instanceID != nil && cg.static[*m.instanceID] == m.id {
			delete(cg.static, *m.instanceID)
		}
		m.instanceID, m.rackID, m.clientID, m.clientHost = instance, rack, clientID, host
		m.topics, m.rebalanceTimeoutMs, m.assignor = topics, rebalance, assignor
		m.setRegex(regex)
		if instance != nil {
			cg.static[*instance] = m.id
		}
		return nil
	case keyConsumerGroupTargetMemberV7:
		cg.target[memberID] = readTopicPartitions(&vb)
	case keyConsumerGroupCurrentAssignmentV8:
		m := member()
		m.epoch = vb.Int32()
		m.prevEpoch = vb.Int32()
		m.state = memberState(vb.Int8())
		m.assigned = readTopicPartitions(&vb)
		m.pending = readTopicPartitions(&vb)
	}
	if !vb.Ok() {
		return fmt.Errorf("%w: consumer group value (key %d) truncated", ErrBadRecord, version)
	}
	return nil
}
