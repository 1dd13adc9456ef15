package replica

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// leaderState is what the leader of a partition knows of its followers:
// the deterministic core of replication, with no clock (time is passed
// in), no I/O and no locks (Partition holds its lock around every call).
//
// Invariants:
//   - self is in isr and in replicas; isr ⊆ replicas.
//   - pending, when not nil, is the ISR of an AlterPartition in flight; it
//     contains self. maximalISR is isr ∪ pending: a follower being added
//     counts for the high watermark at once, one being removed keeps
//     counting until the controller has committed its removal (Kafka's
//     maximal ISR), so an ISR change in flight never lets the high
//     watermark pass a record some ISR member may lack.
//   - For every follower, -1 <= leo; leo is -1 until the follower has
//     fetched under this leader epoch. A follower of the maximal ISR with
//     an unknown leo holds the high watermark where it is.
//   - The high watermark never moves back (the caller keeps the largest).
type leaderState struct {
	self           int32
	replicas       []int32
	isr            []int32
	pending        []int32
	leaderEpoch    int32
	partitionEpoch int32
	// epochStart is the log end offset when this leader epoch began: a
	// follower joins the ISR only once it has fetched past it, so it
	// holds everything of this epoch's predecessors the leader kept.
	epochStart int64
	lagTime    time.Duration
	followers  map[int32]*progress
}

// progress is one follower's replication progress (Kafka's Replica).
type progress struct {
	// leo is the follower's log end offset: the offset of its last fetch.
	leo int64
	// lastFetch is when it last fetched, lastFetchLeaderLEO the leader's
	// log end offset then.
	lastFetch          time.Time
	lastFetchLeaderLEO int64
	// lastCaughtUp is the last time the follower was known to have
	// everything the leader had: it fetched from the leader's log end
	// offset, or from the log end offset the leader had at its previous
	// fetch.
	lastCaughtUp time.Time
}

func (p *progress) String() string {
	return fmt.Sprintf("leo=%d", p.leo)
}

// newLeaderState starts a leader epoch at log end offset leo. The ISR
// members start caught up as of now, so that none is removed before it
// had replica.lag.time.max.ms to fetch from the new leader.
func newLeaderState(self int32, replicas, isr []int32, leaderEpoch, partitionEpoch int32, leo int64, lagTime time.Duration, now time.Time) *leaderState {
	s := &leaderState{
		self:           self,
		replicas:       slices.Clone(replicas),
		isr:            slices.Clone(isr),
		leaderEpoch:    leaderEpoch,
		partitionEpoch: partitionEpoch,
		epochStart:     leo,
		lagTime:        lagTime,
		followers:      map[int32]*progress{},
	}
	for _, r := range replicas {
		if r == self {
			continue
		}
		pr := &progress{leo: -1, lastFetchLeaderLEO: -1}
		if slices.Contains(isr, r) {
			pr.lastCaughtUp = now
		}
		s.followers[r] = pr
	}
	return s
}

// updateMetadata takes the replicas and ISR a newer partition epoch of the
// same leader epoch committed. A pending change that the metadata now
// reflects, or that it overtook, is done.
func (s *leaderState) updateMetadata(replicas, isr []int32, partitionEpoch int32, now time.Time) {
	if partitionEpoch <= s.partitionEpoch {
		return
	}
	s.partitionEpoch = partitionEpoch
	s.isr = slices.Clone(isr)
	s.pending = nil
	s.replicas = slices.Clone(replicas)
	for _, r := range replicas {
		if r != s.self && s.followers[r] == nil {
			s.followers[r] = &progress{leo: -1, lastFetchLeaderLEO: -1}
		}
	}
	for r := range s.followers {
		if !slices.Contains(replicas, r) {
			delete(s.followers, r)
		}
	}
}

