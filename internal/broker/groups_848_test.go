package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-848 consumer groups, driven by franz-go in its consumer-protocol mode
// (kgo.ServerSideBalancer with a range or sticky balancer first).

func groupBroker848(t *testing.T, overrides ...string) *testBroker {
	return groupBroker(t, append([]string{
		"group.consumer.heartbeat.interval.ms=200",
		"group.consumer.session.timeout.ms=3000",
	}, overrides...)...)
}

func start848Member(t *testing.T, tb *testBroker, name, group, topic string, extra ...kgo.Opt) *groupMember {
	return startMember(t, tb, name, group, topic, append([]kgo.Opt{
		kgo.ServerSideBalancer(),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
	}, extra...)...)
}

func describe848(t *testing.T, tb *testBroker, group string) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(testCtx(t), tb.client())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Groups[0]
}

func TestConsumerProtocolGroup(t *testing.T) {
	tb := groupBroker848(t)
	createTopic(t, tb, "kip848", 6, nil)
	produceN(t, tb.client(), "kip848", 60)
	var ms []*groupMember
	for i := 0; i < 3; i++ {
		ms = append(ms, start848Member(t, tb, fmt.Sprintf("c%d", i), "g848", "kip848"))
	}
	waitSplit(t, 6, 2, ms...)
	d := describe848(t, tb, "g848")
	if d.ErrorCode != 0 || len(d.Members) != 3 || d.AssignorName != "uniform" {
		t.Fatalf("ConsumerGroupDescribe: %+v", d)
	}
	lreq := kmsg.NewPtrListGroupsRequest()
	lreq.TypesFilter = []string{"consumer"}
	lresp, err := lreq.RequestWith(testCtx(t), tb.client())
	if err != nil {
		t.Fatal(err)
	}
	if l := lresp.Groups; len(l) != 1 || l[0].Group != "g848" || l[0].ProtocolType != "consumer" || l[0].GroupType != "consumer" {
		t.Fatalf("ListGroups type consumer: %+v", l)
	}
	// One leaves: the other two take its partitions.
	ms[2].close()
	waitSplit(t, 6, 3, ms[0], ms[1])
	// A member that joins and then goes silent (as a killed process
	// does) is fenced after the session timeout; the two others keep
	// or get back every partition.
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = "g848", "silent", 0
	req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 5000, []string{"kip848"}
	if resp, err := req.RequestWith(testCtx(t), tb.client()); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("silent join: %v %+v", err, resp)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(describe848(t, tb, "g848").Members) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("silent member not removed: %s", describeString848(describe848(t, tb, "g848")))
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitSplit(t, 6, 3, ms[0], ms[1])
}

func TestConsumerProtocolResumesAfterRestart(t *testing.T) {
	tb := groupBroker848(t)
	createTopic(t, tb, "kip848-resume", 1, nil)
	produceN(t, tb.client(), "kip848-resume", 100)
	opts := []kgo.Opt{kgo.ConsumerGroup("resumers848"), kgo.ConsumeTopics("kip848-resume"), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()),
		kgo.FetchMaxPartitionBytes(200), kgo.FetchMaxBytes(200)}
	cl := tb.client(opts...)
	ctx := testCtx(t)
	var got []*kgo.Record
	for len(got) < 40 {
		fs := cl.PollRecords(ctx, 40-len(got))
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 40", len(got))
		}
		got = append(got, fs.Records()...)
	}
	if err := cl.CommitRecords(ctx, got...); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	last := got[len(got)-1].Offset
	first := func() int64 {
		cl := tb.client(opts...)
		defer cl.Close()
		for {
			fs := cl.PollRecords(ctx, 1)
			if ctx.Err() != nil {
				t.Fatal("no record")
			}
			if recs := fs.Records(); len(recs) > 0 {
				return recs[0].Offset
			}
		}
	}
	if o := first(); o != last+1 {
		t.Fatalf("began at %d, committed %d", o, last+1)
	}
	tb.restart()
	if o := first(); o != last+1 {
		t.Fatalf("after restart began at %d, committed %d", o, last+1)
	}
}

func TestConsumerProtocolStaticMember(t *testing.T) {
	tb := groupBroker848(t)
	createTopic(t, tb, "kip848-static", 4, nil)
	a := start848Member(t, tb, "a", "static848", "kip848-static", kgo.InstanceID("ia"))
	b := start848Member(t, tb, "b", "static848", "kip848-static", kgo.InstanceID("ib"))
	waitSplit(t, 4, 2, a, b)
	before := b.partitions()
	epoch := describe848(t, tb, "static848").Epoch
	b.close() // a static member leaves with epoch -2 and keeps its partitions
	t.Logf("after close: %s", describeString848(describe848(t, tb, "static848")))
	b = start848Member(t, tb, "b2", "static848", "kip848-static", kgo.InstanceID("ib"))
	waitSplit(t, 4, 2, a, b)
	if fmt.Sprint(b.partitions()) != fmt.Sprint(before) {
		t.Fatalf("static member came back with %v, had %v", b.partitions(), before)
	}
	t.Logf("after rejoin: %s", describeString848(describe848(t, tb, "static848")))
	if e := describe848(t, tb, "static848").Epoch; e != epoch {
		t.Fatalf("group epoch moved from %d to %d on a static rejoin", epoch, e)
	}
}

