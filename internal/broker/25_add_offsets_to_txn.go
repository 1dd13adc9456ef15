package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/txn"
)

// AddOffsetsToTxn v0-v4.
//
// v2 answers PRODUCER_FENCED where older versions got
// INVALID_PRODUCER_EPOCH, v3 is flexible, v4 adds nothing on the wire.
//
// The group's __consumer_offsets partition joins the transaction, so that
// the offsets the producer then commits with TxnOffsetCommit (to the
// group coordinator) are made visible or dropped by the transaction's
// marker.
func init() { register(kmsg.AddOffsetsToTxn, 0, 4, handleAddOffsetsToTxn) }

func handleAddOffsetsToTxn(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.AddOffsetsToTxnRequest)
	var (
		resp *kmsg.AddOffsetsToTxnResponse
		err  error
	)
	// As AddPartitionsToTxn: held while the previous transaction's
	// markers go out (holdConcurrent).
	holdConcurrent(func() bool {
		resp, err = txnAnswer(s, req.TransactionalID, func(now time.Time, sm *txn.Shard, reply func(*kmsg.AddOffsetsToTxnResponse)) txn.Effects {
			return sm.AddOffsets(now, req, reply)
		})
		return err == nil && resp.ErrorCode == kerr.ConcurrentTransactions.Code
	})
	if err != nil {
		resp = req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		resp.ErrorCode = errCode(err)
	}
	return resp
}
