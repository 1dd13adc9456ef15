package group

import (
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit serves an OffsetCommit request. Members commit with their
// generation; a commit with generation -1 and no member id is a "simple"
// commit (kcat, admin tools), accepted only while the group has no
// members. The offsets are applied once their records are appended.
func (s *Shard) OffsetCommit(now time.Time, req *kmsg.OffsetCommitRequest, reply func(*kmsg.OffsetCommitResponse)) Effects {
	var e Effects
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	setAll := func(code int16) {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if resp.Topics[i].Partitions[j].ErrorCode == 0 {
					resp.Topics[i].Partitions[j].ErrorCode = code
				}
			}
		}
	}
	fail := func(err *kerr.Error) Effects {
		setAll(err.Code)
		e.reply(func(error) { reply(resp) })
		return e
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID)
	}
	g := s.groups[req.Group]
	if g == nil {
		if req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil {
			if req.Version >= 9 {
				return fail(kerr.GroupIDNotFound)
			}
			return fail(kerr.IllegalGeneration)
		}
		g = newGroup(req.Group, now)
		g.transition(Empty, now)
		s.groups[req.Group] = g
	}
	if err := s.validateCommit(now, g, req); err != nil {
		return fail(err)
	}

	type commit struct {
		tp topicPartition
		o  offset
	}
	var commits []commit
	for i, rt := range req.Topics {
		for j, rp := range rt.Partitions {
			md := ""
			if rp.Metadata != nil {
				md = *rp.Metadata
			}
			if s.cfg.OffsetMetadataMaxBytes > 0 && len(md) > s.cfg.OffsetMetadataMaxBytes {
				resp.Topics[i].Partitions[j].ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			o := offset{offset: rp.Offset, leaderEpoch: rp.LeaderEpoch, metadata: md, commitTime: now}
			if req.Version < 6 {
				o.leaderEpoch = -1
			}
			if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis > 0 {
				o.expireTime = now.Add(time.Duration(req.RetentionTimeMillis) * time.Millisecond)
			}
			tp := topicPartition{rt.Topic, rp.Partition}
			commits = append(commits, commit{tp, o})
			e.Records = append(e.Records, offsetRecord(g.id, tp, o))
		}
	}
	e.reply(func(err error) {
		if err != nil {
			setAll(appendCode(err))
		} else if s.groups[g.id] == g {
			for _, c := range commits {
				s.putOffset(g, c.tp, c.o)
			}
		}
		reply(resp)
	})
	return e
}

// validateCommit applies Kafka's rules for a classic group's commit.
func (s *Shard) validateCommit(now time.Time, g *group, req *kmsg.OffsetCommitRequest) *kerr.Error {
	if g.cg != nil {
		// OffsetCommit v9 carries the member epoch in the generation
		// field.
		return validateConsumerCommit(g.cg, req.MemberID, req.Generation, req.Version)
	}
	if req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil {
		m, err := g.validateMember(req.MemberID, req.InstanceID)
		if err != nil {
			return err
		}
		if req.Generation != g.generation {
			return kerr.IllegalGeneration
		}
		m.heartbeatDeadline = now.Add(m.sessionTimeout())
	} else if g.state != Empty {
		// A simple commit into a group with members would race them.
		return kerr.UnknownMemberID
	}
	if g.state == CompletingRebalance {
		return kerr.RebalanceInProgress
	}
	return nil
}

// FetchOffsets answers one group of an OffsetFetch request. Topics nil means
// every committed offset. An unknown group answers -1 for each asked
// partition, with no error, as Kafka does. Pending transactional offsets
// are not seen (FetchStableOffsets).
func (s *Shard) FetchOffsets(group string, topics []kmsg.OffsetFetchRequestGroupTopic) kmsg.OffsetFetchResponseGroup {
	return s.fetchOffsets(group, topics, false)
}

