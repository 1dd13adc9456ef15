package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// AlterPartition v2, on the CONTROLLER listener only.
//
// A partition leader asks to change its ISR, naming the leader and
// partition epochs its view is based on (stale ones are refused:
// FENCED_LEADER_EPOCH, INVALID_UPDATE_VERSION). v0-v1 name topics, v2 uses
// topic ids, v3 adds directory-aware ISR entries (not served).
func init() { registerController(kmsg.AlterPartition, 2, 2, handleAlterPartition) }

func handleAlterPartition(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.AlterPartitionRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	var reqs []metadata.AlterPartitionRequest
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			reqs = append(reqs, metadata.AlterPartitionRequest{
				BrokerID:       req.BrokerID,
				BrokerEpoch:    req.BrokerEpoch,
				TopicID:        t.TopicID,
				Partition:      p.Partition,
				LeaderEpoch:    p.LeaderEpoch,
				PartitionEpoch: p.PartitionEpoch,
				ISR:            p.NewISR,
			})
		}
	}
	results := s.meta.AlterPartition(ctx, reqs)
	i := 0
	for _, t := range req.Topics {
		rt := kmsg.NewAlterPartitionResponseTopic()
		rt.TopidID = t.TopicID // sic: kmsg's field name
		for _, p := range t.Partitions {
			res := results[i]
			i++
			rp := kmsg.NewAlterPartitionResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = errCode(res.Err)
			rp.LeaderID, rp.LeaderEpoch, rp.ISR, rp.PartitionEpoch = res.Leader, res.LeaderEpoch, res.ISR, res.PartitionEpoch
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
