package metadata

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Config configures a Node.
type Config struct {
	// NodeID is this node's id (node.id); it must be one of Voters.
	NodeID int32
	// Dir is the metadata directory, e.g.
	// <metadata.log.dir>/__cluster_metadata-0. It holds raft.db (the raft
	// log and stable store) and snapshots/.
	Dir string
	// Voters is controller.quorum.voters: node id -> host:port of its
	// CONTROLLER listener. Empty means a single voter, this node. This
	// node's own entry may use port 0 (the bound port is used). A node
	// whose id is not among them is an observer (a broker-only node): a
	// raft non-voter that the active controller adds when the broker
	// registers (see RaftAddr), which follows the metadata log without
	// voting.
	Voters map[int32]string
	// AdvertiseAddr is, on an observer, the address the controllers
	// reach its Listener at.
	AdvertiseAddr string
	// RaftAddr gives, on a controller, the raft address of a registering
	// broker that is not a voter (an endpoint of its registration); ""
	// leaves the broker out of raft (it cannot follow the log then).
	RaftAddr func(b BrokerRegistration) string
	// BindAddr is the address the CONTROLLER listener binds (host:port,
	// port 0 picks a free port). Ignored when Listener is set.
	BindAddr string
	// Listener, when set, is an already bound CONTROLLER listener; the
	// node owns it from then on and closes it on Close (or when Open
	// fails).
	Listener net.Listener
	// KafkaConn takes the connections of the CONTROLLER listener that are
	// not raft's (the Kafka protocol: brokers' registrations, heartbeats,
	// AlterPartition, forwarded admin requests). It must not block: it
	// owns the connection and serves it on its own goroutine. Nil: such
	// connections are closed.
	KafkaConn func(net.Conn)
	// Logger receives the node's and raft's logging (raft's info lines at
	// Debug). Nil: slog.Default().
	Logger *slog.Logger

	// ValidateTopicConfig validates one topic config (value nil: the
	// override is deleted). Nil accepts everything.
	ValidateTopicConfig func(name string, value *string) error
	// ValidateBrokerConfig validates one dynamic broker config. Nil
	// accepts everything.
	ValidateBrokerConfig func(name string, value *string) error
	// ListConfigDefault says whether a config is a list (for the APPEND
	// and SUBTRACT operations of IncrementalAlterConfigs) and gives its
	// default, the list appended to when no dynamic value is set. Nil
	// treats every config as a list with an empty default.
	ListConfigDefault func(resourceType int8, name string) (def string, isList bool)

	// ClusterID is used only when this node is the first controller of a
	// new cluster; empty: a random one is generated.
	ClusterID string
	// DefaultNumPartitions and DefaultReplicationFactor replace -1 in a
	// TopicSpec (num.partitions, default.replication.factor). Zero: 1.
	DefaultNumPartitions     int32
	DefaultReplicationFactor int16

	// SessionTimeout is broker.session.timeout.ms: a broker whose last
	// heartbeat is older is fenced by the active controller. Zero: 9 s.
	SessionTimeout time.Duration
	// UncleanLeaderElection tells whether a topic allows a replica outside
	// the ISR to lead (unclean.leader.election.enable, per topic with the
	// broker default). Nil: never.
	UncleanLeaderElection func(img *Image, t *Topic) bool
	// AutoLeaderRebalance (auto.leader.rebalance.enable) makes the active
	// controller run preferred elections every ImbalanceCheckInterval
	// (leader.imbalance.check.interval.seconds) for the brokers whose
	// share of partitions led elsewhere passes ImbalancePercent
	// (leader.imbalance.per.broker.percentage).
	AutoLeaderRebalance    bool
	ImbalanceCheckInterval time.Duration
	ImbalancePercent       int
	// Now is the controller's clock (broker sessions); nil: time.Now.
	Now func() time.Time

	// Raft timing. Zero values: 500ms heartbeat and election timeout and
	// 250ms leader lease; with a single voter 100/100/50ms, so a single
	// node is ready in well under a second.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// Snapshots: zero keeps raft's defaults (8192 entries, 120s check
	// interval, 10240 trailing entries kept after a snapshot).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
}

