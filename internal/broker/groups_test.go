package broker

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/group"
)

// groupBroker starts a broker tuned for fast group tests: few
// __consumer_offsets partitions, no initial rebalance delay, short
// sessions allowed.
func groupBroker(t *testing.T, overrides ...string) *testBroker {
	return startBroker(t, append([]string{
		"offsets.topic.num.partitions=5",
		"group.initial.rebalance.delay.ms=0",
		"group.min.session.timeout.ms=1000",
	}, overrides...)...)
}

// groupMember is a group consumer that records which partitions it owns.
type groupMember struct {
	t    *testing.T
	cl   *kgo.Client
	name string

	mu       sync.Mutex
	owned    map[int32]bool
	revokes  int
	consumed []*kgo.Record
	cancel   context.CancelFunc
	done     chan struct{}
}

func startMember(t *testing.T, tb *testBroker, name, group, topic string, extra ...kgo.Opt) *groupMember {
	t.Helper()
	m := &groupMember{t: t, name: name, owned: map[int32]bool{}, done: make(chan struct{})}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(tb.srv.Addr()),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(3 * time.Second),
		kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.RebalanceTimeout(5 * time.Second),
		kgo.ClientID(name),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range a[topic] {
				m.owned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, cl *kgo.Client, r map[string][]int32) {
			m.mu.Lock()
			for _, p := range r[topic] {
				delete(m.owned, p)
			}
			m.revokes++
			m.mu.Unlock()
			cl.CommitMarkedOffsets(context.Background())
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range l[topic] {
				delete(m.owned, p)
			}
		}),
	}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			m.mu.Lock()
			m.consumed = append(m.consumed, fs.Records()...)
			m.mu.Unlock()
		}
	}()
	t.Cleanup(m.close)
	return m
}

func (m *groupMember) close() {
	if m.cancel == nil {
		return
	}
	m.cancel()
	<-m.done
	m.cl.Close()
	m.cancel = nil
}

func (m *groupMember) partitions() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int32
	for p := range m.owned {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (m *groupMember) records() []*kgo.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*kgo.Record(nil), m.consumed...)
}

// waitSplit waits until the members own every partition of [0, n) exactly
// once, each member want of them (or any count with want < 0).
func waitSplit(t *testing.T, n int, want int, ms ...*groupMember) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		seen := map[int32]int{}
		ok := true
		last = ""
		for _, m := range ms {
			ps := m.partitions()
			last += fmt.Sprintf(" %s=%v", m.name, ps)
			if want >= 0 && len(ps) != want || want < 0 && len(ps) == 0 {
				ok = false
			}
			for _, p := range ps {
				seen[p]++
			}
		}
		if ok && len(seen) == n {
			for _, c := range seen {
				if c != 1 {
					ok = false
				}
			}
			if ok {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("partitions never split %d ways over %d partitions:%s", len(ms), n, last)
}

func TestGroupMembersSplitPartitions(t *testing.T) {
	tb := groupBroker(t)
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"roundrobin", kgo.RoundRobinBalancer()},
		{"sticky", kgo.StickyBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "split-" + tc.name
			createTopic(t, tb, topic, 6, nil)
			group := "g-" + tc.name
			var ms []*groupMember
			for i := 0; i < 3; i++ {
				ms = append(ms, startMember(t, tb, fmt.Sprintf("c%d", i), group, topic, kgo.Balancers(tc.balancer)))
			}
			waitSplit(t, 6, 2, ms...)
			// One leaves: the other two take its partitions.
			ms[2].close()
			waitSplit(t, 6, 3, ms[0], ms[1])
			// And a newcomer gets its share back.
			ms = append(ms[:2], startMember(t, tb, "c3", group, topic, kgo.Balancers(tc.balancer)))
			waitSplit(t, 6, 2, ms...)
		})
	}
}

