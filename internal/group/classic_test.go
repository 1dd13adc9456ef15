package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestJavaHashPlacement(t *testing.T) {
	// Values printed by Java's String.hashCode and Kafka's
	// Utils.abs(hash) % 50.
	for _, tc := range []struct {
		s    string
		hash int32
		part int32
	}{
		{"hello", 99162322, 22},
		{"polygenelubricants", -2147483648, 0}, // MinInt32: Utils.abs gives 0
		{"héllo", 103094734, 34},
		{"console-consumer-12345", 158455506, 6},
		{"😀x", 54959989, 39}, // a surrogate pair
	} {
		if got := JavaStringHashCode(tc.s); got != tc.hash {
			t.Errorf("hash(%q) = %d, want %d", tc.s, got, tc.hash)
		}
		if got := PartitionFor(tc.s, 50); got != tc.part {
			t.Errorf("partition(%q) = %d, want %d", tc.s, got, tc.part)
		}
	}
}

func TestMemberIDRequiredAndEagerRebalance(t *testing.T) {
	h := newHarness(t)
	a, aid := h.joinNew(spec{})
	if !a.done() || a.resp.ErrorCode != 0 || a.resp.Generation != 1 || a.resp.LeaderID != aid || len(a.resp.Members) != 1 {
		t.Fatalf("first member: %+v", a.resp)
	}
	if *a.resp.Protocol != "range" || *a.resp.ProtocolType != "consumer" {
		t.Fatalf("protocol: %+v", a.resp)
	}
	if s := h.sync("g", aid, 1, map[string]string{aid: "A"}); s.resp.ErrorCode != 0 || string(s.resp.MemberAssignment) != "A" {
		t.Fatalf("sync: %+v", s.resp)
	}
	if h.state("g") != Stable {
		t.Fatal("not stable")
	}

	// B joins: the group rebalances; A learns it from its heartbeat.
	b, bid := h.joinNew(spec{})
	if b.done() || h.state("g") != PreparingRebalance {
		t.Fatalf("B answered before A rejoined: %+v", b.resp)
	}
	if code := h.heartbeat("g", aid, 1); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat during rebalance: %d", code)
	}
	a = h.join(spec{member: aid})
	if !a.done() || !b.done() || a.resp.Generation != 2 || b.resp.Generation != 2 {
		t.Fatalf("rebalance did not complete: %+v %+v", a.resp, b.resp)
	}
	if a.resp.LeaderID != aid || len(a.resp.Members) != 2 || len(b.resp.Members) != 0 {
		t.Fatalf("leader answer: %+v / follower: %+v", a.resp, b.resp)
	}
	// The follower's sync waits for the leader's.
	bs := h.sync("g", bid, 2, nil)
	if bs.done() {
		t.Fatal("follower sync answered before the leader's")
	}
	as := h.sync("g", aid, 2, map[string]string{aid: "A2", bid: "B2"})
	if string(as.resp.MemberAssignment) != "A2" || string(bs.resp.MemberAssignment) != "B2" || *bs.resp.Protocol != "range" {
		t.Fatalf("assignments: %+v %+v", as.resp, bs.resp)
	}
	if h.state("g") != Stable || h.heartbeat("g", bid, 2) != 0 {
		t.Fatal("not stable after the syncs")
	}
	// The assignment is durable: the last record is the group's.
	var gv kmsg.GroupMetadataValue
	if err := gv.ReadFrom(h.log[len(h.log)-1].Value); err != nil || gv.Generation != 2 || len(gv.Members) != 2 || string(gv.Members[1].Assignment) != "B2" {
		t.Fatalf("group record: %v %+v", err, gv)
	}
}

