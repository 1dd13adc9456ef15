package broker_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/testbroker"
)

func eventually(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterReplicates runs three combined nodes in one process: a topic
// with three replicas created through a broker that may not be the
// controller (forwarded), records produced with acks=all reach every
// replica, byte for byte; stopping a partition leader moves its
// leadership to another ISR member and producing goes on; the stopped
// node comes back, catches up and rejoins the ISR.
func TestClusterReplicates(t *testing.T) {
	c := testbroker.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Create through a node that is not the controller.
	var via *testbroker.Node
	for _, nd := range c.Nodes() {
		if !nd.Srv.Metadata().IsController() {
			via = nd
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(via.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	res, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "rep")
	if err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}

	prod := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("rep"))
	produce := func(from, n int) {
		t.Helper()
		var rs []*kgo.Record
		for i := from; i < from+n; i++ {
			rs = append(rs, &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprint(i))})
		}
		if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce %d..%d: %v", from, from+n, err)
		}
	}
	produce(0, 300)

	// Every replica has every record below the high watermark, the same
	// bytes, and the ISR is whole.
	sameReplicas := func() bool {
		for p := int32(0); p < 3; p++ {
			var leo, hw []int64
			for _, nd := range c.Nodes() {
				if !nd.Running() {
					continue
				}
				rp := nd.Srv.Replicas().Get("rep", p)
				if rp == nil {
					return false
				}
				leo = append(leo, rp.Log.LogEndOffset())
				hw = append(hw, rp.Log.HighWatermark())
			}
			if slices.Min(leo) != slices.Max(leo) || slices.Min(hw) != slices.Max(leo) {
				return false
			}
		}
		return true
	}
	eventually(t, 10*time.Second, "replicas in step", sameReplicas)
	for p := int32(0); p < 3; p++ {
		var first []byte
		for _, nd := range c.Nodes() {
			l := nd.Srv.Replicas().Get("rep", p).Log
			rr, err := l.Read(l.LogStartOffset(), 64<<20, -1, true)
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = rr.Records
			} else if !slices.Equal(first, rr.Records) {
				t.Fatalf("partition %d: node %d's log differs", p, nd.ID)
			}
		}
	}

	// Stop the leader of partition 0: leadership moves within the ISR.
	img := c.Controller().Srv.Metadata().Image()
	p0 := img.Partition("rep", 0)
	old := c.Node(p0.Leader)
	old.Stop()
	eventually(t, 10*time.Second, "a new leader for rep-0", func() bool {
		ctl := c.Controller()
		if ctl == nil {
			return false
		}
		p := ctl.Srv.Metadata().Image().Partition("rep", 0)
		return p.Leader >= 0 && p.Leader != old.ID && !slices.Contains(p.ISR, old.ID)
	})
	produce(300, 300)

	// Back: it catches up and rejoins every ISR.
	old.Start()
	eventually(t, 20*time.Second, "the restarted node back in every ISR", func() bool {
		ctl := c.Controller()
		if ctl == nil {
			return false
		}
		im := ctl.Srv.Metadata().Image()
		for p := int32(0); p < 3; p++ {
			if len(im.Partition("rep", p).ISR) != 3 {
				return false
			}
		}
		return true
	})
	eventually(t, 10*time.Second, "replicas in step again", sameReplicas)

	// Everything produced reads back once, in order per key.
	cons := c.Client(kgo.ConsumeTopics("rep"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]int{}
	for len(seen) < 600 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 600: %v", len(seen), err)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
	}
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("record %s read %d times", v, n)
		}
	}
}

// TestClusterCoordinatorFailover checks that __consumer_offsets is
// replicated and that a group's coordinator moves with its partition's
// leadership: offsets committed before the coordinator's broker stops are
// served by the new coordinator, and the group goes on committing.
func TestClusterCoordinatorFailover(t *testing.T) {
	c := testbroker.StartCluster(t, 3, "offsets.topic.replication.factor=3", "offsets.topic.num.partitions=3")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := c.Admin()
	if _, err := adm.CreateTopic(ctx, 2, 3, nil, "work"); err != nil {
		t.Fatal(err)
	}
	c.WaitSynced()
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "work", Partition: 0, At: 42, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "work", Partition: 1, At: 7, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "g", offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	img := c.Controller().Srv.Metadata().Image()
	co := img.Topic("__consumer_offsets")
	if co == nil || len(co.Partitions[0].Replicas) != 3 {
		t.Fatalf("__consumer_offsets: %+v", co)
	}
	// The coordinator is the leader of the group's partition.
	coord := adm.FindGroupCoordinators(ctx, "g")["g"]
	if coord.Err != nil {
		t.Fatal(coord.Err)
	}
	old := c.Node(coord.NodeID)
	old.Stop()
	// A fresh client each time: kgo keeps a group's coordinator across a
	// dial failure, as it may since the broker may just be restarting.
	eventually(t, 20*time.Second, "a new coordinator with the committed offsets", func() bool {
		fo, err := kadm.NewClient(c.Client()).FetchOffsets(ctx, "g")
		if err != nil || fo.Error() != nil {
			t.Logf("fetch offsets: %v %v", err, fo.Error())
			return false
		}
		a, ok0 := fo.Lookup("work", 0)
		b, ok1 := fo.Lookup("work", 1)
		return ok0 && ok1 && a.At == 42 && b.At == 7
	})
	adm = c.Admin()
	offs = kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "work", Partition: 0, At: 43, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "g", offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit after failover: %v %v", err, resp.Error())
	}
	old.Start()
	fo, err := adm.FetchOffsets(ctx, "g")
	if err != nil || fo.Error() != nil {
		t.Fatalf("fetch offsets: %v %v", err, fo.Error())
	}
	if a, _ := fo.Lookup("work", 0); a.At != 43 {
		t.Fatalf("offset after failover and restart: %d, want 43", a.At)
	}
}

