package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// BrokerHeartbeat v0-v2 (KIP-631), on the CONTROLLER listener only.
//
// Keeps the broker's session alive and carries the offset of the metadata
// it has applied: a registered broker is unfenced once that reaches its
// registration. WantShutdown runs the controlled shutdown (leaderships
// moved, out of the ISRs, fenced) and answers ShouldShutdown. v1 adds
// offline log dirs, v2 cordoned ones (ignored).
func init() { registerController(kmsg.BrokerHeartbeat, 0, 2, handleBrokerHeartbeat) }

func handleBrokerHeartbeat(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.BrokerHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	hb, err := s.meta.BrokerHeartbeat(ctx, metadata.HeartbeatRequest{
		ID:             req.BrokerID,
		Epoch:          req.BrokerEpoch,
		MetadataOffset: uint64(max(req.CurrentMetadataOffset, 0)),
		WantFence:      req.WantFence,
		WantShutDown:   req.WantShutdown,
	})
	resp.ErrorCode = errCode(err)
	resp.IsCaughtUp, resp.IsFenced, resp.ShouldShutdown = hb.IsCaughtUp, hb.IsFenced, hb.ShouldShutDown
	if err != nil {
		resp.IsFenced = true
	}
	return resp
}
