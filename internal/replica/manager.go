package replica

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/kclient"
	"github.com/samsa-streaming/samsa/internal/metadata"
	"github.com/samsa-streaming/samsa/internal/storage"
)

// Config configures a Manager.
type Config struct {
	NodeID int32
	Logs   *storage.Manager
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// LagTime is replica.lag.time.max.ms.
	LagTime time.Duration
	Fetch   FetchConfig
	Cluster Cluster
	Dialer  kclient.Dialer
}

// FetchConfig is the follower fetchers' settings (replica.fetch.*).
type FetchConfig struct {
	MaxBytes         int32         // replica.fetch.max.bytes, per partition
	ResponseMaxBytes int32         // replica.fetch.response.max.bytes
	MinBytes         int32         // replica.fetch.min.bytes
	MaxWait          time.Duration // replica.fetch.wait.max.ms
	Backoff          time.Duration // replica.fetch.backoff.ms
	SocketTimeout    time.Duration // replica.socket.timeout.ms: a fetch's time beyond its max wait
}

// Cluster is what the manager asks of the rest of the broker.
type Cluster interface {
	// BrokerAddr is the inter-broker endpoint (host:port) of a broker.
	BrokerAddr(id int32) (string, bool)
	// BrokerEpoch is this broker's registration epoch (-1 before it has
	// one).
	BrokerEpoch() int64
	// BrokerUsable tells whether a broker may join an ISR (registered,
	// unfenced, not shutting down).
	BrokerUsable(id int32) bool
	// AlterPartition sends ISR changes to the controller.
	AlterPartition(ctx context.Context, reqs []metadata.AlterPartitionRequest) ([]metadata.AlterPartitionResult, error)
	// ThrottleRates are this broker's leader.replication.throttled.rate
	// and follower.replication.throttled.rate (dynamic broker configs).
	ThrottleRates() (leader, follower int64)
}

// Change is the new state of one hosted partition, from the metadata.
type Change struct {
	TP             storage.TopicPartition
	TopicID        [16]byte
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
	Config         *config.Topic
	LogConfig      storage.LogConfig
}

// Delete names a replica to delete (its topic id guards against deleting
// a newer topic of the same name).
type Delete struct {
	TP      storage.TopicPartition
	TopicID [16]byte
}

// Manager owns the partitions this broker hosts (Kafka's ReplicaManager):
// it applies the metadata's changes to them (become leader, become
// follower, delete), runs the follower fetchers (one per source broker),
// the periodic ISR check and the AlterPartition sender.
type Manager struct {
	cfg     Config
	logger  *slog.Logger
	metrics managerMetrics
	alters  *alterSender
	// leaderQuota and followerQuota are the replication throttles
	// (throttle.go).
	leaderQuota, followerQuota rateLimiter

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu struct {
		sync.RWMutex
		byTP     map[storage.TopicPartition]*Partition
		fetchers map[int32]*fetcher
		closed   bool
	}
}

// managerMetrics are counters the broker exports.
type managerMetrics struct {
	isrShrinks atomic.Int64
	isrExpands atomic.Int64
}

// NewManager starts a manager.
func NewManager(cfg Config) *Manager {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LagTime <= 0 {
		cfg.LagTime = 30 * time.Second
	}
	if cfg.Fetch.MaxWait <= 0 {
		cfg.Fetch.MaxWait = 500 * time.Millisecond
	}
	if cfg.Fetch.Backoff <= 0 {
		cfg.Fetch.Backoff = time.Second
	}
	if cfg.Fetch.SocketTimeout <= 0 {
		cfg.Fetch.SocketTimeout = 30 * time.Second
	}
	if cfg.Fetch.MaxBytes <= 0 {
		cfg.Fetch.MaxBytes = 1 << 20
	}
	if cfg.Fetch.ResponseMaxBytes <= 0 {
		cfg.Fetch.ResponseMaxBytes = 10 << 20
	}
	m := &Manager{cfg: cfg, logger: cfg.Logger}
	m.mu.byTP = map[storage.TopicPartition]*Partition{}
	m.mu.fetchers = map[int32]*fetcher{}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.alters = newAlterSender(m)
	m.wg.Add(2)
	go func() { defer m.wg.Done(); m.alters.run() }()
	go func() { defer m.wg.Done(); m.isrLoop() }()
	return m
}

func (m *Manager) now() time.Time { return m.cfg.Now() }

// ISRShrinks and ISRExpands count the ISR changes this broker proposed as
// a leader.
func (m *Manager) ISRShrinks() int64 { return m.metrics.isrShrinks.Load() }

// ISRExpands: see ISRShrinks.
func (m *Manager) ISRExpands() int64 { return m.metrics.isrExpands.Load() }

