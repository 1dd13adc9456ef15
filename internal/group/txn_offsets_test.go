package group

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnCommit is one TxnOffsetCommit (v3 unless req.Version is set by mod)
// for one partition; it returns the partition's code and the effects'
// producer.
func (h *harness) txnCommit(group, member string, gen int32, pid int64, epoch int16, topic string, part int32, off int64, mod ...func(*kmsg.TxnOffsetCommitRequest)) (int16, *Producer) {
	h.t.Helper()
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version = 3
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = "tx", group, pid, epoch
	req.MemberID, req.Generation = member, gen
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	md := "txn"
	rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = part, off, 4, &md
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	for _, m := range mod {
		m(req)
	}
	a := &answer[*kmsg.TxnOffsetCommitResponse]{}
	e := h.s.TxnOffsetCommit(h.now, req, a.set)
	producer := e.Producer
	h.apply(e)
	if !a.done() {
		h.t.Fatal("txn commit not answered")
	}
	return a.resp.Topics[0].Partitions[0].ErrorCode, producer
}

// marker writes a transaction marker to the harness's log and applies it,
// as the broker does with WriteTxnMarkers.
func (h *harness) marker(pid int64, commit bool) {
	h.full = append(h.full, logEntry{batch: Batch{ProducerID: pid, Transactional: true}, marker: true, commit: commit})
	h.s.ReplayEndTxnMarker(pid, commit)
}

// replayFull loads a new shard from the full log, markers included.
func (h *harness) replayFull() *Shard {
	h.t.Helper()
	r := NewShard(h.cfg)
	for _, le := range h.full {
		if le.marker {
			r.ReplayEndTxnMarker(le.batch.ProducerID, le.commit)
			continue
		}
		if err := r.ReplayBatch(le.batch, le.rec); err != nil {
			h.t.Fatal(err)
		}
	}
	r.LoadComplete(h.now)
	return r
}

// stableFetch is an OffsetFetch with require_stable for one partition.
func (h *harness) stableFetch(group, topic string, part int32) (int64, int16) {
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{part}
	g := h.s.FetchStableOffsets(group, []kmsg.OffsetFetchRequestGroupTopic{rt})
	p := g.Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

func TestTxnOffsetsPendingUntilCommit(t *testing.T) {
	h := newHarness(t)
	h.commit("simple", "", -1, "t", 0, 5, "plain")
	code, producer := h.txnCommit("simple", "", -1, 7, 2, "t", 0, 10)
	if code != 0 {
		t.Fatalf("txn commit: %v", kerr.ErrorForCode(code))
	}
	if producer == nil || producer.ID != 7 || producer.Epoch != 2 {
		t.Fatalf("effects' producer %+v, want 7/2", producer)
	}
	if code, _ := h.txnCommit("simple", "", -1, 7, 2, "t", 1, 20); code != 0 {
		t.Fatalf("txn commit: %v", kerr.ErrorForCode(code))
	}
	// Pending: a plain fetch sees the committed offset only, a stable
	// fetch is told to retry.
	if off, md := h.fetch("simple", "t", 0); off != 5 || md != "plain" {
		t.Fatalf("plain fetch of a pending partition: %d %q", off, md)
	}
	if off, _ := h.fetch("simple", "t", 1); off != -1 {
		t.Fatalf("plain fetch of a partition only pending: %d", off)
	}
	for p := int32(0); p < 2; p++ {
		if off, code := h.stableFetch("simple", "t", p); code != kerr.UnstableOffsetCommit.Code || off != -1 {
			t.Fatalf("stable fetch of t/%d: %d %v", p, off, kerr.ErrorForCode(code))
		}
	}
	if off, code := h.stableFetch("simple", "t", 2); code != 0 || off != -1 {
		t.Fatalf("stable fetch of an untouched partition: %d %v", off, kerr.ErrorForCode(code))
	}
	// Fetching every offset lists the committed partitions, pending ones
	// as unstable.
	all := h.s.FetchStableOffsets("simple", nil)
	if len(all.Topics) != 1 || len(all.Topics[0].Partitions) != 1 || all.Topics[0].Partitions[0].ErrorCode != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("stable fetch of all: %+v", all)
	}
	// Another producer's marker changes nothing.
	h.marker(8, true)
	if off, _ := h.fetch("simple", "t", 1); off != -1 {
		t.Fatal("another producer's marker committed the offsets")
	}
	h.marker(7, true)
	for p, want := range []int64{10, 20} {
		off, md := h.fetch("simple", "t", int32(p))
		if off != want || md != "txn" {
			t.Fatalf("t/%d after COMMIT: %d %q, want %d", p, off, md, want)
		}
		if off, code := h.stableFetch("simple", "t", int32(p)); code != 0 || off != want {
			t.Fatalf("stable fetch of t/%d after COMMIT: %d %v", p, off, kerr.ErrorForCode(code))
		}
	}
	if got, want := dump(h.replayFull()), dump(h.s); got != want {
		t.Fatalf("replayed state differs\n--- replayed\n%s--- live\n%s", got, want)
	}
}

