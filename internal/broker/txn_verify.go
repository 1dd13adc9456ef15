package broker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/kclient"
	"github.com/samsa-streaming/samsa/internal/metadata"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/storage"
	"github.com/samsa-streaming/samsa/internal/txn"
)

// Transaction verification on the produce path (KIP-890 part 1, Kafka's
// AddPartitionsToTxnManager): before a partition leader appends the first
// batch of a producer's transaction, it asks the transaction coordinator
// (AddPartitionsToTxn v4, VerifyOnly) whether that transaction is ongoing
// with the partition. A late write of a transaction that ended (a retry
// stuck in the network while the coordinator aborted it) is refused
// instead of opening a transaction nobody will ever end, which would stall
// read_committed consumers at the last stable offset. The storage's
// verification guard (storage/verify.go) covers a marker written between
// the answer and the append.
//
// From Produce v12, with transaction.version 2 finalized (KIP-890 part 2:
// such a producer sends no AddPartitionsToTxn), the same request adds the
// partitions to the transaction instead (VerifyOnly false,
// AddPartitionsToTxn v5); that is done even with verification off, or the
// transaction would end without the partitions' markers. Below level 2 a
// v12 is verified as a v11 is: clients send v12 only at level 2, and the
// level is what says the cluster takes part 2.
//
// One request per produce request, for all its partitions that need it:
// the transactional id names one transaction, so one coordinator. Those
// already in an ongoing transaction here at the producer's epoch need
// none, so verification costs a round trip per partition per transaction,
// not per batch. transaction.partition.verification.enable=false turns it
// off (the check of the guard too).

// verifyTimeout bounds a verification round trip.
const verifyTimeout = 5 * time.Second

// txnVerifier keeps idle connections to the other brokers for the
// verification requests (kclient.Conn carries one request at a time, and
// produce requests of many connections verify at once).
type txnVerifier struct {
	s  *Server
	mu struct {
		sync.Mutex
		idle   map[int32][]*kclient.Conn
		closed bool
	}
}

// maxIdleVerifyConns bounds the idle connections kept per broker.
const maxIdleVerifyConns = 4

func newTxnVerifier(s *Server) *txnVerifier {
	v := &txnVerifier{s: s}
	v.mu.idle = map[int32][]*kclient.Conn{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-s.ctx.Done()
		v.mu.Lock()
		defer v.mu.Unlock()
		v.mu.closed = true
		for _, cs := range v.mu.idle {
			for _, c := range cs {
				c.Close()
			}
		}
		v.mu.idle = nil
	}()
	return v
}

// verifyProduce prepares the verification of a transactional produce
// request's jobs: each job whose batch is transactional gets the append
// options that check the guard, and those whose producer has no
// transaction ongoing on the partition are verified with the coordinator
// in one request; a partition that fails verification gets its error.
func (s *Server) verifyProduce(version int16, transactionalID string, jobs []produceJob) {
	add := version >= 12 && s.txnVersion() >= 2
	if !add && !s.cfg.Bool("transaction.partition.verification.enable") {
		return
	}
	t := kmsg.NewAddPartitionsToTxnRequestTransaction()
	t.TransactionalID, t.VerifyOnly = transactionalID, !add
	t.ProducerID = -1
	need := map[txn.TopicPartition][]*produceJob{}
	for i := range jobs {
		j := &jobs[i]
		if j.err != nil {
			continue
		}
		h, err := records.ParseHeader(j.set)
		if err != nil || !h.IsTransactional() || h.IsControl() || h.ProducerID < 0 {
			continue // produceTo answers what is wrong with it
		}
		p := s.replicas.Get(j.topic, j.part)
		if p == nil {
			continue
		}
		if t.ProducerID >= 0 && (h.ProducerID != t.ProducerID || h.ProducerEpoch != t.ProducerEpoch) {
			j.err = fmt.Errorf("%w: one request carries batches of two producers", kerr.InvalidRequest)
			continue
		}
		t.ProducerID, t.ProducerEpoch = h.ProducerID, h.ProducerEpoch
		g := p.Log.StartTxnVerification(h.ProducerID, h.ProducerEpoch)
		j.opts = storage.AppendOptions{VerifyTxn: true, Guard: g}
		if g == 0 {
			continue
		}
		tp := txn.TopicPartition{Topic: j.topic, Partition: j.part}
		if need[tp] == nil {
			addTxnPartition(&t, tp)
		}
		need[tp] = append(need[tp], j)
	}
	if len(need) == 0 {
		return
	}
	codes, err := s.txnVerify.verify(&t)
	for tp, js := range need {
		code := int16(0)
		if err != nil {
			code = errCode(err)
		} else {
			code = codes[tp]
		}
		if code == 0 {
			continue
		}
		for _, j := range js {
			j.err = verifyError(code, add)
		}
	}
}

// txnVersion is the finalized transaction.version.
func (s *Server) txnVersion() int16 {
	return s.meta.Image().Features[metadata.FeatureTransactionVersion]
}

func addTxnPartition(t *kmsg.AddPartitionsToTxnRequestTransaction, tp txn.TopicPartition) {
	for i := range t.Topics {
		if t.Topics[i].Topic == tp.Topic {
			t.Topics[i].Partitions = append(t.Topics[i].Partitions, tp.Partition)
			return
		}
	}
	rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	rt.Topic, rt.Partitions = tp.Topic, []int32{tp.Partition}
	t.Topics = append(t.Topics, rt)
}

