package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestSimpleCommitFetchAndMetadata(t *testing.T) {
	h := newHarness(t)
	if off, _ := h.fetch("unknown", "t", 0); off != -1 {
		t.Fatalf("unknown group offset %d, want -1", off)
	}
	if code := h.commit("simple", "", -1, "t", 0, 42, "where I was"); code != 0 {
		t.Fatalf("simple commit: %d", code)
	}
	off, md := h.fetch("simple", "t", 0)
	if off != 42 || md != "where I was" {
		t.Fatalf("fetched %d %q", off, md)
	}
	if off, _ := h.fetch("simple", "t", 1); off != -1 {
		t.Fatalf("uncommitted partition %d", off)
	}
	all := h.s.FetchOffsets("simple", nil)
	if len(all.Topics) != 1 || all.Topics[0].Partitions[0].Offset != 42 || all.Topics[0].Partitions[0].LeaderEpoch != 3 {
		t.Fatalf("fetch all: %+v", all)
	}
	// Too much metadata.
	big := make([]byte, h.cfg.OffsetMetadataMaxBytes+1)
	if code := h.commit("simple", "", -1, "t", 0, 43, string(big)); code != kerr.OffsetMetadataTooLarge.Code {
		t.Fatalf("big metadata: %d", code)
	}
	// A member commit to an unknown group.
	if code := h.commit("nope", "m", 3, "t", 0, 1, ""); code != kerr.GroupIDNotFound.Code {
		t.Fatalf("member commit to unknown group: %d", code)
	}
	// Listed as an Empty classic group without protocol type.
	lg := h.s.ListGroups([]string{"empty"}, []string{"Classic"})
	if len(lg) != 1 || lg[0].Group != "simple" || lg[0].ProtocolType != "" {
		t.Fatalf("list: %+v", lg)
	}
	if lg := h.s.ListGroups(nil, []string{"consumer"}); len(lg) != 0 {
		t.Fatalf("consumer type filter: %+v", lg)
	}
}

func TestOffsetDeleteAndDeleteGroup(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup(1)
	h.commit("g", ids[0], gen, "t", 0, 10, "")
	h.commit("g", ids[0], gen, "gone", 0, 11, "")

	del := func(topic string) *kmsg.OffsetDeleteResponse {
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = "g"
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetDeleteRequestTopicPartition()
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		a := &answer[*kmsg.OffsetDeleteResponse]{}
		h.apply(h.s.OffsetDelete(h.now, req, a.set))
		return a.resp
	}
	if r := del("t"); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code {
		t.Fatalf("delete subscribed: %+v", r)
	}
	if r := del("gone"); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("delete unsubscribed: %+v", r)
	}
	if off, _ := h.fetch("g", "gone", 0); off != -1 {
		t.Fatal("deleted offset still there")
	}
	if last := h.log[len(h.log)-1]; last.Value != nil {
		t.Fatal("offset delete wrote no tombstone")
	}

	var code int16
	h.apply(h.s.DeleteGroup(h.now, "g", func(c int16) { code = c }))
	if code != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete of a live group: %d", code)
	}
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group, req.MemberID = "g", ids[0]
	h.apply(h.s.LeaveGroup(h.now, req, func(*kmsg.LeaveGroupResponse) {}))
	h.apply(h.s.DeleteGroup(h.now, "g", func(c int16) { code = c }))
	if code != 0 || h.state("g") != Dead {
		t.Fatalf("delete of an empty group: %d", code)
	}
	h.apply(h.s.DeleteGroup(h.now, "g", func(c int16) { code = c }))
	if code != kerr.GroupIDNotFound.Code {
		t.Fatalf("second delete: %d", code)
	}
	if _, found := h.s.DescribeGroup("g"); found {
		t.Fatal("deleted group described")
	}
}

func TestOffsetRetention(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.OffsetsRetention = time.Hour
		c.OffsetsRetentionCheckInterval = time.Minute
	})
	h.commit("simple", "", -1, "t", 0, 1, "")
	ids, gen := h.stableGroup(1)
	h.commit("g", ids[0], gen, "t", 0, 2, "")
	// Two hours later the simple group's offset has expired; the live
	// group's has not.
	h.advance(2 * time.Hour)
	h.heartbeat("g", ids[0], gen)
	h.advance(time.Minute)
	if h.state("simple") != Dead {
		t.Fatal("simple group with expired offsets still there")
	}
	if off, _ := h.fetch("g", "t", 0); off != 2 {
		t.Fatal("live group's offset expired")
	}
	// Once the group is empty, its offsets expire a retention period
	// later, counted from when it became empty.
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group, req.MemberID = "g", ids[0]
	h.apply(h.s.LeaveGroup(h.now, req, func(*kmsg.LeaveGroupResponse) {}))
	h.advance(30 * time.Minute)
	if off, _ := h.fetch("g", "t", 0); off != 2 {
		t.Fatal("expired before the retention period")
	}
	h.advance(31 * time.Minute)
	if off, _ := h.fetch("g", "t", 0); off != -1 || h.state("g") != Dead {
		t.Fatalf("empty group's offsets did not expire: %d %v", off, h.state("g"))
	}
}