// snapshotsRetained is how many snapshots the FileSnapshotStore keeps.
const snapshotsRetained = 2

// Node is one member of the metadata quorum: a raft replica of the
// metadata log, the image it applies to, and the controller operations,
// which run on the raft leader.
type Node struct {
	cfg Config
	ctl *controls
	// nonVoter: a raft non-voter, an observer of the log (broker-only
	// node).
	nonVoter  bool
	advertise string
	log       *slog.Logger
	st        state
	raft      *raft.Raft
	logs      raft.LogStore
	store     *raftboltdb.BoltStore
	trans     *raft.NetworkTransport

	obsCh    chan raft.Observation
	observer *raft.Observer

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// sessions are the brokers' heartbeats, on the active controller.
	sessions brokerSessions

	// ctrlSem serialises controller operations, so each validates against
	// the image its predecessor left.
	ctrlSem   chan struct{}
	readyTerm uint64 // raft term whose barrier is done; guarded by ctrlSem

	closeOnce sync.Once
	closeErr  error
}

// Open opens (or creates) the raft store in cfg.Dir and starts raft. A
// node whose store is empty and whose id is the lowest voter id bootstraps
// the cluster with all voters; the others wait to be contacted by it.
// Open does not wait for a leader: call WaitReady.
func Open(cfg Config) (n *Node, err error) {
	var closers []func() error // undone in reverse when Open fails
	if cfg.Listener != nil {
		closers = append(closers, cfg.Listener.Close)
	}
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				_ = closers[i]()
			}
		}
	}()
	if cfg.NodeID < 0 {
		return nil, fmt.Errorf("metadata: node id %d is negative", cfg.NodeID)
	}
	if cfg.Dir == "" {
		return nil, errors.New("metadata: no directory")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	_, isVoter := cfg.Voters[cfg.NodeID]
	observer := len(cfg.Voters) > 0 && !isVoter
	if observer && (cfg.Listener == nil || cfg.AdvertiseAddr == "") {
		return nil, fmt.Errorf("metadata: node %d is not among the voters %v and has no listener for raft", cfg.NodeID, cfg.Voters)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}

	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.BindAddr); err != nil {
			return nil, fmt.Errorf("metadata: controller listener: %w", err)
		}
		closers = append(closers, ln.Close)
	}
	advertise := ln.Addr().String()
	if a, ok := cfg.Voters[cfg.NodeID]; ok {
		if _, port, perr := net.SplitHostPort(a); perr == nil && port != "0" {
			advertise = a
		}
	}
	if observer {
		advertise = cfg.AdvertiseAddr
	}
	voters := map[int32]string{}
	if !observer {
		voters[cfg.NodeID] = advertise
	}
	for id, a := range cfg.Voters {
		if id != cfg.NodeID {
			voters[id] = a
		}
	}
	cfg.Voters = voters
	setDefaults(&cfg)

	hlog := newHCLogAdapter(cfg.Logger.With("node", cfg.NodeID))
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(cfg.Dir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: time.Second},
	})
	if err != nil {
		return nil, fmt.Errorf("metadata: open raft store: %w", err)
	}
	closers = append(closers, store.Close)
	logs, err := raft.NewLogCache(512, store)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, snapshotsRetained, hlog.Named("snapshots"))
	if err != nil {
		return nil, fmt.Errorf("metadata: open snapshot store: %w", err)
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  newStreamLayer(ln, advertise, cfg.KafkaConn),
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hlog.Named("transport"),
	})
	closers = append(closers, trans.Close)

	rc := raft.DefaultConfig()
	rc.LocalID = serverID(cfg.NodeID)
	rc.Logger = hlog
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.SnapshotInterval
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}

	n = &Node{
		cfg:       cfg,
		nonVoter:  observer,
		advertise: advertise,
		log:       cfg.Logger.With("node", cfg.NodeID),
		logs:      logs,
		store:     store,
		trans:     trans,
		ctrlSem:   make(chan struct{}, 1),
		ctl:       &controls{},
		obsCh:     make(chan raft.Observation, 64),
	}
	n.ctl.cfg = &n.cfg
	n.st.image.Store(emptyImage())
	n.ctx, n.cancel = context.WithCancel(context.Background())

	hasState, err := raft.HasExistingState(logs, store, snaps)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	r, err := raft.NewRaft(rc, &fsm{st: &n.st, log: n.log}, logs, store, snaps, trans)
	if err != nil {
		return nil, fmt.Errorf("metadata: start raft: %w", err)
	}
	n.raft = r
	closers = append(closers, func() error { return r.Shutdown().Error() })

	if ids := slices.Sorted(maps.Keys(voters)); !hasState && !observer && cfg.NodeID == ids[0] {
		var c raft.Configuration
		for _, id := range ids {
			c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Voter, ID: serverID(id), Address: raft.ServerAddress(voters[id])})
		}
		if err := r.BootstrapCluster(c).Error(); err != nil {
			return nil, fmt.Errorf("metadata: bootstrap cluster: %w", err)
		}
		n.log.Info("bootstrapped metadata quorum", "voters", voters)
	}

	n.observer = raft.NewObserver(n.obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(n.observer)
	n.wg.Add(2)
	go n.monitor()
	go n.controllerLoop()
	return n, nil
}