// FetchStableOffsets is FetchOffsets for an OffsetFetch with require_stable
// (v7+, KIP-447): a partition with pending transactional offsets answers
// UNSTABLE_OFFSET_COMMIT (offset -1) instead of its committed offset, so
// that a consumer taking over from a transactional one does not start from
// an offset its transaction is about to move; the client retries until
// the transaction ends. With topics nil only partitions with a committed
// offset are listed, as in Kafka.
func (s *Shard) FetchStableOffsets(group string, topics []kmsg.OffsetFetchRequestGroupTopic) kmsg.OffsetFetchResponseGroup {
	return s.fetchOffsets(group, topics, true)
}

func (s *Shard) fetchOffsets(group string, topics []kmsg.OffsetFetchRequestGroupTopic, requireStable bool) kmsg.OffsetFetchResponseGroup {
	out := kmsg.NewOffsetFetchResponseGroup()
	out.Group = group
	g := s.groups[group]
	if topics == nil {
		if g == nil {
			return out
		}
		byTopic := map[string][]int32{}
		for tp := range g.offsets {
			byTopic[tp.topic] = append(byTopic[tp.topic], tp.partition)
		}
		names := make([]string, 0, len(byTopic))
		for t := range byTopic {
			names = append(names, t)
		}
		slices.Sort(names)
		for _, t := range names {
			ps := byTopic[t]
			slices.Sort(ps)
			rt := kmsg.NewOffsetFetchRequestGroupTopic()
			rt.Topic, rt.Partitions = t, ps
			topics = append(topics, rt)
		}
	}
	for _, rt := range topics {
		st := kmsg.NewOffsetFetchResponseGroupTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			sp.Partition = p
			sp.Offset, sp.LeaderEpoch = -1, -1
			md := ""
			tp := topicPartition{rt.Topic, p}
			switch {
			case g == nil:
			case requireStable && g.hasPending(tp):
				sp.ErrorCode = kerr.UnstableOffsetCommit.Code
			default:
				if o, ok := g.offsets[tp]; ok {
					sp.Offset, sp.LeaderEpoch, md = o.offset, o.leaderEpoch, o.metadata
				}
			}
			sp.Metadata = &md
			st.Partitions = append(st.Partitions, sp)
		}
		out.Topics = append(out.Topics, st)
	}
	return out
}

// subscribedTopics is the set of topics the members of a consumer group
// subscribe to, read from their consumer protocol metadata; ok is false if
// some member's metadata can't be read.
func (s *Shard) subscribedTopics(g *group) (map[string]bool, bool) {
	if g.cg != nil {
		return s.subscribedTopicSet(g.cg), true
	}
	if g.protocolType != "consumer" {
		return nil, false
	}
	topics := map[string]bool{}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil, false
		}
		for _, t := range md.Topics {
			topics[t] = true
		}
	}
	return topics, true
}

