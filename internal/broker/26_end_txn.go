package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/txn"
)

// EndTxn v0-v4.
//
// v2 answers PRODUCER_FENCED where older versions got
// INVALID_PRODUCER_EPOCH, v3 is flexible, v4 adds nothing on the wire.
// v5 (KIP-890 part 2: the answer carries the bumped epoch) is only
// served once transaction.version 2 can be finalized, which it cannot
// yet, so clients keep the v1 transaction protocol.
//
// The coordinator answers once PrepareCommit or PrepareAbort is written
// to __transaction_state; the markers follow (txn_markers.go).
func init() { register(kmsg.EndTxn, 0, 4, handleEndTxn) }

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
