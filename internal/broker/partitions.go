package broker

import (
	"maps"
	"strconv"
	"sync"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/metadata"
	"github.com/samsa-streaming/samsa/internal/storage"
)

// partition is one partition this node hosts a replica of.
//
// Lock order: partitions.mu before partition.mu; never the reverse. Storage
// calls happen without partition.mu held except where the high watermark
// must move with the log end offset (appendLocked).
type partition struct {
	tp      storage.TopicPartition
	topicID [16]byte
	log     *storage.Log
	nodeID  int32

	mu struct {
		sync.Mutex
		leader      int32
		leaderEpoch int32
		replicas    []int32
		isr         []int32
		cfg         *config.Topic
		// followerLEO is the log end offset each follower last fetched
		// from; the high watermark is the minimum over the ISR.
		followerLEO map[int32]int64
		waiters     map[*waiter]struct{}
	}
	// appendMu serialises appends so that offsets, the high watermark and
	// the idempotence checks see one append at a time.
	appendMu sync.Mutex
}

// waiter is woken (without blocking) when a partition's high watermark
// moves; delayed fetches and acks=all produces wait on it.
type waiter struct{ ch chan struct{} }

func newWaiter() *waiter { return &waiter{ch: make(chan struct{}, 1)} }

func (w *waiter) wake() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// state is a consistent copy of the partition's replica state.
type partitionState struct {
	leader      int32
	leaderEpoch int32
	replicas    []int32
	isr         []int32
	cfg         *config.Topic
}

func (p *partition) state() partitionState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return partitionState{p.mu.leader, p.mu.leaderEpoch, p.mu.replicas, p.mu.isr, p.mu.cfg}
}

func (p *partition) isLeader() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.leader == p.nodeID
}

func (p *partition) addWaiter(w *waiter) {
	p.mu.Lock()
	p.mu.waiters[w] = struct{}{}
	p.mu.Unlock()
}

func (p *partition) removeWaiter(w *waiter) {
	p.mu.Lock()
	delete(p.mu.waiters, w)
	p.mu.Unlock()
}

// maybeAdvanceHW moves the high watermark to the lowest log end offset in
// the ISR (only the leader's own when it is alone) and wakes waiters.
func (p *partition) maybeAdvanceHW() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.leader != p.nodeID {
		return
	}
	hw := p.log.LogEndOffset()
	for _, r := range p.mu.isr {
		if r == p.nodeID {
			continue
		}
		leo, ok := p.mu.followerLEO[r]
		if !ok {
			leo = p.log.HighWatermark() // not heard from yet: holds the HW
		}
		hw = min(hw, leo)
	}
	if hw > p.log.HighWatermark() {
		p.log.SetHighWatermark(hw)
		for w := range p.mu.waiters {
			w.wake()
		}
	}
}

// partitions is the set of partitions this node hosts (Kafka's
// ReplicaManager), kept in step with the metadata image.
type partitions struct {
	s  *Server
	mu struct {
		sync.RWMutex
		byTP   map[storage.TopicPartition]*partition
		closed bool
	}
	// reconcileMu serialises reconciles: the subscription and Serve's
	// initial one may race.
	reconcileMu sync.Mutex
}

func newPartitions(s *Server) *partitions {
	ps := &partitions{s: s}
	ps.mu.byTP = map[storage.TopicPartition]*partition{}
	return ps
}

func (ps *partitions) get(topic string, part int32) *partition {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return ps.mu.byTP[storage.TopicPartition{Topic: topic, Partition: part}]
}

func (ps *partitions) close() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.mu.closed = true
	for _, p := range ps.mu.byTP {
		p.mu.Lock()
		for w := range p.mu.waiters {
			w.wake()
		}
		p.mu.Unlock()
	}
}

// dynamicConfigs extracts the dynamic broker configs that apply to this node
// from an image.
func dynamicConfigs(img *metadata.Image, nodeID int32) config.Dynamic {
	return config.Dynamic{
		Cluster: img.Configs[metadata.ConfigResource{Type: resourceBroker, Name: ""}],
		Broker:  img.Configs[metadata.ConfigResource{Type: resourceBroker, Name: strconv.Itoa(int(nodeID))}],
	}
}

