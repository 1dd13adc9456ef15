package group

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Config holds the coordinator settings a shard needs.
type Config struct {
	// MinSessionTimeout and MaxSessionTimeout bound the session timeout
	// a member may ask for (group.min/max.session.timeout.ms).
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// InitialRebalanceDelay is how long the first rebalance of an empty
	// group waits for more members (group.initial.rebalance.delay.ms).
	InitialRebalanceDelay time.Duration
	// MaxSize bounds the members of a group (group.max.size); 0 means no
	// bound.
	MaxSize int
	// OffsetsRetention is how long the offsets of a group without
	// members are kept (offsets.retention.minutes).
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is how often expired offsets are
	// looked for (offsets.retention.check.interval.ms).
	OffsetsRetentionCheckInterval time.Duration
	// OffsetMetadataMaxBytes bounds a committed metadata string
	// (offset.metadata.max.bytes).
	OffsetMetadataMaxBytes int
	// ConsumerSessionTimeout and ConsumerHeartbeatInterval apply to
	// consumer-protocol members (group.consumer.session.timeout.ms,
	// group.consumer.heartbeat.interval.ms); ConsumerMaxSize bounds
	// their number per group (group.consumer.max.size, 0: no bound).
	ConsumerSessionTimeout    time.Duration
	ConsumerHeartbeatInterval time.Duration
	ConsumerMaxSize           int
	// NewMemberID makes a member id from a prefix (the client id, or the
	// group instance id of a static member). Nil means prefix-UUID as
	// Kafka does; tests inject a counter.
	NewMemberID func(prefix string) string
}

// DefaultConfig is Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		MinSessionTimeout:             6 * time.Second,
		MaxSessionTimeout:             30 * time.Minute,
		InitialRebalanceDelay:         3 * time.Second,
		OffsetsRetention:              7 * 24 * time.Hour,
		OffsetsRetentionCheckInterval: 10 * time.Minute,
		OffsetMetadataMaxBytes:        4096,
		ConsumerSessionTimeout:        45 * time.Second,
		ConsumerHeartbeatInterval:     5 * time.Second,
	}
}

func randomMemberID(prefix string) string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return prefix + "-" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Shard is the coordinator state of the groups of one __consumer_offsets
// partition.
type Shard struct {
	cfg    Config
	groups map[string]*group
	// nextExpiry is when offset retention is next checked.
	nextExpiry time.Time
	// topics are the topics consumer-protocol groups are assigned from
	// (SetTopics), by name and by id.
	topics     map[string]TopicInfo
	topicNames map[[16]byte]string
	// txnGroups are, by producer id, the groups holding pending
	// transactional offsets of that producer: a marker ends the
	// producer's transaction in all of them (txn_offsets.go).
	txnGroups map[int64]map[string]bool
	// seq numbers the offset records in the order the shard applies
	// them, which is their log order (offset.seq).
	seq uint64
}

// NewShard returns an empty shard.
func NewShard(cfg Config) *Shard {
	if cfg.NewMemberID == nil {
		cfg.NewMemberID = randomMemberID
	}
	fillConsumerDefaults(&cfg)
	if cfg.OffsetsRetentionCheckInterval <= 0 {
		cfg.OffsetsRetentionCheckInterval = 10 * time.Minute
	}
	return &Shard{cfg: cfg, groups: map[string]*group{}, txnGroups: map[int64]map[string]bool{}}
}

func fillConsumerDefaults(cfg *Config) {
	if cfg.ConsumerSessionTimeout <= 0 {
		cfg.ConsumerSessionTimeout = 45 * time.Second
	}
	if cfg.ConsumerHeartbeatInterval <= 0 {
		cfg.ConsumerHeartbeatInterval = 5 * time.Second
	}
}

