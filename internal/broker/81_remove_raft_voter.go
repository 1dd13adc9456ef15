package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// RemoveRaftVoter v0 (KIP-853, metadata-quorum remove-controller): takes a
// controller out of the quorum. Decided by the active controller
// (forwarded from brokers); the last voter cannot go.
func init() { registerAdmin(kmsg.RemoveRaftVoter, 0, 0, handleRemoveRaftVoter) }

func handleRemoveRaftVoter(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.RemoveRaftVoterRequest)
	resp := req.ResponseKind().(*kmsg.RemoveRaftVoterResponse)
	ctx, cancel := s.requestContext(0)
	defer cancel()
	var err error
	if req.ClusterID != nil && *req.ClusterID != "" && *req.ClusterID != s.meta.Image().ClusterID {
		err = fmt.Errorf("%w: %s", metadata.ErrInconsistentClusterID, *req.ClusterID)
	} else {
		err = s.meta.RemoveVoter(ctx, req.VoterID)
	}
	resp.ErrorCode, resp.ErrorMessage = errCode(err), errMessage(err)
	return resp
}
