package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/group"
)

// Heartbeat v0-v4.
//
// v1 adds throttle time, v3 group.instance.id, v4 is flexible. A heartbeat
// keeps the member's session alive and tells it, with
// REBALANCE_IN_PROGRESS, to rejoin.
func init() { register(kmsg.Heartbeat, 0, 4, handleHeartbeat) }

func handleHeartbeat(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.HeartbeatRequest)
	var resp *kmsg.HeartbeatResponse
	err := s.groups.do(req.Group, func(now time.Time, sm *group.Shard) group.Effects {
		resp = sm.Heartbeat(now, req)
		return group.Effects{}
	})
	if err != nil {
		resp = req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = errCode(err)
	}
	return resp
}
