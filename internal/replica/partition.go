package replica

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/storage"
)

// Partition is one partition replica this broker hosts, as leader or
// follower (Kafka's Partition).
//
// Lock order: roleMu before mu. roleMu is held shared by an append as
// leader (the whole append) and exclusively by a change of role or leader
// epoch, so that no append lands under an epoch the partition no longer
// has. mu guards the replica state and is never held across I/O except
// the short log calls that must move with it (the high watermark).
type Partition struct {
	TP      storage.TopicPartition
	TopicID [16]byte
	Log     *storage.Log
	m       *Manager

	roleMu sync.RWMutex
	mu     struct {
		sync.Mutex
		leader         int32
		leaderEpoch    int32
		partitionEpoch int32
		replicas       []int32
		isr            []int32
		cfg            *config.Topic
		ls             *leaderState // non-nil while this broker leads
		hwWaiters      map[*Waiter]struct{}
		leoWaiters     map[*Waiter]struct{}
		deleted        bool
		// followerLag is, on a follower, the leader's high watermark at
		// the last fetch minus this replica's log end offset.
		followerLag int64
	}
}

// State is a consistent copy of a partition's replica state.
type State struct {
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
	Config         *config.Topic
	IsLeader       bool
	// MaximalISR is, on the leader, the ISR with a change in flight
	// folded in (see leaderState).
	MaximalISR []int32
}

// State returns the partition's replica state.
func (p *Partition) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := State{
		Leader:         p.mu.leader,
		LeaderEpoch:    p.mu.leaderEpoch,
		PartitionEpoch: p.mu.partitionEpoch,
		Replicas:       p.mu.replicas,
		ISR:            p.mu.isr,
		Config:         p.mu.cfg,
		IsLeader:       p.mu.ls != nil,
	}
	if p.mu.ls != nil {
		st.ISR = p.mu.ls.isr
		st.PartitionEpoch = p.mu.ls.partitionEpoch
		st.MaximalISR = p.mu.ls.maximalISR()
	}
	return st
}

// IsLeader reports whether this broker leads the partition.
func (p *Partition) IsLeader() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.ls != nil
}

// CheckLeader fails unless this broker leads the partition at
// currentLeaderEpoch (-1: any epoch), with the error a client gets
// (KIP-320 fencing): NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH for an
// older epoch, UNKNOWN_LEADER_EPOCH for a newer one.
func (p *Partition) CheckLeader(currentLeaderEpoch int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := checkEpoch(currentLeaderEpoch, p.mu.leaderEpoch); err != nil {
		return err
	}
	if p.mu.ls == nil {
		return p.notLeaderLocked()
	}
	return nil
}

func (p *Partition) notLeaderLocked() error {
	if p.mu.deleted {
		return fmt.Errorf("%w: %s was deleted", ErrNotLeader, p.TP)
	}
	return &NotLeaderError{Leader: p.mu.leader, LeaderEpoch: p.mu.leaderEpoch}
}

func checkEpoch(requested, current int32) error {
	switch {
	case requested < 0 || requested == current:
		return nil
	case requested < current:
		return fmt.Errorf("%w: %d, the partition's is %d", ErrFencedLeaderEpoch, requested, current)
	default:
		return fmt.Errorf("%w: %d, this broker knows %d", ErrUnknownLeaderEpoch, requested, current)
	}
}

// AppendResult is the outcome of a leader append.
type AppendResult struct {
	storage.AppendResult
	// LeaderEpoch is the epoch the batches were written under; a wait
	// for their commit is bound to it.
	LeaderEpoch int32
}

// AppendAsLeader appends validated batches as the leader. With acks -1
// (all) it first checks min.insync.replicas against the ISR
// (NOT_ENOUGH_REPLICAS: nothing is written). leaderEpoch >= 0 makes the
// append fail unless the partition is still led at that epoch (the group
// coordinator writes only under the epoch it loaded at).
func (p *Partition) AppendAsLeader(set []byte, acks int16, leaderEpoch int32, now time.Time) (AppendResult, error) {
	return p.AppendAsLeaderOpts(set, acks, leaderEpoch, now, storage.AppendOptions{})
}

