package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch v2-v4.
//
// v2 adds the current leader epoch for fencing, v3 the replica id, v4 is
// flexible. Answers, for a leader epoch, the largest epoch <= it that this
// log knows and the offset where that epoch ended (the start of the next
// one, or the log end offset for the latest). Consumers use it to detect
// log truncation after an unclean leader change; followers to truncate.
func init() { register(kmsg.OffsetForLeaderEpoch, 2, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			p := s.replicas.Get(rt.Topic, rp.Partition)
			var err error
			if p == nil {
				err = s.absentPartitionError(rt.Topic, rp.Partition)
			} else if err = p.CheckLeader(rp.CurrentLeaderEpoch); err == nil {
				sp.LeaderEpoch, sp.EndOffset = p.Log.EndOffsetForEpoch(rp.LeaderEpoch)
			}
			sp.ErrorCode = errCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