// TestRepeatedRebalances follows a cooperative client: members rejoin with
// new metadata (their owned partitions) generation after generation.
func TestRepeatedRebalances(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup(2)
	for round := 0; round < 3; round++ {
		b := h.join(spec{member: ids[1], userData: "owned-" + string(rune('a'+round))})
		if b.done() || h.state("g") != PreparingRebalance {
			t.Fatalf("round %d: changed metadata did not start a rebalance", round)
		}
		if code := h.heartbeat("g", ids[0], gen); code != kerr.RebalanceInProgress.Code {
			t.Fatalf("round %d: heartbeat %d", round, code)
		}
		a := h.join(spec{member: ids[0]})
		if !a.done() || !b.done() || a.resp.Generation != gen+1 {
			t.Fatalf("round %d: %+v %+v", round, a.resp, b.resp)
		}
		gen++
		leader := a.resp.LeaderID
		follower := ids[0]
		if leader == ids[0] {
			follower = ids[1]
		}
		fs := h.sync("g", follower, gen, nil)
		h.sync("g", leader, gen, map[string]string{ids[0]: "x", ids[1]: "y"})
		if !fs.done() || fs.resp.ErrorCode != 0 || h.state("g") != Stable {
			t.Fatalf("round %d: sync %+v", round, fs.resp)
		}
	}
	// A follower that rejoins with nothing new gets the current
	// generation without a rebalance.
	g := h.s.groups["g"]
	follower := ids[1]
	if g.leader == follower {
		follower = ids[0]
	}
	cur := g.member(follower)
	j := h.join(spec{member: follower, userData: string(consumerUserData(cur))})
	if !j.done() || j.resp.Generation != gen || h.state("g") != Stable {
		t.Fatalf("idle follower rejoin: %+v state %v", j.resp, h.state("g"))
	}
}

func (g *group) member(id string) *member { return g.byID[id] }

func consumerUserData(m *member) []byte {
	var md kmsg.ConsumerMemberMetadata
	md.ReadFrom(m.protocols[0].metadata)
	return md.UserData
}

func TestStaticMemberRejoinsWithoutRebalance(t *testing.T) {
	h := newHarness(t)
	s1 := h.join(spec{instance: "static-1"})
	if !s1.done() || s1.resp.ErrorCode != 0 {
		t.Fatalf("static join (no MEMBER_ID_REQUIRED): %+v", s1.resp)
	}
	old := s1.resp.MemberID
	d, did := h.joinNew(spec{})
	s1 = h.join(spec{member: old, instance: "static-1"})
	if !d.done() || !s1.done() {
		t.Fatal("rebalance incomplete")
	}
	gen := s1.resp.Generation
	leader := s1.resp.LeaderID
	h.sync("g", did, gen, nil)
	h.sync("g", leader, gen, map[string]string{old: "S", did: "D"})
	if h.state("g") != Stable {
		t.Fatal("not stable")
	}

	// The process restarts: a join with an empty member id and the same
	// instance id replaces the member, without a rebalance.
	re := h.join(spec{instance: "static-1"})
	if !re.done() || re.resp.ErrorCode != 0 || re.resp.Generation != gen || re.resp.MemberID == old {
		t.Fatalf("static rejoin: %+v", re.resp)
	}
	if h.state("g") != Stable {
		t.Fatalf("static rejoin moved the group to %v", h.state("g"))
	}
	if re.resp.MemberID == re.resp.LeaderID && !re.resp.SkipAssignment {
		t.Fatal("rejoining static leader not told to skip the assignment")
	}
	sync := h.sync("g", re.resp.MemberID, gen, nil)
	if sync.resp.ErrorCode != 0 || string(sync.resp.MemberAssignment) != "S" {
		t.Fatalf("rejoined static member's assignment: %+v", sync.resp)
	}
	// The old member id is fenced.
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = "g", old, gen
	inst := "static-1"
	req.InstanceID = &inst
	if code := h.s.Heartbeat(h.now, req).ErrorCode; code != kerr.FencedInstanceID.Code {
		t.Fatalf("stale static member heartbeat: %d", code)
	}
	// The change is durable.
	var gv kmsg.GroupMetadataValue
	gv.ReadFrom(h.log[len(h.log)-1].Value)
	found := false
	for _, m := range gv.Members {
		if m.MemberID == re.resp.MemberID && *m.InstanceID == "static-1" {
			found = true
		}
	}
	if !found {
		t.Fatalf("replacement not in the group record: %+v", gv.Members)
	}
}