// AppendAsLeaderOpts is AppendAsLeader with the log's optional checks
// (transaction verification, storage.AppendOptions).
func (p *Partition) AppendAsLeaderOpts(set []byte, acks int16, leaderEpoch int32, now time.Time, opts storage.AppendOptions) (AppendResult, error) {
	p.roleMu.RLock()
	defer p.roleMu.RUnlock()
	p.mu.Lock()
	ls, epoch, cfg := p.mu.ls, p.mu.leaderEpoch, p.mu.cfg
	var err error
	switch {
	case ls == nil:
		err = p.notLeaderLocked()
	case leaderEpoch >= 0 && leaderEpoch != epoch:
		err = fmt.Errorf("%w: written under epoch %d, the partition is at %d", ErrNotLeader, leaderEpoch, epoch)
	case acks == -1 && int64(len(ls.isr)) < int64(cfg.MinInsyncReplicas):
		err = fmt.Errorf("%w: the ISR %v has %d, min.insync.replicas is %d", ErrNotEnoughReplicas, ls.isr, len(ls.isr), cfg.MinInsyncReplicas)
	}
	p.mu.Unlock()
	if err != nil {
		return AppendResult{}, err
	}
	res, err := p.Log.AppendAsLeaderOpts(set, epoch, now, opts)
	if err != nil {
		return AppendResult{}, err
	}
	p.mu.Lock()
	if !res.Duplicate {
		wakeAll(p.mu.leoWaiters)
	}
	p.advanceHWLocked()
	p.mu.Unlock()
	return AppendResult{AppendResult: res, LeaderEpoch: epoch}, nil
}

// AppendMarker writes, as the leader, the COMMIT or ABORT marker of a
// producer's transaction under the current leader epoch
// (storage.Log.AppendMarker) and moves the high watermark like an append:
// a marker reaching the high watermark is what moves the last stable
// offset, so the high watermark's waiters (delayed read_committed
// fetches among them) wake with it. It is AppendMarkerAcks with acks 1.
func (p *Partition) AppendMarker(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32, now time.Time) (int64, error) {
	off, _, err := p.AppendMarkerAcks(producerID, producerEpoch, commit, coordinatorEpoch, 1, now)
	return off, err
}

// AppendMarkerAcks is AppendMarker for WriteTxnMarkers: with acks -1 it
// first checks min.insync.replicas as AppendAsLeader does
// (NOT_ENOUGH_REPLICAS: nothing is written), and it returns the marker's
// offset and the leader epoch it was written under, which a wait for its
// commit (CommitError, WaitCommitted) is bound to.
func (p *Partition) AppendMarkerAcks(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32, acks int16, now time.Time) (int64, int32, error) {
	p.roleMu.RLock()
	defer p.roleMu.RUnlock()
	p.mu.Lock()
	ls, epoch, cfg := p.mu.ls, p.mu.leaderEpoch, p.mu.cfg
	var err error
	switch {
	case ls == nil:
		err = p.notLeaderLocked()
	case acks == -1 && int64(len(ls.isr)) < int64(cfg.MinInsyncReplicas):
		err = fmt.Errorf("%w: the ISR %v has %d, min.insync.replicas is %d", ErrNotEnoughReplicas, ls.isr, len(ls.isr), cfg.MinInsyncReplicas)
	}
	p.mu.Unlock()
	if err != nil {
		return -1, -1, err
	}
	off, err := p.Log.AppendMarker(producerID, producerEpoch, commit, coordinatorEpoch, epoch, now)
	if err != nil {
		return -1, -1, err
	}
	p.mu.Lock()
	wakeAll(p.mu.leoWaiters)
	p.advanceHWLocked()
	p.mu.Unlock()
	return off, epoch, nil
}

// advanceHWLocked moves the high watermark to what the maximal ISR allows
// and wakes the waiters when it moved.
func (p *Partition) advanceHWLocked() {
	ls := p.mu.ls
	if ls == nil {
		return
	}
	cur := p.Log.HighWatermark()
	if hw := ls.highWatermark(p.Log.LogEndOffset(), cur); hw > cur {
		p.Log.SetHighWatermark(hw)
		wakeAll(p.mu.hwWaiters)
	}
}

// CommitError tells whether an acks=all append at leaderEpoch ending
// before offset is committed: nil once the high watermark passed it with
// at least min.insync.replicas in the ISR; ErrNotEnoughReplicasAfterAppend
// when it passed with fewer; ErrNotLeader when the partition is no longer
// led at that epoch (its log may be truncated: the append's fate is not
// known here); errPending while it waits.
func (p *Partition) CommitError(offset int64, leaderEpoch int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.ls == nil || p.mu.leaderEpoch != leaderEpoch {
		// Leadership changed while the append waited for its replicas:
		// the answer names the current leader (KIP-951), so the client
		// moves there at once instead of refreshing its metadata.
		return p.notLeaderLocked()
	}
	if p.Log.HighWatermark() < offset {
		return errPending
	}
	if int64(len(p.mu.ls.isr)) < int64(p.mu.cfg.MinInsyncReplicas) {
		return fmt.Errorf("%w: the ISR %v is below min.insync.replicas %d", ErrNotEnoughReplicasAfterAppend, p.mu.ls.isr, p.mu.cfg.MinInsyncReplicas)
	}
	return nil
}

