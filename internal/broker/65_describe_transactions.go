package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/txn"
)

// DescribeTransactions v0 (KIP-664): the state, producer, timeout, start
// time and partitions of each transactional id this broker coordinates.
// An id coordinated elsewhere answers NOT_COORDINATOR (the admin client
// finds each id's coordinator first), one not known
// TRANSACTIONAL_ID_NOT_FOUND.
func init() { register(kmsg.DescribeTransactions, 0, 0, handleDescribeTransactions) }

func handleDescribeTransactions(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		var st kmsg.DescribeTransactionsResponseTransactionState
		err := s.txns.read(id, func(sm *txn.Shard) { st = sm.Describe(id) })
		if err != nil {
			st = kmsg.NewDescribeTransactionsResponseTransactionState()
			st.TransactionalID, st.ErrorCode = id, errCode(err)
			st.ProducerID, st.ProducerEpoch = -1, -1
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp
}
