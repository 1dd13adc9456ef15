package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/metadata"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/replica"
	"github.com/samsa-streaming/samsa/internal/storage"
)

// coordinatorRuntime runs a coordinator over the partitions of its topic
// this broker leads (Kafka's CoordinatorRuntime): one state machine per
// partition, loaded by replaying the partition, fed by the handlers,
// ticked for its timers, and persisted by appending its records with
// acks=all. The group coordinator runs on it over __consumer_offsets
// (groups.go), the transaction coordinator over __transaction_state
// (txn_coordinator.go). What differs between them is the state machine,
// behind machineOps.
//
// Lock order: coordinatorRuntime.mu before runtimeShard.mu; a shard's
// mutex is held across a state machine call, the append of its records,
// the wait for the high watermark and the replies, so the records of a
// shard reach the log in the order the state machine produced them.
type coordinatorRuntime[M any] struct {
	s    *Server
	name string // in log lines: "group coordinator"
	// topic is the coordinator's internal topic; partitionFor maps a key
	// (group id, transactional id) to its partition.
	topic        string
	partitionFor func(key string, partitions int32) int32
	ops          machineOps[M]
	// commitTimeout bounds the wait for an append's replicas
	// (offsets.commit.timeout.ms for groups).
	commitTimeout time.Duration
	mu            struct {
		sync.Mutex
		shards map[int32]*runtimeShard[M]
	}
	// createMu serialises this broker's creations of the topic.
	createMu sync.Mutex
}

// machineOps is what the runtime needs of a coordinator's state machine.
type machineOps[M any] struct {
	// new makes the machine of a partition loaded at a leader epoch (the
	// coordinator epoch that transaction markers carry).
	new    func(leaderEpoch int32) M
	replay func(m M, r coordRecord) error
	// replayMarker, when set, takes the transaction markers of the
	// partition, replayed in log order among the records on load, and
	// those appendMarker writes (Kafka's replayEndTransactionMarker). The
	// group coordinator ends pending transactional offsets with them;
	// nil ignores markers (the transaction coordinator's topic has
	// none).
	replayMarker func(m M, mk coordMarker)
	loadComplete func(m M, now time.Time)
	nextDeadline func(m M) time.Time
	tick         func(m M, now time.Time) coordEffects
	// abort fails what waits in the machine when its shard unloads.
	abort func(m M) coordEffects
	// sync, when set, runs under the shard's mutex once the shard is
	// loaded and on every tick, with the current metadata image: the
	// group coordinator hands its machine the topics.
	sync func(sh *runtimeShard[M], img *metadata.Image, now time.Time) coordEffects
}

// coordRecord is one key/value record of a coordinator topic; a nil
// Value is a tombstone.
type coordRecord struct {
	Key, Value []byte
	// Replay fills in the record's offset and its batch's producer (as
	// Kafka's replay(offset, producerId, producerEpoch, record)): a
	// transactional batch is a producer's write (TxnOffsetCommit), which
	// its marker ends. ProducerID is -1 for the coordinator's own
	// batches. Records to append take their producer from coordEffects.
	Offset        int64
	ProducerID    int64
	ProducerEpoch int16
	Transactional bool
}

// coordMarker is a transaction's COMMIT or ABORT marker on a coordinator
// partition.
type coordMarker struct {
	Offset           int64
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
}

// coordEffects is a state machine call's outcome: records to append and
// the replies to run with the append's outcome.
type coordEffects struct {
	Records []coordRecord
	// Producer, when set, writes Records as one transactional batch of
	// that producer (TxnOffsetCommit). The log fences an older epoch of
	// the producer; the batch has no sequence number (-1), so that the
	// log checks none, as Kafka's skips the sequences of a coordinator's
	// appends (which carry 0).
	Producer *coordProducer
	Complete func(err error)
}

// coordProducer is a transactional producer's id and epoch, and the
// append's checks (the transaction verification of TxnOffsetCommit,
// storage.AppendOptions).
type coordProducer struct {
	ID    int64
	Epoch int16
	Opts  storage.AppendOptions
}

// runtimeShard is the coordinator state of one partition.
type runtimeShard[M any] struct {
	partition   int32
	p           *replica.Partition
	leaderEpoch int32
	loaded      atomic.Bool
	mu          struct {
		sync.Mutex
		sm     M
		closed bool
		// image is the metadata image the machine last got (sync).
		image *metadata.Image
	}
}

func newCoordinatorRuntime[M any](s *Server, name, topic string, partitionFor func(string, int32) int32, commitTimeout time.Duration, ops machineOps[M]) *coordinatorRuntime[M] {
	c := &coordinatorRuntime[M]{s: s, name: name, topic: topic, partitionFor: partitionFor, ops: ops, commitTimeout: commitTimeout}
	c.mu.shards = map[int32]*runtimeShard[M]{}
	return c
}