// OffsetDelete serves an OffsetDelete request: offsets of topics no member
// subscribes to are deleted (tombstones). As in Kafka, a partition's
// tombstone also deletes its pending transactional offsets, and is written
// for a partition that has only those.
func (s *Shard) OffsetDelete(now time.Time, req *kmsg.OffsetDeleteRequest, reply func(*kmsg.OffsetDeleteResponse)) Effects {
	var e Effects
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	g := s.groups[req.Group]
	if g == nil {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		e.reply(func(error) { reply(resp) })
		return e
	}
	var subscribed map[string]bool
	if g.state != Empty {
		var ok bool
		if subscribed, ok = s.subscribedTopics(g); !ok {
			resp.ErrorCode = kerr.NonEmptyGroup.Code
			e.reply(func(error) { reply(resp) })
			return e
		}
	}
	var deletes []topicPartition
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			tp := topicPartition{rt.Topic, rp.Partition}
			switch {
			case subscribed[rt.Topic]:
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				if _, ok := g.offsets[tp]; ok || g.hasPending(tp) {
					deletes = append(deletes, tp)
					e.Records = append(e.Records, offsetTombstone(g.id, tp))
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	e.reply(func(err error) {
		if err != nil {
			resp.ErrorCode = appendCode(err)
		} else {
			for _, tp := range deletes {
				s.dropOffset(g, tp)
			}
		}
		reply(resp)
	})
	return e
}

// DeleteGroup deletes a group without members and its offsets
// (DeleteGroups): GROUP_ID_NOT_FOUND if unknown, NON_EMPTY_GROUP if it has
// members. Pending transactional offsets do not keep it (as in Kafka): they
// are deleted with it, so the transaction's marker finds nothing to
// commit.
func (s *Shard) DeleteGroup(now time.Time, id string, reply func(code int16)) Effects {
	var e Effects
	g := s.groups[id]
	switch {
	case g == nil:
		e.reply(func(error) { reply(kerr.GroupIDNotFound.Code) })
		return e
	case g.state != Empty:
		e.reply(func(error) { reply(kerr.NonEmptyGroup.Code) })
		return e
	}
	s.deleteGroupRecords(g, &e)
	e.reply(func(err error) {
		if err != nil {
			reply(appendCode(err))
			return
		}
		if s.groups[id] == g {
			g.transition(Dead, now)
			s.dropPending(g)
			delete(s.groups, id)
		}
		reply(0)
	})
	return e
}

func (s *Shard) deleteGroupRecords(g *group, e *Effects) {
	for _, tp := range sortedTPs(g.offsets) {
		e.Records = append(e.Records, offsetTombstone(g.id, tp))
	}
	// A partition with only pending transactional offsets needs its own
	// tombstone, for the replay to drop them too.
	for _, tp := range g.pendingTPs() {
		if _, ok := g.offsets[tp]; !ok {
			e.Records = append(e.Records, offsetTombstone(g.id, tp))
		}
	}
	if g.cg != nil {
		e.Records = append(e.Records, cgGroupTombstones(g.id)...)
		return
	}
	e.Records = append(e.Records, groupTombstone(g.id))
}

func sortedTPs(m map[topicPartition]offset) []topicPartition {
	out := make([]topicPartition, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	slices.SortFunc(out, func(a, b topicPartition) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.partition - b.partition)
	})
	return out
}

// expireOffsets applies offsets.retention.minutes: the offsets of a classic
// consumer group expire once the group has been empty that long (an empty
// KIP-848 group has no stored state timestamp: as in Kafka its offsets
// expire that long after their commit); those of a group
// that never had members (simple commits), and those of topics a Stable
// consumer group no longer subscribes to, expire that long after their
// commit; an explicit expiry (OffsetCommit v2-v4) wins. A group left empty
// with no offsets is deleted. As in Kafka, an offset with pending
// transactional offsets on its partition does not expire, and a group with
// pending transactional offsets is not deleted, until the transaction
// ends.
func (s *Shard) expireOffsets(now time.Time, e *Effects) {
	for _, id := range s.sortedGroupIDs() {
		g := s.groups[id]
		// A live consumer group keeps the offsets of the topics its
		// members subscribe to; the others expire like simple
		// commits (KIP-496). Other live groups keep everything.
		var subscribed map[string]bool
		if g.state != Empty {
			var ok bool
			if subscribed, ok = s.subscribedTopics(g); !ok || g.state != Stable {
				continue
			}
		}
		var expired []topicPartition
		for _, tp := range sortedTPs(g.offsets) {
			o := g.offsets[tp]
			var at time.Time
			switch {
			case subscribed[tp.topic], g.hasPending(tp):
				continue
			case !o.expireTime.IsZero():
				at = o.expireTime
			case g.protocolType != "" && g.state == Empty && g.cg == nil:
				at = g.stateTime.Add(s.cfg.OffsetsRetention)
			default:
				at = o.commitTime.Add(s.cfg.OffsetsRetention)
			}
			if !now.Before(at) {
				expired = append(expired, tp)
			}
		}
		for _, tp := range expired {
			delete(g.offsets, tp)
			e.Records = append(e.Records, offsetTombstone(g.id, tp))
		}
		if g.state == Empty && !g.hasOffsets() && len(g.pending) == 0 {
			g.transition(Dead, now)
			delete(s.groups, id)
			if g.cg != nil {
				e.Records = append(e.Records, cgGroupTombstones(id)...)
			} else {
				e.Records = append(e.Records, groupTombstone(id))
			}
		}
	}
}

// DescribeGroup answers one group of DescribeGroups; found is false for a
// group this shard does not know (Kafka answers those as Dead).
func (s *Shard) DescribeGroup(id string) (out kmsg.DescribeGroupsResponseGroup, found bool) {
	out = kmsg.NewDescribeGroupsResponseGroup()
	out.Group = id
	g := s.groups[id]
	if g == nil || g.cg != nil {
		// As Kafka: a consumer-protocol group is not a classic group
		// (ConsumerGroupDescribe describes it).
		out.State = Dead.String()
		return out, false
	}
	out.State = g.state.String()
	out.ProtocolType = g.protocolType
	if g.state == Stable {
		out.Protocol = g.protocol
	}
	for _, m := range g.members {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = m.id
		dm.InstanceID = m.instanceID
		dm.ClientID = m.clientID
		dm.ClientHost = m.clientHost
		dm.ProtocolMetadata, dm.MemberAssignment = []byte{}, []byte{}
		if g.state == Stable {
			dm.ProtocolMetadata = m.metadataFor(g.protocol)
			dm.MemberAssignment = m.assignment
		}
		out.Members = append(out.Members, dm)
	}
	return out, true
}

// ListGroups lists the shard's groups, filtered by state and type names
// (case-insensitive; empty filters match all). Groups are of type
// "classic" or, for the KIP-848 protocol, "consumer" (whose states are
// Empty, Assigning, Reconciling and Stable).
func (s *Shard) ListGroups(states, types []string) []kmsg.ListGroupsResponseGroup {
	var out []kmsg.ListGroupsResponseGroup
	matches := func(filter []string, v string) bool {
		if len(filter) == 0 {
			return true
		}
		for _, f := range filter {
			if strings.EqualFold(f, v) {
				return true
			}
		}
		return false
	}
	for _, id := range s.sortedGroupIDs() {
		g := s.groups[id]
		typ, state := "classic", g.state.String()
		if g.cg != nil {
			typ, state = "consumer", g.cg.stateName()
		}
		if !matches(types, typ) || !matches(states, state) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = id, g.protocolType, state, typ
		out = append(out, lg)
	}
	return out
}

// Generation is the current generation of a group, -1 if unknown.
func (s *Shard) Generation(id string) int32 {
	if g := s.groups[id]; g != nil {
		return g.generation
	}
	return -1
}

// Abort answers every request still waiting in the shard (joins, syncs)
// with NOT_COORDINATOR; the broker calls it when it stops leading the
// shard's partition, so that clients look for the new coordinator at once.
func (s *Shard) Abort() Effects {
	var e Effects
	for _, id := range s.sortedGroupIDs() {
		for _, m := range s.groups[id].members {
			if m.joinReply != nil {
				r, resp := m.joinReply, m.joinResp
				resp.ErrorCode, resp.Generation, resp.MemberID = kerr.NotCoordinator.Code, -1, m.id
				e.reply(func(error) { r(resp) })
				m.joinReply, m.joinResp = nil, nil
			}
			if m.syncReply != nil {
				r, resp := m.syncReply, m.syncResp
				resp.ErrorCode = kerr.NotCoordinator.Code
				e.reply(func(error) { r(resp) })
				m.syncReply, m.syncResp = nil, nil
			}
		}
	}
	return e
}
