package replica

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/samsa-streaming/samsa/internal/config"
)

// Replication throttles (Kafka's replication quotas, used while
// reassignments catch up): a leader sends at most
// leader.replication.throttled.rate bytes per second to out-of-sync
// followers of the replicas its topics list in
// leader.replication.throttled.replicas, and a follower fetches at most
// follower.replication.throttled.rate for those listed in
// follower.replication.throttled.replicas. In-sync followers are never
// throttled, so a throttle cannot shrink an ISR.

// rateLimiter is a token bucket of one second's worth of bytes: a caller
// may go on while it has tokens, and pays for what it sent afterwards (so
// the rate is held over time, a single answer may overshoot).
type rateLimiter struct {
	mu     sync.Mutex
	rate   int64 // bytes per second; <= 0 or MaxInt64: unlimited
	tokens float64
	last   time.Time
}

func (r *rateLimiter) refillLocked(now time.Time, rate int64) {
	if rate != r.rate {
		r.rate = rate
		r.tokens = min(r.tokens, float64(rate))
	}
	if !r.last.IsZero() {
		r.tokens = min(r.tokens+now.Sub(r.last).Seconds()*float64(r.rate), float64(r.rate))
	}
	r.last = now
}

func unlimited(rate int64) bool { return rate <= 0 || rate == math.MaxInt64 }

// allow reports whether a throttled transfer may go now.
func (r *rateLimiter) allow(now time.Time, rate int64) bool {
	if unlimited(rate) {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refillLocked(now, rate)
	return r.tokens > 0
}

// record pays for n bytes sent.
func (r *rateLimiter) record(n int, now time.Time, rate int64) {
	if unlimited(rate) || n == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refillLocked(now, rate)
	r.tokens -= float64(n)
}

// leaderThrottled reports, on the leader, whether sending to follower is
// throttled: listed for this broker and the follower out of the ISR.
func (p *Partition) leaderThrottledLocked(follower int32) bool {
	cfg, ls := p.mu.cfg, p.mu.ls
	return cfg != nil && ls != nil && len(cfg.LeaderThrottledReplicas) > 0 &&
		!slices.Contains(ls.isr, follower) && config.Throttled(cfg.LeaderThrottledReplicas, p.TP.Partition, p.m.cfg.NodeID)
}

// followerThrottled reports, on a follower, whether its fetches of the
// partition are throttled: listed for this broker and out of the ISR.
func (p *Partition) followerThrottled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	cfg := p.mu.cfg
	return cfg != nil && len(cfg.FollowerThrottledReplicas) > 0 && !slices.Contains(p.mu.isr, p.m.cfg.NodeID) &&
		config.Throttled(cfg.FollowerThrottledReplicas, p.TP.Partition, p.m.cfg.NodeID)
}
