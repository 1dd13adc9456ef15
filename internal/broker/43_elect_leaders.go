package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// ElectLeaders v0-v2 (kafka-leader-election.sh).
//
// v1 adds the election type (PREFERRED, UNCLEAN; v0 is preferred only) and
// a top-level error code, v2 is flexible. A null topic list means every
// partition. The controller decides (forwarded from other brokers): a
// preferred election moves leadership to the first replica when it is
// live and in the ISR (else PREFERRED_LEADER_NOT_AVAILABLE); an unclean
// one gives a leaderless partition any live replica (else
// ELIGIBLE_LEADERS_NOT_AVAILABLE); a partition already led as the
// election would choose gets ELECTION_NOT_NEEDED.
func init() { registerAdmin(kmsg.ElectLeaders, 0, 2, handleElectLeaders) }

func handleElectLeaders(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	ctx, cancel := s.requestContext(req.TimeoutMillis)
	defer cancel()
	typ := req.ElectionType
	if req.Version == 0 {
		typ = metadata.ElectPreferred
	}
	var parts []metadata.PartitionRef
	if req.Topics != nil {
		parts = []metadata.PartitionRef{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				parts = append(parts, metadata.PartitionRef{Topic: t.Topic, Partition: p})
			}
		}
	}
	if typ != metadata.ElectPreferred && typ != metadata.ElectUnclean {
		resp.ErrorCode = errCode(metadata.ErrInvalidRequest)
		return resp
	}
	results := s.meta.ElectLeaders(ctx, typ, parts)
	byTopic := map[string]int{}
	for _, res := range results {
		i, ok := byTopic[res.Topic]
		if !ok {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = res.Topic
			resp.Topics = append(resp.Topics, rt)
			i = len(resp.Topics) - 1
			byTopic[res.Topic] = i
		}
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition = res.Partition
		rp.ErrorCode, rp.ErrorMessage = errCode(res.Err), errMessage(res.Err)
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	return resp
}