func TestGroupsAreIsolated(t *testing.T) {
	tb := groupBroker(t)
	createTopic(t, tb, "shared", 3, nil)
	produceN(t, tb.client(), "shared", 30)
	a := startMember(t, tb, "a", "group-a", "shared")
	b := startMember(t, tb, "b", "group-b", "shared")
	waitSplit(t, 3, 3, a)
	waitSplit(t, 3, 3, b)
	deadline := time.Now().Add(10 * time.Second)
	for len(a.records()) < 30 || len(b.records()) < 30 {
		if time.Now().After(deadline) {
			t.Fatalf("group-a consumed %d, group-b %d of 30", len(a.records()), len(b.records()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// consumeCommitted consumes from a group until it has n records, commits
// exactly those, and closes the client.
func consumeAndCommit(t *testing.T, tb *testBroker, group, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := tb.client(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxPartitionBytes(200), kgo.FetchMaxBytes(200))
	ctx := testCtx(t)
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollRecords(ctx, n-len(got))
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d", len(got), n)
		}
		got = append(got, fs.Records()...)
	}
	if err := cl.CommitRecords(ctx, got...); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	return got
}

// nextRecord starts a fresh group member and returns its first record.
func firstRecord(t *testing.T, tb *testBroker, group, topic string) *kgo.Record {
	t.Helper()
	cl := tb.client(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	ctx := testCtx(t)
	for {
		fs := cl.PollRecords(ctx, 1)
		if ctx.Err() != nil {
			t.Fatal("no record")
		}
		if recs := fs.Records(); len(recs) > 0 {
			return recs[0]
		}
	}
}

func TestGroupResumesAtCommittedOffset(t *testing.T) {
	tb := groupBroker(t)
	createTopic(t, tb, "resume", 1, nil)
	produceN(t, tb.client(), "resume", 100)
	got := consumeAndCommit(t, tb, "resumers", "resume", 40)
	last := got[len(got)-1].Offset
	if r := firstRecord(t, tb, "resumers", "resume"); r.Offset != last+1 {
		t.Fatalf("restarted consumer began at offset %d, committed %d", r.Offset, last+1)
	}
	// The same after a broker restart: offsets come back from
	// __consumer_offsets.
	tb.restart()
	if r := firstRecord(t, tb, "resumers", "resume"); r.Offset != last+1 {
		t.Fatalf("after broker restart: began at offset %d, committed %d", r.Offset, last+1)
	}
	offs, err := tb.admin().FetchOffsets(testCtx(t), "resumers")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup("resume", 0); !ok || o.At != last+1 {
		t.Fatalf("FetchOffsets after restart: %+v, want %d", o, last+1)
	}
}

func TestGroupSurvivesBrokerRestart(t *testing.T) {
	tb := groupBroker(t)
	createTopic(t, tb, "sticky-restart", 4, nil)
	a := startMember(t, tb, "a", "restarted", "sticky-restart")
	b := startMember(t, tb, "b", "restarted", "sticky-restart")
	waitSplit(t, 4, 2, a, b)
	gen := groupGeneration(t, tb, "restarted")
	tb.restart()
	// The group is loaded back Stable in the same generation: the
	// members' heartbeats go on without a rebalance.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := tb.srv.groups.read("restarted", func(*group.Shard) {})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group not loaded after restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if g := groupGeneration(t, tb, "restarted"); g != gen {
		t.Fatalf("generation after restart %d, before %d", g, gen)
	}
	time.Sleep(time.Second) // several heartbeats
	if g := groupGeneration(t, tb, "restarted"); g != gen {
		t.Fatalf("members rebalanced after the restart: generation %d, before %d", g, gen)
	}
	waitSplit(t, 4, 2, a, b)
	// A third member still gets a share.
	c := startMember(t, tb, "c", "restarted", "sticky-restart")
	waitSplit(t, 4, -1, a, b, c)
	if len(c.partitions()) == 0 {
		t.Fatal("new member got nothing")
	}
}

func TestGroupStaticMemberRejoinsWithoutRebalance(t *testing.T) {
	tb := groupBroker(t)
	createTopic(t, tb, "static", 4, nil)
	a := startMember(t, tb, "a", "statics", "static", kgo.InstanceID("instance-a"), kgo.Balancers(kgo.RangeBalancer()))
	b := startMember(t, tb, "b", "statics", "static", kgo.InstanceID("instance-b"), kgo.Balancers(kgo.RangeBalancer()))
	waitSplit(t, 4, 2, a, b)
	before := a.partitions()
	adm := tb.admin()
	ctx := testCtx(t)
	described, err := adm.DescribeGroups(ctx, "statics")
	if err != nil {
		t.Fatal(err)
	}
	gen := groupGeneration(t, tb, "statics")
	// A static member's close does not leave the group (KIP-345).
	a.close()
	revokes := func() int { b.mu.Lock(); defer b.mu.Unlock(); return b.revokes }()
	a2 := startMember(t, tb, "a2", "statics", "static", kgo.InstanceID("instance-a"), kgo.Balancers(kgo.RangeBalancer()))
	waitSplit(t, 4, 2, a2, b)
	if got := a2.partitions(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("rejoined static member got %v, had %v", got, before)
	}
	if g := groupGeneration(t, tb, "statics"); g != gen {
		t.Fatalf("generation moved from %d to %d: the static rejoin rebalanced", gen, g)
	}
	if r := func() int { b.mu.Lock(); defer b.mu.Unlock(); return b.revokes }(); r != revokes {
		t.Fatal("the other member was revoked: the static rejoin rebalanced")
	}
	// The instance id is listed, with the new member id.
	described, err = adm.DescribeGroups(ctx, "statics")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range described["statics"].Members {
		if m.InstanceID != nil && *m.InstanceID == "instance-a" {
			found = true
		}
	}
	if !found {
		t.Fatalf("instance-a not in %+v", described["statics"].Members)
	}
}

// groupGeneration reads the generation of a group from its coordinator.
func groupGeneration(t *testing.T, tb *testBroker, groupID string) int32 {
	t.Helper()
	var gen int32 = -1
	err := tb.srv.groups.read(groupID, func(sm *group.Shard) { gen = sm.Generation(groupID) })
	if err != nil {
		t.Fatal(err)
	}
	return gen
}

func TestGroupAdmin(t *testing.T) {
	tb := groupBroker(t)
	createTopic(t, tb, "adm", 2, nil)
	createTopic(t, tb, "other", 1, nil)
	produceN(t, tb.client(), "adm", 20)
	adm := tb.admin()
	ctx := testCtx(t)

	// Unknown group: -1 offsets, no error; described as Dead.
	fr := kmsg.NewPtrOffsetFetchRequest()
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = "nobody"
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = "adm", []int32{0, 1}
	rg.Topics = append(rg.Topics, rt)
	fr.Groups = append(fr.Groups, rg)
	fresp, err := fr.RequestWith(ctx, tb.client())
	if err != nil {
		t.Fatal(err)
	}
	if g := fresp.Groups[0]; g.ErrorCode != 0 || g.Topics[0].Partitions[0].Offset != -1 || g.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("unknown group fetch: %+v", g)
	}

	// A live group: listed, described with its member and assignment.
	m := startMember(t, tb, "admin-member", "admins", "adm")
	waitSplit(t, 2, 2, m)
	described, err := adm.DescribeGroups(ctx, "admins")
	if err != nil {
		t.Fatal(err)
	}
	dg := described["admins"]
	if dg.Err != nil || dg.State != "Stable" || dg.ProtocolType != "consumer" || len(dg.Members) != 1 || dg.Members[0].ClientID != "admin-member" {
		t.Fatalf("describe: %+v", dg)
	}
	if ca, ok := dg.Members[0].Assigned.AsConsumer(); !ok || len(ca.Topics) != 1 || len(ca.Topics[0].Partitions) != 2 {
		t.Fatalf("describe assignment: %+v", dg.Members[0].Assigned)
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lg, ok := listed["admins"]; !ok || lg.State != "Stable" {
		t.Fatalf("list: %+v", listed)
	}
	if listed, err = adm.ListGroups(ctx, "Empty"); err != nil || func() bool { _, ok := listed["admins"]; return ok }() {
		t.Fatalf("states filter: %+v %v", listed, err)
	}
	// Commit with the member, then: delete refused while it has members,
	// offset delete refused for a subscribed topic.
	if resp, err := adm.CommitOffsets(ctx, "admins", kadm.Offsets{"other": {0: {Topic: "other", Partition: 0, At: 1}}}); err != nil || !errorsIs(resp.Error(), kerr.UnknownMemberID) {
		t.Fatalf("a simple commit into a group with members: %v %v", err, resp.Error())
	}
	dresp, err := adm.DeleteGroups(ctx, "admins")
	if err != nil || !errorsIs(dresp["admins"].Err, kerr.NonEmptyGroup) {
		t.Fatalf("delete live group: %v %+v", err, dresp)
	}
	m.close()

	// Empty now: simple commits (with metadata) work, offsets read back.
	meta := "checkpoint-7"
	commit := kadm.Offsets{}
	commit.Add(kadm.Offset{Topic: "adm", Partition: 0, At: 5, LeaderEpoch: -1, Metadata: meta})
	commit.Add(kadm.Offset{Topic: "other", Partition: 0, At: 1, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "admins", commit); err != nil || resp.Error() != nil {
		t.Fatalf("simple commit: %v %v", err, resp.Error())
	}
	offs, err := adm.FetchOffsets(ctx, "admins")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("adm", 0); o.At != 5 || o.Metadata != meta {
		t.Fatalf("fetched %+v, want 5 with %q", o, meta)
	}
	nt := kadm.Offsets{}
	nt.Add(kadm.Offset{Topic: "no-such-topic", Partition: 0, At: 1, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "admins", nt); err != nil || !errorsIs(resp.Error(), kerr.UnknownTopicOrPartition) {
		t.Fatalf("commit to a missing topic: %v %v", err, resp.Error())
	}
	del, err := adm.DeleteOffsets(ctx, "admins", kadm.TopicsSet{"other": {0: {}}})
	if err != nil || del.Error() != nil {
		t.Fatalf("offset delete: %v %v", err, del.Error())
	}
	offs, _ = adm.FetchOffsets(ctx, "admins")
	if _, ok := offs.Lookup("other", 0); ok {
		t.Fatalf("offset of other still there: %+v", offs)
	}
	listed, _ = adm.ListGroups(ctx, "Empty")
	if !func() bool { _, ok := listed["admins"]; return ok }() {
		t.Fatalf("Empty filter misses admins: %+v", listed)
	}
	dresp, err = adm.DeleteGroups(ctx, "admins")
	if err != nil || dresp["admins"].Err != nil {
		t.Fatalf("delete: %v %+v", err, dresp)
	}
	dresp, _ = adm.DeleteGroups(ctx, "admins")
	if !errorsIs(dresp["admins"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("second delete: %+v", dresp)
	}
	offs, _ = adm.FetchOffsets(ctx, "admins")
	if o, ok := offs.Lookup("adm", 0); ok && o.At >= 0 {
		t.Fatalf("offsets survive the group's deletion: %+v", offs)
	}
	// Deletions are durable too.
	tb.restart()
	offs, err = tb.admin().FetchOffsets(testCtx(t), "admins")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup("adm", 0); ok && o.At >= 0 {
		t.Fatalf("deleted offsets came back after restart: %+v", offs)
	}
}

func TestFindCoordinator(t *testing.T) {
	tb := startBroker(t) // 50 partitions of __consumer_offsets
	ctx := testCtx(t)
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKeys = []string{"a", "b"}
	resp, err := req.RequestWith(ctx, tb.client())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range resp.Coordinators {
		if c.ErrorCode != 0 || c.NodeID != 1 {
			t.Fatalf("coordinator: %+v", c)
		}
	}
	td, err := tb.admin().ListTopics(ctx, "__consumer_offsets")
	if err != nil || len(td["__consumer_offsets"].Partitions) != 50 || !td["__consumer_offsets"].IsInternal {
		t.Fatalf("__consumer_offsets: %v %+v", err, td)
	}
	rc, err := tb.admin().DescribeTopicConfigs(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"cleanup.policy": "compact", "compression.type": "producer", "segment.bytes": "104857600"} {
		if c, err := rc.On("__consumer_offsets", nil); err != nil {
			t.Fatal(err)
		} else if v, ok := configValue(c.Configs, name); !ok || v != want {
			t.Errorf("__consumer_offsets %s = %q, want %q", name, v, want)
		}
	}
	// A transaction key creates __transaction_state the same way and is
	// answered by its partition's leader.
	txn := kmsg.NewPtrFindCoordinatorRequest()
	txn.CoordinatorType = 1
	txn.CoordinatorKeys = []string{"t"}
	if resp, err = txn.RequestWith(ctx, tb.client()); err != nil || resp.Coordinators[0].ErrorCode != 0 || resp.Coordinators[0].NodeID != 1 {
		t.Fatalf("transaction key: %v %+v", err, resp)
	}
	td, err = tb.admin().ListTopics(ctx, "__transaction_state")
	if err != nil || len(td["__transaction_state"].Partitions) != 50 || !td["__transaction_state"].IsInternal {
		t.Fatalf("__transaction_state: %v %+v", err, td)
	}
}

func TestGroupAPIVersions(t *testing.T) {
	tb := groupBroker(t)
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(testCtx(t), tb.client())
	if err != nil {
		t.Fatal(err)
	}
	got := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	for key, want := range map[kmsg.Key][2]int16{
		kmsg.OffsetCommit: {2, 9}, kmsg.OffsetFetch: {1, 9}, kmsg.FindCoordinator: {0, 6},
		kmsg.JoinGroup: {0, 9}, kmsg.Heartbeat: {0, 4}, kmsg.LeaveGroup: {0, 5}, kmsg.SyncGroup: {0, 5},
		kmsg.DescribeGroups: {0, 6}, kmsg.ListGroups: {0, 5}, kmsg.DeleteGroups: {0, 2}, kmsg.OffsetDelete: {0, 0},
	} {
		if got[int16(key)] != want {
			t.Errorf("%s: advertised %v, want %v", key.Name(), got[int16(key)], want)
		}
	}
	// KIP-848: franz-go and the Java client switch to the consumer
	// protocol when they see ConsumerGroupHeartbeat v1.
	for key, want := range map[kmsg.Key][2]int16{kmsg.ConsumerGroupHeartbeat: {0, 1}, kmsg.ConsumerGroupDescribe: {0, 1}} {
		if got[int16(key)] != want {
			t.Errorf("%s: advertised %v, want %v", key.Name(), got[int16(key)], want)
		}
	}
}

// TestConsumerOffsetsTopicDecodes reads __consumer_offsets as a tool would
// and decodes the records with Kafka's schemas.
func TestConsumerOffsetsTopicDecodes(t *testing.T) {
	tb := groupBroker(t)
	createTopic(t, tb, "decoded", 1, nil)
	produceN(t, tb.client(), "decoded", 10)
	consumeAndCommit(t, tb, "decoders", "decoded", 4)

	cl := tb.client(kgo.ConsumeTopics("__consumer_offsets"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var sawOffset, sawGroup bool
	for !(sawOffset && sawGroup) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("offset record %v, group record %v", sawOffset, sawGroup)
		}
		fs.EachRecord(func(r *kgo.Record) {
			switch version := int16(r.Key[0])<<8 | int16(r.Key[1]); version {
			case 0, 1:
				var k kmsg.OffsetCommitKey
				var v kmsg.OffsetCommitValue
				if k.ReadFrom(r.Key) != nil || v.ReadFrom(r.Value) != nil {
					t.Fatalf("undecodable offset record %x=%x", r.Key, r.Value)
				}
				if k.Group == "decoders" && k.Topic == "decoded" && v.Offset >= 1 {
					sawOffset = true
				}
			case 2:
				var k kmsg.GroupMetadataKey
				var v kmsg.GroupMetadataValue
				if k.ReadFrom(r.Key) != nil || (r.Value != nil && v.ReadFrom(r.Value) != nil) {
					t.Fatalf("undecodable group record %x=%x", r.Key, r.Value)
				}
				if k.Group == "decoders" && v.ProtocolType == "consumer" && v.Generation >= 1 {
					sawGroup = true
				}
			default:
				t.Fatalf("unexpected key version %d", version)
			}
		})
	}
}

func configValue(cs []kadm.Config, name string) (string, bool) {
	for _, c := range cs {
		if c.Key == name && c.Value != nil {
			return *c.Value, true
		}
	}
	return "", false
}