// TestClusterIdempotenceAcrossLeaderChange checks that producer state is
// replicated with the batches: after the leader changes, the retry of a
// batch the old leader had already appended is answered with its original
// offset by the new leader instead of being written twice, and the
// sequence goes on.
func TestClusterIdempotenceAcrossLeaderChange(t *testing.T) {
	c := testbroker.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := c.Admin()
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "idem"); err != nil {
		t.Fatal(err)
	}
	leaderOf := func() int32 {
		ctl := c.Controller()
		if ctl == nil {
			return -1
		}
		return ctl.Srv.Metadata().Image().Partition("idem", 0).Leader
	}
	l0 := leaderOf()
	eventually(t, 10*time.Second, "the leader serving", func() bool {
		p := c.Node(l0).Srv.Replicas().Get("idem", 0)
		return p != nil && p.IsLeader()
	})

	// One idempotent batch written by hand: producer id from the cluster,
	// sequence 0.
	initReq := kmsg.NewPtrInitProducerIDRequest()
	cl := c.Client()
	initResp, err := initReq.RequestWith(ctx, cl)
	if err != nil || initResp.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %+v", err, initResp)
	}
	batch := func(seq int32, n int) []byte {
		spec := records.BatchSpec{FirstTimestamp: time.Now().UnixMilli(), Idempotent: true, ProducerID: initResp.ProducerID, ProducerEpoch: initResp.ProducerEpoch, BaseSequence: seq}
		for i := 0; i < n; i++ {
			spec.Records = append(spec.Records, records.Record{OffsetDelta: int32(i), Value: []byte(fmt.Sprint(seq + int32(i)))})
		}
		return records.BuildBatch(spec)
	}
	produce := func(to *testbroker.Node, set []byte) (int64, int16) {
		t.Helper()
		pcl, err := kgo.NewClient(kgo.SeedBrokers(to.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		defer pcl.Close()
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "idem"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = set
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, pcl.Broker(int(to.ID)))
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		return p.BaseOffset, p.ErrorCode
	}
	b0 := batch(0, 3)
	off, code := produce(c.Node(l0), b0)
	if code != 0 || off != 0 {
		t.Fatalf("first batch: offset %d code %d", off, code)
	}
	eventually(t, 10*time.Second, "the batch on every replica", func() bool {
		for _, nd := range c.Nodes() {
			if nd.Srv.Replicas().Get("idem", 0).Log.LogEndOffset() != 3 {
				return false
			}
		}
		return true
	})
	// Every replica knows the producer: DescribeProducers is answered by
	// a follower too (KIP-664: kafka-transactions.sh describe-producers
	// --broker-id asks a chosen replica).
	for _, nd := range c.Nodes() {
		if nd.ID == l0 {
			continue
		}
		dcl, err := kgo.NewClient(kgo.SeedBrokers(nd.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		dreq := kmsg.NewPtrDescribeProducersRequest()
		dt := kmsg.NewDescribeProducersRequestTopic()
		dt.Topic, dt.Partitions = "idem", []int32{0}
		dreq.Topics = append(dreq.Topics, dt)
		dresp, err := dreq.RequestWith(ctx, dcl.Broker(int(nd.ID)))
		dcl.Close()
		if err != nil {
			t.Fatal(err)
		}
		dp := dresp.Topics[0].Partitions[0]
		if dp.ErrorCode != 0 || len(dp.ActiveProducers) != 1 || dp.ActiveProducers[0].ProducerID != initResp.ProducerID || dp.ActiveProducers[0].LastSequence != 2 {
			t.Fatalf("DescribeProducers on follower %d: %+v", nd.ID, dp)
		}
	}
	c.Node(l0).Stop()
	var l1 int32
	eventually(t, 10*time.Second, "a new leader", func() bool { l1 = leaderOf(); return l1 >= 0 && l1 != l0 })
	eventually(t, 10*time.Second, "the new leader serving", func() bool {
		p := c.Node(l1).Srv.Replicas().Get("idem", 0)
		return p != nil && p.IsLeader()
	})
	// The retry of batch 0 (a producer that never got its answer): the
	// original offset, nothing written.
	if off, code := produce(c.Node(l1), batch(0, 3)); code != 0 || off != 0 {
		t.Fatalf("retry on the new leader: offset %d code %d, want 0 and no error", off, code)
	}
	// The next sequence appends after it; a gap is refused.
	if off, code := produce(c.Node(l1), batch(3, 2)); code != 0 || off != 3 {
		t.Fatalf("next batch: offset %d code %d", off, code)
	}
	if _, code := produce(c.Node(l1), batch(9, 1)); code != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: code %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", code)
	}
	if leo := c.Node(l1).Srv.Replicas().Get("idem", 0).Log.LogEndOffset(); leo != 5 {
		t.Fatalf("log end offset %d, want 5", leo)
	}
}

// TestClusterDedicatedControllers runs Kafka's production layout: three
// controller-only nodes (the voters) and two broker-only nodes that follow
// the metadata log as raft observers. Topics are created through a
// broker, replicated across both brokers, and the brokers survive the
// loss of the active controller.
func TestClusterDedicatedControllers(t *testing.T) {
	c := testbroker.StartClusterRoles(t, []string{"controller", "controller", "controller", "broker", "broker"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c.WaitSynced()
	adm := c.Admin()
	bm, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ids := bm.Brokers.NodeIDs(); !slices.Equal(ids, []int32{4, 5}) {
		t.Fatalf("brokers %v, want [4 5]", ids)
	}
	if bm.Controller != 4 && bm.Controller != 5 {
		t.Fatalf("clients were told controller %d, which they cannot reach", bm.Controller)
	}
	if res, err := adm.CreateTopic(ctx, 2, 2, nil, "dedicated"); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	prod := c.Client(kgo.DefaultProduceTopic("dedicated"))
	for i := 0; i < 50; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	ctl := c.Controller()
	if ctl == nil || ctl.ID > 3 {
		t.Fatalf("active controller %v", ctl)
	}
	ctl.Stop()
	eventually(t, 15*time.Second, "a new active controller", func() bool { n := c.Controller(); return n != nil && n.ID != ctl.ID })
	for i := 50; i < 100; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := adm.CreateTopic(ctx, 1, 2, nil, "after"); err != nil || res.Err != nil {
		t.Fatalf("create after the controller change: %v %v", err, res.Err)
	}
	eventually(t, 10*time.Second, "all 100 records on both brokers", func() bool {
		for _, id := range []int32{4, 5} {
			var n int64
			for p := int32(0); p < 2; p++ {
				rp := c.Node(id).Srv.Replicas().Get("dedicated", p)
				if rp == nil {
					return false
				}
				n += rp.Log.HighWatermark()
			}
			if n != 100 {
				return false
			}
		}
		return true
	})
}

// TestClusterFollowerFetching checks KIP-392: with the rack-aware replica
// selector, a consumer in rack r3 reading a partition led in rack r1 is
// sent to the in-sync follower of r3 (PreferredReadReplica), which serves
// every record up to its high watermark; a consumer without a rack reads
// from the leader.
func TestClusterFollowerFetching(t *testing.T) {
	c := testbroker.StartCluster(t, 3, "broker.rack=r{id}", "replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "racks", -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{1, 2, 3}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	if resp, err := req.RequestWith(ctx, c.Client()); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v %+v", err, resp)
	}
	c.WaitSynced()
	prod := c.Client(kgo.DefaultProduceTopic("racks"))
	for i := 0; i < 100; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "node 3 caught up", func() bool {
		return c.Node(3).Srv.Replicas().Get("racks", 0).Log.HighWatermark() == 100
	})
	bytesOut := func(nd *testbroker.Node) float64 {
		resp, err := http.Get("http://" + nd.Srv.HTTPAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, `kafka_server_brokertopicmetrics_bytes_out_total{topic="racks"}`) {
				v, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
				return v
			}
		}
		return 0
	}
	consume := func(opts ...kgo.Opt) {
		t.Helper()
		cons := c.Client(append(opts, kgo.ConsumeTopics("racks"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
		n := 0
		for n < 100 {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("read %d of 100", n)
			}
			n += fs.NumRecords()
		}
	}
	consume(kgo.Rack("r3"))
	if v := bytesOut(c.Node(3)); v == 0 {
		t.Fatal("the consumer in rack r3 did not read from node 3, the follower in its rack")
	}
	if v := bytesOut(c.Node(2)); v != 0 {
		t.Fatalf("node 2 (rack r2) served %v bytes to the r3 consumer", v)
	}
	before := bytesOut(c.Node(1))
	consume()
	if v := bytesOut(c.Node(1)); v <= before {
		t.Fatal("a consumer without a rack did not read from the leader")
	}
}
