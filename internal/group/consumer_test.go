package group

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// cclient is a simulated consumer-protocol client: its member id, epoch and
// the partitions it owns (what it last acknowledged to the coordinator).
type cclient struct {
	id       string
	instance string
	epoch    int32
	owned    tps
	topics   []string
	regex    string
	assignor string
}

func topicID(name string) [16]byte {
	var id [16]byte
	copy(id[:], name)
	return id
}

func (h *harness) setTopics(ts ...TopicInfo) {
	for i := range ts {
		ts[i].ID = topicID(ts[i].Name)
	}
	h.apply(h.s.SetTopics(h.now, ts))
}

// cghb sends one full ConsumerGroupHeartbeat for c and applies the answer
// to c as a client would (the new assignment replaces what it owns).
func (h *harness) cghb(c *cclient) *kmsg.ConsumerGroupHeartbeatResponse {
	h.t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch = "g", c.id, c.epoch
	if c.instance != "" {
		inst := c.instance
		req.InstanceID = &inst
	}
	req.RebalanceTimeoutMillis = 30000
	if c.regex != "" {
		re := c.regex
		req.SubscribedTopicRegex = &re
	} else {
		req.SubscribedTopicNames = c.topics
	}
	if c.assignor != "" {
		a := c.assignor
		req.ServerAssignor = &a
	}
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	if c.epoch != 0 {
		for _, id := range c.owned.sortedIDs() {
			t := kmsg.NewConsumerGroupHeartbeatRequestTopic()
			t.TopicID, t.Partitions = id, slices.Clone(c.owned[id])
			req.Topics = append(req.Topics, t)
		}
	}
	resp := h.rawHB(req)
	if resp.ErrorCode == 0 {
		c.epoch = resp.MemberEpoch
		if resp.Assignment != nil {
			c.owned = tps{}
			for _, t := range resp.Assignment.Topics {
				for _, p := range t.Partitions {
					c.owned.add(t.TopicID, p)
				}
			}
		}
	}
	return resp
}

func (h *harness) rawHB(req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	h.t.Helper()
	a := &answer[*kmsg.ConsumerGroupHeartbeatResponse]{}
	h.apply(h.s.ConsumerGroupHeartbeat(h.now, Client{ID: "client", Host: "/127.0.0.1"}, req, a.set))
	if !a.done() {
		h.t.Fatal("heartbeat not answered")
	}
	return a.resp
}

func (h *harness) cg() *consumerGroup {
	h.t.Helper()
	g := h.s.groups["g"]
	if g == nil || g.cg == nil {
		h.t.Fatal("no consumer group g")
	}
	return g.cg
}

// checkDisjoint fails if two clients own the same partition.
func checkDisjoint(t *testing.T, cs []*cclient) {
	t.Helper()
	seen := map[[16]byte]map[int32]string{}
	for _, c := range cs {
		for id, ps := range c.owned {
			if seen[id] == nil {
				seen[id] = map[int32]string{}
			}
			for _, p := range ps {
				if o := seen[id][p]; o != "" {
					t.Fatalf("partition %s/%d owned by %s and %s", strings.TrimRight(string(id[:]), "\x00"), p, o, c.id)
				}
				seen[id][p] = c.id
			}
		}
	}
}

// converge heartbeats every client in turn until the group is Stable,
// checking after every heartbeat that no partition has two owners.
func (h *harness) converge(t *testing.T, cs []*cclient) {
	t.Helper()
	for round := 0; round < 10; round++ {
		for _, c := range cs {
			if resp := h.cghb(c); resp.ErrorCode != 0 {
				t.Fatalf("heartbeat of %s: %v", c.id, kerr.ErrorForCode(resp.ErrorCode))
			}
			checkDisjoint(t, cs)
		}
		if h.cg().stateName() == "Stable" {
			return
		}
	}
	t.Fatalf("group did not converge: %s", h.cg().stateName())
}

func newClients(n int, topics ...string) []*cclient {
	var cs []*cclient
	for i := 0; i < n; i++ {
		cs = append(cs, &cclient{id: fmt.Sprintf("m%d", i), topics: topics, owned: tps{}})
	}
	return cs
}

