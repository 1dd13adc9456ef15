package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/txn"
)

// AddPartitionsToTxn v0-v5.
//
// v0-v3 are the client's form: one transaction, its partitions added
// before the producer writes to them (v2 answers PRODUCER_FENCED where
// older versions got INVALID_PRODUCER_EPOCH, v3 is flexible). v4 is the
// brokers' batched form (KIP-890 part 1): many transactions, each either
// added or, with VerifyOnly, checked by a partition leader before it
// accepts a transactional write, or, without it, added by a partition
// leader (a produce v12 or TxnOffsetCommit v5 of a transaction.version 2
// producer, KIP-890 part 2). v5 answers TRANSACTION_ABORTABLE where v4
// answers INVALID_TXN_STATE for a partition not in the transaction.
//
// Each transaction of a v4 request goes to its own shard; one this
// broker does not coordinate gets that coordinator error on each of its
// partitions, as Kafka answers.
//
// Kafka accepts v4+ only from brokers (CLUSTER_ACTION); there are no ACLs
// yet, so anyone may send it.
func init() { register(kmsg.AddPartitionsToTxn, 0, 5, handleAddPartitionsToTxn) }

func handleAddPartitionsToTxn(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version < 4 {
		t := txn.ClientTransaction(req)
		var res kmsg.AddPartitionsToTxnResponseTransaction
		holdConcurrent(func() bool {
			res = s.addPartitionsToTxn(req.Version, t)
			return txnResultCode(res) == kerr.ConcurrentTransactions.Code
		})
		resp.Topics = txn.ClientTopics(res)
		return resp
	}
	for i := range req.Transactions {
		resp.Transactions = append(resp.Transactions, s.addPartitionsToTxn(req.Version, &req.Transactions[i]))
	}
	return resp
}

// concurrentHold bounds how long a client's AddPartitionsToTxn or
// AddOffsetsToTxn waits for the previous transaction's markers before it
// is answered CONCURRENT_TRANSACTIONS. A producer that begins its next
// transaction right after EndTxn (the usual loop) finds the markers
// still going out; the answer would make it back off (franz-go and the
// Java client: 20 ms), longer than the markers take on a healthy
// cluster (about a millisecond). Held here, it starts as soon as they
// are written. Kafka answers at once.
const concurrentHold = 20 * time.Millisecond

// holdConcurrent runs try until it reports no CONCURRENT_TRANSACTIONS,
// or concurrentHold has passed, every millisecond.
func holdConcurrent(try func() (concurrent bool)) {
	deadline := time.Now().Add(concurrentHold)
	for try() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// txnResultCode is the first error code of a transaction's result.
func txnResultCode(res kmsg.AddPartitionsToTxnResponseTransaction) int16 {
	for _, rt := range res.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				return rp.ErrorCode
			}
		}
	}
	return 0
}

// addPartitionsToTxn runs one transaction of the request on its shard.
func (s *Server) addPartitionsToTxn(version int16, t *kmsg.AddPartitionsToTxnRequestTransaction) kmsg.AddPartitionsToTxnResponseTransaction {
	res, err := txnAnswer(s, t.TransactionalID, func(now time.Time, sm *txn.Shard, reply func(kmsg.AddPartitionsToTxnResponseTransaction)) txn.Effects {
		return sm.AddPartitions(now, version, t, reply)
	})
	if err == nil {
		return res
	}
	res = kmsg.NewAddPartitionsToTxnResponseTransaction()
	res.TransactionalID = t.TransactionalID
	for _, rt := range t.Topics {
		st := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
			sp.Partition, sp.ErrorCode = p, errCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		res.Topics = append(res.Topics, st)
	}
	return res
}