func TestTxnOffsetsAbort(t *testing.T) {
	h := newHarness(t)
	h.commit("simple", "", -1, "t", 0, 5, "")
	h.txnCommit("simple", "", -1, 7, 0, "t", 0, 10)
	h.txnCommit("simple", "", -1, 7, 0, "t", 1, 11)
	h.marker(7, false)
	if off, _ := h.fetch("simple", "t", 0); off != 5 {
		t.Fatalf("t/0 after ABORT: %d", off)
	}
	if off, code := h.stableFetch("simple", "t", 1); off != -1 || code != 0 {
		t.Fatalf("t/1 after ABORT: %d %v", off, kerr.ErrorForCode(code))
	}
	// The next transaction of the same producer starts afresh.
	h.txnCommit("simple", "", -1, 7, 1, "t", 1, 12)
	h.marker(7, true)
	if off, _ := h.fetch("simple", "t", 1); off != 12 {
		t.Fatalf("t/1 after the next COMMIT: %d", off)
	}
	if got, want := dump(h.replayFull()), dump(h.s); got != want {
		t.Fatalf("replayed state differs\n--- replayed\n%s--- live\n%s", got, want)
	}
}

// TestTxnOffsetsLaterCommitWins: as in Kafka, a COMMIT keeps a committed
// offset written after the transaction's, and replaces an older one; two
// producers' transactions are independent.
func TestTxnOffsetsLaterCommitWins(t *testing.T) {
	h := newHarness(t)
	h.txnCommit("g1", "", -1, 7, 0, "t", 0, 10)
	h.commit("g1", "", -1, "t", 0, 50, "") // after the transaction's
	h.commit("g1", "", -1, "t", 1, 60, "") // before it
	h.txnCommit("g1", "", -1, 7, 0, "t", 1, 11)
	h.txnCommit("g2", "", -1, 7, 0, "t", 0, 30) // another group, same transaction
	h.txnCommit("g1", "", -1, 9, 0, "t", 0, 90) // another transaction
	h.marker(7, true)
	for _, c := range []struct {
		group string
		part  int32
		want  int64
	}{{"g1", 0, 50}, {"g1", 1, 11}, {"g2", 0, 30}} {
		if off, _ := h.fetch(c.group, "t", c.part); off != c.want {
			t.Errorf("%s t/%d: %d, want %d", c.group, c.part, off, c.want)
		}
	}
	// Producer 9's is still pending, and newer than everything.
	if _, code := h.stableFetch("g1", "t", 0); code != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("stable fetch with producer 9 pending: %v", kerr.ErrorForCode(code))
	}
	r := h.replayFull()
	if got, want := dump(r), dump(h.s); got != want {
		t.Fatalf("replayed state differs\n--- replayed\n%s--- live\n%s", got, want)
	}
	if !strings.Contains(dump(r), "pending 9 t/0=90") {
		t.Fatalf("open transaction not replayed as pending:\n%s", dump(r))
	}
	// The replayed shard commits the open transaction when its marker
	// comes.
	h.s = r
	h.marker(9, true)
	if off, _ := h.fetch("g1", "t", 0); off != 90 {
		t.Fatalf("g1 t/0 after producer 9's COMMIT on the replayed shard: %d", off)
	}
}