func setDefaults(cfg *Config) {
	hb, el, lease := 500*time.Millisecond, 500*time.Millisecond, 250*time.Millisecond
	if len(cfg.Voters) == 1 {
		hb, el, lease = 100*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = hb
	}
	if cfg.ElectionTimeout <= 0 {
		cfg.ElectionTimeout = max(el, cfg.HeartbeatTimeout)
	}
	if cfg.LeaderLeaseTimeout <= 0 {
		cfg.LeaderLeaseTimeout = min(lease, cfg.HeartbeatTimeout)
	}
	if cfg.DefaultNumPartitions <= 0 {
		cfg.DefaultNumPartitions = 1
	}
	if cfg.DefaultReplicationFactor <= 0 {
		cfg.DefaultReplicationFactor = 1
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 9 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
}

func (n *Node) now() time.Time { return n.cfg.Now() }

// Image returns the current image. It never blocks; the image must not be
// modified.
func (n *Node) Image() *Image { return n.st.image.Load() }

// Subscribe registers fn to be called with the previous and the new image
// and the delta between them after every change of the image: each
// applied log entry, a snapshot restore, and a change of controller
// (ControllerID). fn is first called once, synchronously, with a nil prev,
// the current image and a Full delta, so the subscriber sees the whole
// state as a change and misses nothing. Calls are serialised and in order;
// they run on raft's apply goroutine (or the goroutine noticing a new
// controller) and hold up applying, so fn must only hand the change on
// (the broker queues it for its own goroutine): no I/O, no controller
// operations, no WaitReady.
func (n *Node) Subscribe(fn func(prev, next *Image, d *Delta)) { n.st.subscribe(fn) }

// IsController reports whether this node is the raft leader, the active
// controller.
func (n *Node) IsController() bool { return n.raft.State() == raft.Leader }

// ControllerID returns the node id of the raft leader, -1 when none is
// known.
func (n *Node) ControllerID() int32 {
	_, id := n.raft.LeaderWithID()
	return parseServerID(id)
}

// WaitReady waits until a leader is known and this node has applied the
// metadata log up to what the leader had committed: on the leader, a raft
// barrier (which also makes the leader write the cluster id of a new
// cluster); on a follower, the commit index it learns from the leader's
// first contact after the call. It also waits for the cluster id.
func (n *Node) WaitReady(ctx context.Context) error {
	start := time.Now()
	var target uint64
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, leader := n.raft.LeaderWithID(); leader != "" {
			if n.raft.State() == raft.Leader {
				release, err := n.acquire(ctx)
				if err != nil {
					return err
				}
				err = n.ensureLeaderReady(ctx)
				release()
				if err == nil && n.Image().ClusterID != "" {
					return nil
				}
			} else if n.raft.LastContact().After(start) {
				if target == 0 {
					target = n.raft.CommitIndex()
				}
				if n.caughtUp(target) && n.Image().ClusterID != "" {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("metadata: waiting for the metadata quorum: %w", ctx.Err())
		case <-n.ctx.Done():
			return fmt.Errorf("%w: node closed", ErrNotController)
		case <-tick.C:
		}
	}
}

// caughtUp reports whether every log entry with records up to index target
// has been applied to the image. raft hands entries to the FSM goroutine
// before it applies them and never hands it its no-op entries, so the
// entries between the image's offset and target are checked in the log.
func (n *Node) caughtUp(target uint64) bool {
	if n.raft.AppliedIndex() < target {
		return false
	}
	from := n.Image().Offset + 1
	if first, err := n.logs.FirstIndex(); err == nil && first > from {
		from = first // older entries are in the snapshot the image came from
	}
	var l raft.Log
	for i := from; i <= target; i++ {
		if err := n.logs.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				continue
			}
			return false
		}
		if l.Type == raft.LogCommand {
			return false
		}
	}
	return true
}

