package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreatePartitions v0-v3.
//
// v1 changes nothing on the wire, v2 is flexible, v3 changes nothing either
// (it marks clients that handle a few more errors). New partitions get an
// explicit assignment or the controller's round-robin one.
func init() { registerAdmin(kmsg.CreatePartitions, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	ctx, cancel := s.requestContext(req.TimeoutMillis)
	defer cancel()
	for _, t := range req.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		var assignment [][]int32
		for _, a := range t.Assignment {
			assignment = append(assignment, a.Replicas)
		}
		err := s.meta.CreatePartitions(ctx, t.Topic, t.Count, assignment, req.ValidateOnly)
		rt.ErrorCode, rt.ErrorMessage = errCode(err), errMessage(err)
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
