package txn

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Config holds the coordinator settings and the broker's functions a
// shard calls.
type Config struct {
	// MaxTimeout bounds the transaction timeout a producer may ask for
	// (transaction.max.timeout.ms).
	MaxTimeout time.Duration
	// IDExpiration is how long a transactional id without a
	// transaction lives after its last update
	// (transactional.id.expiration.ms).
	IDExpiration time.Duration
	// AbortTimedOutInterval is how often timed-out transactions are
	// looked for
	// (transaction.abort.timed.out.transaction.cleanup.interval.ms).
	AbortTimedOutInterval time.Duration
	// RemoveExpiredInterval is how often expired ids are looked for
	// (transaction.remove.expired.transaction.cleanup.interval.ms).
	RemoveExpiredInterval time.Duration
	// TransactionVersion is the finalized transaction.version level: 0
	// writes version 0 values; 1 writes version 1 (flexible) values; 2
	// also lets EndTxn v5+ bump the epoch on every transaction
	// (KIP-890 part 2).
	TransactionVersion int16
	// ProducerIDs hands out a new producer id. It is called with the
	// shard's caller holding the shard, so it should not wait long: an
	// error (best kerr.CoordinatorLoadInProgress while no block of ids
	// is at hand, as Kafka's) is answered to the client, which retries.
	ProducerIDs func() (int64, error)
	// OffsetsPartition is the __consumer_offsets partition of a group
	// id (AddOffsetsToTxn).
	OffsetsPartition func(groupID string) int32
	// PartitionExists reports whether a partition exists in the
	// metadata (AddPartitionsToTxn refuses unknown ones, as Kafka's
	// handler does); nil accepts every partition.
	PartitionExists func(topic string, partition int32) bool
}

// DefaultConfig is Kafka's defaults. ProducerIDs and OffsetsPartition
// must still be set.
func DefaultConfig() Config {
	return Config{
		MaxTimeout:            15 * time.Minute,
		IDExpiration:          7 * 24 * time.Hour,
		AbortTimedOutInterval: 10 * time.Second,
		RemoveExpiredInterval: time.Hour,
	}
}

func (c *Config) fill() {
	d := DefaultConfig()
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = d.MaxTimeout
	}
	if c.IDExpiration <= 0 {
		c.IDExpiration = d.IDExpiration
	}
	if c.AbortTimedOutInterval <= 0 {
		c.AbortTimedOutInterval = d.AbortTimedOutInterval
	}
	if c.RemoveExpiredInterval <= 0 {
		c.RemoveExpiredInterval = d.RemoveExpiredInterval
	}
	if c.ProducerIDs == nil {
		c.ProducerIDs = func() (int64, error) { return -1, kerr.CoordinatorNotAvailable }
	}
}

// noPending marks a transaction with no write in flight.
const noPending State = -1

// txnMeta is the coordinator's state of one transactional id (Kafka's
// TransactionMetadata). Invariants: pending is noPending or a state
// CanTransition allows from state; markers is non-empty only while
// state is PrepareCommit or PrepareAbort and pending is the matching
// Complete state.
type txnMeta struct {
	id string
	// producerID and epoch are what the producer must use;
	// prevProducerID is the id before the last transition (after a
	// roll to a new id: the old one), nextProducerID the id a
	// transaction version 2 EndTxn rolls over to on completion.
	producerID, prevProducerID, nextProducerID int64
	epoch, lastEpoch                           int16
	timeoutMs                                  int32
	state                                      State
	partitions                                 map[TopicPartition]bool
	// startMs is when the transaction's first partition was added (-1
	// if none), updateMs the time of the last transition.
	startMs, updateMs int64
	clientTV          int16

	// pending is the state a write in flight moves to (Kafka's
	// pendingState): any other request meanwhile gets
	// CONCURRENT_TRANSACTIONS.
	pending State
	// failedFence: a fencing epoch bump was not written, so the next
	// fence reuses the bumped epoch (it was never handed out).
	failedFence bool
	// markers are the partitions whose marker is not written yet.
	markers map[TopicPartition]bool
	// completing: the Complete record is being written; completeDue:
	// it must be (re)written at the next Tick.
	completing, completeDue bool
}

func (m *txnMeta) sortedPartitions() []TopicPartition {
	tps := slices.Collect(maps.Keys(m.partitions))
	slices.SortFunc(tps, compareTP)
	return tps
}