// Get returns the hosted partition or nil.
func (m *Manager) Get(topic string, part int32) *Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.mu.byTP[storage.TopicPartition{Topic: topic, Partition: part}]
}

// All returns every hosted partition.
func (m *Manager) All() []*Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*Partition, 0, len(m.mu.byTP))
	for _, p := range m.mu.byTP {
		out = append(out, p)
	}
	return out
}

// Close stops the fetchers and the background work and wakes every
// waiter; the logs stay open (the broker closes the storage manager).
func (m *Manager) Close() {
	m.mu.Lock()
	m.mu.closed = true
	fetchers := m.mu.fetchers
	m.mu.fetchers = map[int32]*fetcher{}
	for _, p := range m.mu.byTP {
		p.mu.Lock()
		wakeAll(p.mu.hwWaiters)
		wakeAll(p.mu.leoWaiters)
		p.mu.Unlock()
	}
	m.mu.Unlock()
	for _, f := range fetchers {
		f.stop()
	}
	m.cancel()
	m.wg.Wait()
}

// Apply applies the metadata's changes to the hosted partitions: the
// deletes first, then the partitions this broker now leads, then those it
// follows (whose fetchers it moves to their leaders).
func (m *Manager) Apply(deletes []Delete, leaders, followers []Change) {
	for _, d := range deletes {
		m.delete(d)
	}
	now := m.now()
	m.upsertAll(leaders, func(p *Partition, ch Change) {
		m.unfollow(p)
		p.makeLeader(ch, now)
	})
	m.upsertAll(followers, func(p *Partition, ch Change) {
		if p.makeFollower(ch) {
			m.follow(p, ch.Leader, ch.LeaderEpoch)
		}
	})
}

func (m *Manager) delete(d Delete) {
	m.mu.Lock()
	p := m.mu.byTP[d.TP]
	if p == nil || p.TopicID != d.TopicID {
		m.mu.Unlock()
		return
	}
	delete(m.mu.byTP, d.TP)
	m.mu.Unlock()
	m.unfollow(p)
	p.markDeleted()
	m.logger.Info("deleting partition log", "partition", d.TP)
	if err := m.cfg.Logs.Delete(d.TP); err != nil {
		m.logger.Error("deleting partition log failed", "partition", d.TP, "err", err)
	}
}

// upsertWorkers bounds the logs created at once: creating a log is a few
// fsyncs, so a topic of thousands of partitions is created in parallel.
const upsertWorkers = 16

func (m *Manager) upsertAll(chs []Change, then func(*Partition, Change)) {
	run := func(ch Change) {
		if p := m.upsert(ch); p != nil {
			then(p, ch)
		}
	}
	if len(chs) < 2 {
		for _, ch := range chs {
			run(ch)
		}
		return
	}
	work := make(chan Change)
	var wg sync.WaitGroup
	for range min(upsertWorkers, len(chs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ch := range work {
				run(ch)
			}
		}()
	}
	for _, ch := range chs {
		work <- ch
	}
	close(work)
	wg.Wait()
}

// upsert returns the hosted partition of a change, creating its log (or
// replacing the log of an older topic of the same name).
func (m *Manager) upsert(ch Change) *Partition {
	m.mu.RLock()
	closed := m.mu.closed
	p := m.mu.byTP[ch.TP]
	m.mu.RUnlock()
	if closed {
		return nil
	}
	if p != nil && p.TopicID != ch.TopicID {
		m.delete(Delete{TP: ch.TP, TopicID: p.TopicID})
		p = nil
	}
	if p != nil {
		p.Log.UpdateConfig(ch.LogConfig)
		return p
	}
	l, err := m.cfg.Logs.GetOrCreate(ch.TP, ch.TopicID, ch.LogConfig, m.now())
	if err != nil {
		m.logger.Error("creating partition log failed", "partition", ch.TP, "err", err)
		return nil
	}
	// A log recovered at start-up was opened with default settings: give
	// it the topic's before retention can look at it.
	l.UpdateConfig(ch.LogConfig)
	p = &Partition{TP: ch.TP, TopicID: ch.TopicID, Log: l, m: m}
	p.mu.leader, p.mu.leaderEpoch, p.mu.partitionEpoch = -1, -1, -1
	p.mu.cfg = ch.Config
	p.mu.hwWaiters = map[*Waiter]struct{}{}
	p.mu.leoWaiters = map[*Waiter]struct{}{}
	m.mu.Lock()
	if cur := m.mu.byTP[ch.TP]; cur != nil {
		p = cur // created meanwhile by another worker: cannot happen for one change list
	} else {
		m.mu.byTP[ch.TP] = p
	}
	m.mu.Unlock()
	return p
}

