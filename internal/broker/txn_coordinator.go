package broker

import (
	"context"
	"time"

	"github.com/samsa-streaming/samsa/internal/group"
	"github.com/samsa-streaming/samsa/internal/metadata"
	"github.com/samsa-streaming/samsa/internal/txn"
)

// txnCoordinator is the transaction coordinator of every
// __transaction_state partition this broker leads: a txn.Shard per
// partition on the shared coordinator runtime (coordinator_runtime.go),
// and a marker sender (txn_markers.go) for the markers the shards return.
// Each written marker is reported back to its shard with MarkerWritten.
// The client handlers (22, 24-26, 65, 66) call it through txnAnswer, and
// the first FindCoordinator of key type 1 creates __transaction_state
// (ensureTxnTopic).
type txnCoordinator struct {
	*coordinatorRuntime[*txn.Shard]
	markers *txnMarkerSender
}

// txnAppendTimeout bounds the wait for the replicas of a
// __transaction_state append.
const txnAppendTimeout = 5 * time.Second

// startTxnCoordinator starts the coordinator's timer loop, which also
// loads the partitions this broker leads, and its marker sender.
func startTxnCoordinator(s *Server) *txnCoordinator {
	c := &txnCoordinator{}
	c.markers = newTxnMarkerSender(s, c.markerDone)
	c.coordinatorRuntime = newCoordinatorRuntime(s, "transaction coordinator", metadata.TransactionStateTopic, txn.PartitionFor,
		txnAppendTimeout,
		machineOps[*txn.Shard]{
			new: func(leaderEpoch int32) *txn.Shard { return txn.NewShard(txnConfig(s), leaderEpoch) },
			replay: func(sm *txn.Shard, r coordRecord) error {
				return sm.Replay(txn.Record{Key: r.Key, Value: r.Value})
			},
			loadComplete: func(sm *txn.Shard, now time.Time) { c.sendMarkers(sm.LoadComplete(now)) },
			nextDeadline: (*txn.Shard).NextDeadline,
			tick:         func(sm *txn.Shard, now time.Time) coordEffects { return c.effects(sm.Tick(now)) },
			// Nothing waits in a txn.Shard between calls: its replies run
			// with the append, under the shard's mutex. The reports of
			// markers still in flight find the shard closed (or another
			// coordinator epoch) and are dropped; the next load resends
			// those markers from its LoadComplete.
			abort: func(*txn.Shard) coordEffects { return coordEffects{} },
			sync:  syncTxnVersion(s),
		})
	c.start()
	return c
}

// stop unloads every shard; the marker sender stops with the server.
func (c *txnCoordinator) stop() {
	if c == nil {
		return
	}
	c.coordinatorRuntime.stop()
}

