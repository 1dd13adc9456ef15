package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListGroups v0-v5.
//
// v1 adds throttle time, v3 is flexible, v4 filters by state (KIP-518), v5
// by type (KIP-848: "classic" or "consumer"; consumer groups are in state
// Empty, Assigning, Reconciling or Stable). A broker lists the
// groups of the partitions it coordinates; while one of them is still
// loading the answer carries COORDINATOR_LOAD_IN_PROGRESS next to the
// groups already known, as Kafka does.
func init() { register(kmsg.ListGroups, 0, 5, handleListGroups) }

func handleListGroups(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	shards, loading := s.groups.loadedShards()
	for _, sh := range shards {
		sh.mu.Lock()
		if !sh.mu.closed {
			resp.Groups = append(resp.Groups, sh.mu.sm.ListGroups(req.StatesFilter, req.TypesFilter)...)
		}
		sh.mu.Unlock()
	}
	if loading {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
	}
	return resp
}
