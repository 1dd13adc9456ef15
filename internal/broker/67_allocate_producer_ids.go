package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// AllocateProducerIds v0 (KIP-730), on the CONTROLLER listener only.
//
// Hands a broker the next block of producer ids, written to the metadata
// log so blocks never overlap, across brokers, restarts and controller
// changes.
func init() { registerController(kmsg.AllocateProducerIDs, 0, 0, handleAllocateProducerIDs) }

func handleAllocateProducerIDs(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.AllocateProducerIDsRequest)
	resp := req.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	first, count, err := s.meta.AllocateProducerIDs(ctx)
	resp.ErrorCode = errCode(err)
	resp.ProducerIDStart, resp.ProducerIDLen = first, count
	return resp
}