// verifyError is the produce error for a failed verification, as Kafka's
// ReplicaManager maps it: the coordinator errors a producer does not
// expect on a produce become NOT_ENOUGH_REPLICAS (retriable: the next try
// verifies again), PRODUCER_FENCED becomes INVALID_PRODUCER_EPOCH, and
// TRANSACTION_ABORTABLE is kept only for Produce v12+ (latest), which
// knows it.
func verifyError(code int16, latest bool) error {
	switch code {
	case kerr.TransactionAbortable.Code:
		if latest {
			return kerr.TransactionAbortable
		}
		return fmt.Errorf("%w: the partition was not added to the transaction", kerr.InvalidTxnState)
	case kerr.InvalidTxnState.Code:
		return fmt.Errorf("%w: the partition was not added to the transaction", kerr.InvalidTxnState)
	case kerr.ConcurrentTransactions.Code, kerr.CoordinatorLoadInProgress.Code,
		kerr.CoordinatorNotAvailable.Code, kerr.NotCoordinator.Code:
		return fmt.Errorf("%w: unable to verify the partition was added to the transaction: %v",
			kerr.NotEnoughReplicas, kerr.ErrorForCode(code))
	case kerr.ProducerFenced.Code:
		return kerr.InvalidProducerEpoch
	}
	return kerr.ErrorForCode(code)
}

// verify asks the transaction's coordinator; the answer is each
// partition's code, or an error for the whole request (the coordinator is
// not known, the connection broke: NETWORK_EXCEPTION).
func (v *txnVerifier) verify(t *kmsg.AddPartitionsToTxnRequestTransaction) (map[txn.TopicPartition]int16, error) {
	s := v.s
	img := s.meta.Image()
	st := img.Topics[metadata.TransactionStateTopic]
	if st == nil || len(st.Partitions) == 0 {
		// No transaction can be ongoing before the topic exists.
		return nil, kerr.CoordinatorNotAvailable
	}
	leader := st.Partitions[txn.PartitionFor(t.TransactionalID, int32(len(st.Partitions)))].Leader
	// v4 verifies; v5 may add (VerifyOnly false, transaction.version
	// 2) and answers TRANSACTION_ABORTABLE.
	version := int16(4)
	if !t.VerifyOnly {
		version = 5
	}
	var res kmsg.AddPartitionsToTxnResponseTransaction
	if leader == s.nodeID {
		res = s.addPartitionsToTxn(version, t)
	} else {
		if b := img.Brokers[leader]; leader < 0 || b == nil || b.Fenced {
			return nil, kerr.CoordinatorNotAvailable
		}
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.Version = version
		req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{*t}
		resp, err := v.request(leader, req)
		if err != nil {
			s.logger.Debug("transaction verification failed", "coordinator", leader, "err", err)
			return nil, kerr.NetworkException
		}
		if resp.ErrorCode != 0 {
			return nil, kerr.ErrorForCode(resp.ErrorCode)
		}
		if len(resp.Transactions) != 1 {
			return nil, kerr.NetworkException
		}
		res = resp.Transactions[0]
	}
	codes := map[txn.TopicPartition]int16{}
	for _, rt := range res.Topics {
		for _, rp := range rt.Partitions {
			codes[txn.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}] = rp.ErrorCode
		}
	}
	// A partition missing from the answer was not verified.
	for _, rt := range t.Topics {
		for _, p := range rt.Partitions {
			if _, ok := codes[txn.TopicPartition{Topic: rt.Topic, Partition: p}]; !ok {
				codes[txn.TopicPartition{Topic: rt.Topic, Partition: p}] = kerr.InvalidTxnState.Code
			}
		}
	}
	return codes, nil
}

// request sends req to a broker over an idle connection or a new one.
func (v *txnVerifier) request(id int32, req *kmsg.AddPartitionsToTxnRequest) (*kmsg.AddPartitionsToTxnResponse, error) {
	s := v.s
	ctx, cancel := context.WithTimeout(s.ctx, verifyTimeout)
	defer cancel()
	c := v.take(id)
	if c == nil {
		var err error
		if c, err = s.dialBroker(ctx, id); err != nil {
			return nil, err
		}
	}
	resp, err := c.Request(ctx, req)
	if err != nil {
		c.Close()
		return nil, err
	}
	v.put(id, c)
	ar, ok := resp.(*kmsg.AddPartitionsToTxnResponse)
	if !ok {
		return nil, fmt.Errorf("answer of type %T", resp)
	}
	return ar, nil
}

func (v *txnVerifier) take(id int32) *kclient.Conn {
	v.mu.Lock()
	defer v.mu.Unlock()
	cs := v.mu.idle[id]
	if len(cs) == 0 {
		return nil
	}
	c := cs[len(cs)-1]
	v.mu.idle[id] = cs[:len(cs)-1]
	return c
}

func (v *txnVerifier) put(id int32, c *kclient.Conn) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.mu.closed || len(v.mu.idle[id]) >= maxIdleVerifyConns {
		c.Close()
		return
	}
	v.mu.idle[id] = append(v.mu.idle[id], c)
}
