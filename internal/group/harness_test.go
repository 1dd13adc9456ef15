package group

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// harness drives a Shard with a fake clock and an in-memory "partition":
// the records of every Effects are appended to log, then the replies run.
type harness struct {
	t   testing.TB
	s   *Shard
	cfg Config
	now time.Time
	log []Record
	// full is the log with what Replay alone does not see: each
	// record's batch and the transaction markers (replayFull).
	full []logEntry
	ids  int
	// failAppends makes the next appends fail with this error.
	failAppends error
}

func newHarness(t testing.TB, mod ...func(*Config)) *harness {
	h := &harness{t: t, now: time.UnixMilli(1_700_000_000_000)}
	h.cfg = DefaultConfig()
	h.cfg.InitialRebalanceDelay = 0
	h.cfg.MinSessionTimeout = time.Second
	h.cfg.NewMemberID = func(prefix string) string {
		h.ids++
		return fmt.Sprintf("%s-%d", prefix, h.ids)
	}
	for _, m := range mod {
		m(&h.cfg)
	}
	h.s = NewShard(h.cfg)
	h.s.LoadComplete(h.now)
	return h
}

func (h *harness) apply(e Effects) {
	if h.failAppends != nil && len(e.Records) > 0 {
		e.Complete(h.failAppends)
		return
	}
	h.log = append(h.log, e.Records...)
	b := Batch{ProducerID: -1, ProducerEpoch: -1}
	if e.Producer != nil {
		b = Batch{ProducerID: e.Producer.ID, ProducerEpoch: e.Producer.Epoch, Transactional: true}
	}
	for _, r := range e.Records {
		h.full = append(h.full, logEntry{batch: b, rec: r})
	}
	e.Complete(nil)
}

// logEntry is a record with its batch, or a transaction marker of
// batch.ProducerID (marker set).
type logEntry struct {
	batch  Batch
	rec    Record
	marker bool
	commit bool
}

func (h *harness) advance(d time.Duration) {
	h.now = h.now.Add(d)
	h.apply(h.s.Tick(h.now))
}

// answer holds a reply that may come later.
type answer[T any] struct {
	resp T
	n    int
}

func (a *answer[T]) set(r T) { a.resp = r; a.n++ }

func (a *answer[T]) done() bool { return a.n > 0 }

// spec describes a joining member.
type spec struct {
	group, member, instance string
	session, rebalance      time.Duration
	topics                  []string // consumer protocol subscription
	protocols               []string // default "range"
	version                 int16
	userData                string
}

func consumerMeta(topics []string, userData string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	m.UserData = []byte(userData)
	return m.AppendTo(nil)
}

func (h *harness) join(sp spec) *answer[*kmsg.JoinGroupResponse] {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	if sp.version != 0 {
		req.Version = sp.version
	}
	req.Group = sp.group
	if req.Group == "" {
		req.Group = "g"
	}
	req.MemberID = sp.member
	if sp.instance != "" {
		inst := sp.instance
		req.InstanceID = &inst
	}
	req.SessionTimeoutMillis = int32(orDefault(sp.session, 10*time.Second).Milliseconds())
	req.RebalanceTimeoutMillis = int32(orDefault(sp.rebalance, 30*time.Second).Milliseconds())
	req.ProtocolType = "consumer"
	protos := sp.protocols
	if protos == nil {
		protos = []string{"range"}
	}
	topics := sp.topics
	if topics == nil {
		topics = []string{"t"}
	}
	for _, p := range protos {
		jp := kmsg.NewJoinGroupRequestProtocol()
		jp.Name, jp.Metadata = p, consumerMeta(topics, sp.userData)
		req.Protocols = append(req.Protocols, jp)
	}
	a := &answer[*kmsg.JoinGroupResponse]{}
	h.apply(h.s.JoinGroup(h.now, Client{ID: "client", Host: "/127.0.0.1"}, req, a.set))
	return a
}

// joinNew joins a dynamic member the KIP-394 way (MEMBER_ID_REQUIRED, then
// again with the id) and returns the second join's answer and the id.
func (h *harness) joinNew(sp spec) (*answer[*kmsg.JoinGroupResponse], string) {
	h.t.Helper()
	first := h.join(sp)
	if !first.done() || first.resp.ErrorCode != kerr.MemberIDRequired.Code {
		h.t.Fatalf("first join: %+v", first.resp)
	}
	sp.member = first.resp.MemberID
	return h.join(sp), sp.member
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func (h *harness) sync(group, member string, gen int32, assign map[string]string) *answer[*kmsg.SyncGroupResponse] {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = group, member, gen
	ids := make([]string, 0, len(assign))
	for id := range assign {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID, a.MemberAssignment = id, []byte(assign[id])
		req.GroupAssignment = append(req.GroupAssignment, a)
	}
	a := &answer[*kmsg.SyncGroupResponse]{}
	h.apply(h.s.SyncGroup(h.now, req, a.set))
	return a
}

func (h *harness) heartbeat(group, member string, gen int32) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation = group, member, gen
	return h.s.Heartbeat(h.now, req).ErrorCode
}