func TestTxnOffsetCommitValidation(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup(2)
	check := func(what string, code, want int16) {
		t.Helper()
		if code != want {
			t.Errorf("%s: %v, want %v", what, kerr.ErrorForCode(code), kerr.ErrorForCode(want))
		}
	}
	code, _ := h.txnCommit("g", ids[0], gen, 7, 0, "t", 0, 1)
	check("member commit", code, 0)
	code, _ = h.txnCommit("g", ids[0], gen+1, 7, 0, "t", 0, 1)
	check("wrong generation", code, kerr.IllegalGeneration.Code)
	code, _ = h.txnCommit("g", "nobody", gen, 7, 0, "t", 0, 1)
	check("unknown member", code, kerr.UnknownMemberID.Code)
	code, _ = h.txnCommit("g", ids[0], gen, 7, 0, "t", 0, 1, func(r *kmsg.TxnOffsetCommitRequest) { r.InstanceID = kmsg.StringPtr("inst") })
	check("unknown instance", code, kerr.UnknownMemberID.Code)
	// Unlike OffsetCommit, a commit without member into a group with
	// members is accepted: TxnOffsetCommit v0-v2 has no member fields.
	code, _ = h.txnCommit("g", "", -1, 7, 0, "t", 0, 1)
	check("member-less commit into a live group", code, 0)
	code, _ = h.txnCommit("g", "", -1, 7, 0, "t", 0, 1, func(r *kmsg.TxnOffsetCommitRequest) { r.Version = 0 })
	check("v0 commit into a live group", code, 0)
	// A rebalance in progress does not refuse it either.
	h.join(spec{member: ids[0], userData: "changed"})
	code, _ = h.txnCommit("g", ids[1], gen, 7, 0, "t", 0, 2)
	check("commit during a rebalance", code, 0)

	code, _ = h.txnCommit("unknown", "m", 3, 7, 0, "t", 0, 1)
	check("member commit to an unknown group", code, kerr.IllegalGeneration.Code)
	code, _ = h.txnCommit("", "", -1, 7, 0, "t", 0, 1)
	check("empty group id", code, kerr.InvalidGroupID.Code)
	code, _ = h.txnCommit("simple", "", -1, -1, 0, "t", 0, 1)
	check("no producer id", code, kerr.InvalidProducerIDMapping.Code)
	code, producer := h.txnCommit("simple", "", -1, 7, 0, "t", 0, 1, func(r *kmsg.TxnOffsetCommitRequest) {
		big := strings.Repeat("x", h.cfg.OffsetMetadataMaxBytes+1)
		r.Topics[0].Partitions[0].Metadata = &big
	})
	check("big metadata", code, kerr.OffsetMetadataTooLarge.Code)
	if producer != nil {
		t.Error("a commit with nothing to write has a producer batch")
	}

	// Static membership: another member id for the instance is fenced.
	static := h.join(spec{group: "s", instance: "inst"})
	sid, sgen := static.resp.MemberID, static.resp.Generation
	code, _ = h.txnCommit("s", "other", sgen, 7, 0, "t", 0, 1, func(r *kmsg.TxnOffsetCommitRequest) { r.InstanceID = kmsg.StringPtr("inst") })
	check("fenced instance", code, kerr.FencedInstanceID.Code)
	code, _ = h.txnCommit("s", sid, sgen, 7, 0, "t", 0, 1, func(r *kmsg.TxnOffsetCommitRequest) { r.InstanceID = kmsg.StringPtr("inst") })
	check("static member", code, 0)

	// v0-v1 carry no leader epoch.
	h.txnCommit("epochs", "", -1, 8, 0, "t", 0, 1, func(r *kmsg.TxnOffsetCommitRequest) { r.Version = 1 })
	h.marker(8, true)
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = "t", []int32{0}
	if p := h.s.FetchOffsets("epochs", []kmsg.OffsetFetchRequestGroupTopic{rt}).Topics[0].Partitions[0]; p.Offset != 1 || p.LeaderEpoch != -1 {
		t.Errorf("v1 commit: offset %d epoch %d, want 1 and -1", p.Offset, p.LeaderEpoch)
	}
}

