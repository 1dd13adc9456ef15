package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/kclient"
	"github.com/samsa-streaming/samsa/internal/txn"
)

// txnMarkerSender writes the markers of ended transactions to the leaders
// of their partitions (Kafka's TransactionMarkerChannelManager), for the
// transaction coordinator (txn_coordinator.go gives it the Markers its
// shards return and reports each outcome to the shard with MarkerWritten).
//
// send takes a marker (producer id and epoch, COMMIT or ABORT, coordinator
// epoch, its partitions). A dispatcher goroutine routes each partition to
// its current leader in the metadata image; one goroutine per leader
// (created on demand, gone after a minute idle) sends what is queued for
// it as one WriteTxnMarkers request over its own inter-broker connection
// (the endpoint the followers' fetchers use), or, for the partitions this
// broker leads, appends them locally through the handler's own code with
// no network round trip. Either way a marker counts once committed
// (acks=all).
//
// Each partition's outcome goes to the done callback, on a sender
// goroutine and never inside send: nil once the marker is written, or
// when the partition no longer exists (its topic deleted, as Kafka drops
// such partitions from the transaction). A partition without a leader, a
// broken connection, and the retriable errors (NOT_LEADER_OR_FOLLOWER,
// UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS[_AFTER_APPEND],
// REQUEST_TIMED_OUT, KAFKA_STORAGE_ERROR, ...) are retried with backoff,
// routed anew, so a leader change moves the marker to the new leader.
// INVALID_PRODUCER_EPOCH and TRANSACTION_COORDINATOR_FENCED (a newer
// coordinator took over: the caller must stop) and any other error are
// reported as the error. UNSUPPORTED_FOR_MESSAGE_FORMAT counts as written,
// as in Kafka: such a partition cannot hold transactional data.
//
// When the server stops (s.ctx) every goroutine ends; markers not yet
// written are dropped without a callback: they are still outstanding in
// the coordinator's log, and the next coordinator resends them.
//
// Two markers of one producer id never share a request: the answer is
// keyed by producer id.
type txnMarkerSender struct {
	s    *Server
	done func(m txn.Marker, tp txn.TopicPartition, err error)
	wake chan struct{}

	mu struct {
		sync.Mutex
		pending []*markerItem // waiting to be routed, each at its due time
		dests   map[int32]*markerDest
	}
}

// markerItem is one partition of a marker.
type markerItem struct {
	m        *txn.Marker // shared by the marker's partitions
	tp       txn.TopicPartition
	attempts int
	due      time.Time
}

// markerDest is the queue and connection for one partition leader.
type markerDest struct {
	id    int32
	queue []*markerItem // under the sender's mu
	wake  chan struct{}
	conn  *kclient.Conn // the destination goroutine's own
}

const (
	markerBackoffMin = 20 * time.Millisecond
	markerBackoffMax = time.Second
	// markerDestIdle is how long a destination goroutine waits for work
	// before it ends.
	markerDestIdle = time.Minute
	// markerBatchPartitions bounds the partitions of one request.
	markerBatchPartitions = 1000
)

// newTxnMarkerSender starts a sender; it stops with the server.
func newTxnMarkerSender(s *Server, done func(txn.Marker, txn.TopicPartition, error)) *txnMarkerSender {
	ms := &txnMarkerSender{s: s, done: done, wake: make(chan struct{}, 1)}
	ms.mu.dests = map[int32]*markerDest{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ms.dispatch()
	}()
	return ms
}

// send queues a marker for each of its partitions.
func (ms *txnMarkerSender) send(m txn.Marker) {
	mc := m
	mc.Partitions = append([]txn.TopicPartition(nil), m.Partitions...)
	now := time.Now()
	ms.mu.Lock()
	for _, tp := range mc.Partitions {
		ms.mu.pending = append(ms.mu.pending, &markerItem{m: &mc, tp: tp, due: now})
	}
	ms.mu.Unlock()
	wakeOne(ms.wake)
}