// IsPending reports whether CommitError means "still waiting".
func IsPending(err error) bool { return err == errPending }

// FollowerRead is what a follower's fetch gets.
type FollowerRead struct {
	Records        []byte
	HighWatermark  int64
	LogStartOffset int64
	// DivergingEpoch >= 0: the follower's log diverged from the leader's
	// at its last fetched epoch; it must truncate to DivergingEndOffset
	// (at most) before fetching again, and got no records.
	DivergingEpoch     int32
	DivergingEndOffset int64
	// Region, when set instead of Records, is the records as a range of
	// the segment file to send without reading (sendfile); the caller
	// releases it.
	Region *storage.Region
}

// ReadForFollower serves a follower's fetch: it checks the leader epoch
// and the follower's last fetched epoch (KIP-320: a diverging follower
// gets the epoch and end offset to truncate to), records the follower's
// progress (which may move the high watermark and propose an ISR
// expansion), and reads from fetchOffset up to the log end: as a Region
// from minRegion bytes on (0: always Records), as Log.ReadRegion does.
func (p *Partition) ReadForFollower(replica int32, fetchOffset int64, currentLeaderEpoch, lastFetchedEpoch int32, maxBytes int32, minRegion int64, alloc func(int) []byte) (FollowerRead, error) {
	now := p.m.now()
	out := FollowerRead{DivergingEpoch: -1, DivergingEndOffset: -1}
	p.mu.Lock()
	if err := checkEpoch(currentLeaderEpoch, p.mu.leaderEpoch); err != nil {
		p.mu.Unlock()
		return out, err
	}
	ls := p.mu.ls
	if ls == nil {
		err := p.notLeaderLocked()
		p.mu.Unlock()
		return out, err
	}
	if lastFetchedEpoch >= 0 {
		e, end := p.Log.EndOffsetForEpoch(lastFetchedEpoch)
		if e < lastFetchedEpoch || end < fetchOffset {
			out.DivergingEpoch, out.DivergingEndOffset = e, end
			out.HighWatermark, out.LogStartOffset = p.Log.HighWatermark(), p.Log.LogStartOffset()
			p.mu.Unlock()
			return out, nil
		}
	}
	leo := p.Log.LogEndOffset()
	out.HighWatermark, out.LogStartOffset = p.Log.HighWatermark(), p.Log.LogStartOffset()
	if fetchOffset > leo || fetchOffset < out.LogStartOffset {
		p.mu.Unlock()
		return out, fmt.Errorf("%w: follower fetch at %d, the log spans [%d, %d]", storage.ErrOffsetOutOfRange, fetchOffset, out.LogStartOffset, leo)
	}
	if err := ls.followerFetch(replica, fetchOffset, leo, now); err != nil {
		p.mu.Unlock()
		return out, err
	}
	p.advanceHWLocked()
	p.maybeProposeLocked(now)
	out.HighWatermark, out.LogStartOffset = p.Log.HighWatermark(), p.Log.LogStartOffset()
	throttled := p.leaderThrottledLocked(replica)
	p.mu.Unlock()

	if fetchOffset == leo {
		return out, nil
	}
	var rate int64
	if throttled {
		rate, _ = p.m.cfg.Cluster.ThrottleRates()
		if !p.m.leaderQuota.allow(now, rate) {
			return out, nil // the quota is spent: nothing this time
		}
	}
	var (
		rr  storage.ReadResult
		err error
	)
	if minRegion > 0 {
		rr, out.Region, err = p.Log.ReadRegion(fetchOffset, maxBytes, -1, true, minRegion, alloc)
	} else {
		rr, err = p.Log.ReadAlloc(fetchOffset, maxBytes, -1, true, alloc)
	}
	if err != nil {
		return out, err
	}
	out.Records = rr.Records
	if throttled {
		n := int64(len(rr.Records))
		if out.Region != nil {
			n = out.Region.Len
		}
		p.m.leaderQuota.record(int(n), now, rate)
	}
	return out, nil
}