// followerFetch records a fetch by follower id from fetchOffset, when the
// leader's log end offset is leaderLEO. It fails for a broker that is not
// a replica.
func (s *leaderState) followerFetch(id int32, fetchOffset, leaderLEO int64, now time.Time) error {
	pr := s.followers[id]
	if pr == nil {
		return fmt.Errorf("%w: broker %d is not a follower of this partition (replicas %v)", ErrUnknownReplica, id, s.replicas)
	}
	switch {
	case fetchOffset >= leaderLEO:
		pr.lastCaughtUp = maxTime(pr.lastCaughtUp, now)
	case pr.lastFetchLeaderLEO >= 0 && fetchOffset >= pr.lastFetchLeaderLEO:
		pr.lastCaughtUp = maxTime(pr.lastCaughtUp, pr.lastFetch)
	}
	pr.leo = fetchOffset
	pr.lastFetch = now
	pr.lastFetchLeaderLEO = leaderLEO
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// maximalISR is isr ∪ pending; the caller must not modify it (it is isr
// itself when nothing is pending: this runs on every append).
func (s *leaderState) maximalISR() []int32 {
	if s.pending == nil {
		return s.isr
	}
	m := slices.Clone(s.isr)
	for _, r := range s.pending {
		if !slices.Contains(m, r) {
			m = append(m, r)
		}
	}
	return m
}

// highWatermark is the high watermark the followers allow: the least log
// end offset over the maximal ISR (the leader's is leaderLEO), never below
// hw, the current one.
func (s *leaderState) highWatermark(leaderLEO, hw int64) int64 {
	next := leaderLEO
	for _, r := range s.maximalISR() {
		if r == s.self {
			continue
		}
		pr := s.followers[r]
		if pr == nil || pr.leo < 0 {
			return hw // not heard from under this epoch: holds the HW
		}
		next = min(next, pr.leo)
	}
	return max(next, hw)
}

// isrChange proposes a new ISR, or nil when none is needed or one is
// already in flight: followers that have not caught up for lagTime leave,
// followers that reached the high watermark (and this epoch's start)
// join, if usable says they may (registered, unfenced, not shutting down).
func (s *leaderState) isrChange(hw int64, now time.Time, usable func(int32) bool) []int32 {
	if s.pending != nil {
		return nil
	}
	next := []int32{}
	changed := false
	for _, r := range s.replicas {
		in := slices.Contains(s.isr, r)
		switch {
		case r == s.self:
			next = append(next, r)
		case in && now.Sub(s.followers[r].lastCaughtUp) > s.lagTime:
			changed = true // lagging: leaves
		case in:
			next = append(next, r)
		case s.caughtUp(r, hw) && usable(r):
			next = append(next, r)
			changed = true // caught up: joins
		}
	}
	if !changed {
		return nil
	}
	return next
}

// caughtUp is Kafka's condition for a follower to join the ISR.
func (s *leaderState) caughtUp(r int32, hw int64) bool {
	pr := s.followers[r]
	return pr != nil && pr.leo >= 0 && pr.leo >= hw && pr.leo >= s.epochStart
}

// propose marks isr as the ISR of the AlterPartition in flight.
func (s *leaderState) propose(isr []int32) { s.pending = slices.Clone(isr) }

// alterDone takes the outcome of the AlterPartition in flight and says
// whether to send it again. The change stays pending (its maximal ISR
// counting for the high watermark) unless the outcome is known, as in
// Kafka's Partition.handleAlterPartitionUpdate/Error:
//   - committed (err nil, this leader epoch, a partition epoch not older
//     than ours): the answer's ISR is the ISR;
//   - refused before anything was written (INELIGIBLE_REPLICA,
//     OPERATION_NOT_ATTEMPTED): back to the committed ISR; the next check
//     proposes again;
//   - no answer, or NOT_CONTROLLER or another error that leaves the
//     outcome unknown (the controller may have committed it): pending, and
//     sent again (retry true);
//   - refused for stale state (FENCED_LEADER_EPOCH, INVALID_UPDATE_VERSION,
//     ...), or an answer of another leader epoch: pending until the
//     metadata says what the ISR is (updateMetadata), since an earlier
//     attempt whose outcome was unknown may have been committed.
func (s *leaderState) alterDone(leaderEpoch, partitionEpoch int32, isr []int32, err error) (retry bool) {
	switch {
	case err == nil:
		if leaderEpoch != s.leaderEpoch || partitionEpoch < s.partitionEpoch {
			return false
		}
		s.pending = nil
		s.partitionEpoch = partitionEpoch
		s.isr = slices.Clone(isr)
		return false
	case errors.Is(err, kerr.IneligibleReplica), errors.Is(err, kerr.OperationNotAttempted):
		s.pending = nil
		return false
	case errors.Is(err, kerr.FencedLeaderEpoch), errors.Is(err, kerr.InvalidUpdateVersion),
		errors.Is(err, kerr.InvalidRequest), errors.Is(err, kerr.NotLeaderForPartition),
		errors.Is(err, kerr.UnknownTopicID), errors.Is(err, kerr.UnknownTopicOrPartition),
		errors.Is(err, kerr.StaleBrokerEpoch):
		return false
	}
	return true
}

// String renders the state for the scripted tests.
func (s *leaderState) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "isr=%v", s.isr)
	if s.pending != nil {
		fmt.Fprintf(&b, " pending=%v", s.pending)
	}
	fmt.Fprintf(&b, " epoch=%d/%d", s.leaderEpoch, s.partitionEpoch)
	for _, r := range s.replicas {
		if pr := s.followers[r]; pr != nil {
			fmt.Fprintf(&b, " %d:%s", r, pr)
		}
	}
	return b.String()
}
