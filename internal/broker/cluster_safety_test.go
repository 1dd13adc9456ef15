package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/kclient"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/testbroker"
)

// TestClusterMinInsyncReplicas checks what acks=all means: a partition
// with replicas on nodes 1 and 2 and min.insync.replicas=2 refuses
// acks=all produces with NOT_ENOUGH_REPLICAS once node 2 is fenced and
// out of the ISR (acks=1 still works), and takes them again once node 2
// is back in the ISR.
func TestClusterMinInsyncReplicas(t *testing.T) {
	c := testbroker.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "minisr", -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{1, 2}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	cfg := kmsg.NewCreateTopicsRequestTopicConfig()
	cfg.Name, cfg.Value = "min.insync.replicas", kmsg.StringPtr("2")
	rt.Configs = append(rt.Configs, cfg)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(ctx, c.Client())
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v %+v", err, resp)
	}
	c.WaitSynced()
	all := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("minisr"))
	if err := all.ProduceSync(ctx, &kgo.Record{Value: []byte("a")}).FirstErr(); err != nil {
		t.Fatalf("acks=all with the full ISR: %v", err)
	}

	c.Node(2).Stop()
	isr := func() []int32 {
		ctl := c.Controller()
		if ctl == nil {
			return nil
		}
		return ctl.Srv.Metadata().Image().Partition("minisr", 0).ISR
	}
	eventually(t, 15*time.Second, "node 2 out of the ISR", func() bool { got := isr(); return len(got) == 1 && got[0] == 1 })
	c.WaitSynced()
	// A raw acks=all produce to the leader: the code itself (a client
	// retries NOT_ENOUGH_REPLICAS until its delivery timeout, so what it
	// reports depends on its backoff).
	pr := kmsg.NewPtrProduceRequest()
	pr.Acks, pr.TimeoutMillis = -1, 3000
	tt := kmsg.NewProduceRequestTopic()
	tt.Topic = "minisr"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = records.BuildBatch(records.BatchSpec{FirstTimestamp: time.Now().UnixMilli(), Records: []records.Record{{Value: []byte("b")}}})
	tt.Partitions = append(tt.Partitions, pp)
	pr.Topics = append(pr.Topics, tt)
	rcl := c.Client(kgo.SeedBrokers(c.Node(1).Addr()))
	presp, err := pr.RequestWith(ctx, rcl.Broker(1))
	if err != nil {
		t.Fatal(err)
	}
	if code := presp.Topics[0].Partitions[0].ErrorCode; code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all below min.insync.replicas: code %d, want NOT_ENOUGH_REPLICAS", code)
	}
	one := c.Client(kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.DefaultProduceTopic("minisr"))
	if err := one.ProduceSync(ctx, &kgo.Record{Value: []byte("c")}).FirstErr(); err != nil {
		t.Fatalf("acks=1 below min.insync.replicas: %v", err)
	}

	c.Node(2).Start()
	eventually(t, 20*time.Second, "node 2 back in the ISR", func() bool { return len(isr()) == 2 })
	c.WaitSynced()
	all2 := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("minisr"))
	if err := all2.ProduceSync(ctx, &kgo.Record{Value: []byte("d")}).FirstErr(); err != nil {
		t.Fatalf("acks=all with the ISR whole again: %v", err)
	}
}