// Kafka's ConfigResourceType values.
const (
	resourceTopic  int8 = 2
	resourceBroker int8 = 4
)

// topicConfig resolves the effective config of a topic in an image.
func (s *Server) topicConfig(img *metadata.Image, t *metadata.Topic) *config.Topic {
	cfg, err := config.ResolveTopic(s.cfg, dynamicConfigs(img, s.nodeID), t.Configs)
	if err != nil {
		// The controller validated every value it stored; an error here
		// means a config this version does not know. Fall back to the
		// broker defaults rather than refuse to serve the topic.
		s.logger.Error("topic config does not resolve; using the static broker config", "topic", t.Name, "err", err)
		if cfg, err = config.ResolveTopic(s.cfg, dynamicConfigs(img, s.nodeID), nil); err != nil {
			cfg, err = config.ResolveTopic(s.cfg, config.Dynamic{}, nil)
		}
		if err != nil {
			panic("static broker config does not resolve a topic config: " + err.Error()) // validated at load
		}
	}
	return cfg
}

// logConfig is the storage view of a topic config. Retention deletes
// segments only under cleanup.policy=delete, as in Kafka: a compact-only
// topic (such as __consumer_offsets) keeps its segments until the cleaner,
// which does not exist yet, compacts them.
func logConfig(c *config.Topic) storage.LogConfig {
	lc := storage.LogConfig{
		SegmentBytes:       c.SegmentBytes,
		SegmentMs:          c.SegmentMs,
		SegmentIndexBytes:  c.SegmentIndexBytes,
		IndexIntervalBytes: c.IndexIntervalBytes,
		RetentionMs:        c.RetentionMs,
		RetentionBytes:     c.RetentionBytes,
		FlushMessages:      c.FlushMessages,
		FlushMs:            c.FlushMs,
		FileDeleteDelayMs:  c.FileDeleteDelayMs,

		Compact:                c.Compact,
		DeleteRetentionMs:      c.DeleteRetentionMs,
		MinCompactionLagMs:     c.MinCompactionLagMs,
		MinCleanableDirtyRatio: c.MinCleanableDirtyRatio,
	}
	if !c.Delete {
		lc.RetentionMs, lc.RetentionBytes = -1, -1
	}
	return lc
}

// reconcile brings the hosted partitions in line with the image: creates
// logs for new replicas, applies leader/ISR/config changes, and deletes the
// logs of partitions that are gone. prev nil means a full pass. With
// deleteStray (once, when the broker starts serving) it also deletes logs
// left on disk by topics deleted while the node was down.
func (ps *partitions) reconcile(prev, next *metadata.Image, deleteStray bool) {
	ps.reconcileMu.Lock()
	defer ps.reconcileMu.Unlock()
	s := ps.s
	if next == nil {
		return
	}
	brokerCfgChanged := prev == nil ||
		!maps.Equal(prev.Configs[metadata.ConfigResource{Type: resourceBroker}], next.Configs[metadata.ConfigResource{Type: resourceBroker}]) ||
		!maps.Equal(dynamicConfigs(prev, s.nodeID).Broker, dynamicConfigs(next, s.nodeID).Broker)

	wanted := map[storage.TopicPartition]bool{}
	var jobs []upsertJob
	for name, t := range next.Topics {
		var old *metadata.Topic
		if prev != nil {
			old = prev.Topics[name]
		}
		if old == t && !brokerCfgChanged {
			for _, mp := range t.Partitions {
				if containsID(mp.Replicas, s.nodeID) {
					wanted[storage.TopicPartition{Topic: name, Partition: mp.Partition}] = true
				}
			}
			continue
		}
		cfg := s.topicConfig(next, t)
		for _, mp := range t.Partitions {
			if !containsID(mp.Replicas, s.nodeID) {
				continue
			}
			tp := storage.TopicPartition{Topic: name, Partition: mp.Partition}
			wanted[tp] = true
			jobs = append(jobs, upsertJob{tp, t.ID, mp, cfg})
		}
	}
	ps.upsertAll(jobs)

	ps.mu.Lock()
	var gone []*partition
	for tp, p := range ps.mu.byTP {
		if !wanted[tp] || next.Topics[tp.Topic] == nil || next.Topics[tp.Topic].ID != p.topicID {
			gone = append(gone, p)
			delete(ps.mu.byTP, tp)
		}
	}
	ps.mu.Unlock()
	for _, p := range gone {
		s.logger.Info("deleting partition log", "topic", p.tp.Topic, "partition", p.tp.Partition)
		if err := s.logs.Delete(p.tp); err != nil {
			s.logger.Error("deleting partition log failed", "topic", p.tp.Topic, "partition", p.tp.Partition, "err", err)
		}
	}
	if deleteStray {
		for tp, l := range s.logs.All() {
			t := next.Topics[tp.Topic]
			if wanted[tp] && t != nil && t.ID == l.TopicID() {
				continue
			}
			s.logger.Warn("deleting stray partition log not in the metadata", "topic", tp.Topic, "partition", tp.Partition, "dir", l.Dir())
			if err := s.logs.Delete(tp); err != nil {
				s.logger.Error("deleting stray log failed", "dir", l.Dir(), "err", err)
			}
		}
	}
}