// follow moves a follower partition to the fetcher of its leader.
func (m *Manager) follow(p *Partition, leader, leaderEpoch int32) {
	m.unfollow(p)
	if leader < 0 || leader == m.cfg.NodeID {
		return
	}
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return
	}
	f := m.mu.fetchers[leader]
	if f == nil {
		f = newFetcher(m, leader)
		m.mu.fetchers[leader] = f
		m.wg.Add(1)
		go func() { defer m.wg.Done(); f.run() }()
	}
	m.mu.Unlock()
	f.add(p, leaderEpoch)
}

// unfollow takes a partition off every fetcher.
func (m *Manager) unfollow(p *Partition) {
	m.mu.RLock()
	fs := make([]*fetcher, 0, len(m.mu.fetchers))
	for _, f := range m.mu.fetchers {
		fs = append(fs, f)
	}
	m.mu.RUnlock()
	for _, f := range fs {
		f.remove(p)
	}
}

// isrLoop checks, every half replica.lag.time.max.ms, whether followers of
// the partitions this broker leads fell out of sync (Kafka's
// isr-expiration task).
func (m *Manager) isrLoop() {
	t := time.NewTicker(max(m.cfg.LagTime/2, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		now := m.now()
		for _, p := range m.All() {
			p.checkISR(now)
		}
	}
}

// makeLeader makes this broker the partition's leader at ch's epoch, or
// applies an ISR or replica change of the current epoch.
func (p *Partition) makeLeader(ch Change, now time.Time) {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if ch.LeaderEpoch < p.mu.leaderEpoch {
		return // an older image than the state applied
	}
	newEpoch := p.mu.ls == nil || ch.LeaderEpoch != p.mu.leaderEpoch
	p.mu.leader, p.mu.leaderEpoch, p.mu.partitionEpoch = ch.Leader, ch.LeaderEpoch, ch.PartitionEpoch
	p.mu.replicas, p.mu.isr, p.mu.cfg = slices.Clone(ch.Replicas), slices.Clone(ch.ISR), ch.Config
	p.mu.followerLag = 0
	if newEpoch {
		p.Log.AssignEpoch(ch.LeaderEpoch)
		p.mu.ls = newLeaderState(p.m.cfg.NodeID, ch.Replicas, ch.ISR, ch.LeaderEpoch, ch.PartitionEpoch, p.Log.LogEndOffset(), p.m.cfg.LagTime, now)
		wakeAll(p.mu.hwWaiters)
		wakeAll(p.mu.leoWaiters)
		p.m.logger.Info("became leader", "partition", p.TP, "leader.epoch", ch.LeaderEpoch, "isr", ch.ISR, "log.end", p.Log.LogEndOffset(), "hw", p.Log.HighWatermark())
	} else {
		p.mu.ls.updateMetadata(ch.Replicas, ch.ISR, ch.PartitionEpoch, now)
	}
	p.advanceHWLocked()
}

// makeFollower makes the partition a follower at ch's epoch. It reports
// whether the change applies (it is not older than the state).
func (p *Partition) makeFollower(ch Change) bool {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if ch.LeaderEpoch < p.mu.leaderEpoch {
		return false
	}
	changed := p.mu.ls != nil || ch.LeaderEpoch != p.mu.leaderEpoch || ch.Leader != p.mu.leader
	p.mu.ls = nil
	p.mu.leader, p.mu.leaderEpoch, p.mu.partitionEpoch = ch.Leader, ch.LeaderEpoch, ch.PartitionEpoch
	p.mu.replicas, p.mu.isr, p.mu.cfg = slices.Clone(ch.Replicas), slices.Clone(ch.ISR), ch.Config
	if changed {
		wakeAll(p.mu.hwWaiters)
		wakeAll(p.mu.leoWaiters)
		level := slog.LevelInfo
		if ch.Leader < 0 {
			level = slog.LevelDebug // offline: a shutdown makes every partition so
		}
		p.m.logger.Log(context.Background(), level, "became follower", "partition", p.TP, "leader", ch.Leader, "leader.epoch", ch.LeaderEpoch, "log.end", p.Log.LogEndOffset())
	}
	return true
}

func (p *Partition) markDeleted() {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.deleted = true
	p.mu.ls = nil
	wakeAll(p.mu.hwWaiters)
	wakeAll(p.mu.leoWaiters)
}

// followerEpoch returns the leader epoch and leader the partition follows,
// ok false when it is not a live follower.
func (p *Partition) followerEpoch() (leader, epoch int32, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.ls != nil || p.mu.deleted {
		return -1, -1, false
	}
	return p.mu.leader, p.mu.leaderEpoch, true
}
