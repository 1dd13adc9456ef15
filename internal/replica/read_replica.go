package replica

import (
	"fmt"
	"slices"
)

// Follower fetching (KIP-392): a consumer that says its rack (Fetch v11+
// client.rack) may read from a replica in its rack. The leader picks that
// replica (PreferredReadReplica) and answers the consumer with it and no
// records; the consumer then fetches from the follower, which serves up
// to the high watermark it has from its leader. A consumer keeps fetching
// from the leader when no in-sync replica of its rack has the offset.

// PreferredReadReplica is, on the leader, the in-sync replica a consumer
// in clientRack should read fetchOffset from, or -1 for the leader itself
// (Kafka's RackAwareReplicaSelector): the leader when it is in the rack;
// otherwise the follower of the rack that has the offset and the highest
// log end offset, ties going to the one caught up last. rackOf gives a
// broker's broker.rack ("" for none).
func (p *Partition) PreferredReadReplica(clientRack string, fetchOffset int64, rackOf func(int32) string) int32 {
	if clientRack == "" {
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ls := p.mu.ls
	if ls == nil || rackOf(ls.self) == clientRack {
		return -1
	}
	logStart := p.Log.LogStartOffset()
	best := int32(-1)
	var bestPr *progress
	for _, r := range ls.isr {
		pr := ls.followers[r]
		if r == ls.self || pr == nil || pr.leo < 0 || pr.leo < fetchOffset || fetchOffset < logStart || rackOf(r) != clientRack {
			continue
		}
		if bestPr == nil || pr.leo > bestPr.leo || pr.leo == bestPr.leo && pr.lastCaughtUp.After(bestPr.lastCaughtUp) {
			best, bestPr = r, pr
		}
	}
	return best
}

// CheckFollowerRead fails unless a consumer may read from this replica as
// a follower at currentLeaderEpoch: the partition has a leader, this
// broker is one of its replicas, and the epochs agree (FENCED_LEADER_EPOCH
// for an older one, UNKNOWN_LEADER_EPOCH for a newer one). A leader
// passes too.
func (p *Partition) CheckFollowerRead(currentLeaderEpoch int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := checkEpoch(currentLeaderEpoch, p.mu.leaderEpoch); err != nil {
		return err
	}
	if p.mu.deleted || p.mu.leader < 0 || !slices.Contains(p.mu.replicas, p.m.cfg.NodeID) {
		return fmt.Errorf("%w: no readable replica here", ErrNotLeader)
	}
	return nil
}
