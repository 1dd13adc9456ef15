package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// ListPartitionReassignments v0 (KIP-455): the reassignments in flight,
// with each partition's replicas and its adding and removing ones; a null
// topic list means all. Answered from the controller's image (forwarded
// from other brokers), which is where they are decided.
func init() {
	registerAdmin(kmsg.ListPartitionReassignments, 0, 0, handleListPartitionReassignments)
}

func handleListPartitionReassignments(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	var parts []metadata.PartitionRef
	if req.Topics != nil {
		parts = []metadata.PartitionRef{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				parts = append(parts, metadata.PartitionRef{Topic: t.Topic, Partition: p})
			}
		}
	}
	byTopic := map[string]int{}
	for _, o := range s.meta.ListReassignments(parts) {
		i, ok := byTopic[o.Topic]
		if !ok {
			rt := kmsg.NewListPartitionReassignmentsResponseTopic()
			rt.Topic = o.Topic
			resp.Topics = append(resp.Topics, rt)
			i = len(resp.Topics) - 1
			byTopic[o.Topic] = i
		}
		rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		rp.Partition, rp.Replicas = o.Partition, o.Replicas
		rp.AddingReplicas, rp.RemovingReplicas = orEmptyIDs(o.AddingReplicas), orEmptyIDs(o.RemovingReplicas)
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	return resp
}

func orEmptyIDs(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}
