package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/txn"
)

// EndTxn v0-v5.
//
// v2 answers PRODUCER_FENCED where older versions got
// INVALID_PRODUCER_EPOCH, v3 is flexible, v4 adds nothing on the wire.
// v5 is KIP-890 part 2's: with transaction.version 2 finalized every
// EndTxn bumps the producer epoch and the answer carries the new id and
// epoch; below that level v5 is served as v4 (clients use it only when
// the feature is finalized).
//
// The coordinator answers once PrepareCommit or PrepareAbort is written
// to __transaction_state; the markers follow (txn_markers.go).
func init() { register(kmsg.EndTxn, 0, 5, handleEndTxn) }

func handleEndTxn(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.EndTxnRequest)
	resp, err := txnAnswer(s, req.TransactionalID, func(now time.Time, sm *txn.Shard, reply func(*kmsg.EndTxnResponse)) txn.Effects {
		return sm.EndTxn(now, req, reply)
	})
	if err != nil {
		resp = req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		resp.ErrorCode = errCode(err)
	}
	return resp
}