func TestConsumerProtocolRegexAndNewTopic(t *testing.T) {
	tb := groupBroker848(t)
	createTopic(t, tb, "rx-one", 2, nil)
	m := startMember(t, tb, "rx", "regex848", "rx-.*", kgo.ConsumeRegex(), kgo.ServerSideBalancer(),
		kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(time.Second))
	waitOwned := func(n int) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			total := 0
			for _, mem := range describe848(t, tb, "regex848").Members {
				for _, tp := range mem.Assignment.TopicPartitions {
					total += len(tp.Partitions)
				}
			}
			if total == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("assigned %d partitions, want %d: %+v", total, n, describe848(t, tb, "regex848"))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitOwned(2)
	createTopic(t, tb, "rx-two", 3, nil)
	waitOwned(5)
	produceN(t, tb.client(), "rx-two", 5)
	deadline := time.Now().Add(20 * time.Second)
	for len(m.records()) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("consumed %d of the new topic's 5 records", len(m.records()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestConsumerProtocolErrors(t *testing.T) {
	tb := groupBroker848(t)
	createTopic(t, tb, "kip848-err", 1, nil)
	ctx := testCtx(t)
	// Find the coordinator first (creates __consumer_offsets).
	adm := tb.admin()
	if _, err := adm.FetchOffsets(ctx, "errs"); err != nil {
		t.Fatal(err)
	}
	hb := func(mod func(*kmsg.ConsumerGroupHeartbeatRequest)) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch = "errs", "m", 0
		req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 1000, []string{"kip848-err"}
		mod(req)
		var resp *kmsg.ConsumerGroupHeartbeatResponse
		deadline := time.Now().Add(10 * time.Second)
		for {
			var err error
			resp, err = req.RequestWith(ctx, tb.client())
			if err != nil {
				t.Fatal(err)
			}
			if resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code || time.Now().After(deadline) {
				return resp
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if r := hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) { a := "nope"; r.ServerAssignor = &a }); r.ErrorCode != kerr.UnsupportedAssignor.Code {
		t.Fatalf("assignor: %+v", r)
	}
	if r := hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("empty member id: %+v", r)
	}
	r := hb(func(*kmsg.ConsumerGroupHeartbeatRequest) {})
	if r.ErrorCode != 0 || r.MemberEpoch != 1 || r.Assignment == nil || len(r.Assignment.Topics) != 1 || r.Assignment.Topics[0].TopicID != tb.topicID("kip848-err") {
		t.Fatalf("join: %+v", r)
	}
	if r := hb(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = 7 }); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("fenced: %+v", r)
	}
	// A classic JoinGroup into the live consumer group.
	j := kmsg.NewPtrJoinGroupRequest()
	j.Group, j.ProtocolType, j.SessionTimeoutMillis = "errs", "consumer", 10000
	j.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0}}}
	jr, err := j.RequestWith(ctx, tb.client())
	if err != nil || jr.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("classic join: %v %+v", err, jr)
	}
	// OffsetCommit with a stale epoch.
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.MemberID, oc.Generation = "errs", "m", 0
	oc.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "kip848-err", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}}}
	ocr, err := oc.RequestWith(ctx, tb.client())
	if err != nil || ocr.Topics[0].Partitions[0].ErrorCode != kerr.StaleMemberEpoch.Code {
		t.Fatalf("stale commit: %v %+v", err, ocr)
	}
	oc.Generation = 1
	if ocr, err = oc.RequestWith(ctx, tb.client()); err != nil || ocr.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %v %+v", err, ocr)
	}
	// DescribeGroups (classic) does not know it; ConsumerGroupDescribe does.
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{"errs"}
	dgr, err := dg.RequestWith(ctx, tb.client())
	if err != nil || dgr.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("DescribeGroups: %v %+v", err, dgr)
	}
	if d := describe848(t, tb, "errs"); d.ErrorCode != 0 || d.State != "Stable" || len(d.Members) != 1 {
		t.Fatalf("ConsumerGroupDescribe: %+v", d)
	}
}

func describeString848(d kmsg.ConsumerGroupDescribeResponseGroup) string {
	s := fmt.Sprintf("%s e%d/%d", d.State, d.Epoch, d.AssignmentEpoch)
	for _, m := range d.Members {
		s += fmt.Sprintf(" [%s e%d", m.MemberID, m.MemberEpoch)
		for _, tp := range m.Assignment.TopicPartitions {
			s += fmt.Sprintf(" %s%v", tp.Topic, tp.Partitions)
		}
		s += "]"
	}
	return s
}

func TestConsumerProtocolGroupSurvivesBrokerRestart(t *testing.T) {
	tb := groupBroker848(t)
	createTopic(t, tb, "kip848-restart", 4, nil)
	a := start848Member(t, tb, "a", "restarted848", "kip848-restart")
	b := start848Member(t, tb, "b", "restarted848", "kip848-restart")
	waitSplit(t, 4, 2, a, b)
	before := describe848(t, tb, "restarted848")
	tb.restart()
	// The group is replayed from __consumer_offsets with its epochs and
	// assignments; the members carry on without a new assignment.
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := describe848(t, tb, "restarted848")
		if d.ErrorCode == 0 && d.State == "Stable" && len(d.Members) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group not back after restart: %+v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // several heartbeats
	after := describe848(t, tb, "restarted848")
	if describeString848(after) != describeString848(before) {
		t.Fatalf("group changed across the restart:\nbefore %s\nafter  %s", describeString848(before), describeString848(after))
	}
	waitSplit(t, 4, 2, a, b)
	// A third member still gets a share.
	c := start848Member(t, tb, "c", "restarted848", "kip848-restart")
	waitSplit(t, 4, -1, a, b, c)
}