// ensureTopic creates the coordinator's topic if it does not exist yet
// (the first FindCoordinator of its key type does, as in Kafka), with
// these settings. Another broker may create it first: TOPIC_ALREADY_EXISTS
// is success, and only the creator logs it.
func (c *coordinatorRuntime[M]) ensureTopic(ctx context.Context, partitions int32, rf int16, configs map[string]string) error {
	if c.s.meta.Image().Topics[c.topic] != nil {
		return nil
	}
	c.createMu.Lock()
	defer c.createMu.Unlock()
	if c.s.meta.Image().Topics[c.topic] != nil {
		return nil
	}
	err := c.s.createTopic(ctx, c.topic, partitions, rf, configs)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		c.s.logger.Warn("creating "+c.topic+" failed", "err", err)
		return err
	}
	if err == nil {
		c.s.logger.Info("created "+c.topic, "partitions", partitions)
	}
	return nil
}

// start runs the timer loop, which also loads the partitions this broker
// leads.
func (c *coordinatorRuntime[M]) start() {
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		c.run()
	}()
}

// close unloads the shard: requests still waiting in it are answered
// NOT_COORDINATOR, later ones find it closed.
func (c *coordinatorRuntime[M]) closeShard(sh *runtimeShard[M]) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.mu.closed {
		return
	}
	sh.mu.closed = true
	if sh.loaded.Load() {
		if eff := c.ops.abort(sh.mu.sm); eff.Complete != nil {
			eff.Complete(nil)
		}
	}
}

// stop unloads every shard.
func (c *coordinatorRuntime[M]) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, sh := range c.mu.shards {
		c.closeShard(sh)
		delete(c.mu.shards, id)
	}
}

// tickInterval is the resolution of the coordinators' timers.
const tickInterval = 100 * time.Millisecond

func (c *coordinatorRuntime[M]) run() {
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
func (c *coordinatorRuntime[M]) syncLeadership() {
	t := c.s.meta.Image().Topics[c.topic]
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
		if st := sh.p.State(); !st.IsLeader || st.LeaderEpoch != sh.leaderEpoch || c.s.replicas.Get(c.topic, id) != sh.p {
			c.s.logger.Info(c.name+": unloading partition", "partition", id)
			c.closeShard(sh)
			delete(c.mu.shards, id)
		}
	}
}

func (c *coordinatorRuntime[M]) tick(now time.Time) {
	c.mu.Lock()
	shards := make([]*runtimeShard[M], 0, len(c.mu.shards))
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
			c.syncLocked(sh, now)
			if d := c.ops.nextDeadline(sh.mu.sm); !d.IsZero() && !now.Before(d) {
				c.applyLocked(sh, c.ops.tick(sh.mu.sm, now))
			}
		}
		sh.mu.Unlock()
	}
}

func (c *coordinatorRuntime[M]) syncLocked(sh *runtimeShard[M], now time.Time) {
	if c.ops.sync != nil {
		c.applyLocked(sh, c.ops.sync(sh, c.s.meta.Image(), now))
	}
}

// shard returns the coordinator shard of a partition this broker leads,
// starting its load if it is not loaded; nil if the partition is not hosted
// here as leader.
func (c *coordinatorRuntime[M]) shard(partitionID int32) *runtimeShard[M] {
	p := c.s.replicas.Get(c.topic, partitionID)
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
		c.closeShard(sh)
	}
	sh = &runtimeShard[M]{partition: partitionID, p: p, leaderEpoch: st.LeaderEpoch}
	c.mu.shards[partitionID] = sh
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		c.load(sh)
	}()
	return sh
}

// load replays the partition from its log start into a new state machine.
// Until it is done, the shard's keys answer COORDINATOR_LOAD_IN_PROGRESS.
func (c *coordinatorRuntime[M]) load(sh *runtimeShard[M]) {
	start := time.Now()
	sm := c.ops.new(sh.leaderEpoch)
	var marker func(coordMarker)
	if c.ops.replayMarker != nil {
		marker = func(mk coordMarker) { c.ops.replayMarker(sm, mk) }
	}
	n, bad, err := replayCoordinatorLog(sh.p.Log, func(r coordRecord) error { return c.ops.replay(sm, r) }, marker)
	if err != nil {
		c.s.logger.Error(c.name+": loading partition failed", "partition", sh.partition, "err", err)
		c.mu.Lock()
		if c.mu.shards[sh.partition] == sh {
			delete(c.mu.shards, sh.partition) // retried on the next tick
		}
		c.mu.Unlock()
		return
	}
	sh.mu.Lock()
	sh.mu.sm = sm
	c.ops.loadComplete(sm, c.s.now())
	sh.loaded.Store(true)
	if !sh.mu.closed {
		c.syncLocked(sh, c.s.now())
	}
	sh.mu.Unlock()
	c.s.metrics.observeCoordinatorLoad(c.name, time.Since(start))
	if bad > 0 {
		c.s.logger.Warn(c.name+": skipped undecodable records", "partition", sh.partition, "count", bad)
	}
	if n > 0 {
		c.s.logger.Info(c.name+": loaded partition", "partition", sh.partition, "records", n, "took", time.Since(start))
	}
}