func TestTxnOffsetCommitConsumerGroup(t *testing.T) {
	h := newHarness(t)
	h.setTopics(TopicInfo{Name: "t", Partitions: 2})
	cs := newClients(1, "t")
	h.converge(t, cs)
	check := func(what string, code, want int16) {
		t.Helper()
		if code != want {
			t.Errorf("%s: %v, want %v", what, kerr.ErrorForCode(code), kerr.ErrorForCode(want))
		}
	}
	code, _ := h.txnCommit("g", "m0", cs[0].epoch, 7, 0, "t", 0, 10)
	check("member commit", code, 0)
	// A stale member epoch is ILLEGAL_GENERATION for a transactional
	// commit (STALE_MEMBER_EPOCH for OffsetCommit).
	code, _ = h.txnCommit("g", "m0", cs[0].epoch-1, 7, 0, "t", 0, 10)
	check("stale epoch", code, kerr.IllegalGeneration.Code)
	code, _ = h.txnCommit("g", "nobody", 1, 7, 0, "t", 0, 10)
	check("unknown member", code, kerr.UnknownMemberID.Code)
	code, _ = h.txnCommit("g", "", -1, 7, 0, "t", 0, 10)
	check("member-less commit into a live group", code, kerr.UnknownMemberID.Code)
	h.marker(7, true)
	if off, _ := h.fetch("g", "t", 0); off != 10 {
		t.Fatalf("offset after COMMIT: %d", off)
	}
}

func TestTxnOffsetCommitAppendFails(t *testing.T) {
	h := newHarness(t)
	h.failAppends = kerr.NotCoordinator
	if code, _ := h.txnCommit("simple", "", -1, 7, 0, "t", 0, 10); code != kerr.NotCoordinator.Code {
		t.Fatalf("failed append: %v", kerr.ErrorForCode(code))
	}
	h.failAppends = nil
	if _, code := h.stableFetch("simple", "t", 0); code != 0 {
		t.Fatal("an offset whose append failed is pending")
	}
	h.marker(7, true)
	if off, _ := h.fetch("simple", "t", 0); off != -1 {
		t.Fatalf("an offset whose append failed was committed: %d", off)
	}
}

