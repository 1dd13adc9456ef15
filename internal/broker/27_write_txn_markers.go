package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
	"github.com/samsa-streaming/samsa/internal/replica"
)

// WriteTxnMarkers v1 (v0 was removed in Kafka 4.0; v2, Kafka 4.2's
// KIP-1228, adds the marker's transaction version so that a leader can
// hold transaction version 2 markers to a strictly newer producer epoch,
// which matters only once transaction.version 2 can be finalized here).
//
// The transaction coordinator's request to a partition leader: for each
// marker (producer id and epoch, COMMIT or ABORT, the coordinator epoch)
// and each of its partitions this broker leads, the marker is appended
// (replica.Partition.AppendMarkerAcks: the storage fences older producer
// epochs with INVALID_PRODUCER_EPOCH and older coordinator epochs with
// TRANSACTION_COORDINATOR_FENCED) with acks=all semantics: min.insync.replicas
// is checked first, and the answer waits until the marker is committed,
// as Kafka's does. A partition not hosted here is UNKNOWN_TOPIC_OR_PARTITION
// or NOT_LEADER_OR_FOLLOWER (absentPartitionError); a follower answers
// NOT_LEADER_OR_FOLLOWER.
//
// Kafka accepts it only from brokers (CLUSTER_ACTION on the cluster).
// There are no ACLs yet, so anyone may send it; with the security
// milestone it must be refused to clients.
//
// A marker on a __consumer_offsets partition also ends the transaction's
// pending offset commits (TxnOffsetCommit): as Kafka delegates it to its
// group coordinator, it is written through the group coordinator's
// runtime (groupCoordinator.appendTxnMarker), under the group shard's
// mutex and handed to the shard once written, so that it is ordered with
// the shard's own offset commits as in the log. Those partitions are
// written after the others of the request, each waiting for its
// replicas (offsets.commit.timeout.ms) before the next, while the others'
// waits run; one whose group coordinator is still loading answers
// NOT_LEADER_OR_FOLLOWER, which the transaction coordinator retries.
func init() { register(kmsg.WriteTxnMarkers, 1, 1, handleWriteTxnMarkers) }

// txnMarkerCommitTimeout bounds the wait for a marker's replicas. Kafka
// uses its request.timeout.ms (30 s by default), which is not a broker
// config here.
const txnMarkerCommitTimeout = 30 * time.Second

func handleWriteTxnMarkers(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.WriteTxnMarkersRequest)
	// The appends run here, in request order on the connection; only
	// the wait for the replicas is left to a goroutine.
	resp, jobs := s.appendTxnMarkers(req)
	if len(jobs) == 0 {
		return resp
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.finishTxnMarkers(jobs, txnMarkerCommitTimeout)
		r.done(resp)
	}()
	return nil
}

// txnMarkerJob is a marker appended and waiting for its replicas, and
// the partition's answer to fill in when the wait is over.
type txnMarkerJob struct {
	wait replica.CommitWait
	rp   *kmsg.WriteTxnMarkersResponseMarkerTopicPartition
}

// appendTxnMarkers appends every marker of req to the partitions this
// broker leads and returns the answer, whose partitions still waiting for
// their replicas are listed in the jobs (finishTxnMarkers).
func (s *Server) appendTxnMarkers(req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, []txnMarkerJob) {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	now := s.now()
	// The answer's slices are allocated whole first: the jobs point into
	// them.
	resp.Markers = make([]kmsg.WriteTxnMarkersResponseMarker, len(req.Markers))
	var jobs []txnMarkerJob
	// The markers of __consumer_offsets partitions, written last.
	type groupMarker struct {
		m     *kmsg.WriteTxnMarkersRequestMarker
		topic string
		part  int32
		rp    *kmsg.WriteTxnMarkersResponseMarkerTopicPartition
	}
	var groupMarkers []groupMarker
	for i := range req.Markers {
		m := &req.Markers[i]
		rm := &resp.Markers[i]
		rm.Default()
		rm.ProducerID = m.ProducerID
		rm.Topics = make([]kmsg.WriteTxnMarkersResponseMarkerTopic, len(m.Topics))
		for j := range m.Topics {
			rt := &rm.Topics[j]
			rt.Default()
			rt.Topic = m.Topics[j].Topic
			rt.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, len(m.Topics[j].Partitions))
			for k, part := range m.Topics[j].Partitions {
				rp := &rt.Partitions[k]
				rp.Default()
				rp.Partition = part
				if rt.Topic == metadata.ConsumerOffsetsTopic && s.groups != nil {
					groupMarkers = append(groupMarkers, groupMarker{m, rt.Topic, part, rp})
					continue
				}
				w, err := s.appendTxnMarker(m, rt.Topic, part, now)
				if err != nil {
					rp.ErrorCode = errCode(err)
					s.logTxnMarkerError(m, rt.Topic, part, err)
					continue
				}
				if w != nil {
					jobs = append(jobs, txnMarkerJob{wait: *w, rp: rp})
				}
			}
		}
	}
	for _, gm := range groupMarkers {
		if err := s.groups.appendTxnMarker(gm.m, gm.part, s.now()); err != nil {
			gm.rp.ErrorCode = errCode(err)
			s.logTxnMarkerError(gm.m, gm.topic, gm.part, err)
		}
	}
	return resp, jobs
}

func (s *Server) logTxnMarkerError(m *kmsg.WriteTxnMarkersRequestMarker, topic string, part int32, err error) {
	s.logger.Debug("transaction marker not written", "topic", topic, "partition", part,
		"producer.id", m.ProducerID, "producer.epoch", m.ProducerEpoch, "commit", m.Committed, "err", err)
}

// appendTxnMarker appends one marker to one partition; the wait is nil
// when the marker is already committed.
func (s *Server) appendTxnMarker(m *kmsg.WriteTxnMarkersRequestMarker, topic string, part int32, now time.Time) (*replica.CommitWait, error) {
	p := s.replicas.Get(topic, part)
	if p == nil {
		return nil, s.absentPartitionError(topic, part)
	}
	off, epoch, err := p.AppendMarkerAcks(m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch, -1, now)
	if err != nil {
		return nil, err
	}
	w := &replica.CommitWait{P: p, Offset: off + 1, LeaderEpoch: epoch}
	if err := p.CommitError(w.Offset, w.LeaderEpoch); replica.IsPending(err) {
		return w, nil
	} else if err != nil {
		return nil, err
	}
	return nil, nil
}

// finishTxnMarkers waits until the jobs' markers are committed (or failed,
// or the timeout passed) and fills in their answers.
func (s *Server) finishTxnMarkers(jobs []txnMarkerJob, timeout time.Duration) {
	waits := make([]replica.CommitWait, len(jobs))
	for i := range jobs {
		waits[i] = jobs[i].wait
	}
	s.waitCommitted(waits, timeout)
	for i := range jobs {
		if err := s.commitOutcome(jobs[i].wait); err != nil {
			jobs[i].rp.ErrorCode = errCode(err)
		}
	}
}