func TestConsumerJoin(t *testing.T) {
	h := newHarness(t)
	h.setTopics(TopicInfo{Name: "t", Partitions: 6})
	c := newClients(1, "t")[0]
	resp := h.cghb(c)
	if resp.ErrorCode != 0 || resp.MemberEpoch != 1 || *resp.MemberID != "m0" || resp.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("join: %+v", resp)
	}
	if c.owned.count() != 6 || h.cg().stateName() != "Stable" {
		t.Fatalf("owned %v, state %s", c.owned, h.cg().stateName())
	}
	// A heartbeat without changes answers without an assignment.
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", "m0", 1
	if r := h.rawHB(req); r.ErrorCode != 0 || r.Assignment != nil || r.MemberEpoch != 1 {
		t.Fatalf("keepalive: %+v", r)
	}
	// The group is listed as a consumer group.
	if gs := h.s.ListGroups(nil, []string{"consumer"}); len(gs) != 1 || gs[0].GroupType != "consumer" || gs[0].GroupState != "Stable" || gs[0].ProtocolType != "consumer" {
		t.Fatalf("list: %+v", gs)
	}
	if gs := h.s.ListGroups(nil, []string{"classic"}); len(gs) != 0 {
		t.Fatalf("listed as classic: %+v", gs)
	}
	if _, found := h.s.DescribeGroup("g"); found {
		t.Fatal("DescribeGroups described a consumer group")
	}
	d := h.s.DescribeConsumerGroup("g", 1)
	if d.ErrorCode != 0 || d.State != "Stable" || d.Epoch != 1 || d.AssignmentEpoch != 1 || d.AssignorName != "uniform" ||
		len(d.Members) != 1 || d.Members[0].MemberType != 1 || len(d.Members[0].Assignment.TopicPartitions[0].Partitions) != 6 ||
		d.Members[0].Assignment.TopicPartitions[0].Topic != "t" {
		t.Fatalf("describe: %+v", d)
	}
}

func TestConsumerRevocationBeforeAssignment(t *testing.T) {
	h := newHarness(t)
	h.setTopics(TopicInfo{Name: "t", Partitions: 6})
	cs := newClients(3, "t")
	a, b := cs[0], cs[1]
	h.cghb(a)
	if a.owned.count() != 6 {
		t.Fatalf("a owns %v", a.owned)
	}
	// b joins: epoch 2, but every partition is still a's.
	h.cghb(b)
	if b.epoch != 2 || b.owned.count() != 0 || h.cg().members["m1"].state != memberUnreleased {
		t.Fatalf("b: epoch %d owned %v state %v", b.epoch, b.owned, h.cg().members["m1"].state)
	}
	// a is told to revoke three and stays in epoch 1 until it does.
	h.cghb(a)
	if a.epoch != 1 || a.owned.count() != 3 || h.cg().members["m0"].state != memberUnrevoked {
		t.Fatalf("a: epoch %d owned %v state %v", a.epoch, a.owned, h.cg().members["m0"].state)
	}
	if h.cg().stateName() != "Reconciling" {
		t.Fatalf("state %s", h.cg().stateName())
	}
	// b still gets nothing: a has not acknowledged the revocation yet
	// (its last heartbeat owned all six).
	h.cghb(b)
	if b.owned.count() != 0 {
		t.Fatalf("b got partitions before a released them: %v", b.owned)
	}
	checkDisjoint(t, cs[:2])
	// a acknowledges (owns three now): epoch 2.
	h.cghb(a)
	if a.epoch != 2 || h.cg().members["m0"].state != memberStable {
		t.Fatalf("a after ack: epoch %d state %v", a.epoch, h.cg().members["m0"].state)
	}
	h.cghb(b)
	if b.owned.count() != 3 {
		t.Fatalf("b after release: %v", b.owned)
	}
	checkDisjoint(t, cs[:2])
	// c joins; everything converges to 2/2/2 without double ownership.
	h.converge(t, cs)
	for _, x := range cs {
		if x.owned.count() != 2 || x.epoch != 3 {
			t.Fatalf("%s: epoch %d owned %v", x.id, x.epoch, x.owned)
		}
	}
	// Kafka's records: the member's metadata, group epoch, target and
	// current assignment are all in the log.
	versions := map[int16]int{}
	for _, r := range h.log {
		versions[int16(r.Key[0])<<8|int16(r.Key[1])]++
	}
	for _, v := range []int16{3, 5, 6, 7, 8} {
		if versions[v] == 0 {
			t.Fatalf("no record with key version %d: %v", v, versions)
		}
	}
}