// SetConfig replaces the settings (dynamic broker configs); it applies to
// later calls.
func (s *Shard) SetConfig(cfg Config) {
	if cfg.NewMemberID == nil {
		cfg.NewMemberID = s.cfg.NewMemberID
	}
	if cfg.OffsetsRetentionCheckInterval <= 0 {
		cfg.OffsetsRetentionCheckInterval = 10 * time.Minute
	}
	fillConsumerDefaults(&cfg)
	s.cfg = cfg
}

// LoadComplete ends a replay: every loaded member gets a full session from
// now before it must heartbeat, and simple groups left without offsets are
// dropped.
func (s *Shard) LoadComplete(now time.Time) {
	for id, g := range s.groups {
		if len(g.members) == 0 && !g.hasOffsets() && g.protocolType == "" && g.generation == 0 {
			delete(s.groups, id)
			continue
		}
		for _, m := range g.members {
			m.heartbeatDeadline = now.Add(m.sessionTimeout())
		}
		if g.cg != nil {
			for _, m := range g.cg.members {
				if m.assigned == nil {
					m.assigned = tps{}
				}
				if m.pending == nil {
					m.pending = tps{}
				}
				m.sessionDeadline = now.Add(s.cfg.ConsumerSessionTimeout)
				if m.state == memberUnrevoked {
					m.rebalanceDeadline = now.Add(m.rebalanceTimeout())
				}
			}
			g.state = Empty
			setGroupState(g, now)
		}
	}
	s.nextExpiry = now.Add(s.cfg.OffsetsRetentionCheckInterval)
}

// Effects are the outcome of a call: records to append to the shard's
// partition, and the replies waiting on that append.
type Effects struct {
	Records []Record
	// Producer, when set, makes Records one transactional batch of that
	// producer (TxnOffsetCommit), as Kafka writes them: the batch's
	// producer id is what ties the offsets to the producer's marker, on
	// replay too. Nil for the coordinator's own records.
	Producer *Producer
	replies  []func(err error)
}

// Producer is a transactional producer's id and epoch.
type Producer struct {
	ID    int64
	Epoch int16
}

func (e *Effects) reply(fn func(err error)) { e.replies = append(e.replies, fn) }

// merge appends o's records and replies to e.
func (e *Effects) merge(o Effects) {
	if e.Producer != nil || o.Producer != nil {
		// One batch has one producer: a transactional batch must not
		// take in the coordinator's records, nor they its.
		panic("group: merging the effects of a transactional batch")
	}
	e.Records = append(e.Records, o.Records...)
	e.replies = append(e.replies, o.replies...)
}

// Complete runs the replies, in order. err is the outcome of appending
// Records (nil when there were none): nil, a *kerr.Error, or another error
// (UNKNOWN_SERVER_ERROR). It must be called once, before any other call on
// the shard.
func (e *Effects) Complete(err error) {
	replies := e.replies
	e.replies = nil
	for _, fn := range replies {
		fn(err)
	}
}

// appendCode is the Kafka error code of an append failure.
func appendCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

// NextDeadline is the earliest time Tick has something to do; zero when
// nothing is scheduled.
func (s *Shard) NextDeadline() time.Time {
	next := s.nextExpiry
	earlier := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, g := range s.groups {
		for _, t := range g.deadlines() {
			earlier(t)
		}
	}
	return next
}

// Tick fires every timer due at now: session timeouts, rebalance and sync
// timeouts, the initial rebalance delay, and offset retention.
func (s *Shard) Tick(now time.Time) Effects {
	var e Effects
	for _, id := range s.sortedGroupIDs() {
		g := s.groups[id]
		s.tickGroup(now, g, &e)
	}
	if !s.nextExpiry.IsZero() && !now.Before(s.nextExpiry) {
		s.expireOffsets(now, &e)
		s.nextExpiry = now.Add(s.cfg.OffsetsRetentionCheckInterval)
	} else if s.nextExpiry.IsZero() {
		s.nextExpiry = now.Add(s.cfg.OffsetsRetentionCheckInterval)
	}
	return e
}

func (s *Shard) sortedGroupIDs() []string {
	ids := make([]string, 0, len(s.groups))
	for id := range s.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