// maybeProposeLocked sends an AlterPartition when the ISR should change.
func (p *Partition) maybeProposeLocked(now time.Time) {
	ls := p.mu.ls
	if ls == nil || p.mu.deleted {
		return
	}
	isr := ls.isrChange(p.Log.HighWatermark(), now, p.m.cfg.Cluster.BrokerUsable)
	if isr == nil {
		return
	}
	ls.propose(isr)
	if len(isr) < len(ls.isr) {
		p.m.metrics.isrShrinks.Add(1)
	} else {
		p.m.metrics.isrExpands.Add(1)
	}
	p.m.logger.Info("proposing ISR change", "partition", p.TP, "isr", ls.isr, "new", isr, "leader.epoch", ls.leaderEpoch)
	p.m.alters.enqueue(p, alterRequest{leaderEpoch: ls.leaderEpoch, partitionEpoch: ls.partitionEpoch, isr: isr})
}

// alterDone applies the outcome of an AlterPartition this partition sent.
func (p *Partition) alterDone(sent alterRequest, res alterResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ls := p.mu.ls
	if ls == nil || ls.leaderEpoch != sent.leaderEpoch || !slices.Equal(ls.pending, sent.isr) {
		return // superseded
	}
	if res.err != nil {
		p.m.logger.Warn("ISR change not committed", "partition", p.TP, "isr", sent.isr, "err", res.err)
	}
	if ls.alterDone(res.leaderEpoch, res.partitionEpoch, res.isr, res.err) {
		// The outcome is unknown: the same request again, a moment
		// later (a retry of a change that was made is refused as stale,
		// and the metadata then settles it).
		time.AfterFunc(alterRetryBackoff, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.mu.ls == ls && slices.Equal(ls.pending, sent.isr) && !p.mu.deleted {
				p.m.alters.enqueue(p, sent)
			}
		})
	}
	p.advanceHWLocked()
}

// alterRetryBackoff spaces the retries of an AlterPartition whose outcome
// is unknown.
const alterRetryBackoff = 200 * time.Millisecond

// checkISR is the periodic check: followers that fell behind leave the ISR.
func (p *Partition) checkISR(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.maybeProposeLocked(now)
}

// Waiter is woken, without blocking, when a partition's high watermark
// (AddHWWaiter) or log end offset (AddLEOWaiter) moves, or its role
// changes. Delayed fetches and acks=all produces wait on one.
type Waiter struct{ C chan struct{} }

// NewWaiter returns a waiter.
func NewWaiter() *Waiter { return &Waiter{C: make(chan struct{}, 1)} }

// Wake marks w woken, as a change it waits for would.
func (w *Waiter) Wake() { w.wake() }

func (w *Waiter) wake() {
	select {
	case w.C <- struct{}{}:
	default:
	}
}

func wakeAll(ws map[*Waiter]struct{}) {
	for w := range ws {
		w.wake()
	}
}

// AddHWWaiter registers w for high watermark moves.
func (p *Partition) AddHWWaiter(w *Waiter) {
	p.mu.Lock()
	p.mu.hwWaiters[w] = struct{}{}
	p.mu.Unlock()
}

// AddLEOWaiter registers w for appends (followers' delayed fetches).
func (p *Partition) AddLEOWaiter(w *Waiter) {
	p.mu.Lock()
	p.mu.leoWaiters[w] = struct{}{}
	p.mu.Unlock()
}

// RemoveWaiter unregisters w.
func (p *Partition) RemoveWaiter(w *Waiter) {
	p.mu.Lock()
	delete(p.mu.hwWaiters, w)
	delete(p.mu.leoWaiters, w)
	p.mu.Unlock()
}

// WaitCommitted waits until CommitError is final for each of the appends
// (offset to pass, at leader epoch) or ctx ends, and returns the first
// final error, or ctx's.
func WaitCommitted(ctx context.Context, waits []CommitWait) error {
	w := NewWaiter()
	for _, cw := range waits {
		cw.P.AddHWWaiter(w)
		defer cw.P.RemoveWaiter(w)
	}
	for {
		done := true
		for _, cw := range waits {
			err := cw.P.CommitError(cw.Offset, cw.LeaderEpoch)
			if err == nil {
				continue
			}
			if !IsPending(err) {
				return err
			}
			done = false
		}
		if done {
			return nil
		}
		select {
		case <-w.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// CommitWait is an acks=all append waiting for its commit.
type CommitWait struct {
	P           *Partition
	Offset      int64 // the high watermark must reach this
	LeaderEpoch int32
}

// FollowerLag is, on a follower, how far its log end offset was behind the
// leader's high watermark at the last fetch.
func (p *Partition) FollowerLag() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.followerLag
}
