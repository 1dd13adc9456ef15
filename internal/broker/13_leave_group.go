package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/group"
)

// LeaveGroup v0-v5.
//
// v1 adds throttle time, v3 batches members, each by member id or
// group.instance.id (KIP-345), v4 is flexible, v5 carries a reason.
func init() { register(kmsg.LeaveGroup, 0, 5, handleLeaveGroup) }

func handleLeaveGroup(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.LeaveGroupRequest)
	err := s.groups.do(req.Group, func(now time.Time, sm *group.Shard) group.Effects {
		return sm.LeaveGroup(now, req, func(resp *kmsg.LeaveGroupResponse) { r.done(resp) })
	})
	if err != nil {
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = errCode(err)
		return resp
	}
	return nil
}
