package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// AlterPartitionReassignments v0-v1 (KIP-455, kafka-reassign-partitions.sh).
//
// Each partition gets a target replica list (null cancels the
// reassignment in flight). The controller (the request is forwarded from
// other brokers) adds the target's new replicas, which catch up as
// followers; once the last is in the ISR the partition takes the target
// and the removed replicas delete their logs. v1 adds
// allow_replication_factor_change, which Samsa honours: false refuses a
// target whose size differs from the current replica count.
func init() {
	registerAdmin(kmsg.AlterPartitionAssignments, 0, 1, handleAlterPartitionAssignments)
}

func handleAlterPartitionAssignments(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	ctx, cancel := s.requestContext(req.TimeoutMillis)
	defer cancel()
	allowRF := req.Version < 1 || req.AllowReplicationFactorChange
	img := s.meta.Image()
	var reqs []metadata.Reassignment
	var where [][2]int
	errs := map[[2]int]error{}
	for ti, t := range req.Topics {
		for pi, p := range t.Partitions {
			key := [2]int{ti, pi}
			if !allowRF && p.Replicas != nil {
				if mp := img.Partition(t.Topic, p.Partition); mp != nil && len(p.Replicas) != len(mp.Replicas)-len(mp.AddingReplicas) {
					errs[key] = errReplicationFactorChange
					continue
				}
			}
			reqs = append(reqs, metadata.Reassignment{Topic: t.Topic, Partition: p.Partition, Replicas: p.Replicas})
			where = append(where, key)
		}
	}
	for i, err := range s.meta.AlterReassignments(ctx, reqs) {
		errs[where[i]] = err
	}
	for ti, t := range req.Topics {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = t.Topic
		for pi, p := range t.Partitions {
			rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			rp.Partition = p.Partition
			err := errs[[2]int{ti, pi}]
			rp.ErrorCode, rp.ErrorMessage = errCode(err), errMessage(err)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