func TestSessionExpiryRemovesMember(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup(2)
	// Only the first member heartbeats.
	for i := 0; i < 12; i++ {
		h.advance(time.Second)
		if code := h.heartbeat("g", ids[0], gen); code != 0 {
			if code != kerr.RebalanceInProgress.Code {
				t.Fatalf("heartbeat: %d", code)
			}
			break
		}
	}
	g := h.s.groups["g"]
	if g.member(ids[1]) != nil || h.state("g") != PreparingRebalance {
		t.Fatalf("expired member still there or no rebalance: state %v", h.state("g"))
	}
	a := h.join(spec{member: ids[0]})
	if !a.done() || a.resp.Generation != gen+1 || len(a.resp.Members) != 1 {
		t.Fatalf("rebalance without the expired member: %+v", a.resp)
	}
	if code := h.heartbeat("g", ids[1], gen); code != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member's heartbeat: %d", code)
	}
}

func TestRebalanceTimeoutDropsLateMembers(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup(2)
	c, cid := h.joinNew(spec{rebalance: 5 * time.Second})
	a := h.join(spec{member: ids[0]})
	if a.done() || c.done() {
		t.Fatal("rebalance completed without the second member")
	}
	// The second member keeps heartbeating but never rejoins.
	for i := 0; i < 40 && !a.done(); i++ {
		h.advance(time.Second)
		h.heartbeat("g", ids[1], gen)
	}
	if !a.done() || !c.done() || a.resp.Generation != gen+1 {
		t.Fatalf("rebalance timeout did not complete the join: %+v %+v", a.resp, c.resp)
	}
	if h.s.groups["g"].member(ids[1]) != nil {
		t.Fatal("member that did not rejoin is still in the group")
	}
	if code := h.heartbeat("g", ids[1], gen); code != kerr.UnknownMemberID.Code {
		t.Fatalf("dropped member heartbeat: %d", code)
	}
	_ = cid
}

func TestFencing(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup(2)
	if code := h.heartbeat("g", ids[0], gen-1); code != kerr.IllegalGeneration.Code {
		t.Fatalf("stale heartbeat: %d", code)
	}
	if code := h.heartbeat("g", "nobody", gen); code != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member heartbeat: %d", code)
	}
	if code := h.heartbeat("nogroup", ids[0], gen); code != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown group heartbeat: %d", code)
	}
	if s := h.sync("g", ids[0], gen+1, nil); s.resp.ErrorCode != kerr.IllegalGeneration.Code {
		t.Fatalf("future generation sync: %+v", s.resp)
	}
	if code := h.commit("g", ids[0], gen-1, "t", 0, 1, ""); code != kerr.IllegalGeneration.Code {
		t.Fatalf("stale commit: %d", code)
	}
	if code := h.commit("g", "nobody", gen, "t", 0, 1, ""); code != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member commit: %d", code)
	}
	if code := h.commit("g", ids[0], gen, "t", 0, 1, ""); code != 0 {
		t.Fatalf("member commit: %d", code)
	}
	if j := h.join(spec{member: "nobody"}); j.resp.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member join: %+v", j.resp)
	}
	if j := h.join(spec{session: time.Millisecond}); j.resp.ErrorCode != kerr.InvalidSessionTimeout.Code {
		t.Fatalf("short session: %+v", j.resp)
	}
	if j := h.join(spec{group: "g", protocols: []string{"other"}}); j.resp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("foreign protocol: %+v", j.resp)
	}
	// During a rebalance, commits of the current generation are still
	// taken (eager clients commit before rejoining), syncs are not.
	h.join(spec{member: ids[1], userData: "new"})
	if code := h.commit("g", ids[0], gen, "t", 0, 2, ""); code != 0 {
		t.Fatalf("commit while preparing: %d", code)
	}
	if s := h.sync("g", ids[0], gen, nil); s.resp.ErrorCode != kerr.RebalanceInProgress.Code {
		t.Fatalf("sync while preparing: %+v", s.resp)
	}
}

