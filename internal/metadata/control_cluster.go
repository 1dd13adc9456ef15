package metadata

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"
)

// Cluster control (Kafka's ClusterControlManager and
// BrokerHeartbeatManager, KIP-631): broker registration, heartbeats,
// fencing, unfencing and controlled shutdown.
//
// A broker registers at start-up and is fenced until it has caught up with
// the metadata log (its heartbeat reports an applied offset at or past its
// registration record); it is then unfenced, and becomes the leader of the
// offline partitions whose ISR it is in. It heartbeats every
// broker.heartbeat.interval.ms; the active controller remembers the last
// heartbeat of each broker in memory (sessions, not replicated: a new
// controller gives every broker a full session) and fences a broker whose
// session (broker.session.timeout.ms) expired: it leaves every ISR and
// leadership. A broker shutting down asks to in its heartbeat: the
// controller moves its leaderships, takes it out of the ISRs and fences
// it, then answers ShouldShutDown.

// BrokerRegistration is a broker's registration request.
type BrokerRegistration struct {
	ID            int32
	IncarnationID [16]byte
	ClusterID     string
	Endpoints     []Endpoint
	Rack          *string
	// Features are the feature levels the broker supports (nil: not
	// reported, taken as this build's).
	Features map[string]FeatureRange
}

// HeartbeatRequest is one broker heartbeat.
type HeartbeatRequest struct {
	ID    int32
	Epoch int64
	// MetadataOffset is the offset of the broker's applied image.
	MetadataOffset uint64
	WantFence      bool
	WantShutDown   bool
}

// HeartbeatResponse is the controller's answer to a heartbeat.
type HeartbeatResponse struct {
	IsCaughtUp     bool
	IsFenced       bool
	ShouldShutDown bool
}

// brokerSessions is the active controller's memory of each broker's last
// heartbeat. It belongs to one raft term: a new term starts it afresh.
type brokerSessions struct {
	mu   sync.Mutex
	term uint64
	last map[int32]brokerSession
}

type brokerSession struct {
	epoch       int64
	lastContact time.Time
	// metadataOffset is the applied metadata offset the broker last
	// reported (DescribeQuorum's view of how far each node is).
	metadataOffset uint64
}

// reset starts the sessions of a new term: every registered broker that
// is not fenced gets a full session from now.
func (s *brokerSessions) reset(term uint64, img *Image, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.term = term
	s.last = map[int32]brokerSession{}
	for id, b := range img.Brokers {
		if !b.Fenced {
			s.last[id] = brokerSession{epoch: b.Epoch, lastContact: now}
		}
	}
}

func (s *brokerSessions) touch(id int32, epoch int64, now time.Time, metadataOffset uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[int32]brokerSession{}
	}
	s.last[id] = brokerSession{epoch: epoch, lastContact: now, metadataOffset: metadataOffset}
}

// BrokerSession is what the active controller knows of a broker's
// heartbeats.
type BrokerSession struct {
	BrokerID       int32
	LastContact    time.Time
	MetadataOffset uint64
}

// Sessions returns the brokers' sessions as the active controller keeps
// them (empty on other nodes).
func (n *Node) Sessions() []BrokerSession {
	s := &n.sessions
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]BrokerSession, 0, len(s.last))
	for id, ss := range s.last {
		out = append(out, BrokerSession{BrokerID: id, LastContact: ss.lastContact, MetadataOffset: ss.metadataOffset})
	}
	return out
}

func (s *brokerSessions) remove(id int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.last, id)
}

// alive reports whether broker id has a session that has not expired.
func (s *brokerSessions) alive(id int32, now time.Time, timeout time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.last[id]
	return ok && now.Sub(ss.lastContact) <= timeout
}

// expired returns the brokers the image has unfenced whose session ended
// (or who never had one in this term, after a grace of one timeout from
// the term's start, which reset gives).
func (s *brokerSessions) expired(img *Image, now time.Time, timeout time.Duration) []int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int32
	for _, id := range img.BrokerIDs() {
		b := img.Brokers[id]
		if b.Fenced {
			continue
		}
		ss, ok := s.last[id]
		if !ok {
			s.last[id] = brokerSession{epoch: b.Epoch, lastContact: now}
			continue
		}
		if now.Sub(ss.lastContact) > timeout {
			out = append(out, id)
		}
	}
	return out
}