type upsertJob struct {
	tp      storage.TopicPartition
	topicID [16]byte
	mp      *metadata.Partition
	cfg     *config.Topic
}

// upsertWorkers bounds the logs created at once: creating a log is a few
// fsyncs, so a topic of thousands of partitions is created in parallel.
const upsertWorkers = 16

func (ps *partitions) upsertAll(jobs []upsertJob) {
	if len(jobs) < 2 {
		for _, j := range jobs {
			ps.upsert(j.tp, j.topicID, j.mp, j.cfg)
		}
		return
	}
	ch := make(chan upsertJob)
	var wg sync.WaitGroup
	for w := 0; w < min(upsertWorkers, len(jobs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				ps.upsert(j.tp, j.topicID, j.mp, j.cfg)
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
}

func (ps *partitions) upsert(tp storage.TopicPartition, topicID [16]byte, mp *metadata.Partition, cfg *config.Topic) {
	s := ps.s
	ps.mu.Lock()
	if ps.mu.closed {
		ps.mu.Unlock()
		return
	}
	p := ps.mu.byTP[tp]
	ps.mu.Unlock()
	if p != nil && p.topicID != topicID {
		// Same name, new topic: the old one was deleted and recreated
		// between two images. Drop the old log first.
		if err := s.logs.Delete(tp); err != nil {
			s.logger.Error("deleting replaced partition log failed", "topic", tp.Topic, "partition", tp.Partition, "err", err)
		}
		p = nil
	}
	if p == nil {
		l, err := s.logs.GetOrCreate(tp, topicID, logConfig(cfg), s.now())
		if err != nil {
			s.logger.Error("creating partition log failed", "topic", tp.Topic, "partition", tp.Partition, "err", err)
			return
		}
		// A log recovered at start-up was opened with default settings:
		// give it the topic's before retention can look at it.
		l.UpdateConfig(logConfig(cfg))
		p = &partition{tp: tp, topicID: topicID, log: l, nodeID: s.nodeID}
		p.mu.followerLEO = map[int32]int64{}
		p.mu.waiters = map[*waiter]struct{}{}
		ps.mu.Lock()
		ps.mu.byTP[tp] = p
		ps.mu.Unlock()
	} else {
		s.logs.UpdateConfig(tp, logConfig(cfg))
	}
	p.mu.Lock()
	p.mu.leader = mp.Leader
	p.mu.leaderEpoch = mp.LeaderEpoch
	p.mu.replicas = mp.Replicas
	p.mu.isr = mp.ISR
	p.mu.cfg = cfg
	p.mu.Unlock()
	p.maybeAdvanceHW()
}

func containsID(ids []int32, id int32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