func TestConsumerLeaveAndSessionExpiry(t *testing.T) {
	h := newHarness(t)
	h.setTopics(TopicInfo{Name: "t", Partitions: 6})
	cs := newClients(3, "t")
	h.converge(t, cs)
	// m2 leaves.
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", "m2", -1
	if r := h.rawHB(req); r.ErrorCode != 0 || r.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", r)
	}
	cs = cs[:2]
	cs[0].owned.count()
	h.converge(t, cs)
	if cs[0].owned.count() != 3 || cs[1].owned.count() != 3 {
		t.Fatalf("after leave: %v %v", cs[0].owned, cs[1].owned)
	}
	// m1 goes silent; after the session timeout m0 has everything.
	h.advance(30 * time.Second)
	h.cghb(cs[0])
	h.advance(20 * time.Second)
	if len(h.cg().members) != 1 {
		t.Fatalf("m1 did not expire: %d members", len(h.cg().members))
	}
	h.converge(t, cs[:1])
	if cs[0].owned.count() != 6 {
		t.Fatalf("after expiry: %v", cs[0].owned)
	}
	// A heartbeat of the expired member: UNKNOWN_MEMBER_ID.
	if r := h.cghb(cs[1]); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member: %+v", r)
	}
	// The last member leaves: the group is Empty.
	req.MemberID = "m0"
	h.rawHB(req)
	if h.cg().stateName() != "Empty" || h.s.groups["g"].state != Empty {
		t.Fatalf("state %s", h.cg().stateName())
	}
}

func TestConsumerRebalanceTimeout(t *testing.T) {
	h := newHarness(t)
	h.setTopics(TopicInfo{Name: "t", Partitions: 4})
	cs := newClients(2, "t")
	h.cghb(cs[0])
	h.cghb(cs[1])
	// m0 is asked to revoke but never acknowledges: the heartbeat
	// below sends no owned partitions (nil), which does not count.
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", "m0", 1
	h.rawHB(req)
	if h.cg().members["m0"].state != memberUnrevoked {
		t.Fatal("m0 not revoking")
	}
	for i := 0; i < 7; i++ {
		h.advance(5 * time.Second)
		h.rawHB(req)
		h.cghb(cs[1])
	}
	if _, ok := h.cg().members["m0"]; ok {
		t.Fatal("m0 not fenced after its rebalance timeout")
	}
	h.converge(t, cs[1:])
	if cs[1].owned.count() != 4 {
		t.Fatalf("m1 owns %v", cs[1].owned)
	}
}

