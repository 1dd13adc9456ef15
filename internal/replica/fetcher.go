package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/kclient"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/storage"
)

// fetchVersion is the Fetch version followers send: topic ids (v13) and
// the replica's broker epoch in ReplicaState (v15, KIP-903), so the
// leader can refuse a fetch from a stale incarnation of the broker.
const fetchVersion = 15

// fetcher replicates the partitions this broker follows whose leader is
// one broker (Kafka's ReplicaFetcherThread, one per source broker): it
// sends that broker one Fetch for all of them at a time, from each log's
// end with the epoch of its last batch, and appends what comes back.
type fetcher struct {
	m      *Manager
	leader int32
	wake   chan struct{}
	// ctx ends when the fetcher is stopped or the manager closes.
	ctx    context.Context
	cancel context.CancelFunc

	mu struct {
		sync.Mutex
		parts map[*Partition]*fetchPart
	}
	conn *kclient.Conn // owned by run
}

// fetchPart is one partition's fetch state.
type fetchPart struct {
	leaderEpoch int32
	// delayUntil holds the partition back after an error its leader
	// gave (the metadata is likely about to change).
	delayUntil time.Time
}

func newFetcher(m *Manager, leader int32) *fetcher {
	f := &fetcher{m: m, leader: leader, wake: make(chan struct{}, 1)}
	f.ctx, f.cancel = context.WithCancel(m.ctx)
	f.mu.parts = map[*Partition]*fetchPart{}
	return f
}

func (f *fetcher) add(p *Partition, leaderEpoch int32) {
	f.mu.Lock()
	f.mu.parts[p] = &fetchPart{leaderEpoch: leaderEpoch}
	f.mu.Unlock()
	f.poke()
}

func (f *fetcher) remove(p *Partition) {
	f.mu.Lock()
	delete(f.mu.parts, p)
	f.mu.Unlock()
}

func (f *fetcher) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *fetcher) stop() { f.cancel() }

// sleep waits d, or until stopped (false).
func (f *fetcher) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-f.ctx.Done():
		return false
	}
}

// sent is what one request asked for one partition.
type sent struct {
	p           *Partition
	leaderEpoch int32
}

func (f *fetcher) run() {
	defer func() {
		if f.conn != nil {
			f.conn.Close()
		}
	}()
	log := f.m.logger.With("leader", f.leader)
	failures := 0
	for f.ctx.Err() == nil {
		req, asked, next := f.request()
		if req == nil {
			wait := time.Hour
			if !next.IsZero() {
				wait = max(time.Until(next), time.Millisecond)
			}
			t := time.NewTimer(wait)
			select {
			case <-f.ctx.Done():
				t.Stop()
				return
			case <-f.wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		resp, err := f.send(req)
		if err != nil {
			failures++
			if failures == 1 || failures%30 == 0 {
				log.Warn("replica fetch failed", "err", err, "failures", failures)
			}
			if !f.sleep(f.m.cfg.Fetch.Backoff) {
				return
			}
			continue
		}
		if failures > 0 {
			log.Info("replica fetch recovered", "after.failures", failures)
			failures = 0
		}
		f.handle(resp, asked)
	}
}

// request builds the next Fetch, nil when no partition is ready (next is
// when a delayed one will be).
func (f *fetcher) request() (*kmsg.FetchRequest, map[tpKey]sent, time.Time) {
	cfg := f.m.cfg
	now := time.Now()
	var next time.Time
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.mu.parts) == 0 {
		return nil, nil, next
	}
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(fetchVersion)
	req.ReplicaID = cfg.NodeID
	req.ReplicaState.ID = cfg.NodeID
	req.ReplicaState.Epoch = cfg.Cluster.BrokerEpoch()
	req.MaxWaitMillis = int32(cfg.Fetch.MaxWait.Milliseconds())
	req.MinBytes = max(cfg.Fetch.MinBytes, 1)
	req.MaxBytes = cfg.Fetch.ResponseMaxBytes
	req.SessionID, req.SessionEpoch = 0, -1
	asked := map[tpKey]sent{}
	byTopic := map[[16]byte]int{}
	_, rate := cfg.Cluster.ThrottleRates()
	quotaLeft := f.m.followerQuota.allow(now, rate)
	for p, fp := range f.mu.parts {
		if !quotaLeft && p.followerThrottled() {
			// The follower quota is spent: this partition waits for it.
			if d := now.Add(100 * time.Millisecond); next.IsZero() || d.Before(next) {
				next = d
			}
			continue
		}
		if now.Before(fp.delayUntil) {
			if next.IsZero() || fp.delayUntil.Before(next) {
				next = fp.delayUntil
			}
			continue
		}
		i, ok := byTopic[p.TopicID]
		if !ok {
			t := kmsg.NewFetchRequestTopic()
			t.TopicID = p.TopicID
			t.Topic = p.TP.Topic
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[p.TopicID] = i
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p.TP.Partition
		rp.CurrentLeaderEpoch = fp.leaderEpoch
		rp.FetchOffset = p.Log.LogEndOffset()
		rp.LastFetchedEpoch = p.Log.LatestEpoch()
		rp.LogStartOffset = p.Log.LogStartOffset()
		rp.PartitionMaxBytes = cfg.Fetch.MaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		asked[tpKey{p.TopicID, p.TP.Partition}] = sent{p, fp.leaderEpoch}
	}
	if len(asked) == 0 {
		return nil, nil, next
	}
	return req, asked, next
}

type tpKey struct {
	id   [16]byte
	part int32
}

func (f *fetcher) send(req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	if f.conn == nil {
		addr, ok := f.m.cfg.Cluster.BrokerAddr(f.leader)
		if !ok {
			return nil, fmt.Errorf("no endpoint known for broker %d", f.leader)
		}
		ctx, cancel := context.WithTimeout(f.ctx, 5*time.Second)
		c, err := f.m.cfg.Dialer.Dial(ctx, addr)
		cancel()
		if err != nil {
			return nil, err
		}
		f.conn = c
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.m.cfg.Fetch.MaxWait+f.m.cfg.Fetch.SocketTimeout)
	defer cancel()
	resp, err := f.conn.RequestReuse(ctx, req) // handle is done with it before the next fetch
	if err != nil {
		f.conn.Close()
		f.conn = nil
		return nil, err
	}
	fr := resp.(*kmsg.FetchResponse)
	if fr.ErrorCode != 0 {
		return nil, kerr.ErrorForCode(fr.ErrorCode)
	}
	return fr, nil
}

// handle applies a fetch response.
func (f *fetcher) handle(resp *kmsg.FetchResponse, asked map[tpKey]sent) {
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			rp := &t.Partitions[j]
			s, ok := asked[tpKey{t.TopicID, rp.Partition}]
			if !ok {
				continue
			}
			if !f.current(s) {
				continue // moved to another leader or epoch meanwhile
			}
			if n := len(rp.RecordBatches); n > 0 && s.p.followerThrottled() {
				_, rate := f.m.cfg.Cluster.ThrottleRates()
				f.m.followerQuota.record(n, time.Now(), rate)
			}
			if err := f.apply(s, rp); err != nil {
				f.delay(s.p, err)
				if !transientLeaderError(err) {
					f.m.logger.Warn("replica fetch: partition not applied", "partition", s.p.TP, "leader", f.leader, "err", err)
				}
			}
		}
	}
}

