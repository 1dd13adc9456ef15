package group

import (
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transactional offset commits (KIP-98, KIP-447), as Kafka's group
// coordinator keeps them: TxnOffsetCommit writes the offsets as one
// transactional batch of the request's producer (Effects.Producer), with
// the same OffsetCommit records as a plain commit. Once appended they are
// pending for that producer, per group: OffsetFetch does not return them,
// and with require_stable answers UNSTABLE_OFFSET_COMMIT for their
// partitions. The producer's COMMIT marker on the shard's partition makes
// them the committed offsets; its ABORT drops them (ReplayEndTxnMarker).
// Replay does the same from the batches' producer ids and the markers in
// the log, so a loaded shard has the pending offsets of the transactions
// still open.
//
// Whether the producer's transaction is ongoing and includes this group
// is not checked here: the broker asks the transaction coordinator first
// (KIP-890's verification, internal/broker/28_txn_offset_commit.go) and
// appends the batch under the partition's verification guard.

// TxnOffsetCommit serves a TxnOffsetCommit request. v3+ carries the
// member's generation, member id and group instance id (KIP-447), checked
// as Kafka checks a transactional commit: a member's must match
// (UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ILLEGAL_GENERATION, the last also
// for a consumer-protocol member's stale epoch), while a commit with
// generation -1 and no member (v0-v2, or a producer not using the group)
// is accepted for an empty group and, unlike OffsetCommit, for a classic
// group with members; an unknown group is created as a simple group for
// it (ILLEGAL_GENERATION for a generation >= 0). The group's state is not
// checked (no REBALANCE_IN_PROGRESS), nor its member's session renewed.
func (s *Shard) TxnOffsetCommit(now time.Time, req *kmsg.TxnOffsetCommitRequest, reply func(*kmsg.TxnOffsetCommitResponse)) Effects {
	var e Effects
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	setAll := func(code int16) {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if resp.Topics[i].Partitions[j].ErrorCode == 0 {
					resp.Topics[i].Partitions[j].ErrorCode = code
				}
			}
		}
	}
	fail := func(err *kerr.Error) Effects {
		setAll(err.Code)
		e.reply(func(error) { reply(resp) })
		return e
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID)
	}
	if req.ProducerID < 0 {
		// Without a producer id the batch would be a plain one and
		// its offsets committed at once; Kafka's verification refuses
		// such a producer the same way.
		return fail(kerr.InvalidProducerIDMapping)
	}
	g := s.groups[req.Group]
	if g == nil {
		if req.Generation >= 0 {
			return fail(kerr.IllegalGeneration)
		}
		g = newGroup(req.Group, now)
		g.transition(Empty, now)
		s.groups[req.Group] = g
	}
	if err := validateTxnCommit(g, req); err != nil {
		return fail(err)
	}

	type commit struct {
		tp topicPartition
		o  offset
	}
	var commits []commit
	for i, rt := range req.Topics {
		for j, rp := range rt.Partitions {
			md := ""
			if rp.Metadata != nil {
				md = *rp.Metadata
			}
			if s.cfg.OffsetMetadataMaxBytes > 0 && len(md) > s.cfg.OffsetMetadataMaxBytes {
				resp.Topics[i].Partitions[j].ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			o := offset{offset: rp.Offset, leaderEpoch: rp.LeaderEpoch, metadata: md, commitTime: now}
			if req.Version < 2 {
				o.leaderEpoch = -1
			}
			tp := topicPartition{rt.Topic, rp.Partition}
			commits = append(commits, commit{tp, o})
			e.Records = append(e.Records, offsetRecord(g.id, tp, o))
		}
	}
	if len(e.Records) > 0 {
		e.Producer = &Producer{ID: req.ProducerID, Epoch: req.ProducerEpoch}
	}
	pid := req.ProducerID
	e.reply(func(err error) {
		if err != nil {
			setAll(appendCode(err))
		} else if s.groups[g.id] == g {
			for _, c := range commits {
				s.putPending(g, pid, c.tp, c.o)
			}
		}
		reply(resp)
	})
	return e
}

