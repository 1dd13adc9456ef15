package broker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/broker"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/replica"
	"github.com/samsa-streaming/samsa/internal/testbroker"
	"github.com/samsa-streaming/samsa/internal/txn"
)

// markerOutcomes collects a marker sender's callbacks.
type markerOutcomes struct {
	mu  sync.Mutex
	got map[txn.TopicPartition][]error
}

func (o *markerOutcomes) done(_ txn.Marker, tp txn.TopicPartition, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got[tp] = append(o.got[tp], err)
}

func (o *markerOutcomes) snapshot() map[txn.TopicPartition][]error {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[txn.TopicPartition][]error{}
	for k, v := range o.got {
		out[k] = append([]error(nil), v...)
	}
	return out
}

// createAssigned creates a topic with an explicit assignment (partition i
// on assign[i], the first replica its preferred leader) and topic configs.
func createAssigned(t *testing.T, c *testbroker.Cluster, topic string, assign [][]int32, configs map[string]string) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for i, r := range assign {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = int32(i), r
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	}
	for k, v := range configs {
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, cfg)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), c.Client())
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create %s: %v %+v", topic, err, resp)
	}
	c.WaitSynced()
}

// waitLedWithISR waits until node leads topic-part with the full ISR.
func waitLedWithISR(t *testing.T, c *testbroker.Cluster, topic string, part int32, node int32, isr int) *replica.Partition {
	t.Helper()
	var p *replica.Partition
	eventually(t, 20*time.Second, "the leader with its ISR", func() bool {
		p = c.Node(node).Srv.Replicas().Get(topic, part)
		return p != nil && p.IsLeader() && len(p.State().ISR) == isr
	})
	return p
}

// txnBatch appends one transactional batch of n records as the leader.
func txnBatch(t *testing.T, p *replica.Partition, pid int64, n int) {
	t.Helper()
	recs := records.MakeRecords(n, func(i int, r *records.Record) { r.Value = []byte{byte('a' + i)} })
	spec := records.BatchSpec{FirstTimestamp: time.Now().UnixMilli(), Records: recs, Attributes: records.AttrTransactional,
		Idempotent: true, ProducerID: pid}
	if _, err := p.AppendAsLeader(records.BuildBatch(spec), 1, -1, time.Now()); err != nil {
		t.Fatalf("transactional batch on %s: %v", p.TP, err)
	}
}

// onEveryReplica waits until every running replica of topic-part has the
// log end leo with its high watermark and last stable offset there too
// (the marker replicated, the transaction closed everywhere).
func onEveryReplica(t *testing.T, c *testbroker.Cluster, topic string, part int32, leo int64) {
	t.Helper()
	eventually(t, 20*time.Second, "the marker on every replica", func() bool {
		for _, nd := range c.Nodes() {
			if !nd.Running() {
				continue
			}
			p := nd.Srv.Replicas().Get(topic, part)
			if p == nil {
				continue
			}
			if p.Log.LogEndOffset() != leo || p.Log.HighWatermark() != leo || p.Log.LastStableOffset() != leo {
				return false
			}
		}
		return true
	})
}

// TestTxnMarkerSender: a sender on node 1 commits a transaction on three
// partitions led by three brokers (two over the network, one locally);
// followers replicate the markers, and a read_committed consumer sees the
// records. WriteTxnMarkers sent to a follower is NOT_LEADER_OR_FOLLOWER.
func TestTxnMarkerSender(t *testing.T) {
	c := testbroker.StartCluster(t, 3)
	createAssigned(t, c, "txs", [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}}, nil)
	const pid = 4242
	for part := int32(0); part < 3; part++ {
		p := waitLedWithISR(t, c, "txs", part, part+1, 3)
		txnBatch(t, p, pid, 2)
	}

	// A follower refuses a marker.
	cl := c.Client()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.Committed = pid, true
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = "txs", []int32{0}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	resp, err := req.RequestWith(context.Background(), cl.Broker(2))
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Markers[0].Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("marker on a follower: code %d, want NOT_LEADER_OR_FOLLOWER", code)
	}

	out := &markerOutcomes{got: map[txn.TopicPartition][]error{}}
	send := broker.StartTxnMarkerSender(c.Node(1).Srv, out.done)
	tps := []txn.TopicPartition{{Topic: "txs", Partition: 0}, {Topic: "txs", Partition: 1}, {Topic: "txs", Partition: 2}, {Topic: "gone", Partition: 0}}
	send(txn.Marker{TransactionalID: "t", ProducerID: pid, Commit: true, CoordinatorEpoch: 1, Partitions: tps})
	eventually(t, 20*time.Second, "every partition's outcome", func() bool { return len(out.snapshot()) == len(tps) })
	time.Sleep(100 * time.Millisecond) // no second callback
	for tp, errs := range out.snapshot() {
		if len(errs) != 1 || errs[0] != nil {
			t.Errorf("%s: outcomes %v, want one nil (written, or a partition that does not exist)", tp, errs)
		}
	}
	for part := int32(0); part < 3; part++ {
		onEveryReplica(t, c, "txs", part, 3)
	}
	consumeCommitted(t, c, "txs", 6)
}

