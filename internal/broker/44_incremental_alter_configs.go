package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// IncrementalAlterConfigs v0-v1.
//
// v1 is flexible. Each config is SET, DELETE (back to the next source in
// precedence), APPEND or SUBTRACT (list configs such as cleanup.policy); the
// rest of the resource's dynamic configs stay as they are.
func init() { registerAdmin(kmsg.IncrementalAlterConfigs, 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	ctx, cancel := s.requestContext(0)
	defer cancel()
	for _, rr := range req.Resources {
		res := kmsg.NewIncrementalAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		ops := make([]metadata.ConfigOp, 0, len(rr.Configs))
		for _, c := range rr.Configs {
			ops = append(ops, metadata.ConfigOp{Name: c.Name, Value: c.Value, Op: int8(c.Op)})
		}
		err := s.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, ops, false, req.ValidateOnly)
		res.ErrorCode, res.ErrorMessage = errCode(err), errMessage(err)
		resp.Resources = append(resp.Resources, res)
	}
	return resp
}