// current reports whether the partition is still fetched at the epoch the
// request was built with.
func (f *fetcher) current(s sent) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	fp := f.mu.parts[s.p]
	return fp != nil && fp.leaderEpoch == s.leaderEpoch
}

// delay holds a partition back after an error: replica.fetch.backoff.ms,
// or a moment only when the leader has not yet applied the metadata that
// made it leader (it knows the topic or the epoch a little later).
func (f *fetcher) delay(p *Partition, err error) {
	d := f.m.cfg.Fetch.Backoff
	if transientLeaderError(err) {
		d = min(d, 50*time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fp := f.mu.parts[p]; fp != nil {
		fp.delayUntil = time.Now().Add(d)
	}
}

// transientLeaderError is an error a leader gives while its metadata is
// behind the follower's.
func transientLeaderError(err error) bool {
	return errors.Is(err, kerr.UnknownTopicID) || errors.Is(err, kerr.UnknownTopicOrPartition) ||
		errors.Is(err, kerr.UnknownLeaderEpoch) || errors.Is(err, kerr.NotLeaderForPartition)
}

// apply applies one partition's answer.
func (f *fetcher) apply(s sent, rp *kmsg.FetchResponseTopicPartition) error {
	switch err := kerr.ErrorForCode(rp.ErrorCode); {
	case err == nil:
	case errors.Is(err, kerr.OffsetOutOfRange):
		return s.p.outOfRange(f.leader, s.leaderEpoch, rp.LogStartOffset, rp.HighWatermark)
	default:
		return err
	}
	if rp.DivergingEpoch.EndOffset >= 0 {
		return s.p.truncateDiverging(f.leader, s.leaderEpoch, rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset)
	}
	return s.p.appendAsFollower(f.leader, s.leaderEpoch, rp.RecordBatches, rp.HighWatermark, rp.LogStartOffset)
}

// errStaleFollower: the partition stopped following that leader at that
// epoch while the answer was in flight; the answer is dropped.
var errStaleFollower = errors.New("no longer following that leader epoch")

// lockFollower takes roleMu shared and checks that the partition still
// follows leader at epoch; the caller unlocks roleMu when err is nil.
func (p *Partition) lockFollower(leader, epoch int32) error {
	p.roleMu.RLock()
	if l, e, ok := p.followerEpoch(); !ok || l != leader || e != epoch {
		p.roleMu.RUnlock()
		return errStaleFollower
	}
	return nil
}

// appendAsFollower appends a leader's batches (whole, CRC-checked) and
// takes its high watermark and log start offset.
func (p *Partition) appendAsFollower(leader, epoch int32, set []byte, leaderHW, leaderLogStart int64) error {
	if err := p.lockFollower(leader, epoch); err != nil {
		return nil
	}
	defer p.roleMu.RUnlock()
	whole, err := checkedBatches(set)
	if len(whole) > 0 {
		if aerr := p.Log.AppendAsFollower(whole); aerr != nil {
			return aerr
		}
	}
	if err != nil {
		return err // what came before the bad batch was kept
	}
	leo := p.Log.LogEndOffset()
	oldHW := p.Log.HighWatermark()
	p.Log.SetHighWatermark(min(leaderHW, leo))
	if p.Log.HighWatermark() != oldHW {
		// Consumers reading from this follower (KIP-392) wait on it.
		p.mu.Lock()
		wakeAll(p.mu.hwWaiters)
		p.mu.Unlock()
	}
	if leaderLogStart > p.Log.LogStartOffset() {
		if _, err := p.Log.DeleteRecordsBefore(min(leaderLogStart, p.Log.HighWatermark())); err != nil && !errors.Is(err, storage.ErrOffsetOutOfRange) {
			return err
		}
	}
	p.mu.Lock()
	p.mu.followerLag = max(leaderHW-leo, 0)
	p.mu.Unlock()
	return nil
}

// checkedBatches returns the whole batches at the start of set, each with
// a good CRC; a partial last batch (a response cut at its byte limit) is
// left for the next fetch, a corrupt one is an error.
func checkedBatches(set []byte) ([]byte, error) {
	n := 0
	for rest := set; len(rest) > 0; {
		h, err := records.ParseHeader(rest)
		if errors.Is(err, records.ErrTruncated) {
			break
		}
		if err != nil {
			return set[:n], err
		}
		if h.Size() > len(rest) {
			break
		}
		if err := records.CheckCRC(rest[:h.Size()], &h); err != nil {
			return set[:n], err
		}
		n += h.Size()
		rest = rest[h.Size():]
	}
	return set[:n], nil
}

// truncateDiverging truncates the log after the leader said it diverged
// at the follower's last fetched epoch: the leader's largest epoch at or
// below it is epoch, ending at endOffset (Kafka's
// getOffsetTruncationState). When the follower has that epoch, it keeps
// up to the lesser of the two ends; when it does not, it keeps up to the
// end of its own largest epoch below, and the next fetch checks again.
func (p *Partition) truncateDiverging(leader, leaderEpoch, epoch int32, endOffset int64) error {
	if err := p.lockFollower(leader, leaderEpoch); err != nil {
		return nil
	}
	defer p.roleMu.RUnlock()
	leo := p.Log.LogEndOffset()
	target := min(endOffset, leo)
	if epoch >= 0 {
		if fe, fend := p.Log.EndOffsetForEpoch(epoch); fe >= 0 {
			if fe == epoch {
				target = min(fend, endOffset, leo)
			} else {
				target = min(fend, leo)
			}
		}
	}
	if target >= leo {
		// No batch to cut; TruncateTo still drops an empty trailing
		// epoch (one this broker led at without appending), which is
		// what diverged.
		return p.Log.TruncateTo(leo)
	}
	p.m.logger.Warn("truncating diverging log", "partition", p.TP, "leader", leader, "leader.epoch", leaderEpoch,
		"diverging.epoch", epoch, "diverging.end", endOffset, "log.end", leo, "to", target)
	return p.Log.TruncateTo(target)
}

// outOfRange handles OFFSET_OUT_OF_RANGE: the follower's log ends before
// the leader's log start (the leader deleted what it needs: start over at
// the leader's log start) or past what the leader has (truncate to the
// leader's high watermark and fetch again).
func (p *Partition) outOfRange(leader, leaderEpoch int32, leaderLogStart, leaderHW int64) error {
	if err := p.lockFollower(leader, leaderEpoch); err != nil {
		return nil
	}
	defer p.roleMu.RUnlock()
	leo := p.Log.LogEndOffset()
	switch {
	case leaderLogStart >= 0 && leo < leaderLogStart:
		p.m.logger.Warn("follower behind the leader's log start: starting over", "partition", p.TP, "log.end", leo, "leader.log.start", leaderLogStart)
		return p.Log.TruncateFullyAndStartAt(leaderLogStart)
	case leaderHW >= 0 && leo > leaderHW:
		p.m.logger.Warn("follower ahead of the leader: truncating to its high watermark", "partition", p.TP, "log.end", leo, "leader.hw", leaderHW)
		return p.Log.TruncateTo(leaderHW)
	}
	return fmt.Errorf("offset out of range at %d (leader log start %d, high watermark %d)", leo, leaderLogStart, leaderHW)
}