// TestClusterRefusesBadReplicaRequests sends a leader the requests a
// confused or stale broker could send, each of which must be refused with
// Kafka's error and change nothing: a follower fetch from a broker that is
// not a replica, one with an old leader epoch, one from an old
// incarnation of a replica (stale broker epoch), and an AlterPartition
// based on a stale partition epoch.
func TestClusterRefusesBadReplicaRequests(t *testing.T) {
	c := testbroker.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := c.Admin()
	// Replicas 1 and 2 only: broker 3 is registered but not a replica.
	res, err := adm.CreateTopic(ctx, 1, 2, nil, "bad")
	if err != nil || res.Err != nil {
		t.Fatal(err, res.Err)
	}
	c.WaitSynced()
	img := c.Controller().Srv.Metadata().Image()
	p := img.Partition("bad", 0)
	topicID := img.Topic("bad").ID
	var outsider int32 = -1
	for _, id := range []int32{1, 2, 3} {
		if !slicesContains(p.Replicas, id) {
			outsider = id
		}
	}
	leader := c.Node(p.Leader)
	cl, err := kgo.NewClient(kgo.SeedBrokers(leader.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	leaderBroker := cl.Broker(int(p.Leader))
	fetch := func(replicaID int32, brokerEpoch int64, leaderEpoch int32) int16 {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(15)
		req.ReplicaState.ID, req.ReplicaState.Epoch = replicaID, brokerEpoch
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.TopicID = topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.FetchOffset, rp.PartitionMaxBytes = leaderEpoch, 0, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, leaderBroker)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	epochOf := func(id int32) int64 { return c.Controller().Srv.Metadata().Image().Brokers[id].Epoch }
	if code := fetch(outsider, epochOf(outsider), p.LeaderEpoch); code != kerr.NotLeaderForPartition.Code {
		t.Errorf("fetch from broker %d, not a replica: code %d, want NOT_LEADER_OR_FOLLOWER", outsider, code)
	}
	if code := fetch(99, -1, p.LeaderEpoch); code != kerr.NotLeaderForPartition.Code {
		t.Errorf("fetch from an unregistered broker: code %d, want NOT_LEADER_OR_FOLLOWER", code)
	}
	follower := p.Replicas[0]
	if follower == p.Leader {
		follower = p.Replicas[1]
	}
	if code := fetch(follower, epochOf(follower)-1, p.LeaderEpoch); code != kerr.StaleBrokerEpoch.Code {
		t.Errorf("fetch from an old incarnation: code %d, want STALE_BROKER_EPOCH", code)
	}
	if p.LeaderEpoch > 0 {
		if code := fetch(follower, epochOf(follower), p.LeaderEpoch-1); code != kerr.FencedLeaderEpoch.Code {
			t.Errorf("fetch with an old leader epoch: code %d, want FENCED_LEADER_EPOCH", code)
		}
	}
	if code := fetch(follower, epochOf(follower), p.LeaderEpoch+5); code != kerr.UnknownLeaderEpoch.Code {
		t.Errorf("fetch with a future leader epoch: code %d, want UNKNOWN_LEADER_EPOCH", code)
	}

	// A stale AlterPartition, sent where brokers send it: the active
	// controller's CONTROLLER listener.
	ctl := c.Controller()
	ccl, err := kclient.Dialer{}.Dial(ctx, ctl.Srv.Metadata().Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer ccl.Close()
	ap := kmsg.NewPtrAlterPartitionRequest()
	ap.SetVersion(2)
	ap.BrokerID, ap.BrokerEpoch = p.Leader, epochOf(p.Leader)
	at := kmsg.NewAlterPartitionRequestTopic()
	at.TopicID = topicID
	app := kmsg.NewAlterPartitionRequestTopicPartition()
	app.Partition, app.LeaderEpoch, app.PartitionEpoch, app.NewISR = 0, p.LeaderEpoch, p.PartitionEpoch-1, []int32{p.Leader}
	at.Partitions = append(at.Partitions, app)
	ap.Topics = append(ap.Topics, at)
	kresp, err := ccl.Request(ctx, ap)
	if err != nil {
		t.Fatalf("AlterPartition: %v", err)
	}
	resp := kresp.(*kmsg.AlterPartitionResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidUpdateVersion.Code {
		t.Errorf("AlterPartition with a stale partition epoch: code %d, want INVALID_UPDATE_VERSION", code)
	}
	if got := c.Controller().Srv.Metadata().Image().Partition("bad", 0); len(got.ISR) != 2 {
		t.Errorf("the refused change changed the ISR: %v", got.ISR)
	}
}

func slicesContains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestClusterRefusesAnotherClustersLogDir starts a node whose log dir
// belongs to another cluster: it must refuse to join (INCONSISTENT_CLUSTER_ID)
// rather than mix the two clusters' data.
func TestClusterRefusesAnotherClustersLogDir(t *testing.T) {
	c := testbroker.StartCluster(t, 3)
	nd := c.Node(3)
	nd.Stop()
	props := filepath.Join(nd.Dir, "meta.properties")
	b, err := os.ReadFile(props)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "cluster.id=") {
			line = "cluster.id=AnotherClusterAAAAAAAAA"
		}
		out = append(out, line)
	}
	if err := os.WriteFile(props, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	err = nd.TryStart()
	if err == nil {
		t.Fatal("a node with another cluster's log dir started")
	}
	if !strings.Contains(err.Error(), "cluster id does not match") && !strings.Contains(err.Error(), "INCONSISTENT_CLUSTER_ID") {
		t.Fatalf("start with another cluster's log dir: %v", err)
	}
}

// TestClusterUncleanElection checks unclean.leader.election.enable per
// topic and the truncation of a returning replica: with the ISR down to
// broker 4, which then stops, broker 5 (out of sync) does not lead while
// the topic forbids unclean elections; once the topic allows them it
// leads, without the records only broker 4 had; broker 4 comes back as a
// follower and truncates its divergent tail to broker 5's log.
func TestClusterUncleanElection(t *testing.T) {
	// Dedicated controllers, so the quorum outlives both brokers.
	c := testbroker.StartClusterRoles(t, []string{"controller", "controller", "controller", "broker", "broker"})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "unclean", -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{4, 5}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	if resp, err := req.RequestWith(ctx, c.Client()); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v %+v", err, resp)
	}
	c.WaitSynced()
	part := func() (int32, []int32) {
		ctl := c.Controller()
		if ctl == nil {
			return -2, nil
		}
		p := ctl.Srv.Metadata().Image().Partition("unclean", 0)
		return p.Leader, p.ISR
	}
	prod := c.Client(kgo.DefaultProduceTopic("unclean"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	produce := func(prefix string, n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("%s%d", prefix, i))}).FirstErr(); err != nil {
				t.Fatalf("produce %s%d: %v", prefix, i, err)
			}
		}
	}
	produce("both-", 10)
	eventually(t, 10*time.Second, "node 5 caught up", func() bool {
		return c.Node(5).Srv.Replicas().Get("unclean", 0).Log.LogEndOffset() == 10
	})
	c.Node(5).Stop()
	eventually(t, 15*time.Second, "ISR [4]", func() bool { _, isr := part(); return slices.Equal(isr, []int32{4}) })
	c.WaitSynced()
	produce("only4-", 5) // only broker 4 has these
	c.Node(4).Stop()
	eventually(t, 15*time.Second, "no leader", func() bool { l, _ := part(); return l == -1 })
	c.Node(5).Start()
	time.Sleep(3 * time.Second) // the controller's offline election runs every second
	if l, isr := part(); l != -1 {
		t.Fatalf("out-of-sync node 5 elected with unclean election off: leader %d isr %v", l, isr)
	}

	adm := kadm.NewClient(c.Client())
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "unclean.leader.election.enable", Value: kadm.StringPtr("true")}}, "unclean"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "node 5 elected uncleanly", func() bool {
		l, isr := part()
		return l == 5 && slices.Equal(isr, []int32{5})
	})
	c.WaitSynced()
	produce("after-", 3)

	c.Node(4).Start()
	eventually(t, 20*time.Second, "node 4 back in the ISR", func() bool { _, isr := part(); return len(isr) == 2 })
	eventually(t, 10*time.Second, "same logs", func() bool {
		a := c.Node(4).Srv.Replicas().Get("unclean", 0).Log
		b := c.Node(5).Srv.Replicas().Get("unclean", 0).Log
		return a.LogEndOffset() == b.LogEndOffset() && a.LogEndOffset() == 13
	})
	var logs [][]byte
	for _, id := range []int32{4, 5} {
		l := c.Node(id).Srv.Replicas().Get("unclean", 0).Log
		rr, err := l.Read(0, 1<<20, -1, true)
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, rr.Records)
	}
	if !bytes.Equal(logs[0], logs[1]) {
		t.Fatal("node 4 kept a divergent log after rejoining")
	}
	// What a consumer reads: the records broker 5 had, then the new ones;
	// broker 4's own tail is gone, as unclean election warns.
	cons := c.Client(kgo.ConsumeTopics("unclean"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < 13 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %v", got)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for _, v := range got {
		if strings.HasPrefix(v, "only4-") {
			t.Fatalf("a record of the lost tail was read: %v", got)
		}
	}
}