func TestConsumerStaticRejoin(t *testing.T) {
	h := newHarness(t)
	h.setTopics(TopicInfo{Name: "t", Partitions: 6})
	cs := newClients(3, "t")
	for i, c := range cs {
		c.instance = fmt.Sprintf("i%d", i)
	}
	h.converge(t, cs)
	epoch := h.cg().epoch
	owned := cs[1].owned.clone()
	// i1 leaves as a static member (-2): it keeps its partitions.
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	inst := "i1"
	req.Version, req.Group, req.MemberID, req.MemberEpoch, req.InstanceID = 1, "g", "m1", -2, &inst
	if r := h.rawHB(req); r.ErrorCode != 0 || r.MemberEpoch != -2 {
		t.Fatalf("static leave: %+v", r)
	}
	// Another process with the same instance id but a live member: no.
	live := &cclient{id: "other", instance: "i0", topics: []string{"t"}, owned: tps{}}
	if r := h.cghb(live); r.ErrorCode != kerr.UnreleasedInstanceID.Code {
		t.Fatalf("instance of a live member: %+v", r)
	}
	// The restarted i1 joins with a new member id and gets its old
	// partitions at once; the group epoch does not move.
	back := &cclient{id: "m1-restarted", instance: "i1", topics: []string{"t"}, owned: tps{}}
	if r := h.cghb(back); r.ErrorCode != 0 {
		t.Fatalf("static rejoin: %+v", r)
	}
	if !back.owned.equal(owned) || h.cg().epoch != epoch {
		t.Fatalf("rejoin got %v (had %v), epoch %d -> %d", back.owned, owned, epoch, h.cg().epoch)
	}
	// The old member id is fenced.
	req.MemberEpoch = 3
	if r := h.rawHB(req); r.ErrorCode != kerr.FencedInstanceID.Code {
		t.Fatalf("old member id: %+v", r)
	}
	// A static member that left with -2 and does not come back expires
	// after the session timeout and its partitions move.
	req.MemberID, req.MemberEpoch = "m1-restarted", -2
	h.rawHB(req)
	rest := []*cclient{cs[0], cs[2]}
	for i := 0; i < 10; i++ {
		h.advance(5 * time.Second)
		for _, c := range rest {
			h.cghb(c)
		}
	}
	h.converge(t, rest)
	if rest[0].owned.count()+rest[1].owned.count() != 6 {
		t.Fatalf("partitions of the expired static member not moved: %v %v", rest[0].owned, rest[1].owned)
	}
}

func TestConsumerRegexPicksUpNewTopic(t *testing.T) {
	h := newHarness(t)
	h.setTopics(TopicInfo{Name: "foo-1", Partitions: 2}, TopicInfo{Name: "bar", Partitions: 2})
	c := &cclient{id: "m0", regex: "foo-.*", owned: tps{}}
	if r := h.cghb(c); r.ErrorCode != 0 || c.owned.count() != 2 || len(c.owned[topicID("foo-1")]) != 2 {
		t.Fatalf("regex join: %+v %v", r, c.owned)
	}
	epoch := h.cg().epoch
	// A new matching topic bumps the group epoch and is assigned.
	h.setTopics(TopicInfo{Name: "foo-1", Partitions: 2}, TopicInfo{Name: "bar", Partitions: 2}, TopicInfo{Name: "foo-2", Partitions: 3})
	if h.cg().epoch != epoch+1 {
		t.Fatalf("epoch %d -> %d", epoch, h.cg().epoch)
	}
	h.cghb(c)
	if c.owned.count() != 5 || len(c.owned[topicID("foo-2")]) != 3 {
		t.Fatalf("new topic not assigned: %v", c.owned)
	}
	// More partitions too; a non-matching topic changes nothing.
	h.setTopics(TopicInfo{Name: "foo-1", Partitions: 4}, TopicInfo{Name: "bar", Partitions: 2}, TopicInfo{Name: "foo-2", Partitions: 3}, TopicInfo{Name: "baz", Partitions: 1})
	h.cghb(c)
	if c.owned.count() != 7 || h.cg().epoch != epoch+2 {
		t.Fatalf("partitions added: %v epoch %d", c.owned, h.cg().epoch)
	}
	// Deleting a topic takes its partitions away.
	h.setTopics(TopicInfo{Name: "foo-1", Partitions: 4}, TopicInfo{Name: "bar", Partitions: 2})
	h.cghb(c)
	h.cghb(c)
	if c.owned.count() != 4 || h.cg().stateName() != "Stable" {
		t.Fatalf("topic deleted: %v %s", c.owned, h.cg().stateName())
	}
	// An invalid regex.
	bad := &cclient{id: "m1", regex: "foo(", owned: tps{}}
	if r := h.cghb(bad); r.ErrorCode != kerr.InvalidRegularExpression.Code {
		t.Fatalf("invalid regex: %+v", r)
	}
}