func wakeOne(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// dispatch routes the due items to their leaders' queues until the
// server stops.
func (ms *txnMarkerSender) dispatch() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		now := time.Now()
		next := now.Add(time.Hour)
		ms.mu.Lock()
		var due []*markerItem
		keep := ms.mu.pending[:0]
		for _, it := range ms.mu.pending {
			if !it.due.After(now) {
				due = append(due, it)
				continue
			}
			keep = append(keep, it)
			if it.due.Before(next) {
				next = it.due
			}
		}
		clear(ms.mu.pending[len(keep):])
		ms.mu.pending = keep
		ms.mu.Unlock()
		if len(due) > 0 {
			ms.route(due)
		}
		t.Reset(time.Until(next))
		select {
		case <-ms.s.ctx.Done():
			return
		case <-ms.wake:
		case <-t.C:
		}
	}
}

// route queues each item for its partition's leader, reports the
// partitions that no longer exist, and retries those without a leader.
func (ms *txnMarkerSender) route(items []*markerItem) {
	img := ms.s.meta.Image()
	var retry []*markerItem
	woken := map[*markerDest]bool{}
	for _, it := range items {
		t := img.Topics[it.tp.Topic]
		if t == nil || it.tp.Partition < 0 || int(it.tp.Partition) >= len(t.Partitions) {
			ms.done(*it.m, it.tp, nil)
			continue
		}
		leader := t.Partitions[it.tp.Partition].Leader
		if leader < 0 {
			retry = append(retry, it)
			continue
		}
		if leader != ms.s.nodeID {
			if _, ok := (replicaCluster{ms.s}).BrokerAddr(leader); !ok {
				retry = append(retry, it)
				continue
			}
		}
		ms.mu.Lock()
		if ms.s.ctx.Err() != nil {
			ms.mu.Unlock()
			return
		}
		d := ms.mu.dests[leader]
		if d == nil {
			d = &markerDest{id: leader, wake: make(chan struct{}, 1)}
			ms.mu.dests[leader] = d
			ms.s.wg.Add(1)
			go func() {
				defer ms.s.wg.Done()
				ms.runDest(d)
			}()
		}
		d.queue = append(d.queue, it)
		ms.mu.Unlock()
		woken[d] = true
	}
	for d := range woken {
		wakeOne(d.wake)
	}
	ms.retry(retry, nil)
}

// retry puts items back to be routed after their backoff.
func (ms *txnMarkerSender) retry(items []*markerItem, why error) {
	if len(items) == 0 {
		return
	}
	now := time.Now()
	ms.mu.Lock()
	for _, it := range items {
		it.attempts++
		backoff := markerBackoffMin << min(it.attempts-1, 10)
		it.due = now.Add(min(backoff, markerBackoffMax))
		ms.mu.pending = append(ms.mu.pending, it)
		if it.attempts%20 == 0 {
			ms.s.logger.Warn("transaction marker still not written", "topic", it.tp.Topic, "partition", it.tp.Partition,
				"producer.id", it.m.ProducerID, "attempts", it.attempts, "err", why)
		}
	}
	ms.mu.Unlock()
	wakeOne(ms.wake)
}

// runDest sends a leader's queue until the server stops or it has been
// idle for markerDestIdle.
func (ms *txnMarkerSender) runDest(d *markerDest) {
	defer func() {
		if d.conn != nil {
			d.conn.Close()
		}
	}()
	idle := false
	for {
		ms.mu.Lock()
		batch := takeMarkerBatch(d)
		if len(batch) == 0 && idle {
			delete(ms.mu.dests, d.id)
			ms.mu.Unlock()
			return
		}
		ms.mu.Unlock()
		if ms.s.ctx.Err() != nil {
			return
		}
		if len(batch) > 0 {
			idle = false
			ms.write(d, batch)
			continue
		}
		t := time.NewTimer(markerDestIdle)
		select {
		case <-ms.s.ctx.Done():
			t.Stop()
			return
		case <-d.wake:
		case <-t.C:
			idle = true
		}
		t.Stop()
	}
}

// takeMarkerBatch takes the next request's items off d's queue: up to
// markerBatchPartitions, and no two markers of one producer id. Called
// under the sender's mu.
func takeMarkerBatch(d *markerDest) []*markerItem {
	var batch []*markerItem
	rest := d.queue[:0]
	marker := map[int64]*txn.Marker{}
	for _, it := range d.queue {
		if m, ok := marker[it.m.ProducerID]; (ok && m != it.m) || len(batch) >= markerBatchPartitions {
			rest = append(rest, it)
			continue
		}
		marker[it.m.ProducerID] = it.m
		batch = append(batch, it)
	}
	clear(d.queue[len(rest):])
	d.queue = rest
	return batch
}

