package broker

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/metadata"
)

// AlterConfigs v0-v2.
//
// v1 changes nothing on the wire, v2 is flexible. The legacy API replaces
// the whole set of dynamic configs of a resource with the request's (a
// config left out is deleted), which is why IncrementalAlterConfigs exists.
// Topic configs and dynamic broker configs (cluster default "" or this
// broker's id) are stored in the metadata log.
func init() { registerAdmin(kmsg.AlterConfigs, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	ctx, cancel := s.requestContext(0)
	defer cancel()
	for _, rr := range req.Resources {
		res := kmsg.NewAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		ops := make([]metadata.ConfigOp, 0, len(rr.Configs))
		for _, c := range rr.Configs {
			ops = append(ops, metadata.ConfigOp{Name: c.Name, Value: c.Value, Op: int8(kmsg.IncrementalAlterConfigOpSet)})
		}
		err := s.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, ops, true, req.ValidateOnly)
		res.ErrorCode, res.ErrorMessage = errCode(err), errMessage(err)
		resp.Resources = append(resp.Resources, res)
	}
	return resp
}

// alterConfigs checks the resource and, for brokers, that every named
// config may change at runtime, then hands the change to the controller
// (which validates topic config values).
func (s *Server) alterConfigs(ctx context.Context, typ kmsg.ConfigResourceType, name string, ops []metadata.ConfigOp, replace, validateOnly bool) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if name == "" {
			return fmt.Errorf("%w: empty topic name", kerr.InvalidRequest)
		}
	case kmsg.ConfigResourceTypeBroker:
		if name != "" {
			id, err := strconv.Atoi(name)
			if err != nil || s.meta.Image().Brokers[int32(id)] == nil {
				return fmt.Errorf("%w: unknown broker %q", kerr.InvalidRequest, name)
			}
		}
		for _, op := range ops {
			v := op.Value
			if op.Op == int8(kmsg.IncrementalAlterConfigOpDelete) {
				v = nil
			}
			validate := config.ValidateBrokerDynamic
			if name == "" {
				validate = config.ValidateClusterDynamic
			}
			if err := validate(op.Name, v); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%w: resource type %d is not supported", kerr.InvalidRequest, typ)
	}
	return s.meta.AlterConfigs(ctx, metadata.ConfigResource{Type: int8(typ), Name: name}, ops, replace, validateOnly)
}
