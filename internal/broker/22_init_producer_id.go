package broker

import (
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/txn"
)

// InitProducerId v0-v5.
//
// v2 is flexible; v3 lets a producer pass its current id and epoch to have
// the epoch bumped instead of getting a new id (KIP-360); v4 answers
// PRODUCER_FENCED where older versions got INVALID_PRODUCER_EPOCH; v5 adds
// nothing on the wire.
//
// Without a transactional id the producer is idempotent: it gets an id
// from the blocks the controller hands out through the metadata log, so
// ids stay unique across brokers and restarts. With one, the request goes
// to the id's transaction coordinator (txn.Shard.InitProducerID: epoch
// bump, fencing, abort of an ongoing transaction).
func init() { register(kmsg.InitProducerID, 0, 5, handleInitProducerID) }

func handleInitProducerID(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.InitProducerIDRequest)
	if req.TransactionalID != nil {
		resp, err := txnAnswer(s, *req.TransactionalID, func(now time.Time, sm *txn.Shard, reply func(*kmsg.InitProducerIDResponse)) txn.Effects {
			return sm.InitProducerID(now, req, reply)
		})
		if err != nil {
			resp = req.ResponseKind().(*kmsg.InitProducerIDResponse)
			resp.ProducerID, resp.ProducerEpoch = -1, -1
			resp.ErrorCode = errCode(err)
		}
		return resp
	}
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
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

// txnAnswer runs one transaction coordinator call for a transactional id
// whose state machine method answers through a callback (run with the
// outcome of its append, under the shard's mutex), and returns that
// answer. The error is the coordinator error to answer when the call
// could not run (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, ...).
func txnAnswer[R any](s *Server, transactionalID string, call func(now time.Time, sm *txn.Shard, reply func(R)) txn.Effects) (R, error) {
	var (
		out      R
		answered bool
	)
	err := s.txns.do(transactionalID, func(now time.Time, sm *txn.Shard) txn.Effects {
		return call(now, sm, func(r R) { out, answered = r, true })
	})
	if err == nil && !answered {
		// Every state machine call answers; not doing so is a bug, not
		// a reason to hang the client.
		s.logger.Error("transaction coordinator: a call gave no answer", "transactional_id", transactionalID)
		err = kerr.UnknownServerError
	}
	return out, err
}