func TestDescribe(t *testing.T) {
	h := newHarness(t)
	ids, _ := h.stableGroup(2)
	d, found := h.s.DescribeGroup("g")
	if !found || d.State != "Stable" || d.Protocol != "range" || d.ProtocolType != "consumer" || len(d.Members) != 2 {
		t.Fatalf("describe: %+v", d)
	}
	if string(d.Members[0].MemberAssignment) != "assignment-of-"+ids[0] || d.Members[0].ClientHost != "/127.0.0.1" || len(d.Members[0].ProtocolMetadata) == 0 {
		t.Fatalf("member: %+v", d.Members[0])
	}
	h.join(spec{member: ids[0], userData: "changed"})
	if d, _ = h.s.DescribeGroup("g"); d.State != "PreparingRebalance" || d.Protocol != "" || len(d.Members[0].MemberAssignment) != 0 {
		t.Fatalf("describe while rebalancing: %+v", d)
	}
}

// TestReplayRebuildsState builds state through the protocol, replays the
// records into a new shard, and compares.
func TestReplayRebuildsState(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup(3)
	h.commit("g", ids[0], gen, "t", 0, 100, "m0")
	h.commit("g", ids[1], gen, "t", 1, 200, "")
	h.commit("g", ids[1], gen, "t", 1, 201, "m1") // overwritten
	static := h.join(spec{group: "s", instance: "inst"})
	h.sync("s", static.resp.MemberID, static.resp.Generation, map[string]string{static.resp.MemberID: "S"})
	h.commit("simple", "", -1, "x", 3, 7, "")
	h.commit("deleted", "", -1, "x", 0, 1, "")
	h.apply(h.s.DeleteGroup(h.now, "deleted", func(int16) {}))
	h.commit("emptied", "", -1, "y", 0, 5, "")

	want := dump(h.s)
	t.Logf("state:\n%s", want)
	r := NewShard(h.cfg)
	for _, rec := range h.log {
		if err := r.Replay(rec); err != nil {
			t.Fatal(err)
		}
	}
	r.LoadComplete(h.now)
	if got := dump(r); got != want {
		t.Fatalf("replayed state differs\n--- replayed\n%s--- original\n%s", got, want)
	}
	// The replayed group works: members heartbeat in the same generation
	// and a rejoin rebalances.
	h.s = r
	if code := h.heartbeat("g", ids[2], gen); code != 0 {
		t.Fatalf("heartbeat after replay: %d", code)
	}
	if s := h.sync("g", ids[2], gen, nil); string(s.resp.MemberAssignment) != "assignment-of-"+ids[2] {
		t.Fatalf("assignment after replay: %+v", s.resp)
	}
	// Members that do not come back expire after a session.
	h.advance(11 * time.Second)
	if h.state("g") != PreparingRebalance && h.state("g") != Empty {
		t.Fatalf("silent replayed members did not expire: %v", h.state("g"))
	}
	// Tolerates unknown key versions (share group records of Kafka 4).
	if err := r.Replay(Record{Key: []byte{0, 9, 0, 0}, Value: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Replay(Record{Key: []byte{0}}); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestUnsubscribedOffsetsExpireInLiveGroup(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.OffsetsRetention = time.Hour
		c.OffsetsRetentionCheckInterval = time.Minute
	})
	ids, gen := h.stableGroup(1) // subscribes to "t"
	h.commit("g", ids[0], gen, "t", 0, 1, "")
	h.commit("g", ids[0], gen, "old", 0, 2, "")
	for i := 0; i < 62*12; i++ {
		h.advance(5 * time.Second)
		h.heartbeat("g", ids[0], gen)
	}
	if off, _ := h.fetch("g", "old", 0); off != -1 {
		t.Fatal("offset of an unsubscribed topic did not expire")
	}
	if off, _ := h.fetch("g", "t", 0); off != 1 || h.state("g") != Stable {
		t.Fatal("offset of a subscribed topic expired")
	}
}

func TestAbortAnswersWaitingRequests(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup(2)
	a := h.join(spec{member: ids[0], userData: "x"})
	h.apply(h.s.Abort())
	if !a.done() || a.resp.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("aborted join: %+v", a.resp)
	}
	_ = gen
}
