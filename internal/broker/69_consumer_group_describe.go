package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/group"
)

// ConsumerGroupDescribe v0-v1 (KIP-848).
//
// Describes consumer-protocol groups: state (Empty, Assigning,
// Reconciling, Stable), group epoch, target assignment epoch, assignor,
// and each member's epoch, subscription, current and target assignment.
// v1 adds each member's type (1: consumer protocol). An unknown group, or
// a classic one, answers GROUP_ID_NOT_FOUND, as Kafka does; every group
// UNSUPPORTED_VERSION while the cluster's group.version is 0.
func init() { register(kmsg.ConsumerGroupDescribe, 0, 1, handleConsumerGroupDescribe) }

func handleConsumerGroupDescribe(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.ConsumerGroupDescribeRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, id := range req.Groups {
		var dg kmsg.ConsumerGroupDescribeResponseGroup
		err := s.consumerProtocolEnabled()
		if err == nil {
			err = s.groups.read(id, func(sm *group.Shard) { dg = sm.DescribeConsumerGroup(id, req.Version) })
		}
		if id == "" && err == nil {
			err = kerr.InvalidGroupID
		}
		if err != nil {
			dg = kmsg.NewConsumerGroupDescribeResponseGroup()
			dg.Group = id
			dg.ErrorCode = errCode(err)
			dg.ErrorMessage = errMessage(err)
		}
		dg.AuthorizedOperations = authorizedOperationsOmitted
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}