func TestConsumerAssignors(t *testing.T) {
	for _, tc := range []struct {
		assignor string
		want     [2]int // partitions of m0 and m1
		m0First  bool   // m0 has partition 0 of each topic
	}{
		{"range", [2]int{4, 2}, true},
		{"uniform", [2]int{3, 3}, false},
	} {
		t.Run(tc.assignor, func(t *testing.T) {
			h := newHarness(t)
			h.setTopics(TopicInfo{Name: "a", Partitions: 3}, TopicInfo{Name: "b", Partitions: 3})
			cs := newClients(2, "a", "b")
			for _, c := range cs {
				c.assignor = tc.assignor
			}
			h.converge(t, cs)
			if got := [2]int{cs[0].owned.count(), cs[1].owned.count()}; got != tc.want {
				t.Fatalf("%s: %v / %v", tc.assignor, cs[0].owned, cs[1].owned)
			}
			if tc.m0First && (!cs[0].owned.has(topicID("a"), 0) || !cs[0].owned.has(topicID("b"), 0)) {
				t.Fatalf("range: %v", cs[0].owned)
			}
			if d := h.s.DescribeConsumerGroup("g", 0); d.AssignorName != tc.assignor {
				t.Fatalf("assignor %q", d.AssignorName)
			}
		})
	}
	h := newHarness(t)
	c := &cclient{id: "m0", topics: []string{"t"}, assignor: "sticky", owned: tps{}}
	if r := h.cghb(c); r.ErrorCode != kerr.UnsupportedAssignor.Code {
		t.Fatalf("unknown assignor: %+v", r)
	}
}

func TestConsumerUniformIsSticky(t *testing.T) {
	h := newHarness(t)
	h.setTopics(TopicInfo{Name: "t", Partitions: 12})
	cs := newClients(3, "t")
	h.converge(t, cs)
	before := map[string]tps{}
	for _, c := range cs {
		before[c.id] = c.owned.clone()
	}
	cs = append(cs, &cclient{id: "m3", topics: []string{"t"}, owned: tps{}})
	h.converge(t, cs)
	for _, c := range cs[:3] {
		if c.owned.count() != 3 || !c.owned.subsetOf(before[c.id]) {
			t.Fatalf("%s moved partitions: %v -> %v", c.id, before[c.id], c.owned)
		}
	}
}

func TestConsumerEpochFencingAndValidation(t *testing.T) {
	h := newHarness(t)
	h.setTopics(TopicInfo{Name: "t", Partitions: 2})
	c := newClients(1, "t")[0]
	h.cghb(c)
	hb := func(mod func(*kmsg.ConsumerGroupHeartbeatRequest)) int16 {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", "m0", c.epoch
		mod(req)
		return h.rawHB(req).ErrorCode
	}
	for name, tc := range map[string]struct {
		mod  func(*kmsg.ConsumerGroupHeartbeatRequest)
		code int16
	}{
		"greater epoch": {func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = 5 }, kerr.FencedMemberEpoch.Code},
		"older epoch, no owned": {func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberEpoch = 0
			r.MemberID = "m0"
			r.RebalanceTimeoutMillis = 1
		}, kerr.InvalidRequest.Code},
		"unknown member":  {func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "nope" }, kerr.UnknownMemberID.Code},
		"empty group":     {func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "" }, kerr.InvalidRequest.Code},
		"empty member v1": {func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }, kerr.InvalidRequest.Code},
		"epoch -3":        {func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -3 }, kerr.InvalidRequest.Code},
		"empty instance":  {func(r *kmsg.ConsumerGroupHeartbeatRequest) { s := ""; r.InstanceID = &s }, kerr.InvalidRequest.Code},
		"join without rebalance timeout": {func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID, r.MemberEpoch, r.SubscribedTopicNames = "new", 0, []string{"t"}
		}, kerr.InvalidRequest.Code},
		"join without subscription": {func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID, r.MemberEpoch, r.RebalanceTimeoutMillis = "new", 0, 1000
		}, kerr.InvalidRequest.Code},
		"join owning partitions": {func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberID, r.MemberEpoch, r.RebalanceTimeoutMillis, r.SubscribedTopicNames = "new", 0, 1000, []string{"t"}
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: topicID("t"), Partitions: []int32{0}}}
		}, kerr.InvalidRequest.Code},
	} {
		if got := hb(tc.mod); got != tc.code {
			t.Errorf("%s: %v, want %v", name, kerr.ErrorForCode(got), kerr.ErrorForCode(tc.code))
		}
	}
	// The previous epoch with owned partitions that are still assigned
	// is accepted (the response that bumped the epoch was lost).
	d := &cclient{id: "m1", topics: []string{"t"}, owned: tps{}}
	h.cghb(d)
	h.converge(t, []*cclient{c, d})
	m := h.cg().members["m0"]
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", "m0", m.prevEpoch
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: topicID("t"), Partitions: slices.Clone(m.assigned[topicID("t")])}}
	if r := h.rawHB(req); r.ErrorCode != 0 || r.MemberEpoch != m.epoch {
		t.Fatalf("previous epoch: %+v", r)
	}
	// Group size.
	h2 := newHarness(t, func(c *Config) { c.ConsumerMaxSize = 1 })
	h2.cghb(&cclient{id: "a", topics: []string{"t"}, owned: tps{}})
	if r := h2.cghb(&cclient{id: "b", topics: []string{"t"}, owned: tps{}}); r.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("max size: %+v", r)
	}
}

