package broker

import (
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId v0-v5.
//
// v2 is flexible; v3 lets an idempotent producer pass its current id and
// epoch to have the epoch bumped instead of getting a new id (KIP-360); v4
// and v5 add nothing on the wire that matters without transactions.
//
// Idempotent producers get ids from blocks the controller hands out through
// the metadata log, so ids stay unique across brokers and restarts.
// Transactional ids need the transaction coordinator, which does not exist
// yet: they are refused with a message saying so.
func init() { register(kmsg.InitProducerID, 0, 5, handleInitProducerID) }

func handleInitProducerID(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = errCode(errTransactionsUnsupported)
		return resp
	}
	// KIP-360: an idempotent producer that lost track of its sequence
	// numbers asks for its epoch to be bumped.
	if req.ProducerID >= 0 && req.ProducerEpoch >= 0 && req.ProducerEpoch < math.MaxInt16-1 {
		resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
		return resp
	}
	id, err := s.pids.next()
	if err != nil {
		resp.ErrorCode = errCode(err)
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}