// TestClusterRefusesDuplicateNodeID starts a second broker process with
// the node.id of a live broker: its registration is refused
// (DUPLICATE_BROKER_REGISTRATION) for as long as the first one heartbeats,
// so it never serves, and the first one goes on unharmed.
func TestClusterRefusesDuplicateNodeID(t *testing.T) {
	c := testbroker.StartClusterRoles(t, []string{"controller", "controller", "controller", "broker", "broker"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	epoch := c.Controller().Srv.Metadata().Image().Brokers[4].Epoch
	_, err := c.TryStartExtra(4, "broker", 6*time.Second)
	if err == nil {
		t.Fatal("a second broker with node.id 4 started")
	}
	if !strings.Contains(err.Error(), "DUPLICATE_BROKER_REGISTRATION") {
		t.Fatalf("duplicate node.id: %v", err)
	}
	b := c.Controller().Srv.Metadata().Image().Brokers[4]
	if b.Epoch != epoch || b.Fenced {
		t.Fatalf("the first broker 4 was disturbed: %+v", b)
	}
	if res, err := kadm.NewClient(c.Client()).CreateTopic(ctx, 1, 2, nil, "still"); err != nil || res.Err != nil {
		t.Fatalf("cluster after the duplicate: %v %v", err, res.Err)
	}
}

// TestClusterMetrics reads the replication metrics from /metrics: the
// active controller counts one, a stopped broker's partitions show as
// under-replicated on their leaders and as ISR shrinks, and no partition
// is offline while each has a live ISR member.
func TestClusterMetrics(t *testing.T) {
	c := testbroker.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if res, err := kadm.NewClient(c.Client()).CreateTopic(ctx, 3, 3, nil, "m"); err != nil || res.Err != nil {
		t.Fatal(err, res.Err)
	}
	c.WaitSynced()
	scrape := func(nd *testbroker.Node, name string) float64 {
		t.Helper()
		resp, err := http.Get("http://" + nd.Srv.HTTPAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == name {
				v, _ := strconv.ParseFloat(f[1], 64)
				return v
			}
		}
		t.Fatalf("%s not in /metrics of node %d", name, nd.ID)
		return 0
	}
	active := 0.0
	for _, nd := range c.Nodes() {
		active += scrape(nd, "kafka_controller_kafkacontroller_active_controller_count")
		if v := scrape(nd, "kafka_server_replicamanager_under_replicated_partitions"); v != 0 {
			t.Fatalf("node %d: %v under-replicated partitions with every broker up", nd.ID, v)
		}
	}
	if active != 1 {
		t.Fatalf("active controllers: %v", active)
	}
	victim := c.Node(3)
	if victim.Srv.Metadata().IsController() {
		victim = c.Node(2)
	}
	victim.Stop()
	eventually(t, 15*time.Second, "under-replicated partitions reported", func() bool {
		var under float64
		for _, nd := range c.Nodes() {
			if nd.Running() {
				under += scrape(nd, "kafka_server_replicamanager_under_replicated_partitions")
			}
		}
		return under == 3
	})
	ctl := c.Controller()
	if v := scrape(ctl, "kafka_controller_kafkacontroller_offline_partitions_count"); v != 0 {
		t.Fatalf("offline partitions: %v", v)
	}
	if v := scrape(ctl, "kafka_controller_kafkacontroller_fenced_broker_count"); v != 1 {
		t.Fatalf("fenced brokers: %v", v)
	}
}