func TestConsumerOffsetCommitEpochs(t *testing.T) {
	h := newHarness(t)
	h.setTopics(TopicInfo{Name: "t", Partitions: 2})
	cs := newClients(1, "t")
	h.converge(t, cs)
	if code := h.commit("g", "m0", cs[0].epoch, "t", 0, 10, ""); code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}
	if code := h.commit("g", "m0", cs[0].epoch-1, "t", 0, 11, ""); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("stale commit: %v", kerr.ErrorForCode(code))
	}
	if code := h.commit("g", "nobody", 1, "t", 0, 11, ""); code != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member commit: %v", kerr.ErrorForCode(code))
	}
	if code := h.commit("g", "", -1, "t", 0, 11, ""); code != kerr.UnknownMemberID.Code {
		t.Fatalf("simple commit into a live group: %v", kerr.ErrorForCode(code))
	}
	mid := "m0"
	if code := h.s.ValidateOffsetFetch("g", &mid, cs[0].epoch-1); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("stale fetch: %v", kerr.ErrorForCode(code))
	}
	if code := h.s.ValidateOffsetFetch("g", &mid, cs[0].epoch); code != 0 {
		t.Fatalf("fetch: %v", kerr.ErrorForCode(code))
	}
	if off, _ := h.fetch("g", "t", 0); off != 10 {
		t.Fatalf("offset %d", off)
	}
	// A member's topic can't have its offsets deleted.
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "g"
	rt := kmsg.NewOffsetDeleteRequestTopic()
	rt.Topic = "t"
	rt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
	req.Topics = append(req.Topics, rt)
	a := &answer[*kmsg.OffsetDeleteResponse]{}
	h.apply(h.s.OffsetDelete(h.now, req, a.set))
	if a.resp.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code {
		t.Fatalf("offset delete: %+v", a.resp)
	}
}

func TestConsumerAndClassicGroups(t *testing.T) {
	h := newHarness(t)
	h.setTopics(TopicInfo{Name: "t", Partitions: 2})
	// A classic group with members refuses consumer-protocol members.
	join, _ := h.joinNew(spec{group: "g"})
	if !join.done() || join.resp.ErrorCode != 0 {
		t.Fatalf("classic join: %+v", join.resp)
	}
	c := &cclient{id: "m0", topics: []string{"t"}, owned: tps{}}
	if r := h.cghb(c); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("consumer join into a classic group: %+v", r)
	}
	// An empty classic group (offsets only) is converted, offsets kept.
	if code := h.commit("simple", "", -1, "t", 1, 42, "m"); code != 0 {
		t.Fatal(code)
	}
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "simple", "x", 0
	req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 1000, []string{"t"}
	if r := h.rawHB(req); r.ErrorCode != 0 || r.MemberEpoch != 1 {
		t.Fatalf("convert: %+v", r)
	}
	if off, _ := h.fetch("simple", "t", 1); off != 42 {
		t.Fatalf("offset lost on conversion: %d", off)
	}
	// A classic JoinGroup into the consumer group with members: refused.
	if j := h.join(spec{group: "simple"}); j.resp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("classic join into a consumer group: %+v", j.resp)
	}
	// Non-empty: DeleteGroups refuses.
	var code int16 = -1
	h.apply(h.s.DeleteGroup(h.now, "simple", func(c int16) { code = c }))
	if code != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete: %v", code)
	}
	// Once empty it becomes classic again on a JoinGroup.
	req.MemberEpoch = -1
	h.rawHB(req)
	if first := h.join(spec{group: "simple"}); first.resp.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("classic join into an empty consumer group: %+v", first.resp)
	}
	if h.s.groups["simple"].cg != nil {
		t.Fatal("not converted back")
	}
	if off, _ := h.fetch("simple", "t", 1); off != 42 {
		t.Fatalf("offset lost on conversion back: %d", off)
	}
	// ConsumerGroupDescribe of a classic group.
	if d := h.s.DescribeConsumerGroup("g", 1); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe classic: %+v", d)
	}
}

