package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/group"
)

// DeleteGroups v0-v2.
//
// v1 changes nothing on the wire, v2 is flexible. A group with members is
// NON_EMPTY_GROUP; an unknown one GROUP_ID_NOT_FOUND. Deleting writes
// tombstones for the group and each of its offsets.
func init() { register(kmsg.DeleteGroups, 0, 2, handleDeleteGroups) }

func handleDeleteGroups(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		err := s.groups.do(id, func(now time.Time, sm *group.Shard) group.Effects {
			return sm.DeleteGroup(now, id, func(code int16) { rg.ErrorCode = code })
		})
		if err != nil {
			rg.ErrorCode = errCode(err)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}
