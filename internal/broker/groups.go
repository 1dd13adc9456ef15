package broker

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/group"
	"github.com/samsa-streaming/samsa/internal/metadata"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/replica"
	"github.com/samsa-streaming/samsa/internal/storage"
)

// groupCoordinator runs the group coordinator of every __consumer_offsets
// partition this broker leads: one group.Shard per partition, loaded by
// replaying the partition, fed by the group handlers, ticked for its
// timers, and persisted by appending its records to the partition.
//
// Lock order: groupCoordinator.mu before coordinatorShard.mu; a shard's
// mutex is held across a state machine call, the append of its records,
// the wait for the high watermark and the replies, so the records of a
// shard reach the log in the order the state machine produced them.
type groupCoordinator struct {
	s  *Server
	mu struct {
		sync.Mutex
		shards map[int32]*coordinatorShard
	}
	// createMu serialises the creation of __consumer_offsets.
	createMu sync.Mutex
}

// coordinatorShard is the coordinator state of one partition.
type coordinatorShard struct {
	partition   int32
	p           *replica.Partition
	leaderEpoch int32
	loaded      atomic.Bool
	mu          struct {
		sync.Mutex
		sm     *group.Shard
		closed bool
		// image is the metadata image whose topics the state machine
		// last got (consumer-protocol groups are assigned from them).
		image *metadata.Image
	}
}

// close unloads the shard: requests still waiting in it are answered
// NOT_COORDINATOR, later ones find it closed.
func (sh *coordinatorShard) close() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.mu.closed {
		return
	}
	sh.mu.closed = true
	if sh.mu.sm != nil {
		eff := sh.mu.sm.Abort()
		eff.Complete(nil)
	}
}

// startGroupCoordinator starts the coordinator's timer loop, which also
// loads the partitions this broker leads.
func startGroupCoordinator(s *Server) *groupCoordinator {
	c := &groupCoordinator{s: s}
	c.mu.shards = map[int32]*coordinatorShard{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.run()
	}()
	return c
}

// stop unloads every shard.
func (c *groupCoordinator) stop() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, sh := range c.mu.shards {
		sh.close()
		delete(c.mu.shards, id)
	}
}

func (c *groupCoordinator) groupConfig() group.Config {
	cfg := c.s.cfg
	ms := func(name string) time.Duration { return time.Duration(cfg.Int(name)) * time.Millisecond }
	return group.Config{
		MinSessionTimeout:             ms("group.min.session.timeout.ms"),
		MaxSessionTimeout:             ms("group.max.session.timeout.ms"),
		InitialRebalanceDelay:         ms("group.initial.rebalance.delay.ms"),
		MaxSize:                       int(cfg.Int("group.max.size")),
		OffsetsRetention:              time.Duration(cfg.Int("offsets.retention.minutes")) * time.Minute,
		OffsetsRetentionCheckInterval: ms("offsets.retention.check.interval.ms"),
		OffsetMetadataMaxBytes:        int(cfg.Int("offset.metadata.max.bytes")),
		ConsumerSessionTimeout:        ms("group.consumer.session.timeout.ms"),
		ConsumerHeartbeatInterval:     ms("group.consumer.heartbeat.interval.ms"),
		ConsumerMaxSize:               int(cfg.Int("group.consumer.max.size")),
	}
}

// topicInfos is what consumer-protocol groups need of the image's topics.
func topicInfos(img *metadata.Image) []group.TopicInfo {
	out := make([]group.TopicInfo, 0, len(img.Topics))
	for name, t := range img.Topics {
		out = append(out, group.TopicInfo{Name: name, ID: t.ID, Partitions: int32(len(t.Partitions))})
	}
	return out
}