func TestConsumerReplay(t *testing.T) {
	h := newHarness(t)
	topics := []TopicInfo{{Name: "t", Partitions: 6}, {Name: "u", Partitions: 2}}
	h.setTopics(topics...)
	cs := newClients(3, "t", "u")
	cs[2].instance = "static"
	h.converge(t, cs)
	h.commit("g", "m0", cs[0].epoch, "t", 0, 5, "")
	// Leave one member mid-reconciliation: m3 joins, nobody acks.
	cs = append(cs, &cclient{id: "m3", topics: []string{"t"}, owned: tps{}})
	h.cghb(cs[3])
	h.cghb(cs[0])
	want := h.s.DescribeConsumerGroup("g", 1)

	r := NewShard(h.cfg)
	for _, rec := range h.log {
		if err := r.Replay(rec); err != nil {
			t.Fatal(err)
		}
	}
	r.LoadComplete(h.now)
	h.apply(r.SetTopics(h.now, h.s.topicList()))
	got := r.DescribeConsumerGroup("g", 1)
	if describeString(got) != describeString(want) {
		t.Fatalf("replayed group differs\n got %+v\nwant %+v", got, want)
	}
	if r.groups["g"].cg.static["static"] != "m2" {
		t.Fatal("static member not replayed")
	}
	// The replayed coordinator carries on: members keep their epochs.
	h.s = r
	h.converge(t, cs)
	if off, _ := h.fetch("g", "t", 0); off != 5 {
		t.Fatalf("offset %d", off)
	}
	// A deleted group replays as gone.
	for _, c := range cs {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", c.id, -1
		if c.instance != "" {
			inst := c.instance
			req.InstanceID = &inst
		}
		h.rawHB(req)
	}
	var code int16 = -1
	h.apply(h.s.DeleteGroup(h.now, "g", func(c int16) { code = c }))
	if code != 0 {
		t.Fatalf("delete: %v", kerr.ErrorForCode(code))
	}
	r2 := NewShard(h.cfg)
	for _, rec := range h.log {
		if err := r2.Replay(rec); err != nil {
			t.Fatal(err)
		}
	}
	r2.LoadComplete(h.now)
	if g := r2.groups["g"]; g != nil {
		t.Fatalf("deleted group replayed: %+v", g)
	}
}

func (s *Shard) topicList() []TopicInfo {
	var out []TopicInfo
	for _, t := range s.topics {
		out = append(out, t)
	}
	return out
}

func describeString(d kmsg.ConsumerGroupDescribeResponseGroup) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d/%d %s", d.State, d.Epoch, d.AssignmentEpoch, d.AssignorName)
	for _, m := range d.Members {
		inst := "-"
		if m.InstanceID != nil {
			inst = *m.InstanceID
		}
		fmt.Fprintf(&b, " [%s %s e%d %v %v", m.MemberID, inst, m.MemberEpoch, m.SubscribedTopics, m.ClientHost)
		for _, a := range []kmsg.Assignment{m.Assignment, m.TargetAssignment} {
			for _, tp := range a.TopicPartitions {
				fmt.Fprintf(&b, " %s%v", tp.Topic, tp.Partitions)
			}
			b.WriteString(" |")
		}
		b.WriteString("]")
	}
	return b.String()
}
