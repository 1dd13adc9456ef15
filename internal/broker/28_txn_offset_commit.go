package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/group"
	"github.com/samsa-streaming/samsa/internal/metadata"
	"github.com/samsa-streaming/samsa/internal/storage"
	"github.com/samsa-streaming/samsa/internal/txn"
)

// TxnOffsetCommit v0-v5.
//
// v1 adds throttle time, v2 each partition's leader epoch, v3 is flexible
// and carries the member's generation, member id and group instance id
// (KIP-447), v4 may answer TRANSACTION_ABORTABLE and v5 lets a
// transaction.version 2 producer skip AddOffsetsToTxn (KIP-890), both of
// which come only from the verification below. v6 (topic ids) is Kafka
// 4.2's and not served.
//
// The group coordinator's half of a consumed-and-produced transaction: the
// offsets are written to the group's __consumer_offsets partition as a
// transactional batch of the request's producer id and epoch (the log
// fences an older epoch with INVALID_PRODUCER_EPOCH), and held pending in
// the group until that producer's COMMIT marker makes them its committed
// offsets (an ABORT drops them; group.Shard.TxnOffsetCommit, and
// WriteTxnMarkers for the markers). The answer waits for the batch's
// append to be committed. Partitions of topics, or partitions, that do
// not exist get UNKNOWN_TOPIC_OR_PARTITION, as in Kafka; a coordinator
// error (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, which v0-v1 get as
// COORDINATOR_NOT_AVAILABLE as Kafka does for clients older than 2.0,
// COORDINATOR_NOT_AVAILABLE) goes on every partition.
//
// As Kafka 3.8+, the transaction coordinator is first asked whether the
// producer's transaction is ongoing and includes the group's partition
// (KIP-890 part 1, as for a transactional produce: txn_verify.go), under
// the offsets partition's verification guard, so that the offsets of a
// producer that skipped AddOffsetsToTxn, or whose transaction already
// ended, are refused instead of waiting as pending for a marker that may
// never come. transaction.partition.verification.enable=false turns it
// off. From v5 with transaction.version 2 finalized (KIP-890 part 2: the
// producer sends no AddOffsetsToTxn) the call adds the group's partition
// to the transaction instead, even with verification off; below that
// level a v5 is verified as a v4 is.
func init() { register(kmsg.TxnOffsetCommit, 0, 5, handleTxnOffsetCommit) }

func handleTxnOffsetCommit(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.TxnOffsetCommitRequest)
	// As Kafka, commits for topics or partitions that do not exist are
	// refused here; the coordinator sees only the others.
	img := s.meta.Image()
	var unknown []kmsg.TxnOffsetCommitResponseTopic
	known := *req
	known.Topics = nil
	for _, rt := range req.Topics {
		t := img.Topics[rt.Topic]
		kt := rt
		kt.Partitions = nil
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			if t != nil && rp.Partition >= 0 && int(rp.Partition) < len(t.Partitions) {
				kt.Partitions = append(kt.Partitions, rp)
				continue
			}
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, kerr.UnknownTopicOrPartition.Code
			st.Partitions = append(st.Partitions, sp)
		}
		if len(kt.Partitions) > 0 {
			known.Topics = append(known.Topics, kt)
		}
		if len(st.Partitions) > 0 {
			unknown = append(unknown, st)
		}
	}
	if len(known.Topics) == 0 {
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		resp.Topics = unknown
		return resp
	}
	if req.Group == "" {
		// Answered before looking for the empty id's coordinator,
		// as Kafka does.
		resp := txnCommitError(req.Version, known.Topics, kerr.InvalidGroupID.Code)
		resp.Topics = mergeTxnCommitTopics(resp.Topics, unknown)
		return resp
	}
	opts, code := s.verifyTxnOffsetCommit(req)
	if code != 0 {
		return txnCommitError(req.Version, req.Topics, code)
	}
	err := s.groups.coordinatorRuntime.do(req.Group, func(now time.Time, sm *group.Shard) coordEffects {
		ce := groupEffects(sm.TxnOffsetCommit(now, &known, func(resp *kmsg.TxnOffsetCommitResponse) {
			resp.Topics = mergeTxnCommitTopics(resp.Topics, unknown)
			r.done(resp)
		}))
		if ce.Producer != nil {
			ce.Producer.Opts = opts
		}
		return ce
	})
	if err != nil {
		code := errCode(err)
		if code == kerr.CoordinatorLoadInProgress.Code && req.Version < 2 {
			// Producers older than Kafka 2.0 fail on it (KAFKA-7296).
			code = kerr.CoordinatorNotAvailable.Code
		}
		// As in Kafka, on every partition, the unknown ones too.
		return txnCommitError(req.Version, req.Topics, code)
	}
	return nil
}