// validateTxnCommit applies Kafka's rules for a transactional commit
// (ClassicGroup and ConsumerGroup.validateOffsetCommit with
// isTransactional).
func validateTxnCommit(g *group, req *kmsg.TxnOffsetCommitRequest) *kerr.Error {
	if g.cg != nil {
		if req.Generation < 0 && len(g.cg.members) == 0 {
			return nil
		}
		m := g.cg.members[req.MemberID]
		switch {
		case m == nil:
			return kerr.UnknownMemberID
		case req.Generation != m.epoch:
			// Kafka answers a transactional commit's stale member
			// epoch with ILLEGAL_GENERATION, which producers know.
			return kerr.IllegalGeneration
		}
		return nil
	}
	if req.Generation < 0 && g.state == Empty {
		return nil
	}
	if req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil {
		if _, err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
			return err
		}
		if req.Generation != g.generation {
			return kerr.IllegalGeneration
		}
	}
	// Without a member: accepted whatever the group's state, since
	// TxnOffsetCommit v0-v2 carries no member to check.
	return nil
}

// ReplayEndTxnMarker applies the COMMIT or ABORT marker of a producer's
// transaction on the shard's partition: replayed from the log on load, or
// written by WriteTxnMarkers (the broker calls it once the marker is
// appended, under the same serialisation as the shard's other calls, so
// that it lands in log order). A COMMIT makes the producer's pending
// offsets the committed offsets of their groups, except where a commit
// written after the transaction's own is already there (Kafka compares
// record offsets; seq is their order); an ABORT drops them. A marker for a
// producer without pending offsets changes nothing.
func (s *Shard) ReplayEndTxnMarker(producerID int64, commit bool) {
	ids := s.txnGroups[producerID]
	delete(s.txnGroups, producerID)
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		g := s.groups[id]
		if g == nil {
			continue
		}
		pend := g.txn[producerID]
		delete(g.txn, producerID)
		if !commit {
			continue
		}
		for tp, o := range pend {
			if cur, ok := g.offsets[tp]; !ok || cur.seq < o.seq {
				g.offsets[tp] = o
			}
		}
	}
}

// putOffset sets a committed offset.
func (s *Shard) putOffset(g *group, tp topicPartition, o offset) {
	s.seq++
	o.seq = s.seq
	g.offsets[tp] = o
}

// putPending adds a pending transactional offset of producer pid.
func (s *Shard) putPending(g *group, pid int64, tp topicPartition, o offset) {
	s.seq++
	o.seq = s.seq
	m := g.txn[pid]
	if m == nil {
		m = map[topicPartition]offset{}
		g.txn[pid] = m
	}
	m[tp] = o
	gs := s.txnGroups[pid]
	if gs == nil {
		gs = map[string]bool{}
		s.txnGroups[pid] = gs
	}
	gs[g.id] = true
}

// dropOffset applies a partition's offset tombstone: the committed offset
// and, as in Kafka, every pending transactional offset of the partition
// go.
func (s *Shard) dropOffset(g *group, tp topicPartition) {
	delete(g.offsets, tp)
	for pid, m := range g.txn {
		if _, ok := m[tp]; !ok {
			continue
		}
		delete(m, tp)
		if len(m) == 0 {
			delete(g.txn, pid)
			s.untrackTxn(pid, g.id)
		}
	}
}

// dropPending forgets the pending transactional offsets of a group being
// deleted.
func (s *Shard) dropPending(g *group) {
	for pid := range g.txn {
		s.untrackTxn(pid, g.id)
	}
	clear(g.txn)
}

func (s *Shard) untrackTxn(pid int64, groupID string) {
	if gs := s.txnGroups[pid]; gs != nil {
		delete(gs, groupID)
		if len(gs) == 0 {
			delete(s.txnGroups, pid)
		}
	}
}

// hasPending reports whether some open transaction has a pending offset for
// the partition.
func (g *group) hasPending(tp topicPartition) bool {
	for _, m := range g.txn {
		if _, ok := m[tp]; ok {
			return true
		}
	}
	return false
}

// pendingTPs are the partitions with pending transactional offsets, sorted.
func (g *group) pendingTPs() []topicPartition {
	all := map[topicPartition]offset{}
	for _, m := range g.txn {
		for tp, o := range m {
			all[tp] = o
		}
	}
	return sortedTPs(all)
}

// hasOffsets reports whether the group holds committed or pending
// transactional offsets, which keep an empty group alive.
func (g *group) hasOffsets() bool { return len(g.offsets) > 0 || len(g.txn) > 0 }