// TestTxnOffsetsDeleted: OffsetDelete and DeleteGroups delete pending
// transactional offsets with a tombstone, so that neither the marker nor a
// replay brings them back.
func TestTxnOffsetsDeleted(t *testing.T) {
	h := newHarness(t)
	h.commit("g", "", -1, "t", 0, 5, "")
	h.txnCommit("g", "", -1, 7, 0, "t", 0, 10)
	h.txnCommit("g", "", -1, 7, 0, "u", 0, 20) // only pending
	h.txnCommit("g", "", -1, 7, 0, "v", 0, 30) // stays

	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "g"
	for _, topic := range []string{"t", "u"} {
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = topic
		rt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
		req.Topics = append(req.Topics, rt)
	}
	before := len(h.log)
	a := &answer[*kmsg.OffsetDeleteResponse]{}
	h.apply(h.s.OffsetDelete(h.now, req, a.set))
	if a.resp.ErrorCode != 0 || a.resp.Topics[1].Partitions[0].ErrorCode != 0 {
		t.Fatalf("offset delete: %+v", a.resp)
	}
	if n := len(h.log) - before; n != 2 {
		t.Fatalf("offset delete wrote %d tombstones, want 2 (one for the partition only pending)", n)
	}
	for _, topic := range []string{"t", "u"} {
		if _, code := h.stableFetch("g", topic, 0); code != 0 {
			t.Fatalf("%s/0 still pending after OffsetDelete", topic)
		}
	}
	if _, code := h.stableFetch("g", "v", 0); code != kerr.UnstableOffsetCommit.Code {
		t.Fatal("v/0 no longer pending")
	}
	if got, want := dump(h.replayFull()), dump(h.s); got != want {
		t.Fatalf("replayed state differs\n--- replayed\n%s--- live\n%s", got, want)
	}

	// DeleteGroups deletes a group with pending offsets (it has no
	// members), and a tombstone for v/0, which only they hold.
	before = len(h.log)
	var code int16 = -1
	h.apply(h.s.DeleteGroup(h.now, "g", func(c int16) { code = c }))
	if code != 0 || h.state("g") != Dead {
		t.Fatalf("delete of a group with pending offsets: %v", kerr.ErrorForCode(code))
	}
	if n := len(h.log) - before; n != 2 {
		t.Fatalf("delete wrote %d records, want the pending partition's tombstone and the group's", n)
	}
	h.marker(7, true)
	if off, _ := h.fetch("g", "v", 0); off != -1 || h.state("g") != Dead {
		t.Fatalf("the COMMIT after the delete brought back v/0: %d", off)
	}
	r := h.replayFull()
	if got, want := dump(r), dump(h.s); got != want {
		t.Fatalf("replayed state differs\n--- replayed\n%s--- live\n%s", got, want)
	}
	if len(r.txnGroups) != 0 || len(h.s.txnGroups) != 0 {
		t.Fatalf("open transactions left: live %v, replayed %v", h.s.txnGroups, r.txnGroups)
	}
}

// TestTxnOffsetsRetention: as in Kafka, an offset with a pending
// transactional offset on its partition does not expire, and a group
// holding only pending offsets is not removed, until the transaction ends.
func TestTxnOffsetsRetention(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.OffsetsRetention = time.Hour
		c.OffsetsRetentionCheckInterval = time.Minute
	})
	h.commit("simple", "", -1, "t", 0, 1, "")
	h.commit("simple", "", -1, "t", 1, 1, "")
	h.txnCommit("simple", "", -1, 7, 0, "t", 0, 2)
	h.txnCommit("pending-only", "", -1, 7, 0, "t", 0, 3)
	h.advance(2 * time.Hour)
	h.advance(time.Minute)
	if off, _ := h.fetch("simple", "t", 1); off != -1 {
		t.Fatal("t/1 did not expire")
	}
	if off, _ := h.fetch("simple", "t", 0); off != 1 {
		t.Fatal("t/0 expired with a pending transactional offset")
	}
	if h.state("pending-only") != Empty {
		t.Fatalf("group with only pending offsets is %v", h.state("pending-only"))
	}
	// A reload keeps the group too.
	if r := h.replayFull(); r.groups["pending-only"] == nil {
		t.Fatal("replay dropped the group with only pending offsets")
	}
	h.marker(7, false)
	h.advance(2 * time.Minute)
	if h.state("simple") != Dead || h.state("pending-only") != Dead {
		t.Fatalf("after ABORT: simple %v, pending-only %v", h.state("simple"), h.state("pending-only"))
	}
}

// TestTxnOffsetsSurviveJoinFailure: a JoinGroup that fails on a group
// created for pending offsets does not delete the group with them.
func TestTxnOffsetsSurviveJoinFailure(t *testing.T) {
	h := newHarness(t)
	h.txnCommit("j", "", -1, 7, 0, "t", 0, 3)
	h.join(spec{group: "j", protocols: []string{}})
	h.marker(7, true)
	if off, _ := h.fetch("j", "t", 0); off != 3 {
		t.Fatalf("offset after a failed join and COMMIT: %d", off)
	}
}
