package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/group"
)

// OffsetFetch v1-v9.
//
// v2 reads every committed offset of the group when the topic list is
// null and adds a top-level error, v3 throttle time, v5 the leader epoch,
// v6 is flexible, v7 require_stable (KIP-447), v8 several groups in one
// request, v9 the member id and epoch of KIP-848 members (classic groups
// ignore them). v0 was removed in Kafka 4.0; v10 (topic ids) is 4.1.
//
// An unknown group answers -1 for every asked partition with no error.
// With require_stable, a partition with pending transactional offsets
// (TxnOffsetCommit, until its transaction's marker) answers
// UNSTABLE_OFFSET_COMMIT (offset -1), which the client retries (KIP-447),
// as Kafka does; without it, they are not seen.
func init() { register(kmsg.OffsetFetch, 1, 9, handleOffsetFetch) }

func handleOffsetFetch(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			resp.Groups = append(resp.Groups, s.fetchGroupOffsets(rg.Group, rg.MemberID, rg.MemberEpoch, rg.Topics, req.RequireStable))
		}
		return resp
	}
	var topics []kmsg.OffsetFetchRequestGroupTopic
	if req.Topics != nil || req.Version < 2 {
		topics = []kmsg.OffsetFetchRequestGroupTopic{}
		for _, rt := range req.Topics {
			t := kmsg.NewOffsetFetchRequestGroupTopic()
			t.Topic, t.Partitions = rt.Topic, rt.Partitions
			topics = append(topics, t)
		}
	}
	g := s.fetchGroupOffsets(req.Group, nil, -1, topics, req.Version >= 7 && req.RequireStable)
	if req.Version >= 2 {
		resp.ErrorCode = g.ErrorCode
	}
	for _, gt := range g.Topics {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = gt.Topic
		for _, gp := range gt.Partitions {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// fetchGroupOffsets answers one group; a coordinator error goes on the
// group (and on each asked partition, where v1 looks for it). A member id
// and epoch (v9, consumer-protocol members) are checked against the
// group: UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH on the group.
func (s *Server) fetchGroupOffsets(groupID string, memberID *string, memberEpoch int32, topics []kmsg.OffsetFetchRequestGroupTopic, requireStable bool) kmsg.OffsetFetchResponseGroup {
	var out kmsg.OffsetFetchResponseGroup
	var code int16
	err := s.groups.read(groupID, func(sm *group.Shard) {
		if code = sm.ValidateOffsetFetch(groupID, memberID, memberEpoch); code != 0 {
			return
		}
		if requireStable {
			out = sm.FetchStableOffsets(groupID, topics)
		} else {
			out = sm.FetchOffsets(groupID, topics)
		}
	})
	if err == nil && code != 0 {
		out = kmsg.NewOffsetFetchResponseGroup()
		out.Group, out.ErrorCode = groupID, code
		return out
	}
	if err != nil {
		out = kmsg.NewOffsetFetchResponseGroup()
		out.Group = groupID
		out.ErrorCode = errCode(err)
		for _, rt := range topics {
			st := kmsg.NewOffsetFetchResponseGroupTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				sp.Partition, sp.Offset, sp.LeaderEpoch, sp.ErrorCode = p, -1, -1, out.ErrorCode
				st.Partitions = append(st.Partitions, sp)
			}
			out.Topics = append(out.Topics, st)
		}
	}
	return out
}