// replayCoordinatorLog feeds every record of a coordinator log, from its
// start to its end, to replay, with its offset and its batch's producer,
// and the COMMIT and ABORT markers among them to marker (nil: skipped),
// in log order. It returns the number of records and of those (and of
// the markers) that could not be decoded.
func replayCoordinatorLog(l *storage.Log, replay func(coordRecord) error, marker func(coordMarker)) (n, bad int, err error) {
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
				if marker == nil {
					return nil
				}
				mk, err := records.ParseMarker(batch, h)
				switch {
				case errors.Is(err, records.ErrNotTxnMarker):
					// Another control type, or a marker the
					// cleaner emptied: it ends nothing, as in
					// Kafka.
				case err != nil:
					bad++
				default:
					marker(coordMarker{Offset: h.BaseOffset, ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch,
						Commit: mk.Commit, CoordinatorEpoch: mk.CoordinatorEpoch})
				}
				return nil
			}
			// A record or batch that does not decode is skipped: one
			// bad record must not make the whole partition unusable.
			err := records.Records(batch, 64<<20, func(r *records.Record) error {
				n++
				cr := coordRecord{Key: r.Key, Value: r.Value, Offset: h.BaseOffset + int64(r.OffsetDelta),
					ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, Transactional: h.IsTransactional()}
				if err := replay(cr); err != nil {
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

// forKey finds the loaded shard coordinating a key:
// COORDINATOR_NOT_AVAILABLE before the topic exists, NOT_COORDINATOR when
// another broker leads its partition, COORDINATOR_LOAD_IN_PROGRESS while
// the partition loads.
func (c *coordinatorRuntime[M]) forKey(key string) (*runtimeShard[M], error) {
	t := c.s.meta.Image().Topics[c.topic]
	if t == nil || len(t.Partitions) == 0 {
		return nil, kerr.CoordinatorNotAvailable
	}
	pid := c.partitionFor(key, int32(len(t.Partitions)))
	if t.Partitions[pid].Leader != c.s.nodeID {
		return nil, kerr.NotCoordinator
	}
	sh := c.shard(pid)
	if sh == nil || !sh.loaded.Load() {
		return nil, kerr.CoordinatorLoadInProgress
	}
	return sh, nil
}

// do runs one state machine call for a key and applies its effects. The
// error is the coordinator error to answer when the call could not run.
func (c *coordinatorRuntime[M]) do(key string, fn func(now time.Time, sm M) coordEffects) error {
	sh, err := c.forKey(key)
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

// doShard runs one state machine call on the loaded shard of a partition
// (not one of a key: the transaction marker sender's reports) and applies
// its effects, with the shard's mutex held. It reports whether the shard
// was loaded and open.
func (c *coordinatorRuntime[M]) doShard(partition int32, fn func(now time.Time, sh *runtimeShard[M]) coordEffects) bool {
	c.mu.Lock()
	sh := c.mu.shards[partition]
	c.mu.Unlock()
	if sh == nil {
		return false
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// Checked under the mutex: a load holds it until the shard is loaded.
	if sh.mu.closed || !sh.loaded.Load() {
		return false
	}
	c.applyLocked(sh, fn(c.s.now(), sh))
	return true
}

// appendMarker writes a transaction marker (WriteTxnMarkers) to one of
// the runtime's partitions this broker leads the way a state machine
// call's records are written: under the shard's mutex, with acks=all
// (min.insync.replicas checked first, the wait for the replicas bounded by
// the runtime's commitTimeout, like its own appends, since the shard waits
// with it), and handed to the machine (replayMarker) before the mutex is
// released. The marker is thus ordered with the shard's own appends as it
// is in the log: a TxnOffsetCommit appended before it is ended by it, one
// appended after it belongs to the producer's next transaction. The error
// is the partition's answer: NOT_LEADER_OR_FOLLOWER also while the shard
// loads (Kafka answers so for a coordinator that is not ready, and the
// transaction coordinator retries it), the log's fencing, the wait's
// outcome.
//
// The machine takes the marker once it is written under the shard's
// leader epoch, and the shard still leads at that epoch when the wait
// ends, even if the wait failed (it timed out, or the ISR shrank below
// min.insync.replicas): the marker is in this leader's log then, and the
// state must follow the log, which is what a reload would replay. The
// transaction coordinator retries the failed marker, and the one it
// writes again finds nothing pending.
func (c *coordinatorRuntime[M]) appendMarker(partition int32, mk coordMarker, now time.Time) error {
	p := c.s.replicas.Get(c.topic, partition)
	if p == nil {
		return c.s.absentPartitionError(c.topic, partition)
	}
	if err := p.CheckLeader(-1); err != nil {
		return err
	}
	sh := c.shard(partition)
	if sh == nil || !sh.loaded.Load() {
		return fmt.Errorf("%w: the %s is still loading the partition", errNotLeader, c.name)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// Checked under the mutex: a load holds it until the shard is loaded.
	if sh.mu.closed || !sh.loaded.Load() {
		return fmt.Errorf("%w: the %s unloaded the partition", errNotLeader, c.name)
	}
	if st := p.State(); !st.IsLeader || st.LeaderEpoch != sh.leaderEpoch {
		// The shard is stale; the next one loads with the new epoch.
		return fmt.Errorf("%w: the %s's partition moved to leader epoch %d", errNotLeader, c.name, st.LeaderEpoch)
	}
	off, epoch, err := p.AppendMarkerAcks(mk.ProducerID, mk.ProducerEpoch, mk.Commit, mk.CoordinatorEpoch, -1, now)
	if err != nil {
		return err
	}
	w := replica.CommitWait{P: p, Offset: off + 1, LeaderEpoch: epoch}
	if err := p.CommitError(w.Offset, w.LeaderEpoch); replica.IsPending(err) {
		c.s.waitCommitted([]replica.CommitWait{w}, c.commitTimeout)
	}
	err = c.s.commitOutcome(w)
	if st := p.State(); epoch == sh.leaderEpoch && st.IsLeader && st.LeaderEpoch == epoch && c.ops.replayMarker != nil {
		mk.Offset = off
		c.ops.replayMarker(sh.mu.sm, mk)
	}
	return err
}

// read runs a read-only call on a key's shard.
func (c *coordinatorRuntime[M]) read(key string, fn func(sm M)) error {
	sh, err := c.forKey(key)
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

// loadedShards are the loaded shards (ListGroups, metrics), and whether
// some are still loading.
func (c *coordinatorRuntime[M]) loadedShards() (loaded []*runtimeShard[M], loading bool) {
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
func (c *coordinatorRuntime[M]) applyLocked(sh *runtimeShard[M], eff coordEffects) {
	err := c.appendLocked(sh, eff.Records, eff.Producer)
	if eff.Complete != nil {
		eff.Complete(err)
	}
}

func (c *coordinatorRuntime[M]) appendLocked(sh *runtimeShard[M], recs []coordRecord, producer *coordProducer) error {
	if len(recs) == 0 {
		return nil
	}
	now := c.s.now()
	spec := records.BatchSpec{FirstTimestamp: now.UnixMilli()}
	if producer != nil {
		spec.Attributes = records.AttrTransactional
		spec.Idempotent, spec.ProducerID, spec.ProducerEpoch, spec.BaseSequence = true, producer.ID, producer.Epoch, records.NoSequence
	}
	for i, r := range recs {
		spec.Records = append(spec.Records, records.Record{OffsetDelta: int32(i), Key: r.Key, Value: r.Value})
	}
	set := records.BuildBatch(spec)
	var opts storage.AppendOptions
	if producer != nil {
		opts = producer.Opts
	}
	// Written only under the leader epoch the shard was loaded at, and
	// acknowledged once committed (acks=all), as Kafka's coordinators do.
	res, err := sh.p.AppendAsLeaderOpts(set, -1, sh.leaderEpoch, now, opts)
	if err != nil {
		c.s.logger.Warn(c.name+": append failed", "partition", sh.partition, "err", err)
		return coordinatorAppendError(err)
	}
	w := replica.CommitWait{P: sh.p, Offset: res.LastOffset + 1, LeaderEpoch: res.LeaderEpoch}
	if err := sh.p.CommitError(w.Offset, w.LeaderEpoch); !replica.IsPending(err) {
		return coordinatorAppendError(err)
	}
	c.s.waitCommitted([]replica.CommitWait{w}, c.commitTimeout)
	if err := c.s.commitOutcome(w); err != nil {
		return coordinatorAppendError(err)
	}
	return nil
}

// coordinatorAppendError turns the failure of a coordinator append into
// the code Kafka's coordinators answer with: the client should look for
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
	case kerr.InvalidProducerEpoch.Code, kerr.InvalidTxnState.Code:
		// A transactional batch's producer fenced by the log: the
		// producer's own error, as Kafka answers it.
		return kerr.ErrorForCode(errCode(err))
	default:
		return kerr.UnknownServerError
	}
}
