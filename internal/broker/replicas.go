package broker

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/kclient"
	"github.com/samsa-streaming/samsa/internal/metadata"
	"github.com/samsa-streaming/samsa/internal/replica"
	"github.com/samsa-streaming/samsa/internal/storage"
)

// The broker's side of the metadata: each new image comes with a delta
// (metadata.Delta); the raft goroutine only queues it (metadataQueue),
// and the broker's own goroutine merges what queued up, sorts it into the
// local changes (deletes, partitions this broker now leads, partitions it
// follows) and hands them to the replica manager.

// metadataQueue holds the image changes not yet applied, merged.
type metadataQueue struct {
	mu      sync.Mutex
	pending bool
	next    *metadata.Image
	delta   metadata.Delta
	wake    chan struct{}
}

func newMetadataQueue() *metadataQueue { return &metadataQueue{wake: make(chan struct{}, 1)} }

// push queues a change; it never blocks (it runs on raft's goroutine).
func (q *metadataQueue) push(next *metadata.Image, d *metadata.Delta) {
	q.mu.Lock()
	q.pending = true
	q.next = next
	q.delta.Merge(d)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take returns the latest image and the merged delta since the last take.
func (q *metadataQueue) take() (*metadata.Image, metadata.Delta, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.pending {
		return nil, metadata.Delta{}, false
	}
	next, d := q.next, q.delta
	q.pending, q.next, q.delta = false, nil, metadata.Delta{}
	return next, d, true
}

// applyLoop applies queued image changes until the broker stops. The
// first pass, when the broker starts serving, is a full one that also
// deletes stray logs of topics deleted while the broker was down.
func (s *Server) applyLoop() {
	first := true
	for {
		if s.ctx.Err() != nil {
			return
		}
		next, d, ok := s.metaQueue.take()
		if !ok {
			select {
			case <-s.ctx.Done():
				return
			case <-s.metaQueue.wake:
			}
			continue
		}
		if first {
			d.Full = true
		}
		s.applyImage(s.appliedImage, next, &d, first)
		s.appliedImage = next
		first = false
		s.appliedOffset.Store(next.Offset)
	}
}

// applyImage applies the local changes from prev to next.
func (s *Server) applyImage(prev, next *metadata.Image, d *metadata.Delta, deleteStray bool) {
	lc := d.LocalChanges(prev, next, s.nodeID)
	cfgs := map[[16]byte]*config.Topic{}
	change := func(lp metadata.LocalPartition) replica.Change {
		cfg := cfgs[lp.Topic.ID]
		if cfg == nil {
			cfg = s.topicConfig(next, lp.Topic)
			cfgs[lp.Topic.ID] = cfg
		}
		p := lp.Partition
		return replica.Change{
			TP:             storage.TopicPartition{Topic: lp.Topic.Name, Partition: p.Partition},
			TopicID:        lp.Topic.ID,
			Leader:         p.Leader,
			LeaderEpoch:    p.LeaderEpoch,
			PartitionEpoch: p.PartitionEpoch,
			Replicas:       p.Replicas,
			ISR:            p.ISR,
			Config:         cfg,
			LogConfig:      logConfig(cfg),
		}
	}
	var deletes []replica.Delete
	for _, lp := range lc.Deletes {
		deletes = append(deletes, replica.Delete{TP: storage.TopicPartition{Topic: lp.Topic.Name, Partition: lp.Partition.Partition}, TopicID: lp.Topic.ID})
	}
	var leaders, followers []replica.Change
	for _, lp := range lc.Leaders {
		leaders = append(leaders, change(lp))
	}
	for _, lp := range lc.Followers {
		followers = append(followers, change(lp))
	}
	s.replicas.Apply(deletes, leaders, followers)
	if deleteStray {
		s.deleteStrayLogs(next)
	}
}

// deleteStrayLogs deletes the logs on disk that the image does not place
// on this broker (topics deleted while it was down).
func (s *Server) deleteStrayLogs(img *metadata.Image) {
	for tp, l := range s.logs.All() {
		if t := img.Topics[tp.Topic]; t != nil && t.ID == l.TopicID() && int(tp.Partition) < len(t.Partitions) &&
			containsID(t.Partitions[tp.Partition].Replicas, s.nodeID) {
			continue
		}
		s.logger.Warn("deleting stray partition log not in the metadata", "topic", tp.Topic, "partition", tp.Partition, "dir", l.Dir())
		if err := s.logs.Delete(tp); err != nil {
			s.logger.Error("deleting stray log failed", "dir", l.Dir(), "err", err)
		}
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
// topic (such as __consumer_offsets) keeps its segments for the cleaner.
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

func containsID(ids []int32, id int32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// replicaCluster is what the replica manager asks of the broker.
type replicaCluster struct{ s *Server }

// BrokerAddr is the inter-broker endpoint of a broker in the image.
// dialBroker opens a connection to another broker's inter-broker endpoint
// (the one the followers' fetchers use), for the brokers' own requests:
// transaction markers, transaction verification.
func (s *Server) dialBroker(ctx context.Context, id int32) (*kclient.Conn, error) {
	addr, ok := (replicaCluster{s}).BrokerAddr(id)
	if !ok {
		return nil, fmt.Errorf("no endpoint known for broker %d", id)
	}
	c, err := s.dialer.Dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("dialing broker %d at %s: %w", id, addr, err)
	}
	return c, nil
}

func (c replicaCluster) BrokerAddr(id int32) (string, bool) {
	b := c.s.meta.Image().Brokers[id]
	if b == nil {
		return "", false
	}
	ep, ok := endpointFor(b, c.s.cfg.InterBrokerListenerName())
	if !ok {
		if len(b.Endpoints) == 0 {
			return "", false
		}
		ep = b.Endpoints[0]
	}
	return net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port))), true
}

