package broker

import (
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// AddRaftVoter v0-v1 (KIP-853, metadata-quorum add-controller): makes a
// running controller that is not yet a voter one, at the endpoint of its
// CONTROLLER listener in the request. Decided by the active controller
// (forwarded from brokers). The directory id is not used (Samsa's voters
// are node ids).
func init() { registerAdmin(kmsg.AddRaftVoter, 0, 1, handleAddRaftVoter) }

func handleAddRaftVoter(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.AddRaftVoterRequest)
	resp := req.ResponseKind().(*kmsg.AddRaftVoterResponse)
	ctx, cancel := s.requestContext(req.TimeoutMillis)
	defer cancel()
	err := func() error {
		if req.ClusterID != nil && *req.ClusterID != "" && *req.ClusterID != s.meta.Image().ClusterID {
			return fmt.Errorf("%w: %s", metadata.ErrInconsistentClusterID, *req.ClusterID)
		}
		var addr string
		for _, l := range req.Listeners {
			for _, name := range s.cfg.ControllerListenerNames() {
				if l.Name == name && addr == "" {
					addr = net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
				}
			}
		}
		if addr == "" && len(req.Listeners) > 0 {
			l := req.Listeners[0]
			addr = net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
		}
		return s.meta.AddVoter(ctx, req.VoterID, addr)
	}()
	resp.ErrorCode, resp.ErrorMessage = errCode(err), errMessage(err)
	return resp
}