// consumeCommitted reads topic with a read_committed consumer until it has
// want records.
func consumeCommitted(t *testing.T, c *testbroker.Cluster, topic string, want int) {
	t.Helper()
	cl := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := 0
	for got < want && ctx.Err() == nil {
		got += cl.PollFetches(ctx).NumRecords()
	}
	if got != want {
		t.Fatalf("read_committed consumer read %d records, want %d", got, want)
	}
}

// TestTxnMarkerSenderRetries: a marker the leader cannot commit
// (NOT_ENOUGH_REPLICAS: min.insync.replicas 3, one replica stopped) is
// retried, the leader's node stops while it is, and the marker is written
// on the new leader (this node: the local path) once the ISR is whole
// again.
func TestTxnMarkerSenderRetries(t *testing.T) {
	c := testbroker.StartCluster(t, 3)
	createAssigned(t, c, "txr", [][]int32{{3, 2, 1}}, map[string]string{"min.insync.replicas": "3"})
	const pid = 77
	p := waitLedWithISR(t, c, "txr", 0, 3, 3)
	txnBatch(t, p, pid, 3)
	eventually(t, 20*time.Second, "the batch replicated", func() bool { return p.Log.HighWatermark() == 3 })

	c.Node(2).Stop()
	eventually(t, 20*time.Second, "the ISR shrunk", func() bool { return len(p.State().ISR) == 2 })
	out := &markerOutcomes{got: map[txn.TopicPartition][]error{}}
	send := broker.StartTxnMarkerSender(c.Node(1).Srv, out.done)
	tp := txn.TopicPartition{Topic: "txr", Partition: 0}
	send(txn.Marker{TransactionalID: "r", ProducerID: pid, Commit: false, CoordinatorEpoch: 2, Partitions: []txn.TopicPartition{tp}})
	time.Sleep(500 * time.Millisecond)
	if got := out.snapshot(); len(got) != 0 {
		t.Fatalf("outcome %v while the ISR is below min.insync.replicas, want none yet", got)
	}
	if leo := p.Log.LogEndOffset(); leo != 3 {
		t.Fatalf("log end %d on the leader, want 3: nothing written", leo)
	}

	// The leader's node stops: leadership moves to node 1, alone in the
	// ISR, and the marker waits there.
	c.Node(3).Stop()
	eventually(t, 20*time.Second, "node 1 leading", func() bool {
		p := c.Node(1).Srv.Replicas().Get("txr", 0)
		return p != nil && p.IsLeader()
	})
	time.Sleep(300 * time.Millisecond)
	if got := out.snapshot(); len(got) != 0 {
		t.Fatalf("outcome %v with node 1 alone in the ISR, want none yet", got)
	}
	// Both come back (they restore the controller quorum together).
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, id := range []int32{2, 3} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Node(id).TryStart()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the marker's outcome", func() bool { return len(out.snapshot()) == 1 })
	if errs := out.snapshot()[tp]; len(errs) != 1 || errs[0] != nil {
		t.Fatalf("outcomes %v, want one nil", errs)
	}
	eventually(t, 20*time.Second, "every replica back", func() bool {
		for _, nd := range c.Nodes() {
			if nd.Srv.Replicas().Get("txr", 0) == nil {
				return false
			}
		}
		return true
	})
	// The ABORT marker at offset 3 everywhere; the transaction is closed.
	onEveryReplica(t, c, "txr", 0, 4)
}
