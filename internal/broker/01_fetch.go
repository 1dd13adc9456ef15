package broker

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
	"github.com/samsa-streaming/samsa/internal/replica"
	"github.com/samsa-streaming/samsa/internal/storage"
)

// Fetch v4-v17.
//
// v4 adds the isolation level and last stable offset, v5 the log start
// offset, v7 fetch sessions (KIP-227, fetch_sessions.go), v9 the current
// leader epoch for fencing, v11 the rack and preferred read replica, v12 is
// flexible with diverging-epoch tags, v13 names topics by id, v15 moves the
// replica id into ReplicaState. v4 is the oldest Kafka 4.x serves and what
// kafkajs still sends.
//
// A fetch answers at once when it has min_bytes, when max_wait_ms is 0, or
// when a partition has an error; otherwise it waits (a delayed fetch) until
// a high watermark moves enough or max_wait_ms passes (the last stable
// offset, which read_committed reads up to, moves only with the high
// watermark: a transaction's end is stable once its marker is below it). The first partition
// with data always gets at least one whole batch, even over max_bytes, so a
// consumer can never be stuck behind a batch bigger than its limits.
func init() { register(kmsg.Fetch, 4, 17, handleFetch) }

func handleFetch(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.FetchRequest)
	plan, code := s.sessions.plan(req)
	if code != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = code
		return resp
	}
	from := s.fetcherOf(req)
	var fb fetchPayload
	resp, sent, n, urgent := s.readFetch(r, from, plan, &fb)
	if urgent || n >= int(req.MinBytes) || req.MaxWaitMillis <= 0 || len(plan.keys) == 0 {
		s.sessions.commit(plan, sent)
		s.countFetched(resp, &fb)
		r.payload = fb.take()
		return resp
	}

	// Delayed fetch: wait for the high watermarks (a consumer) or the log
	// ends (a follower) of the fetched partitions to move, then read
	// again. An append between the read above and the registration below
	// wakes nobody, so the waiter starts woken: the goroutine reads once
	// more after registering (Kafka's purgatory: try, watch, try again).
	// Without it a follower could sleep its whole max wait while acks=all
	// produces wait on its log end (a stall found by bench W7).
	if hook := s.fetchReadHook.Load(); hook != nil {
		(*hook)()
	}
	w := replica.NewWaiter()
	var watched []*replica.Partition
	for _, k := range plan.keys {
		if p := s.partitionFor(k); p != nil {
			if from.follower() {
				p.AddLEOWaiter(w)
			} else {
				p.AddHWWaiter(w)
			}
			watched = append(watched, p)
		}
	}
	w.Wake()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			for _, p := range watched {
				p.RemoveWaiter(w)
			}
		}()
		timer := time.NewTimer(time.Duration(req.MaxWaitMillis) * time.Millisecond)
		defer timer.Stop()
		for {
			select {
			case <-w.C:
				fb.release() // the previous answer is dropped
				resp, sent, n, urgent = s.readFetch(r, from, plan, &fb)
				if urgent || n >= int(req.MinBytes) {
					s.sessions.commit(plan, sent)
					s.countFetched(resp, &fb)
					r.payload = fb.take()
					r.done(resp)
					return
				}
			case <-timer.C:
				fb.release()
				resp, sent, _, _ = s.readFetch(r, from, plan, &fb)
				s.sessions.commit(plan, sent)
				s.countFetched(resp, &fb)
				r.payload = fb.take()
				r.done(resp)
				return
			case <-s.ctx.Done():
				r.payload = fb.take()
				r.done(resp) // not committed: the client will not see it
				return
			}
		}
	}()
	return nil
}

// countFetched adds the record bytes of an answer to the bytes-out metric.
func (s *Server) countFetched(resp *kmsg.FetchResponse, fb *fetchPayload) {
	img := s.meta.Image()
	for i := range resp.Topics {
		t := &resp.Topics[i]
		n := 0
		for j := range t.Partitions {
			n += fb.recordLen(t.Partitions[j].RecordBatches)
		}
		if n == 0 {
			continue
		}
		name := t.Topic
		if name == "" {
			if mt := img.TopicsByID[t.TopicID]; mt != nil {
				name = mt.Name
			}
		}
		s.metrics.bytesOut.WithLabelValues(name).Add(float64(n))
	}
}

// partitionFor finds the hosted partition of a session key, resolving a
// topic id through the metadata image.
func (s *Server) partitionFor(k sessionKey) *replica.Partition {
	name := k.topic
	if name == "" {
		t := s.meta.Image().TopicsByID[k.id]
		if t == nil {
			return nil
		}
		name = t.Name
	}
	return s.replicas.Get(name, k.part)
}

// fetchFrom says who fetches: a consumer (replica -1) or a follower,
// with the broker epoch it fetches under (-1: not said).
type fetchFrom struct {
	replica     int32
	brokerEpoch int64
}

func (f fetchFrom) follower() bool { return f.replica >= 0 }

func (s *Server) fetcherOf(req *kmsg.FetchRequest) fetchFrom {
	if req.Version >= 15 {
		return fetchFrom{req.ReplicaState.ID, req.ReplicaState.Epoch}
	}
	return fetchFrom{req.ReplicaID, -1}
}

