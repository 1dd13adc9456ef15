package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/group"
)

// OffsetDelete v0 (KIP-496).
//
// Deletes committed offsets of a group, except those of topics a member of
// the group still subscribes to (GROUP_SUBSCRIBED_TO_TOPIC). The deletions
// are tombstones in __consumer_offsets.
func init() { register(kmsg.OffsetDelete, 0, 0, handleOffsetDelete) }

func handleOffsetDelete(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.OffsetDeleteRequest)
	err := s.groups.do(req.Group, func(now time.Time, sm *group.Shard) group.Effects {
		return sm.OffsetDelete(now, req, func(resp *kmsg.OffsetDeleteResponse) { r.done(resp) })
	})
	if err != nil {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = errCode(err)
		return resp
	}
	return nil
}