func (c replicaCluster) BrokerEpoch() int64 { return c.s.brokerEpoch.Load() }

func (c replicaCluster) BrokerUsable(id int32) bool { return c.s.meta.Image().BrokerUsable(id) }

// ThrottleRates are this broker's replication throttles: the dynamic
// per-broker value, else the cluster default, else the static one.
func (c replicaCluster) ThrottleRates() (leader, follower int64) {
	return c.s.dynamicBrokerLong("leader.replication.throttled.rate"), c.s.dynamicBrokerLong("follower.replication.throttled.rate")
}

// dynamicBrokerLong is a broker config's effective integer value on this
// broker.
func (s *Server) dynamicBrokerLong(name string) int64 {
	dyn := dynamicConfigs(s.meta.Image(), s.nodeID)
	for _, set := range []map[string]string{dyn.Broker, dyn.Cluster} {
		if v, ok := set[name]; ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n
			}
		}
	}
	return s.cfg.Int(name)
}

// AlterPartition sends ISR changes to the controller.
func (c replicaCluster) AlterPartition(ctx context.Context, reqs []metadata.AlterPartitionRequest) ([]metadata.AlterPartitionResult, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	req := kmsg.NewPtrAlterPartitionRequest()
	req.SetVersion(2)
	req.BrokerID, req.BrokerEpoch = reqs[0].BrokerID, reqs[0].BrokerEpoch
	byTopic := map[[16]byte]int{}
	for _, rq := range reqs {
		i, ok := byTopic[rq.TopicID]
		if !ok {
			t := kmsg.NewAlterPartitionRequestTopic()
			t.TopicID = rq.TopicID
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[rq.TopicID] = i
		}
		p := kmsg.NewAlterPartitionRequestTopicPartition()
		p.Partition, p.LeaderEpoch, p.PartitionEpoch, p.NewISR = rq.Partition, rq.LeaderEpoch, rq.PartitionEpoch, rq.ISR
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
	}
	kresp, err := c.s.alterChannel.request(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := kresp.(*kmsg.AlterPartitionResponse)
	if resp.ErrorCode != 0 {
		return nil, kerr.ErrorForCode(resp.ErrorCode)
	}
	type key struct {
		id   [16]byte
		part int32
	}
	got := map[key]metadata.AlterPartitionResult{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			r := metadata.AlterPartitionResult{Leader: p.LeaderID, LeaderEpoch: p.LeaderEpoch, ISR: p.ISR, PartitionEpoch: p.PartitionEpoch}
			if p.ErrorCode != 0 {
				r.Err = kerr.ErrorForCode(p.ErrorCode)
			}
			got[key{t.TopidID, p.Partition}] = r
		}
	}
	out := make([]metadata.AlterPartitionResult, len(reqs))
	for i, rq := range reqs {
		r, ok := got[key{rq.TopicID, rq.Partition}]
		if !ok {
			r.Err = kerr.UnknownServerError
		}
		out[i] = r
	}
	return out, nil
}