func (m *txnMeta) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s pid=%d epoch=%d", m.id, m.state, m.producerID, m.epoch)
	if m.lastEpoch >= 0 {
		fmt.Fprintf(&b, " last-epoch=%d", m.lastEpoch)
	}
	if m.prevProducerID >= 0 && m.prevProducerID != m.producerID {
		fmt.Fprintf(&b, " prev-pid=%d", m.prevProducerID)
	}
	if m.nextProducerID >= 0 {
		fmt.Fprintf(&b, " next-pid=%d", m.nextProducerID)
	}
	fmt.Fprintf(&b, " timeout=%d partitions=%v start=%d update=%d", m.timeoutMs, m.sortedPartitions(), m.startMs, m.updateMs)
	if m.clientTV > 0 {
		fmt.Fprintf(&b, " tv=%d", m.clientTV)
	}
	if m.pending != noPending {
		fmt.Fprintf(&b, " pending=%s", m.pending)
	}
	if len(m.markers) > 0 {
		tps := slices.Collect(maps.Keys(m.markers))
		slices.SortFunc(tps, compareTP)
		fmt.Fprintf(&b, " markers=%v", tps)
	}
	if m.failedFence {
		b.WriteString(" failed-fence")
	}
	return b.String()
}

// transit is a state to write and, once written, to apply (Kafka's
// TxnTransitMetadata): the log value and the last epoch, which the log
// does not carry.
type transit struct {
	Value
	lastEpoch int16
}

// next is the transit to state to, starting from m's current values.
// The previous producer id is the current one, as Kafka writes it.
func (m *txnMeta) next(to State, nowMs int64) transit {
	return transit{
		Value: Value{
			ProducerID:         m.producerID,
			PreviousProducerID: m.producerID,
			NextProducerID:     -1,
			ProducerEpoch:      m.epoch,
			TimeoutMs:          m.timeoutMs,
			State:              to,
			Partitions:         m.sortedPartitions(),
			LastUpdateMs:       nowMs,
			StartMs:            m.startMs,
		},
		lastEpoch: m.lastEpoch,
	}
}

// apply makes a written transit m's state and ends its pending write.
func (m *txnMeta) apply(t transit) {
	if t.State == Empty || t.ProducerID != m.producerID {
		m.prevProducerID = t.PreviousProducerID
	}
	m.producerID, m.nextProducerID = t.ProducerID, t.NextProducerID
	m.epoch, m.lastEpoch = t.ProducerEpoch, t.lastEpoch
	m.timeoutMs, m.state = t.TimeoutMs, t.State
	m.partitions = map[TopicPartition]bool{}
	for _, tp := range t.Partitions {
		m.partitions[tp] = true
	}
	m.startMs, m.updateMs, m.clientTV = t.StartMs, t.LastUpdateMs, t.ClientTransactionVersion
	m.pending = noPending
}

// epochExhausted is Kafka's rule: a producer never gets Short.MAX_VALUE
// - 1 or more, so the coordinator can always fence it with one bump.
func epochExhausted(epoch int16) bool { return epoch >= math.MaxInt16-1 }

// Marker is an outbound action: write the transaction's commit or abort
// marker to each of Partitions (WriteTxnMarkers to their leaders), then
// report each written one with MarkerWritten.
type Marker struct {
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	Commit          bool
	// CoordinatorEpoch is the leader epoch of the shard's
	// __transaction_state partition: a partition leader refuses markers
	// from an older coordinator (TRANSACTION_COORDINATOR_FENCED).
	CoordinatorEpoch int32
	// TransactionVersion is the client's transaction version (the
	// marker's transaction_version from WriteTxnMarkers v2).
	TransactionVersion int8
	Partitions         []TopicPartition
}

// Effects are the outcome of a call: records to append to the shard's
// __transaction_state partition, and the replies waiting on that append.
type Effects struct {
	Records []Record
	replies []func(err error) []Marker
}

func (e *Effects) reply(fn func(err error) []Marker) { e.replies = append(e.replies, fn) }

func (e *Effects) merge(o Effects) {
	e.Records = append(e.Records, o.Records...)
	e.replies = append(e.replies, o.replies...)
}

// Complete runs the replies, in order, and returns the markers that are
// now to be sent (those of transactions whose PrepareCommit or
// PrepareAbort was just written). err is the outcome of appending
// Records with acks=all (nil when there were none): nil, a *kerr.Error,
// or another error (UNKNOWN_SERVER_ERROR). It must be called once. Other
// calls may come between a call and its Complete: a transaction with a
// write in flight answers CONCURRENT_TRANSACTIONS.
func (e *Effects) Complete(err error) []Marker {
	replies := e.replies
	e.replies = nil
	var out []Marker
	for _, fn := range replies {
		out = append(out, fn(err)...)
	}
	return out
}

// errCode is the Kafka error code of an append or producer id failure.
func errCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