// RegisterBroker registers a broker (a new process of it: a new
// incarnation) and returns its broker epoch, the raft index of its
// registration record. The broker starts fenced. A previous registration
// of the id is replaced; if it was unfenced, the old incarnation is first
// taken out of every ISR and leadership.
func (n *Node) RegisterBroker(ctx context.Context, req BrokerRegistration) (int64, error) {
	var opErr error
	err := n.run(ctx, func(img *Image) result {
		// This node's own broker cannot have another live process: the
		// registration is its restart (its old session is only the grace
		// a new term gives every broker).
		live := req.ID != n.cfg.NodeID && n.sessions.alive(req.ID, n.now(), n.cfg.SessionTimeout)
		recs, err := n.ctl.registerBroker(img, req, live)
		if err != nil {
			opErr = err
			return result{}
		}
		return result{batches: [][]Record{recs}, done: func(errs []error) { opErr = errs[0] }}
	})
	if err = cmp.Or(err, opErr); err != nil {
		return -1, err
	}
	b := n.Image().Brokers[req.ID]
	if b == nil || b.IncarnationID != req.IncarnationID {
		return -1, fmt.Errorf("%w: broker %d was registered again meanwhile", ErrDuplicateBrokerRegistration, req.ID)
	}
	n.sessions.touch(req.ID, b.Epoch, n.now(), 0)
	if n.cfg.RaftAddr != nil {
		if err := n.addObserver(ctx, req.ID, n.cfg.RaftAddr(req)); err != nil {
			return -1, err
		}
	}
	return b.Epoch, nil
}

// registerBroker decides a registration. live: the id has a live session
// (a process holding it heartbeats).
func (c *controls) registerBroker(img *Image, req BrokerRegistration, live bool) ([]Record, error) {
	if req.ID < 0 {
		return nil, fmt.Errorf("%w: broker id %d is negative", ErrInvalidRequest, req.ID)
	}
	names := map[string]bool{}
	for _, e := range req.Endpoints {
		if e.Name == "" || names[e.Name] {
			return nil, fmt.Errorf("%w: broker %d: listener name %q empty or repeated", ErrInvalidRequest, req.ID, e.Name)
		}
		names[e.Name] = true
		if e.Port < 0 || e.Port > 65535 {
			return nil, fmt.Errorf("%w: broker %d: listener %s has port %d", ErrInvalidRequest, req.ID, e.Name, e.Port)
		}
	}
	if img.ClusterID != "" && req.ClusterID != "" && req.ClusterID != img.ClusterID {
		return nil, fmt.Errorf("%w: broker %d has cluster id %s, the cluster's is %s", ErrInconsistentClusterID, req.ID, req.ClusterID, img.ClusterID)
	}
	if err := unsupportedFinalized(img, req.Features); err != nil {
		return nil, fmt.Errorf("broker %d cannot join: %w", req.ID, err)
	}
	var recs []Record
	if old := img.Brokers[req.ID]; old != nil {
		if old.IncarnationID != req.IncarnationID && live {
			return nil, fmt.Errorf("%w: broker %d (incarnation %s) still heartbeats", ErrDuplicateBrokerRegistration, req.ID, FormatUUID(old.IncarnationID))
		}
		if !old.Fenced {
			recs = removeBrokerFromPartitions(img, req.ID, c.uncleanFor(img))
		}
	}
	recs = append(recs, &RegisterBrokerRecord{
		BrokerID:      req.ID,
		IncarnationID: req.IncarnationID,
		Endpoints:     req.Endpoints,
		Rack:          req.Rack,
		Fenced:        true,
		Features:      req.Features,
	})
	return recs, nil
}

// BrokerHeartbeat records a broker's heartbeat and acts on it: unfences a
// caught-up broker, runs a controlled shutdown.
func (n *Node) BrokerHeartbeat(ctx context.Context, req HeartbeatRequest) (HeartbeatResponse, error) {
	if !n.IsController() {
		return HeartbeatResponse{}, n.notController()
	}
	// The session is kept alive before the controller semaphore is
	// taken: a busy controller must not fence a broker that heartbeats.
	if b := n.Image().Brokers[req.ID]; b != nil && b.Epoch == req.Epoch {
		n.sessions.touch(req.ID, req.Epoch, n.now(), req.MetadataOffset)
	}
	var resp HeartbeatResponse
	var opErr error
	err := n.run(ctx, func(img *Image) result {
		var recs []Record
		recs, resp, opErr = n.ctl.heartbeat(img, req)
		if opErr != nil || len(recs) == 0 {
			return result{}
		}
		return result{batches: [][]Record{recs}, done: func(errs []error) { opErr = errs[0] }}
	})
	if err = cmp.Or(err, opErr); err != nil {
		return HeartbeatResponse{}, err
	}
	if b := n.Image().Brokers[req.ID]; b != nil {
		resp.IsFenced = b.Fenced
	}
	if resp.ShouldShutDown {
		n.sessions.remove(req.ID)
	}
	return resp, nil
}