// readFetch reads every partition of the plan once and builds the answer. It
// returns the number of record bytes and whether a partition has an error
// (which answers a fetch at once). The record bytes are read into buffers
// of fb, or left in their files as regions of fb.
func (s *Server) readFetch(r *request, from fetchFrom, plan *fetchPlan, fb *fetchPayload) (*kmsg.FetchResponse, map[sessionKey]sentState, int, bool) {
	req := r.req.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	leaders := newLeaderHints(s)
	var staleEpoch error
	if from.follower() {
		staleEpoch = s.checkReplicaEpoch(from)
	}
	var sent map[sessionKey]sentState
	if plan.session != nil {
		resp.SessionID = plan.session.id
		sent = map[sessionKey]sentState{}
	}
	img := s.meta.Image()
	remaining := int64(req.MaxBytes)
	if req.MaxBytes <= 0 {
		remaining = 1<<31 - 1
	}
	// fetch.max.bytes caps what a consumer may ask for (the first batch
	// still goes out whole).
	if limit := s.fetchMaxBytes; !from.follower() && limit > 0 {
		remaining = min(remaining, limit)
	}
	total, urgent := 0, false
	var cur *kmsg.FetchResponseTopic
	for _, k := range plan.keys {
		sp := plan.parts[k]
		name := k.topic
		if name == "" {
			if t := img.TopicsByID[k.id]; t != nil {
				name = t.Name
			}
		}
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition = k.part
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
		rp.PreferredReadReplica = -1

		var err error
		switch {
		case name == "":
			err = kerr.UnknownTopicID
		case staleEpoch != nil:
			err = staleEpoch
		case from.follower():
			limit := min(int64(sp.maxBytes), remaining)
			err = s.readFollowerPartition(from.replica, name, k.part, sp, int32(max(limit, 0)), fb, &rp)
			if rp.DivergingEpoch.EndOffset >= 0 {
				urgent = true
			}
		default:
			limit := min(int64(sp.maxBytes), remaining)
			err = s.readPartition(name, k.part, sp, consumerOf(req), int32(max(limit, 0)), total == 0, fb, &rp)
			if rp.PreferredReadReplica >= 0 {
				urgent = true // the consumer moves to that replica now
			}
		}
		if err != nil {
			rp.ErrorCode = errCode(err)
			if id, epoch, ok := leaders.hint(err); ok && req.Version >= 12 {
				rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = id, epoch
			}
			urgent = true
		}
		if rp.RecordBatches == nil {
			// Empty, not null: librdkafka rejects a null record set.
			rp.RecordBatches = []byte{}
		}
		n := fb.recordLen(rp.RecordBatches)
		total += n
		remaining -= int64(n)

		changed := rp.ErrorCode != 0 || n > 0 || rp.HighWatermark != sp.sentHW ||
			rp.LastStableOffset != sp.sentLSO || rp.LogStartOffset != sp.sentLogStart ||
			rp.PreferredReadReplica >= 0
		if plan.incremental && !changed {
			continue
		}
		if sent != nil {
			sent[k] = sentState{rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset}
		}
		if cur == nil || cur.Topic != k.topic || cur.TopicID != k.id {
			resp.Topics = append(resp.Topics, kmsg.NewFetchResponseTopic())
			cur = &resp.Topics[len(resp.Topics)-1]
			cur.Topic, cur.TopicID = k.topic, k.id
		}
		cur.Partitions = append(cur.Partitions, rp)
	}
	if req.Version >= 16 {
		resp.Brokers = leaders.fetchBrokers(r.c.listener)
	}
	return resp, sent, total, urgent
}

// rackOf is a broker's broker.rack in the image, "" when it has none.
func (s *Server) rackOf(id int32) string {
	if b := s.meta.Image().Brokers[id]; b != nil && b.Rack != nil {
		return *b.Rack
	}
	return ""
}

// checkReplicaEpoch refuses a follower fetch from an older incarnation of
// the broker than the one registered (KIP-903), and one from a broker that
// is not registered at all.
func (s *Server) checkReplicaEpoch(from fetchFrom) error {
	b := s.meta.Image().Brokers[from.replica]
	switch {
	case b == nil:
		return fmt.Errorf("%w: broker %d is not registered", replica.ErrUnknownReplica, from.replica)
	case from.brokerEpoch >= 0 && from.brokerEpoch < b.Epoch:
		return fmt.Errorf("%w: broker %d fetches with epoch %d, its registration has %d", metadata.ErrStaleBrokerEpoch, from.replica, from.brokerEpoch, b.Epoch)
	}
	return nil
}