// Shard is the coordinator state of the transactional ids of one
// __transaction_state partition. It is not safe for concurrent use.
type Shard struct {
	cfg Config
	// coordinatorEpoch is the partition's leader epoch this shard was
	// loaded at; markers carry it.
	coordinatorEpoch int32
	txns             map[string]*txnMeta
	// nextAbortCheck and nextExpiry are when timed-out transactions
	// and expired ids are next looked for.
	nextAbortCheck, nextExpiry time.Time
}

// NewShard returns an empty shard for a partition led at
// coordinatorEpoch; replay the partition into it, then call
// LoadComplete.
func NewShard(cfg Config, coordinatorEpoch int32) *Shard {
	cfg.fill()
	return &Shard{cfg: cfg, coordinatorEpoch: coordinatorEpoch, txns: map[string]*txnMeta{}}
}

// SetConfig replaces the settings (dynamic configs, a new finalized
// transaction.version); it applies to later calls.
func (s *Shard) SetConfig(cfg Config) {
	cfg.fill()
	s.cfg = cfg
}

// valueVersion is the TransactionLogValue version the finalized
// transaction.version allows.
func (s *Shard) valueVersion() int16 {
	if s.cfg.TransactionVersion >= 1 {
		return 1
	}
	return 0
}

func (s *Shard) record(id string, t transit) Record {
	return Record{Key: EncodeKey(id), Value: EncodeValue(t.Value, s.valueVersion())}
}

// begin starts the write of t: m is pending until the write's outcome.
func (s *Shard) begin(m *txnMeta, t transit, e *Effects) error {
	if m.pending != noPending {
		return fmt.Errorf("txn %s: transition to %s while %s is pending", m.id, t.State, m.pending)
	}
	if !CanTransition(m.state, t.State) {
		return fmt.Errorf("txn %s: no transition from %s to %s", m.id, m.state, t.State)
	}
	m.pending = t.State
	e.Records = append(e.Records, s.record(m.id, t))
	return nil
}

// current is whether m is still the shard's metadata of its id.
func (s *Shard) current(m *txnMeta) bool { return s.txns[m.id] == m }

// Replay applies one record read back from the shard's partition, in log
// order: the last value of an id wins, a tombstone deletes it. Keys of
// unknown versions are skipped, as Kafka does. Call LoadComplete once the
// whole partition is replayed.
func (s *Shard) Replay(r Record) error {
	id, err := DecodeKey(r.Key)
	if errors.Is(err, errUnknownKey) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.Value == nil {
		delete(s.txns, id)
		return nil
	}
	v, err := DecodeValue(r.Value)
	if err != nil {
		return err
	}
	if v.State == Dead || v.State == PrepareEpochFence {
		// Neither is ever written: both are pending states only.
		return fmt.Errorf("%w: %s value for %q", ErrBadRecord, v.State, id)
	}
	m := &txnMeta{id: id, lastEpoch: -1, pending: noPending}
	m.apply(transit{Value: v, lastEpoch: -1})
	m.prevProducerID = v.PreviousProducerID
	s.txns[id] = m
	return nil
}

// LoadComplete ends a replay and starts the timers. Transactions left in
// PrepareCommit or PrepareAbort resume: their markers are returned, to
// be sent again (a partition that has the marker already takes it again
// harmlessly), as Kafka's coordinator does after a failover.
func (s *Shard) LoadComplete(now time.Time) []Marker {
	s.nextAbortCheck = now.Add(s.cfg.AbortTimedOutInterval)
	s.nextExpiry = now.Add(s.cfg.RemoveExpiredInterval)
	var out []Marker
	for _, id := range s.sortedIDs() {
		m := s.txns[id]
		if mk, ok := s.startMarkers(m); ok {
			out = append(out, mk)
		}
	}
	return out
}

// startMarkers puts a just-prepared transaction in its marker phase:
// pending is the Complete state until every marker is written.
func (s *Shard) startMarkers(m *txnMeta) (Marker, bool) {
	if !m.state.preparing() {
		return Marker{}, false
	}
	m.pending = CompleteCommit
	if m.state == PrepareAbort {
		m.pending = CompleteAbort
	}
	m.markers = maps.Clone(m.partitions)
	if len(m.markers) == 0 {
		m.completeDue = true
		return Marker{}, false
	}
	return s.marker(m), true
}

func (s *Shard) marker(m *txnMeta) Marker {
	tps := slices.Collect(maps.Keys(m.markers))
	slices.SortFunc(tps, compareTP)
	return Marker{
		TransactionalID:    m.id,
		ProducerID:         m.producerID,
		ProducerEpoch:      m.epoch,
		Commit:             m.state == PrepareCommit,
		CoordinatorEpoch:   s.coordinatorEpoch,
		TransactionVersion: int8(m.clientTV),
		Partitions:         tps,
	}
}