// syncTopicsLocked gives the state machine the topics of the current
// metadata image if they changed since it last got them: topic creation,
// deletion and new partitions update the target assignments of the
// consumer groups subscribed to them.
func (c *groupCoordinator) syncTopicsLocked(sh *coordinatorShard, now time.Time) {
	img := c.s.meta.Image()
	if img == sh.mu.image {
		return
	}
	if old := sh.mu.image; old != nil && sameTopics(old, img) {
		sh.mu.image = img
		return
	}
	sh.mu.image = img
	c.applyLocked(sh, sh.mu.sm.SetTopics(now, topicInfos(img)))
}

// sameTopics is whether two images have the same topics, ids and
// partition counts.
func sameTopics(a, b *metadata.Image) bool {
	if len(a.Topics) != len(b.Topics) {
		return false
	}
	for name, t := range a.Topics {
		u := b.Topics[name]
		if u == nil || u.ID != t.ID || len(u.Partitions) != len(t.Partitions) {
			return false
		}
	}
	return true
}

// tickInterval is the resolution of the coordinator's timers.
const tickInterval = 100 * time.Millisecond

func (c *groupCoordinator) run() {
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-c.s.ctx.Done():
			return
		case <-t.C:
			c.syncLeadership()
			c.tick(c.s.now())
		}
	}
}

