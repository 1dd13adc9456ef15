package broker

import (
	"context"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/group"
	"github.com/samsa-streaming/samsa/internal/metadata"
)

// groupCoordinator is the group coordinator of every __consumer_offsets
// partition this broker leads: a group.Shard per partition on the shared
// coordinator runtime (coordinator_runtime.go).
type groupCoordinator struct {
	*coordinatorRuntime[*group.Shard]
}

// coordinatorShard is the coordinator state of one __consumer_offsets
// partition.
type coordinatorShard = runtimeShard[*group.Shard]

// startGroupCoordinator starts the coordinator's timer loop, which also
// loads the partitions this broker leads.
func startGroupCoordinator(s *Server) *groupCoordinator {
	c := &groupCoordinator{}
	cfg := groupConfig(s)
	c.coordinatorRuntime = newCoordinatorRuntime(s, "group coordinator", metadata.ConsumerOffsetsTopic, group.PartitionFor,
		time.Duration(s.cfg.Int("offsets.commit.timeout.ms"))*time.Millisecond,
		machineOps[*group.Shard]{
			new:          func(int32) *group.Shard { return group.NewShard(cfg) },
			replay:       replayGroupRecord,
			replayMarker: func(sm *group.Shard, mk coordMarker) { sm.ReplayEndTxnMarker(mk.ProducerID, mk.Commit) },
			loadComplete: (*group.Shard).LoadComplete,
			nextDeadline: (*group.Shard).NextDeadline,
			tick:         func(sm *group.Shard, now time.Time) coordEffects { return groupEffects(sm.Tick(now)) },
			abort:        func(sm *group.Shard) coordEffects { return groupEffects(sm.Abort()) },
			sync:         syncGroupTopics,
		})
	c.start()
	return c
}

// stop unloads every shard.
func (c *groupCoordinator) stop() {
	if c == nil {
		return
	}
	c.coordinatorRuntime.stop()
}

// replayGroupRecord replays a record of __consumer_offsets with its batch:
// a transactional batch holds a producer's pending offset commits.
func replayGroupRecord(sm *group.Shard, r coordRecord) error {
	b := group.Batch{ProducerID: r.ProducerID, ProducerEpoch: r.ProducerEpoch, Transactional: r.Transactional}
	return sm.ReplayBatch(b, group.Record{Key: r.Key, Value: r.Value})
}

// groupEffects is a group state machine call's outcome for the runtime.
func groupEffects(e group.Effects) coordEffects {
	recs := make([]coordRecord, len(e.Records))
	for i, r := range e.Records {
		recs[i] = coordRecord{Key: r.Key, Value: r.Value}
	}
	ce := coordEffects{Records: recs, Complete: e.Complete}
	if e.Producer != nil {
		ce.Producer = &coordProducer{ID: e.Producer.ID, Epoch: e.Producer.Epoch}
	}
	return ce
}

// appendTxnMarker writes a WriteTxnMarkers marker to a __consumer_offsets
// partition through the runtime (appendMarker), so that it ends the
// producer's pending transactional offsets in the group coordinator in
// the log's order.
func (c *groupCoordinator) appendTxnMarker(m *kmsg.WriteTxnMarkersRequestMarker, partition int32, now time.Time) error {
	return c.appendMarker(partition, coordMarker{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch,
		Commit: m.Committed, CoordinatorEpoch: m.CoordinatorEpoch}, now)
}

// do runs one state machine call for a group and applies its effects. The
// error is the coordinator error to answer when the call could not run.
func (c *groupCoordinator) do(groupID string, fn func(now time.Time, sm *group.Shard) group.Effects) error {
	return c.coordinatorRuntime.do(groupID, func(now time.Time, sm *group.Shard) coordEffects { return groupEffects(fn(now, sm)) })
}

// groupConfig is the group coordinator's settings from the broker's config.
func groupConfig(s *Server) group.Config {
	cfg := s.cfg
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

// syncGroupTopics gives the state machine the topics of the current
// metadata image if they changed since it last got them: topic creation,
// deletion and new partitions update the target assignments of the
// consumer groups subscribed to them.
func syncGroupTopics(sh *coordinatorShard, img *metadata.Image, now time.Time) coordEffects {
	if img == sh.mu.image {
		return coordEffects{}
	}
	if old := sh.mu.image; old != nil && sameTopics(old, img) {
		sh.mu.image = img
		return coordEffects{}
	}
	sh.mu.image = img
	return groupEffects(sh.mu.sm.SetTopics(now, topicInfos(img)))
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

// ensureOffsetsTopic creates __consumer_offsets if it does not exist yet,
// as Kafka does on the first FindCoordinator for a group.
func (c *groupCoordinator) ensureOffsetsTopic(ctx context.Context) error {
	cfg := c.s.cfg
	return c.ensureTopic(ctx, int32(cfg.Int("offsets.topic.num.partitions")), int16(cfg.Int("offsets.topic.replication.factor")),
		map[string]string{
			"cleanup.policy":   "compact",
			"segment.bytes":    cfg.String("offsets.topic.segment.bytes"),
			"compression.type": "producer",
		})
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
