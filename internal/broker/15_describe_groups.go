package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/group"
)

// DescribeGroups v0-v6.
//
// v1 adds throttle time, v3 authorized operations, v4 each member's
// group.instance.id, v5 is flexible, v6 an error message and
// GROUP_ID_NOT_FOUND for an unknown group (KIP-1043); before v6 an
// unknown group is described as Dead with no error, as Kafka does.
// Members carry their protocol metadata and assignment only while the
// group is Stable. A consumer-protocol (KIP-848) group is not a classic
// group: as in Kafka it is described like an unknown one
// (ConsumerGroupDescribe describes it).
func init() { register(kmsg.DescribeGroups, 0, 6, handleDescribeGroups) }

func handleDescribeGroups(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		var dg kmsg.DescribeGroupsResponseGroup
		var found bool
		err := s.groups.read(id, func(sm *group.Shard) { dg, found = sm.DescribeGroup(id) })
		switch {
		case err != nil:
			dg = kmsg.NewDescribeGroupsResponseGroup()
			dg.Group = id
			dg.ErrorCode = errCode(err)
			dg.ErrorMessage = errMessage(err)
		case !found && req.Version >= 6:
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "group " + id + " not found"
			dg.ErrorMessage = &msg
		}
		if req.Version < 6 {
			dg.ErrorMessage = nil
		}
		dg.AuthorizedOperations = authorizedOperationsOmitted
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}