// readFollowerPartition serves one partition of a follower's fetch.
func (s *Server) readFollowerPartition(replicaID int32, topic string, part int32, sp *sessionPart, maxBytes int32, fb *fetchPayload, rp *kmsg.FetchResponseTopicPartition) error {
	p := s.replicas.Get(topic, part)
	if p == nil {
		return s.absentPartitionError(topic, part)
	}
	fr, err := p.ReadForFollower(replicaID, sp.fetchOffset, sp.currentLeaderEpoch, sp.lastFetchedEpoch, maxBytes, sendfileMinBytes, fb.alloc)
	// Followers do not use the last stable offset; it is sent as to a
	// consumer, never above the high watermark sent.
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = fr.HighWatermark, min(p.Log.LastStableOffset(), fr.HighWatermark), fr.LogStartOffset
	if err != nil {
		if fr.HighWatermark < 0 {
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
		}
		return err
	}
	rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = fr.DivergingEpoch, fr.DivergingEndOffset
	rp.RecordBatches = fr.Records
	if fr.Region != nil {
		rp.RecordBatches = fb.addRegion(fr.Region)
	}
	return nil
}

// consumer is what a consumer's fetch says about where it may read.
type consumer struct {
	isolation int8
	// followerOK: Fetch v11+ (KIP-392), which may be served by a follower.
	followerOK bool
	// rack is the client's rack (client.rack), "" when unknown.
	rack string
}

func consumerOf(req *kmsg.FetchRequest) consumer {
	return consumer{isolation: req.IsolationLevel, followerOK: req.Version >= 11, rack: req.Rack}
}

// readPartition reads one partition for a consumer into rp: on the leader,
// or (KIP-392) on a follower up to the high watermark it has; a leader with
// replica.selector.class set to the rack-aware selector sends a consumer of
// another rack to an in-sync follower of its own (PreferredReadReplica),
// with no records.
func (s *Server) readPartition(topic string, part int32, sp *sessionPart, cons consumer, maxBytes int32, minOne bool, fb *fetchPayload, rp *kmsg.FetchResponseTopicPartition) error {
	p := s.replicas.Get(topic, part)
	if p == nil {
		return s.absentPartitionError(topic, part)
	}
	l := p.Log
	if err := p.CheckLeader(sp.currentLeaderEpoch); err != nil {
		if !cons.followerOK || !errors.Is(err, replica.ErrNotLeader) {
			return err
		}
		if ferr := p.CheckFollowerRead(sp.currentLeaderEpoch); ferr != nil {
			return err
		}
	} else if s.rackAwareReads && cons.followerOK && cons.rack != "" {
		if id := p.PreferredReadReplica(cons.rack, sp.fetchOffset, s.rackOf); id >= 0 {
			lso := l.LastStableOffset()
			rp.PreferredReadReplica = id
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = l.HighWatermark(), lso, l.LogStartOffset()
			return nil
		}
	}
	// Every answer carries the last stable offset (as Kafka's does);
	// read_committed reads up to it, read_uncommitted up to the high
	// watermark. On a follower (KIP-392) both are the follower's own. The
	// last stable offset is loaded first: it is at most the high
	// watermark of its moment, so at most the one loaded after it.
	lso := l.LastStableOffset()
	hw := l.HighWatermark()
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = hw, lso, l.LogStartOffset()
	if sp.fetchOffset > hw && sp.fetchOffset <= l.LogEndOffset() {
		return nil // between HW and LEO: nothing to read yet, not an error
	}
	committed := cons.isolation == readCommitted
	upTo := hw
	if committed {
		// Between the LSO and the HW ReadRegion reads nothing, without
		// an error, as Kafka does. The sendfile region is still exact:
		// ReadRegion cuts at the LSO (a batch boundary) by reading the
		// batches unless a sealed segment lies wholly below it or it is
		// the log end.
		upTo = lso
	}
	rr, rg, err := l.ReadRegion(sp.fetchOffset, maxBytes, upTo, minOne, sendfileMinBytes, fb.alloc)
	if err != nil {
		if errors.Is(err, storage.ErrOffsetOutOfRange) {
			rp.LogStartOffset = l.LogStartOffset()
		}
		return err
	}
	if committed && (rr.Records != nil || rg != nil) {
		if err := abortedTxns(l, sp.fetchOffset, rr.NextOffset, rp); err != nil {
			if rg != nil {
				rg.Release()
			}
			return err
		}
	}
	rp.RecordBatches = rr.Records
	if rg != nil {
		rp.RecordBatches = fb.addRegion(rg)
	}
	rp.LogStartOffset = rr.LogStartOffset
	return nil
}

// readCommitted is the isolation level of a read_committed fetch.
const readCommitted = 1

// abortedTxns fills a read_committed answer's aborted transactions: those
// that overlap [fetchOffset, upperBound), upperBound being past the
// batches read (ReadResult.NextOffset: exact for records, the segment's end
// for a sendfile region; Kafka bounds it with the offset index, or the
// segment's end). A consumer skips a listed producer's batches from its
// first offset until that producer's ABORT marker; an extra entry past
// what was sent is harmless, a missing one shows aborted records.
func abortedTxns(l *storage.Log, fetchOffset, upperBound int64, rp *kmsg.FetchResponseTopicPartition) error {
	as, err := l.AbortedTransactions(fetchOffset, upperBound)
	if err != nil {
		return err
	}
	for _, a := range as {
		at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
		rp.AbortedTransactions = append(rp.AbortedTransactions, at)
	}
	return nil
}
