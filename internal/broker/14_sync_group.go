package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/group"
)

// SyncGroup v0-v5.
//
// v1 adds throttle time, v3 group.instance.id, v4 is flexible, v5 carries
// the protocol type and name, which must match the group's
// (INCONSISTENT_GROUP_PROTOCOL otherwise).
//
// The leader's request carries the assignment; it is stored in
// __consumer_offsets before any member gets its part. Followers wait for
// it.
func init() { register(kmsg.SyncGroup, 0, 5, handleSyncGroup) }

func handleSyncGroup(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.SyncGroupRequest)
	err := s.groups.do(req.Group, func(now time.Time, sm *group.Shard) group.Effects {
		return sm.SyncGroup(now, req, func(resp *kmsg.SyncGroupResponse) { r.done(resp) })
	})
	if err != nil {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = errCode(err)
		return resp
	}
	return nil
}