// txnCommitError answers every partition of topics with code.
func txnCommitError(version int16, topics []kmsg.TxnOffsetCommitRequestTopic, code int16) *kmsg.TxnOffsetCommitResponse {
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	resp.Version = version
	for _, rt := range topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// mergeTxnCommitTopics adds the partitions refused before the coordinator
// to its answer, under the same topic when it has one.
func mergeTxnCommitTopics(topics, unknown []kmsg.TxnOffsetCommitResponseTopic) []kmsg.TxnOffsetCommitResponseTopic {
	for _, u := range unknown {
		merged := false
		for i := range topics {
			if topics[i].Topic == u.Topic {
				topics[i].Partitions = append(topics[i].Partitions, u.Partitions...)
				merged = true
				break
			}
		}
		if !merged {
			topics = append(topics, u)
		}
	}
	return topics
}

// verifyTxnOffsetCommit is KIP-890 part 1 for TxnOffsetCommit: the append
// options that check the offsets partition's verification guard, after
// the transaction coordinator confirmed the transaction includes that
// partition when the log has no transaction of the producer ongoing. A
// non-zero code fails the request, mapped as Kafka's group coordinator
// does: the coordinator errors a producer retries become
// COORDINATOR_NOT_AVAILABLE, a partition not in the transaction
// INVALID_TXN_STATE (TRANSACTION_ABORTABLE from v4), PRODUCER_FENCED
// INVALID_PRODUCER_EPOCH.
func (s *Server) verifyTxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest) (storage.AppendOptions, int16) {
	add := req.Version >= 5 && s.txnVersion() >= 2
	if (!add && !s.cfg.Bool("transaction.partition.verification.enable")) || req.TransactionalID == "" || req.ProducerID < 0 {
		return storage.AppendOptions{}, 0
	}
	t := s.meta.Image().Topics[metadata.ConsumerOffsetsTopic]
	if t == nil || len(t.Partitions) == 0 {
		return storage.AppendOptions{}, 0 // the coordinator answers
	}
	part := group.PartitionFor(req.Group, int32(len(t.Partitions)))
	p := s.replicas.Get(metadata.ConsumerOffsetsTopic, part)
	if p == nil {
		return storage.AppendOptions{}, 0 // not the coordinator: answered by the runtime
	}
	g := p.Log.StartTxnVerification(req.ProducerID, req.ProducerEpoch)
	opts := storage.AppendOptions{VerifyTxn: true, Guard: g}
	if g == 0 {
		return opts, 0
	}
	vt := kmsg.NewAddPartitionsToTxnRequestTransaction()
	vt.TransactionalID, vt.ProducerID, vt.ProducerEpoch, vt.VerifyOnly = req.TransactionalID, req.ProducerID, req.ProducerEpoch, !add
	tp := txn.TopicPartition{Topic: metadata.ConsumerOffsetsTopic, Partition: part}
	addTxnPartition(&vt, tp)
	codes, err := s.txnVerify.verify(&vt)
	code := int16(0)
	if err != nil {
		code = errCode(err)
	} else {
		code = codes[tp]
	}
	switch code {
	case 0:
		return opts, 0
	case kerr.ConcurrentTransactions.Code, kerr.CoordinatorLoadInProgress.Code, kerr.CoordinatorNotAvailable.Code,
		kerr.NotCoordinator.Code, kerr.NetworkException.Code:
		code = kerr.CoordinatorNotAvailable.Code
	case kerr.InvalidTxnState.Code, kerr.TransactionAbortable.Code:
		code = kerr.InvalidTxnState.Code
		if req.Version >= 4 {
			code = kerr.TransactionAbortable.Code
		}
	case kerr.ProducerFenced.Code:
		code = kerr.InvalidProducerEpoch.Code
	}
	return opts, code
}