// txnConfig is the transaction coordinator's settings from the broker's
// config and metadata image.
func txnConfig(s *Server) txn.Config {
	cfg := s.cfg
	ms := func(name string) time.Duration { return time.Duration(cfg.Int(name)) * time.Millisecond }
	return txn.Config{
		MaxTimeout:            ms("transaction.max.timeout.ms"),
		IDExpiration:          ms("transactional.id.expiration.ms"),
		AbortTimedOutInterval: ms("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
		RemoveExpiredInterval: ms("transaction.remove.expired.transaction.cleanup.interval.ms"),
		TransactionVersion:    s.txnVersion(),
		ProducerIDs:           s.pids.tryNext,
		OffsetsPartition: func(groupID string) int32 {
			n := int32(cfg.Int("offsets.topic.num.partitions"))
			if t := s.meta.Image().Topics[metadata.ConsumerOffsetsTopic]; t != nil && len(t.Partitions) > 0 {
				n = int32(len(t.Partitions))
			}
			return group.PartitionFor(groupID, n)
		},
		PartitionExists: func(topic string, partition int32) bool {
			return s.meta.Image().Partition(topic, partition) != nil
		},
	}
}

// syncTxnVersion gives a shard a new config when the finalized
// transaction.version changes (only level 0 is supported yet).
func syncTxnVersion(s *Server) func(sh *runtimeShard[*txn.Shard], img *metadata.Image, now time.Time) coordEffects {
	return func(sh *runtimeShard[*txn.Shard], img *metadata.Image, _ time.Time) coordEffects {
		old := sh.mu.image
		sh.mu.image = img
		if old == img {
			return coordEffects{}
		}
		level := img.Features[metadata.FeatureTransactionVersion]
		// The first sync too: the image may have moved since the load.
		if old == nil || old.Features[metadata.FeatureTransactionVersion] != level {
			cfg := txnConfig(s)
			cfg.TransactionVersion = level
			sh.mu.sm.SetConfig(cfg)
		}
		return coordEffects{}
	}
}

// effects is a transaction state machine call's outcome for the runtime:
// the markers its replies return go to the marker sender.
func (c *txnCoordinator) effects(e txn.Effects) coordEffects {
	recs := make([]coordRecord, len(e.Records))
	for i, r := range e.Records {
		recs[i] = coordRecord{Key: r.Key, Value: r.Value}
	}
	return coordEffects{Records: recs, Complete: func(err error) { c.sendMarkers(e.Complete(err)) }}
}

func (c *txnCoordinator) sendMarkers(ms []txn.Marker) {
	for _, m := range ms {
		c.markers.send(m)
	}
}

// do runs one state machine call for a transactional id and applies its
// effects. The error is the coordinator error to answer when the call
// could not run.
func (c *txnCoordinator) do(transactionalID string, fn func(now time.Time, sm *txn.Shard) txn.Effects) error {
	return c.coordinatorRuntime.do(transactionalID, func(now time.Time, sm *txn.Shard) coordEffects { return c.effects(fn(now, sm)) })
}

// markerDone is the marker sender's outcome for one partition of a
// marker: a written one is reported to the shard that sent it, which
// appends the transaction's Complete record once all are written. A
// marker of an older load of the partition (another coordinator epoch) is
// dropped: the newer load resent its own. TRANSACTION_COORDINATOR_FENCED
// and INVALID_PRODUCER_EPOCH mean a newer coordinator or producer epoch
// took over; the shard is being unloaded or the transaction moved on.
func (c *txnCoordinator) markerDone(m txn.Marker, tp txn.TopicPartition, err error) {
	if err != nil {
		c.s.logger.Warn(c.name+": writing a transaction marker failed", "transactional_id", m.TransactionalID,
			"topic", tp.Topic, "partition", tp.Partition, "err", err)
		return
	}
	t := c.s.meta.Image().Topics[c.topic]
	if t == nil || len(t.Partitions) == 0 {
		return
	}
	pid := c.partitionFor(m.TransactionalID, int32(len(t.Partitions)))
	c.doShard(pid, func(now time.Time, sh *runtimeShard[*txn.Shard]) coordEffects {
		if sh.leaderEpoch != m.CoordinatorEpoch {
			return coordEffects{}
		}
		return c.effects(sh.mu.sm.MarkerWritten(now, m.TransactionalID, m.ProducerID, m.ProducerEpoch, tp))
	})
}

// ensureTxnTopic creates __transaction_state if it does not exist yet, as
// Kafka does on the first FindCoordinator for a transactional id.
func (c *txnCoordinator) ensureTxnTopic(ctx context.Context) error {
	cfg := c.s.cfg
	return c.ensureTopic(ctx, int32(cfg.Int("transaction.state.log.num.partitions")), int16(cfg.Int("transaction.state.log.replication.factor")),
		map[string]string{
			"cleanup.policy":      "compact",
			"segment.bytes":       cfg.String("transaction.state.log.segment.bytes"),
			"min.insync.replicas": cfg.String("transaction.state.log.min.isr"),
			"compression.type":    "producer",
		})
}