// Outstanding is every marker not yet reported written, for a marker
// sender that starts over.
func (s *Shard) Outstanding() []Marker {
	var out []Marker
	for _, id := range s.sortedIDs() {
		if m := s.txns[id]; len(m.markers) > 0 {
			out = append(out, s.marker(m))
		}
	}
	return out
}

// MarkerWritten records that a transaction's marker is written to a
// partition (or that the partition no longer exists). Once every marker
// is written, the CompleteCommit or CompleteAbort record is returned to
// append. A report for another producer id or epoch than the
// transaction's is stale and ignored.
func (s *Shard) MarkerWritten(now time.Time, transactionalID string, producerID int64, epoch int16, tp TopicPartition) Effects {
	m := s.txns[transactionalID]
	if m == nil || !m.state.preparing() || m.producerID != producerID || m.epoch != epoch || !m.markers[tp] {
		return Effects{}
	}
	delete(m.markers, tp)
	if len(m.markers) > 0 {
		return Effects{}
	}
	return s.writeComplete(now, m)
}

// writeComplete writes the Complete record of a transaction whose
// markers are all written. A failed write is retried at the next Tick
// (Kafka retries while it is the coordinator).
func (s *Shard) writeComplete(now time.Time, m *txnMeta) Effects {
	var e Effects
	to := CompleteCommit
	if m.state == PrepareAbort {
		to = CompleteAbort
	}
	t := m.next(to, now.UnixMilli())
	t.Partitions = nil
	t.lastEpoch = m.epoch
	t.ClientTransactionVersion = m.clientTV
	if m.clientTV >= 2 && m.nextProducerID >= 0 {
		// The epoch overflowed at EndTxn: the new id starts now.
		t.ProducerID, t.ProducerEpoch = m.nextProducerID, 0
	}
	m.completing, m.completeDue = true, false
	e.Records = append(e.Records, s.record(m.id, t))
	e.reply(func(err error) []Marker {
		m.completing = false
		if !s.current(m) {
			return nil
		}
		if err != nil {
			m.completeDue = true
			return nil
		}
		m.apply(t)
		m.markers, m.failedFence = nil, false
		return nil
	})
	return e
}

// NextDeadline is the earliest time Tick has something to do; zero when
// nothing is scheduled (before LoadComplete).
func (s *Shard) NextDeadline() time.Time {
	next := s.nextAbortCheck
	if !s.nextExpiry.IsZero() && (next.IsZero() || s.nextExpiry.Before(next)) {
		next = s.nextExpiry
	}
	for _, m := range s.txns {
		if m.completeDue {
			return time.UnixMilli(0) // at once
		}
	}
	return next
}

// Tick fires the timers due at now: the retry of Complete records whose
// write failed, the abort of transactions past their timeout (fencing
// their producer with an epoch bump, as Kafka does), and the expiry of
// ids idle past transactional.id.expiration.ms (a tombstone each).
func (s *Shard) Tick(now time.Time) Effects {
	var e Effects
	if s.nextAbortCheck.IsZero() {
		return e // not loaded
	}
	nowMs := now.UnixMilli()
	for _, id := range s.sortedIDs() {
		if m := s.txns[id]; m.completeDue && !m.completing {
			e.merge(s.writeComplete(now, m))
		}
	}
	if !now.Before(s.nextAbortCheck) {
		s.nextAbortCheck = now.Add(s.cfg.AbortTimedOutInterval)
		for _, id := range s.sortedIDs() {
			m := s.txns[id]
			if m.state == Ongoing && m.pending == noPending && m.startMs+int64(m.timeoutMs) < nowMs {
				e.merge(s.fenceAndAbort(now, m, func(int16, int64, int16) {}))
			}
		}
	}
	if !now.Before(s.nextExpiry) {
		s.nextExpiry = now.Add(s.cfg.RemoveExpiredInterval)
		for _, id := range s.sortedIDs() {
			m := s.txns[id]
			if !m.state.expirable() || m.pending != noPending || m.updateMs > nowMs-s.cfg.IDExpiration.Milliseconds() {
				continue
			}
			m.pending = Dead
			e.Records = append(e.Records, Record{Key: EncodeKey(id)})
			e.reply(func(err error) []Marker {
				if !s.current(m) {
					return nil
				}
				if err != nil {
					m.pending = noPending
				} else {
					delete(s.txns, m.id)
				}
				return nil
			})
		}
	}
	return e
}

func (s *Shard) sortedIDs() []string {
	ids := slices.Collect(maps.Keys(s.txns))
	slices.Sort(ids)
	return ids
}
