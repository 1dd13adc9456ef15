package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/group"
)

// JoinGroup v0-v9.
//
// v1 adds the rebalance timeout (v0 uses the session timeout), v4 makes a
// new dynamic member come back with the id it is handed in
// MEMBER_ID_REQUIRED (KIP-394), v5 adds group.instance.id (static
// membership, KIP-345), v6 is flexible, v7 returns the protocol type, v8
// carries a reason, v9 lets a static leader that rejoins skip the
// assignment (KIP-814). Kafka 4.0 dropped v0-v1 and 4.1 brought them back.
//
// The answer usually waits for the rebalance to complete, which the state
// machine signals through a reply callback (package group).
func init() { register(kmsg.JoinGroup, 0, 9, handleJoinGroup) }

func handleJoinGroup(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.JoinGroupRequest)
	client := groupClient(r)
	err := s.groups.do(req.Group, func(now time.Time, sm *group.Shard) group.Effects {
		return sm.JoinGroup(now, client, req, func(resp *kmsg.JoinGroupResponse) { r.done(resp) })
	})
	if err != nil {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = errCode(err)
		resp.Generation = -1
		resp.MemberID = req.MemberID
		return resp
	}
	return nil
}