func (h *harness) state(group string) State {
	if g := h.s.groups[group]; g != nil {
		return g.state
	}
	return Dead
}

func (h *harness) commit(group, member string, gen int32, topic string, part int32, off int64, meta string) int16 {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 9
	req.Group, req.MemberID, req.Generation = group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.Metadata, rp.LeaderEpoch = part, off, &meta, 3
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	a := &answer[*kmsg.OffsetCommitResponse]{}
	h.apply(h.s.OffsetCommit(h.now, req, a.set))
	if !a.done() {
		h.t.Fatal("commit not answered")
	}
	return a.resp.Topics[0].Partitions[0].ErrorCode
}

func (h *harness) fetch(group, topic string, part int32) (int64, string) {
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{part}
	g := h.s.FetchOffsets(group, []kmsg.OffsetFetchRequestGroupTopic{rt})
	p := g.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || g.ErrorCode != 0 {
		h.t.Fatalf("fetch error %d/%d", g.ErrorCode, p.ErrorCode)
	}
	return p.Offset, *p.Metadata
}

// stableGroup brings members up in a Stable group "g" through KIP-394
// joins and a leader sync; it returns the member ids and the generation.
func (h *harness) stableGroup(n int) ([]string, int32) {
	h.t.Helper()
	var ids []string
	var answers []*answer[*kmsg.JoinGroupResponse]
	for i := 0; i < n; i++ {
		a, id := h.joinNew(spec{})
		ids = append(ids, id)
		answers = append(answers, a)
	}
	// Members answered for an older generation rejoin until one
	// generation holds everybody.
	for round := 0; ; round++ {
		g := h.s.groups["g"]
		fresh := g.state == CompletingRebalance
		for _, a := range answers {
			if !a.done() || a.resp.ErrorCode != 0 || a.resp.Generation != g.generation {
				fresh = false
			}
		}
		if fresh {
			break
		}
		if round > n {
			h.t.Fatalf("no common generation after %d rounds", round)
		}
		for i := range answers {
			if answers[i].done() {
				answers[i] = h.join(spec{member: ids[i]})
			}
		}
	}
	g := h.s.groups["g"]
	leader := g.leader
	assign := map[string]string{}
	for _, id := range ids {
		assign[id] = "assignment-of-" + id
	}
	syncs := make([]*answer[*kmsg.SyncGroupResponse], n)
	for i, id := range ids {
		if id != leader {
			syncs[i] = h.sync("g", id, g.generation, nil)
		}
	}
	for i, id := range ids {
		if id == leader {
			syncs[i] = h.sync("g", id, g.generation, assign)
		}
	}
	for i, s := range syncs {
		if !s.done() || s.resp.ErrorCode != 0 || string(s.resp.MemberAssignment) != "assignment-of-"+ids[i] {
			h.t.Fatalf("sync of %s: %+v", ids[i], s.resp)
		}
	}
	if g.state != Stable {
		h.t.Fatalf("group is %v after syncs", g.state)
	}
	return ids, g.generation
}

// dump is a canonical text form of a shard's durable state.
func dump(s *Shard) string {
	var b strings.Builder
	for _, id := range s.sortedGroupIDs() {
		g := s.groups[id]
		fmt.Fprintf(&b, "group %s state=%v type=%s proto=%s gen=%d leader=%s\n", id, g.state, g.protocolType, g.protocol, g.generation, g.leader)
		for _, m := range g.members {
			inst := ""
			if m.instanceID != nil {
				inst = *m.instanceID
			}
			fmt.Fprintf(&b, "  member %s inst=%s client=%s host=%s session=%d rebalance=%d sub=%x assign=%q\n",
				m.id, inst, m.clientID, m.clientHost, m.sessionTimeoutMs, m.rebalanceTimeoutMs, m.metadataFor(g.protocol), m.assignment)
		}
		for _, tp := range sortedTPs(g.offsets) {
			o := g.offsets[tp]
			fmt.Fprintf(&b, "  offset %s/%d=%d epoch=%d meta=%q at=%d seq=%d\n", tp.topic, tp.partition, o.offset, o.leaderEpoch, o.metadata, o.commitTime.UnixMilli(), o.seq)
		}
		pids := make([]int64, 0, len(g.txn))
		for pid := range g.txn {
			pids = append(pids, pid)
		}
		sort.Slice(pids, func(i, j int) bool { return pids[i] < pids[j] })
		for _, pid := range pids {
			for _, tp := range sortedTPs(g.txn[pid]) {
				o := g.txn[pid][tp]
				fmt.Fprintf(&b, "  pending %d %s/%d=%d epoch=%d meta=%q at=%d seq=%d\n", pid, tp.topic, tp.partition, o.offset, o.leaderEpoch, o.metadata, o.commitTime.UnixMilli(), o.seq)
			}
		}
	}
	return b.String()
}