// Close shuts raft down, waits for the node's goroutines and closes the
// transport and the store. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		// An active controller hands leadership over before it goes, so
		// the quorum has a controller again in a round trip instead of an
		// election timeout.
		if n.IsController() && len(n.cfg.Voters) > 1 {
			done := make(chan struct{})
			go func() {
				_ = n.raft.LeadershipTransfer().Error()
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(2 * time.Second):
			}
		}
		n.cancel()
		errs := []error{n.raft.Shutdown().Error()}
		n.raft.DeregisterObserver(n.observer)
		n.wg.Wait()
		errs = append(errs, n.trans.Close(), n.store.Close())
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// monitor follows leader changes: it publishes the new ControllerID and, on
// the new leader, runs the leader's start-up (barrier, cluster id).
func (n *Node) monitor() {
	defer n.wg.Done()
	n.leaderChanged()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.obsCh:
			n.leaderChanged()
		}
	}
}

func (n *Node) leaderChanged() {
	id := n.ControllerID()
	changed := false
	n.st.publish(func(cur *Image) (*Image, *Delta) {
		if cur.ControllerID == id {
			return nil, nil
		}
		changed = true
		next := *cur
		next.ControllerID = id
		return &next, &Delta{Controller: true}
	})
	if changed {
		n.log.Info("metadata controller changed", "controller", id)
	}
	if id != n.cfg.NodeID || !n.IsController() {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	release, err := n.acquire(ctx)
	if err == nil {
		err = n.ensureLeaderReady(ctx)
		release()
	}
	if err != nil && n.ctx.Err() == nil {
		n.log.Warn("metadata controller start-up", "error", err)
	}
}

// controllerLoop runs the active controller's periodic work: fencing the
// brokers whose sessions expired (checked ten times per session timeout),
// every second electing leaders for offline partitions that can get one,
// and with auto leader rebalancing the preferred elections.
func (n *Node) controllerLoop() {
	defer n.wg.Done()
	every := max(n.cfg.SessionTimeout/10, 20*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	lastElect, lastBalance := time.Now(), time.Now()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if !n.IsController() {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
		n.fenceExpired(ctx)
		if time.Since(lastElect) >= time.Second {
			lastElect = time.Now()
			n.electOffline(ctx)
		}
		if n.cfg.AutoLeaderRebalance && n.cfg.ImbalanceCheckInterval > 0 && time.Since(lastBalance) >= n.cfg.ImbalanceCheckInterval {
			lastBalance = time.Now()
			n.rebalanceLeaders(ctx, n.cfg.ImbalancePercent)
		}
		cancel()
	}
}

// acquire takes the controller semaphore.
func (n *Node) acquire(ctx context.Context) (release func(), err error) {
	select {
	case n.ctrlSem <- struct{}{}:
		return func() { <-n.ctrlSem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.ctx.Done():
		return nil, fmt.Errorf("%w: node closed", ErrNotController)
	}
}

// ensureLeaderReady runs once per raft term on the leader, holding the
// controller semaphore: a barrier makes sure every entry of earlier terms
// is applied before the controller validates against the image, and a new
// cluster gets its ClusterID record and its feature levels (a cluster
// formed before feature versions gets the default levels once).
func (n *Node) ensureLeaderReady(ctx context.Context) error {
	term := n.raft.CurrentTerm()
	if n.readyTerm == term {
		return nil
	}
	if err := n.wait(ctx, n.raft.Barrier(applyTimeout(ctx))); err != nil {
		return err
	}
	n.sessions.reset(term, n.Image(), n.now())
	if n.Image().ClusterID == "" {
		id := n.cfg.ClusterID
		if id == "" {
			id = NewClusterID()
		}
		// A new cluster finalizes its features with its id.
		recs := append([]Record{&ClusterIDRecord{ClusterID: id}}, BootstrapFeatureRecords()...)
		if err := n.propose(ctx, [][]Record{recs})[0]; err != nil {
			return err
		}
		n.log.Info("new cluster", "cluster.id", n.Image().ClusterID)
	} else if !n.Image().FeaturesFinalized() {
		// A cluster formed before feature versions: its defaults are
		// finalized once.
		if err := n.propose(ctx, [][]Record{BootstrapFeatureRecords()})[0]; err != nil {
			return err
		}
		n.log.Info("finalized the default feature levels")
	}
	n.readyTerm = term
	return nil
}

// NewClusterID returns a random cluster id in Kafka's form (a UUID in
// URL-safe base64, 22 characters).
func NewClusterID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func serverID(id int32) raft.ServerID { return raft.ServerID(strconv.FormatInt(int64(id), 10)) }

func parseServerID(id raft.ServerID) int32 {
	if id == "" {
		return -1
	}
	v, err := strconv.ParseInt(string(id), 10, 32)
	if err != nil {
		return -1
	}
	return int32(v)
}

// Addr is this node's raft address as the quorum knows it (its
// CONTROLLER listener on a voter).
func (n *Node) Addr() string { return n.advertise }

// IsObserver reports whether this node follows the metadata log without
// voting (a broker-only node).
func (n *Node) IsObserver() bool { return n.nonVoter }

// ControllerAddr is the raft address of the active controller (its
// CONTROLLER listener), "" when none is known.
func (n *Node) ControllerAddr() string {
	addr, _ := n.raft.LeaderWithID()
	return string(addr)
}

// addObserver makes a registered broker that is not a voter a raft
// non-voter, so that it receives the metadata log. It is a no-op for a
// voter and for an observer already there at that address.
func (n *Node) addObserver(ctx context.Context, id int32, addr string) error {
	if _, voter := n.cfg.Voters[id]; voter || addr == "" {
		return nil
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return raftError(err)
	}
	for _, srv := range f.Configuration().Servers {
		if srv.ID == serverID(id) && string(srv.Address) == addr {
			return nil
		}
	}
	if err := n.wait(ctx, n.raft.AddNonvoter(serverID(id), raft.ServerAddress(addr), 0, applyTimeout(ctx))); err != nil {
		return fmt.Errorf("adding broker %d to the metadata quorum as an observer: %w", id, err)
	}
	n.log.Info("broker follows the metadata log as an observer", "broker", id, "addr", addr)
	return nil
}