// heartbeat decides what a heartbeat changes. The response's IsFenced is
// the state before the records; the caller reads it again afterwards.
func (c *controls) heartbeat(img *Image, req HeartbeatRequest) ([]Record, HeartbeatResponse, error) {
	var resp HeartbeatResponse
	b := img.Brokers[req.ID]
	if b == nil {
		return nil, resp, fmt.Errorf("%w: broker %d", ErrBrokerNotRegistered, req.ID)
	}
	if b.Epoch != req.Epoch {
		return nil, resp, fmt.Errorf("%w: broker %d has epoch %d, the heartbeat %d", ErrStaleBrokerEpoch, req.ID, b.Epoch, req.Epoch)
	}
	resp.IsCaughtUp = req.MetadataOffset >= uint64(b.Epoch)
	resp.IsFenced = b.Fenced
	t, f := true, false
	switch {
	case req.WantShutDown && b.Fenced:
		resp.ShouldShutDown = true
		return nil, resp, nil
	case req.WantShutDown, req.WantFence && !b.Fenced:
		// Out of every ISR and leadership, then fenced, in one batch:
		// once it is applied the broker leads nothing and may stop.
		recs := removeBrokerFromPartitions(img, req.ID, c.uncleanFor(img))
		recs = append(recs, &BrokerRegistrationChangeRecord{BrokerID: req.ID, BrokerEpoch: b.Epoch, Fenced: &t, InControlledShutdown: &f})
		resp.ShouldShutDown = req.WantShutDown
		return recs, resp, nil
	case b.Fenced && resp.IsCaughtUp && !req.WantFence:
		recs := []Record{&BrokerRegistrationChangeRecord{BrokerID: req.ID, BrokerEpoch: b.Epoch, Fenced: &f}}
		usable := func(id int32) bool { return id == req.ID || img.BrokerUsable(id) }
		recs = append(recs, electOfflinePartitions(img, usable, req.ID, c.uncleanFor(img))...)
		return recs, resp, nil
	}
	return nil, resp, nil
}

// fenceExpired fences the brokers whose sessions expired, one batch each.
func (n *Node) fenceExpired(ctx context.Context) {
	for {
		var fenced int32 = -1
		err := n.run(ctx, func(img *Image) result {
			ids := n.sessions.expired(img, n.now(), n.cfg.SessionTimeout)
			if len(ids) == 0 {
				return result{}
			}
			fenced = ids[0]
			return result{batches: [][]Record{n.ctl.fenceBroker(img, fenced)}, done: func(errs []error) {
				if errs[0] != nil {
					n.log.Warn("fencing broker failed", "broker", fenced, "error", errs[0])
				}
			}}
		})
		if err != nil || fenced < 0 {
			return
		}
		n.sessions.remove(fenced)
		n.log.Warn("fenced broker: its session expired", "broker", fenced, "session.timeout", n.cfg.SessionTimeout)
	}
}

// fenceBroker returns the records that fence a broker: it leaves every ISR
// and leadership, then is marked fenced.
func (c *controls) fenceBroker(img *Image, id int32) []Record {
	b := img.Brokers[id]
	recs := removeBrokerFromPartitions(img, id, c.uncleanFor(img))
	t, f := true, false
	return append(recs, &BrokerRegistrationChangeRecord{BrokerID: id, BrokerEpoch: b.Epoch, Fenced: &t, InControlledShutdown: &f})
}

// electOffline elects leaders for the partitions that have none and can
// get one: an ISR member came back, or unclean election was switched on.
func (n *Node) electOffline(ctx context.Context) {
	_ = n.run(ctx, func(img *Image) result {
		recs := electOfflinePartitions(img, img.BrokerUsable, -1, n.ctl.uncleanFor(img))
		if len(recs) == 0 {
			return result{}
		}
		n.log.Info("electing leaders of offline partitions", "partitions", len(recs))
		return result{batches: [][]Record{recs}}
	})
}

// UnregisterBroker removes a broker's registration (a decommissioned
// broker, Kafka's UnregisterBroker): it first leaves every ISR and
// leadership, as when fenced. Its partitions keep it among their replicas
// until reassigned. A broker that is still alive registers again at its
// next heartbeat.
func (n *Node) UnregisterBroker(ctx context.Context, id int32) error {
	var opErr error
	err := n.run(ctx, func(img *Image) result {
		b := img.Brokers[id]
		if b == nil {
			opErr = fmt.Errorf("%w: broker %d", ErrBrokerNotRegistered, id)
			return result{}
		}
		recs := removeBrokerFromPartitions(img, id, n.ctl.uncleanFor(img))
		recs = append(recs, &UnregisterBrokerRecord{BrokerID: id, BrokerEpoch: b.Epoch})
		return result{batches: [][]Record{recs}, done: func(errs []error) { opErr = errs[0] }}
	})
	if err = cmp.Or(err, opErr); err != nil {
		return err
	}
	n.sessions.remove(id)
	return nil
}