func TestInitialRebalanceDelay(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
	a, _ := h.joinNew(spec{})
	h.advance(2 * time.Second)
	b, _ := h.joinNew(spec{})
	h.advance(time.Second) // first delay over; B arrived during it: wait again
	if a.done() || b.done() {
		t.Fatal("rebalance completed while members were still arriving")
	}
	h.advance(3 * time.Second)
	if !a.done() || !b.done() || a.resp.Generation != 1 || b.resp.Generation != 1 {
		t.Fatalf("after the delay: %+v %+v", a.resp, b.resp)
	}
}

func TestGroupMaxSize(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSize = 1 })
	h.joinNew(spec{})
	if j := h.join(spec{}); j.resp.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("second member of a full group: %+v", j.resp)
	}
}

func TestLeaveGroupBatch(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup(2)
	st := h.join(spec{instance: "st"}) // static; the group rebalances
	h.join(spec{member: ids[0]})
	h.join(spec{member: ids[1]})
	if !st.done() || st.resp.Generation != gen+1 {
		t.Fatalf("static member join: %+v", st.resp)
	}
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 5
	req.Group = "g"
	inst := "st"
	ghost := "ghost"
	for _, m := range []kmsg.LeaveGroupRequestMember{
		{MemberID: ids[0]},
		{InstanceID: &inst},
		{MemberID: "nobody"},
		{MemberID: "wrong", InstanceID: &ghost},
	} {
		req.Members = append(req.Members, m)
	}
	a := &answer[*kmsg.LeaveGroupResponse]{}
	h.apply(h.s.LeaveGroup(h.now, req, a.set))
	want := []int16{0, 0, kerr.UnknownMemberID.Code, kerr.UnknownMemberID.Code}
	for i, m := range a.resp.Members {
		if m.ErrorCode != want[i] {
			t.Fatalf("member %d: %d, want %d", i, m.ErrorCode, want[i])
		}
	}
	g := h.s.groups["g"]
	if len(g.members) != 1 || g.members[0].id != ids[1] {
		t.Fatalf("members left: %d", len(g.members))
	}
	// The last member leaves: the group is Empty, its next generation
	// recorded.
	req = kmsg.NewPtrLeaveGroupRequest()
	req.Version = 0
	req.Group, req.MemberID = "g", ids[1]
	a = &answer[*kmsg.LeaveGroupResponse]{}
	h.apply(h.s.LeaveGroup(h.now, req, a.set))
	if a.resp.ErrorCode != 0 || h.state("g") != Empty {
		t.Fatalf("last leave: %+v state %v", a.resp, h.state("g"))
	}
}

func TestPendingSyncTimeout(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup(2)
	h.join(spec{member: ids[1], userData: "x"})
	a := h.join(spec{member: ids[0]})
	if !a.done() || h.state("g") != CompletingRebalance {
		t.Fatal("no new generation")
	}
	// Only the follower syncs; the leader never does.
	follower := ids[0]
	if a.resp.LeaderID == ids[0] {
		follower = ids[1]
	}
	fs := h.sync("g", follower, gen+1, nil)
	h.advance(31 * time.Second)
	if !fs.done() || fs.resp.ErrorCode != kerr.RebalanceInProgress.Code {
		t.Fatalf("waiting follower after the sync timeout: %+v", fs.resp)
	}
	if h.s.groups["g"].member(a.resp.LeaderID) != nil {
		t.Fatal("leader that never synced still in the group")
	}
}

func TestFailedAppendFailsSync(t *testing.T) {
	h := newHarness(t)
	a, aid := h.joinNew(spec{})
	h.failAppends = kerr.NotCoordinator
	s := h.sync("g", aid, a.resp.Generation, map[string]string{aid: "A"})
	if s.resp.ErrorCode != kerr.NotCoordinator.Code || h.state("g") != PreparingRebalance {
		t.Fatalf("sync with a failed append: %+v state %v", s.resp, h.state("g"))
	}
	if code := h.commit("g", aid, a.resp.Generation, "t", 0, 5, ""); code != kerr.NotCoordinator.Code {
		t.Fatalf("commit with a failed append: %d", code)
	}
	h.failAppends = nil
	if off, _ := h.fetch("g", "t", 0); off != -1 {
		t.Fatalf("failed commit applied: %d", off)
	}
}