// markerKey names one partition of one producer's marker in an answer.
type markerKey struct {
	pid   int64
	topic string
	part  int32
}

// write sends one batch to its leader and handles each partition's
// answer.
func (ms *txnMarkerSender) write(d *markerDest, batch []*markerItem) {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	byMarker := map[*txn.Marker]int{}
	type topicKey struct {
		marker int
		topic  string
	}
	byTopic := map[topicKey]int{}
	items := make(map[markerKey]*markerItem, len(batch))
	for _, it := range batch {
		i, ok := byMarker[it.m]
		if !ok {
			rm := kmsg.NewWriteTxnMarkersRequestMarker()
			rm.ProducerID, rm.ProducerEpoch = it.m.ProducerID, it.m.ProducerEpoch
			rm.Committed, rm.CoordinatorEpoch = it.m.Commit, it.m.CoordinatorEpoch
			rm.TransactionVersion = it.m.TransactionVersion // v2+ only; v1 is sent
			req.Markers = append(req.Markers, rm)
			i = len(req.Markers) - 1
			byMarker[it.m] = i
		}
		tk := topicKey{i, it.tp.Topic}
		j, ok := byTopic[tk]
		if !ok {
			rt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			rt.Topic = it.tp.Topic
			req.Markers[i].Topics = append(req.Markers[i].Topics, rt)
			j = len(req.Markers[i].Topics) - 1
			byTopic[tk] = j
		}
		req.Markers[i].Topics[j].Partitions = append(req.Markers[i].Topics[j].Partitions, it.tp.Partition)
		items[markerKey{it.m.ProducerID, it.tp.Topic, it.tp.Partition}] = it
	}

	start := time.Now()
	resp, err := ms.request(d, req)
	ms.s.metrics.observeMarkerWrite(d.id == ms.s.nodeID, time.Since(start))
	if err != nil {
		ms.s.logger.Debug("transaction markers not sent", "leader", d.id, "partitions", len(batch), "err", err)
		ms.retry(batch, err)
		return
	}
	var retry []*markerItem
	for _, rm := range resp.Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				k := markerKey{rm.ProducerID, rt.Topic, rp.Partition}
				it := items[k]
				if it == nil {
					continue
				}
				delete(items, k)
				code := rp.ErrorCode
				switch err := kerr.ErrorForCode(code); {
				case code == 0, code == kerr.UnsupportedForMessageFormat.Code:
					ms.done(*it.m, it.tp, nil)
				case kerr.IsRetriable(err):
					retry = append(retry, it)
				default:
					ms.done(*it.m, it.tp, err)
				}
			}
		}
	}
	// Partitions missing from the answer are sent again.
	for _, it := range items {
		retry = append(retry, it)
	}
	ms.retry(retry, errors.New("retriable error in the answer"))
}

// request sends req to d's leader: locally when that is this broker,
// else over d's connection (dialled on demand, dropped when it breaks).
func (ms *txnMarkerSender) request(d *markerDest, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	s := ms.s
	if d.id == s.nodeID {
		resp, jobs := s.appendTxnMarkers(req)
		s.finishTxnMarkers(jobs, txnMarkerCommitTimeout)
		return resp, nil
	}
	if d.conn == nil {
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		c, err := s.dialBroker(ctx, d.id)
		cancel()
		if err != nil {
			return nil, err
		}
		d.conn = c
	}
	// The leader answers once the markers are committed or its own wait
	// timed out.
	ctx, cancel := context.WithTimeout(s.ctx, txnMarkerCommitTimeout+5*time.Second)
	defer cancel()
	resp, err := d.conn.Request(ctx, req)
	if err != nil {
		d.conn.Close()
		d.conn = nil
		return nil, err
	}
	wr, ok := resp.(*kmsg.WriteTxnMarkersResponse)
	if !ok {
		return nil, fmt.Errorf("answer of type %T", resp)
	}
	return wr, nil
}
