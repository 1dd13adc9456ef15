package metadata

import (
	"cmp"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// The quorum's state as the active controller sees it, for DescribeQuorum
// (kafka-metadata-quorum.sh). Read only: nothing here changes raft or the
// broker sessions.
//
// Offsets are raft indexes, as everywhere in Samsa's metadata (a broker
// epoch is the raft index of its registration): the leader's log end
// offset is the index of its last log entry, the high watermark raft's
// commit index (both inclusive).
//
// hashicorp/raft does not expose how far the leader has replicated to
// each follower, so a follower's progress is taken from the broker
// sessions: every broker heartbeat carries the offset of the metadata
// image the broker has applied (HeartbeatRequest.MetadataOffset), the
// index of the last applied entry that carries records. That is a lower
// bound of the follower's raft log end. It is lifted over the entries
// after it in the leader's log that change nothing (raft's no-op,
// barrier and configuration entries), so that a follower whose image is
// the leader's shows no lag. A node that sends no heartbeats (a
// controller-only voter, a broker that stopped) has no known progress:
// log end offset -1 and no timestamps, as Kafka reports a replica it has
// not heard from.

// QuorumReplica is one member of the quorum: a voter or an observer.
type QuorumReplica struct {
	ID int32
	// Addr is the replica's raft address (a voter's CONTROLLER listener),
	// "" for a registered broker that is not in the raft configuration.
	Addr string
	// LogEndOffset is the raft index the replica is known to have
	// reached, -1 when unknown.
	LogEndOffset int64
	// LastFetch is when the controller last heard from the replica: its
	// last heartbeat (the leader: now). Zero when unknown.
	LastFetch time.Time
	// LastCaughtUp is the last time the replica is known to have had
	// everything the leader had (the leader: now). Zero when unknown.
	LastCaughtUp time.Time
}

// QuorumInfo is the state of the metadata quorum on the active controller.
type QuorumInfo struct {
	// LeaderID is this node, the active controller.
	LeaderID int32
	// Term is the raft term, Kafka's leader epoch.
	Term uint64
	// CommitIndex is the index of the last committed entry (the high
	// watermark); AppliedIndex of the last one applied here; LastIndex of
	// the last one in the leader's log (its log end offset).
	CommitIndex  uint64
	AppliedIndex uint64
	LastIndex    uint64
	// Voters are the raft voters, by id; Observers the raft non-voters
	// and the registered brokers that are not voters and still heartbeat
	// or are unfenced, by id.
	Voters    []QuorumReplica
	Observers []QuorumReplica
}

// positionScanLimit bounds how many log entries a follower's position is
// lifted over.
const positionScanLimit = 4096

// QuorumInfo describes the quorum. Only the active controller knows the
// followers' progress: on any other node it fails with ErrNotController.
func (n *Node) QuorumInfo() (QuorumInfo, error) {
	if !n.IsController() {
		return QuorumInfo{}, n.notController()
	}
	term := n.raft.CurrentTerm()
	q := QuorumInfo{
		LeaderID:     n.cfg.NodeID,
		Term:         term,
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.raft.AppliedIndex(),
		LastIndex:    n.raft.LastIndex(),
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return QuorumInfo{}, raftError(err)
	}
	sessions := n.termSessions(term)
	now := n.now()
	inRaft := map[int32]bool{}
	for _, srv := range f.Configuration().Servers {
		id := parseServerID(srv.ID)
		if id < 0 {
			continue
		}
		inRaft[id] = true
		r := QuorumReplica{ID: id, Addr: string(srv.Address), LogEndOffset: -1}
		if id == n.cfg.NodeID {
			r.LogEndOffset, r.LastFetch, r.LastCaughtUp = int64(q.LastIndex), now, now
		} else if ss, ok := sessions[id]; ok {
			n.progress(&r, ss, q.LastIndex)
		}
		if srv.Suffrage == raft.Voter {
			q.Voters = append(q.Voters, r)
		} else {
			q.Observers = append(q.Observers, r)
		}
	}
	img := n.Image()
	for _, id := range img.BrokerIDs() {
		if inRaft[id] {
			continue
		}
		ss, ok := sessions[id]
		if !ok && img.Brokers[id].Fenced {
			continue // gone: fenced, and no heartbeat in this term
		}
		r := QuorumReplica{ID: id, LogEndOffset: -1}
		if ok {
			n.progress(&r, ss, q.LastIndex)
		}
		q.Observers = append(q.Observers, r)
	}
	byID := func(a, b QuorumReplica) int { return cmp.Compare(a.ID, b.ID) }
	slices.SortFunc(q.Voters, byID)
	slices.SortFunc(q.Observers, byID)
	return q, nil
}

// termSessions returns the broker sessions if they belong to raft term
// term (a node that led an earlier term may still hold that term's).
func (n *Node) termSessions(term uint64) map[int32]brokerSession {
	s := &n.sessions
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int32]brokerSession{}
	if s.term != term {
		return out
	}
	for id, ss := range s.last {
		out[id] = ss
	}
	return out
}

// progress fills a follower's position and timestamps from its session.
// A session without a reported offset (one a new term or a registration
// opened, not a heartbeat) tells nothing.
func (n *Node) progress(r *QuorumReplica, ss brokerSession, last uint64) {
	if ss.metadataOffset == 0 {
		return
	}
	pos, next := n.imagePosition(ss.metadataOffset, last)
	r.LogEndOffset = int64(pos)
	r.LastFetch = ss.lastContact
	// At its last heartbeat the follower had the leader's whole image if
	// nothing changed the image after its offset before that heartbeat.
	if pos >= last || !next.IsZero() && next.After(ss.lastContact) {
		r.LastCaughtUp = ss.lastContact
	}
}

// imagePosition returns the highest index, up to last, whose image is the
// image at index x: x lifted over the entries after it that carry no
// records. next is when the leader appended the first entry after that
// position (zero when unknown, or when there is none).
func (n *Node) imagePosition(x, last uint64) (pos uint64, next time.Time) {
	pos = x
	if x >= last {
		return pos, time.Time{}
	}
	if first, err := n.logs.FirstIndex(); err != nil || x+1 < first {
		return pos, time.Time{} // in a snapshot: the entries are gone
	}
	var l raft.Log
	for i := x + 1; i <= last && i <= x+positionScanLimit; i++ {
		if err := n.logs.GetLog(i, &l); err != nil {
			return pos, time.Time{}
		}
		if l.Type == raft.LogCommand {
			return pos, l.AppendedAt
		}
		pos = i
	}
	return pos, time.Time{}
}