// syncLeadership loads the partitions this broker has become the leader of
// and unloads those it no longer leads.
func (c *groupCoordinator) syncLeadership() {
	t := c.s.meta.Image().Topics[metadata.ConsumerOffsetsTopic]
	if t == nil {
		return
	}
	for _, mp := range t.Partitions {
		if mp.Leader == c.s.nodeID {
			c.shard(mp.Partition)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, sh := range c.mu.shards {
		if st := sh.p.State(); !st.IsLeader || st.LeaderEpoch != sh.leaderEpoch || c.s.replicas.Get(metadata.ConsumerOffsetsTopic, id) != sh.p {
			c.s.logger.Info("group coordinator: unloading partition", "partition", id)
			sh.close()
			delete(c.mu.shards, id)
		}
	}
}

func (c *groupCoordinator) tick(now time.Time) {
	c.mu.Lock()
	shards := make([]*coordinatorShard, 0, len(c.mu.shards))
	for _, sh := range c.mu.shards {
		shards = append(shards, sh)
	}
	c.mu.Unlock()
	for _, sh := range shards {
		if !sh.loaded.Load() {
			continue
		}
		sh.mu.Lock()
		if !sh.mu.closed {
			c.syncTopicsLocked(sh, now)
			if d := sh.mu.sm.NextDeadline(); !d.IsZero() && !now.Before(d) {
				c.applyLocked(sh, sh.mu.sm.Tick(now))
			}
		}
		sh.mu.Unlock()
	}
}

// shard returns the coordinator shard of a partition this broker leads,
// starting its load if it is not loaded; nil if the partition is not hosted
// here as leader.
func (c *groupCoordinator) shard(partitionID int32) *coordinatorShard {
	p := c.s.replicas.Get(metadata.ConsumerOffsetsTopic, partitionID)
	if p == nil {
		return nil
	}
	st := p.State()
	if !st.IsLeader {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sh := c.mu.shards[partitionID]
	if sh != nil && sh.p == p && sh.leaderEpoch == st.LeaderEpoch {
		return sh
	}
	if sh != nil {
		sh.close()
	}
	sh = &coordinatorShard{partition: partitionID, p: p, leaderEpoch: st.LeaderEpoch}
	c.mu.shards[partitionID] = sh
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		c.load(sh)
	}()
	return sh
}

// load replays the partition from its log start into a new state machine.
// Until it is done, the shard's groups answer COORDINATOR_LOAD_IN_PROGRESS.
func (c *groupCoordinator) load(sh *coordinatorShard) {
	start := time.Now()
	sm := group.NewShard(c.groupConfig())
	n, bad, err := replayLog(sh.p.Log, sm)
	if err != nil {
		c.s.logger.Error("group coordinator: loading partition failed", "partition", sh.partition, "err", err)
		c.mu.Lock()
		if c.mu.shards[sh.partition] == sh {
			delete(c.mu.shards, sh.partition) // retried on the next tick
		}
		c.mu.Unlock()
		return
	}
	sh.mu.Lock()
	sh.mu.sm = sm
	sm.LoadComplete(c.s.now())
	if !sh.mu.closed {
		c.syncTopicsLocked(sh, c.s.now())
	}
	sh.mu.Unlock()
	sh.loaded.Store(true)
	if bad > 0 {
		c.s.logger.Warn("group coordinator: skipped undecodable records", "partition", sh.partition, "count", bad)
	}
	if n > 0 {
		c.s.logger.Info("group coordinator: loaded partition", "partition", sh.partition, "records", n, "took", time.Since(start))
	}
}

// replayLog feeds every record of a __consumer_offsets log, from its start
// to its end, to sm. It returns the number of records and of those that
// could not be decoded.
func replayLog(l *storage.Log, sm *group.Shard) (n, bad int, err error) {
	off := l.LogStartOffset()
	for off < l.LogEndOffset() {
		rr, err := l.Read(off, 1<<20, -1, true)
		if err != nil {
			return n, bad, err
		}
		if len(rr.Records) == 0 {
			break
		}
		before := off
		err = records.Split(rr.Records, func(batch []byte, h *records.Header) error {
			off = h.NextOffset()
			if h.IsControl() {
				return nil
			}
			// A record or batch that does not decode is skipped: one
			// bad record must not make the whole partition unusable.
			err := records.Records(batch, 64<<20, func(r *records.Record) error {
				n++
				if err := sm.Replay(group.Record{Key: r.Key, Value: r.Value}); err != nil {
					bad++
				}
				return nil
			})
			if err != nil {
				bad++
			}
			return nil
		})
		if err != nil && !errors.Is(err, records.ErrTruncated) {
			return n, bad, err
		}
		if off == before {
			break // no whole batch left to read
		}
	}
	return n, bad, nil
}

// forGroup finds the loaded shard coordinating a group:
// COORDINATOR_NOT_AVAILABLE before __consumer_offsets exists,
// NOT_COORDINATOR when another broker leads its partition,
// COORDINATOR_LOAD_IN_PROGRESS while the partition loads.
func (c *groupCoordinator) forGroup(groupID string) (*coordinatorShard, error) {
	t := c.s.meta.Image().Topics[metadata.ConsumerOffsetsTopic]
	if t == nil || len(t.Partitions) == 0 {
		return nil, kerr.CoordinatorNotAvailable
	}
	pid := group.PartitionFor(groupID, int32(len(t.Partitions)))
	if t.Partitions[pid].Leader != c.s.nodeID {
		return nil, kerr.NotCoordinator
	}
	sh := c.shard(pid)
	if sh == nil || !sh.loaded.Load() {
		return nil, kerr.CoordinatorLoadInProgress
	}
	return sh, nil
}

// do runs one state machine call for a group and applies its effects. The
// error is the coordinator error to answer when the call could not run.
func (c *groupCoordinator) do(groupID string, fn func(now time.Time, sm *group.Shard) group.Effects) error {
	sh, err := c.forGroup(groupID)
	if err != nil {
		return err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.mu.closed {
		return kerr.NotCoordinator
	}
	c.applyLocked(sh, fn(c.s.now(), sh.mu.sm))
	return nil
}

// read runs a read-only call on a group's shard.
func (c *groupCoordinator) read(groupID string, fn func(sm *group.Shard)) error {
	sh, err := c.forGroup(groupID)
	if err != nil {
		return err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.mu.closed {
		return kerr.NotCoordinator
	}
	fn(sh.mu.sm)
	return nil
}

// loadedShards are the loaded shards, for ListGroups.
func (c *groupCoordinator) loadedShards() (loaded []*coordinatorShard, loading bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sh := range c.mu.shards {
		if sh.loaded.Load() {
			loaded = append(loaded, sh)
		} else {
			loading = true
		}
	}
	return loaded, loading
}

// applyLocked appends the effects' records to the shard's partition, waits
// until they are committed (acks=all), and runs the replies with the
// outcome.
func (c *groupCoordinator) applyLocked(sh *coordinatorShard, eff group.Effects) {
	eff.Complete(c.appendLocked(sh, eff.Records))
}

func (c *groupCoordinator) appendLocked(sh *coordinatorShard, recs []group.Record) error {
	if len(recs) == 0 {
		return nil
	}
	now := c.s.now()
	spec := records.BatchSpec{FirstTimestamp: now.UnixMilli()}
	for i, r := range recs {
		spec.Records = append(spec.Records, records.Record{OffsetDelta: int32(i), Key: r.Key, Value: r.Value})
	}
	set := records.BuildBatch(spec)
	// Written only under the leader epoch the shard was loaded at, and
	// acknowledged once committed (acks=all), as Kafka's coordinator does.
	res, err := sh.p.AppendAsLeader(set, -1, sh.leaderEpoch, now)
	if err != nil {
		c.s.logger.Warn("group coordinator: append failed", "partition", sh.partition, "err", err)
		return coordinatorAppendError(err)
	}
	w := replica.CommitWait{P: sh.p, Offset: res.LastOffset + 1, LeaderEpoch: res.LeaderEpoch}
	if err := sh.p.CommitError(w.Offset, w.LeaderEpoch); !replica.IsPending(err) {
		return coordinatorAppendError(err)
	}
	c.s.waitCommitted([]replica.CommitWait{w}, time.Duration(c.s.cfg.Int("offsets.commit.timeout.ms"))*time.Millisecond)
	if err := c.s.commitOutcome(w); err != nil {
		return coordinatorAppendError(err)
	}
	return nil
}

// coordinatorAppendError turns the failure of a coordinator append into
// the code Kafka's coordinator answers with: the client should look for
// the coordinator again (NOT_COORDINATOR) or retry
// (COORDINATOR_NOT_AVAILABLE).
func coordinatorAppendError(err error) error {
	if err == nil {
		return nil
	}
	switch errCode(err) {
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return kerr.NotCoordinator
	case kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code, kerr.RequestTimedOut.Code:
		return kerr.CoordinatorNotAvailable
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code:
		return kerr.InvalidCommitOffsetSize
	default:
		return kerr.UnknownServerError
	}
}

// ensureOffsetsTopic creates __consumer_offsets if it does not exist yet,
// as Kafka does on the first FindCoordinator for a group.
func (c *groupCoordinator) ensureOffsetsTopic(ctx context.Context) error {
	if c.s.meta.Image().Topics[metadata.ConsumerOffsetsTopic] != nil {
		return nil
	}
	c.createMu.Lock()
	defer c.createMu.Unlock()
	if c.s.meta.Image().Topics[metadata.ConsumerOffsetsTopic] != nil {
		return nil
	}
	cfg := c.s.cfg
	err := c.s.createTopic(ctx, metadata.ConsumerOffsetsTopic,
		int32(cfg.Int("offsets.topic.num.partitions")), int16(cfg.Int("offsets.topic.replication.factor")),
		map[string]string{
			"cleanup.policy":   "compact",
			"segment.bytes":    cfg.String("offsets.topic.segment.bytes"),
			"compression.type": "producer",
		})
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		c.s.logger.Warn("creating __consumer_offsets failed", "err", err)
		return err
	}
	c.s.logger.Info("created __consumer_offsets", "partitions", cfg.Int("offsets.topic.num.partitions"))
	return nil
}

// groupClient is the client identity a group member is described with.
func groupClient(r *request) group.Client {
	c := group.Client{Host: "/"}
	if r.hdr.ClientID != nil {
		c.ID = *r.hdr.ClientID
	}
	if r.c != nil && r.c.nc != nil {
		if host, _, err := net.SplitHostPort(r.c.nc.RemoteAddr().String()); err == nil {
			c.Host = "/" + host
		}
	}
	return c
}
