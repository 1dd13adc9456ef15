package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// The broker's life on the controller (Kafka's BrokerLifecycleManager,
// KIP-631): it registers with a new incarnation id at each start, then
// heartbeats every broker.heartbeat.interval.ms with the offset of the
// metadata it has applied. The controller unfences it once that offset
// reaches its registration; Serve waits for that. On Close it asks for a
// controlled shutdown (its leaderships move to other ISR members) and
// waits, at most broker.session.timeout.ms, for the controller's go.

// registerBroker registers this broker and stores its epoch. A duplicate
// registration (the previous process of this node id still has a live
// session, e.g. it was killed a moment ago) is retried until ctx ends.
func (s *Server) registerBroker(ctx context.Context) error {
	eps, err := s.advertisedEndpoints()
	if err != nil {
		return err
	}
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.SetVersion(3)
	req.BrokerID = s.nodeID
	if !s.newNode {
		// A new node's id is a placeholder until it has joined.
		req.ClusterID = s.clusterID
	}
	req.IncarnationID = s.incarnation
	req.PreviousBrokerEpoch = -1
	for _, e := range eps {
		l := kmsg.NewBrokerRegistrationRequestListener()
		l.Name, l.Host, l.Port, l.SecurityProtocol = e.Name, e.Host, uint16(e.Port), e.SecurityProtocol
		req.Listeners = append(req.Listeners, l)
	}
	if rack, ok := s.cfg.Explicit("broker.rack"); ok && rack != "" {
		req.Rack = &rack
	}
	for _, f := range metadata.SupportedFeatures() {
		rf := kmsg.NewBrokerRegistrationRequestFeature()
		rf.Name, rf.MinSupportedVersion, rf.MaxSupportedVersion = f.Name, f.Min, f.Max
		req.Features = append(req.Features, rf)
	}
	logged := false
	var refused error // the controller's last refusal, if any
	for {
		resp, err := s.lifecycleChannel.request(ctx, req)
		if err != nil {
			if refused != nil && ctx.Err() != nil {
				return fmt.Errorf("registering: %w", refused)
			}
			return err
		}
		rr := resp.(*kmsg.BrokerRegistrationResponse)
		err = kerr.ErrorForCode(rr.ErrorCode)
		switch {
		case err == nil:
			s.brokerEpoch.Store(rr.BrokerEpoch)
			s.fenced.Store(true)
			s.logger.Info("registered with the controller", "broker.epoch", rr.BrokerEpoch, "incarnation", metadata.FormatUUID(s.incarnation))
			return nil
		case errors.Is(err, kerr.DuplicateBrokerRegistration):
			refused = err
			if !logged {
				s.logger.Warn("another process of this node.id still holds a session; retrying until it expires", "node.id", s.nodeID)
				logged = true
			}
		case errors.Is(err, kerr.InconsistentClusterID):
			return fmt.Errorf("the log dirs belong to cluster %s, the controller's is another: %w", s.clusterID, err)
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("registering: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// heartbeatLoop heartbeats until the broker stops. It re-registers when the
// controller no longer knows this registration (STALE_BROKER_EPOCH,
// BROKER_ID_NOT_REGISTERED).
func (s *Server) heartbeatLoop() {
	interval := time.Duration(s.cfg.Int("broker.heartbeat.interval.ms")) * time.Millisecond
	t := time.NewTicker(interval)
	defer t.Stop()
	failures := 0
	for {
		ctx, cancel := context.WithTimeout(s.ctx, max(2*interval, time.Second))
		resp, err := s.heartbeat(ctx, false)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		switch {
		case err == nil:
			if failures > 0 {
				s.logger.Info("heartbeats to the controller resumed", "after.failures", failures)
			}
			failures = 0
			s.setFenced(resp.IsFenced)
		case errors.Is(err, kerr.StaleBrokerEpoch), errors.Is(err, kerr.BrokerIDNotRegistered):
			s.logger.Warn("the controller lost this broker's registration; registering again", "err", err)
			if rerr := s.registerBroker(ctx); rerr != nil && s.ctx.Err() == nil {
				s.logger.Warn("registering again failed", "err", rerr)
			}
		default:
			failures++
			if s.ctx.Err() == nil && (failures == 1 || failures%20 == 0) {
				s.logger.Warn("heartbeat to the controller failed", "err", err, "failures", failures)
			}
		}
		cancel()
		select {
		case <-s.ctx.Done():
			return
		case <-s.shutdownStart:
			return
		case <-t.C:
		}
	}
}

func (s *Server) heartbeat(ctx context.Context, wantShutdown bool) (*kmsg.BrokerHeartbeatResponse, error) {
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.SetVersion(1)
	req.BrokerID = s.nodeID
	req.BrokerEpoch = s.brokerEpoch.Load()
	req.CurrentMetadataOffset = int64(s.appliedOffset.Load())
	req.WantShutdown = wantShutdown
	resp, err := s.lifecycleChannel.request(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.BrokerHeartbeatResponse), nil
}

// setFenced records the controller's word on this broker.
func (s *Server) setFenced(fenced bool) {
	was := s.fenced.Swap(fenced)
	first := false
	if !fenced {
		s.unfencedOnce.Do(func() { close(s.unfenced); first = true })
	}
	if was != fenced && (fenced || !first) {
		if fenced {
			s.logger.Warn("the controller fenced this broker")
		} else {
			s.logger.Info("the controller unfenced this broker")
		}
	}
}

// waitUnfenced waits until the controller unfenced this broker once.
func (s *Server) waitUnfenced(ctx context.Context) error {
	select {
	case <-s.unfenced:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting to be unfenced by the controller: %w", ctx.Err())
	}
}

// controlledShutdown asks the controller to move this broker's
// leaderships away and fence it, and waits for its go, at most the
// session timeout (past it the controller fences the broker anyway).
func (s *Server) controlledShutdown() {
	if s.brokerEpoch.Load() < 0 || s.meta.ControllerID() < 0 {
		return
	}
	timeout := time.Duration(s.cfg.Int("broker.session.timeout.ms")) * time.Millisecond
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	start := time.Now()
	for ctx.Err() == nil {
		resp, err := s.heartbeat(ctx, true)
		if err == nil && resp.ErrorCode == 0 && resp.ShouldShutdown {
			s.logger.Info("controlled shutdown done: leaderships moved", "took", time.Since(start))
			s.drainAfterShutdown()
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	s.logger.Warn("controlled shutdown did not complete; shutting down anyway", "after", time.Since(start))
}

// Drain bounds after a controlled shutdown: see drainAfterShutdown.
const (
	drainMax   = time.Second
	drainQuiet = 200 * time.Millisecond
)

// drainAfterShutdown keeps the listeners open for a moment once the
// controller has moved this broker's leaderships: until the broker has
// applied the change (it leads nothing) and then until no produce or
// fetch has arrived for drainQuiet, at most drainMax in all. Clients in
// flight meanwhile get NOT_LEADER_OR_FOLLOWER with the new leader
// (KIP-951, leader_hints.go) and move at once; closing the connections
// right away left them to find the new leader by a metadata refresh,
// which a default kgo producer does at most every 5 s.
func (s *Server) drainAfterShutdown() {
	others := false
	for id, b := range s.meta.Image().Brokers {
		others = others || (id != s.nodeID && !b.Fenced)
	}
	if !others {
		return // no broker took anything over: nobody to send clients to
	}
	deadline := time.Now().Add(drainMax)
	leads := func() bool { // a leadership the controller could move
		for _, p := range s.replicas.All() {
			if st := p.State(); st.IsLeader && len(st.ISR) > 1 {
				return true
			}
		}
		return false
	}
	for time.Now().Before(deadline) {
		quiet := time.Since(time.Unix(0, s.lastDataRequest.Load())) >= drainQuiet
		if quiet && !leads() {
			return
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}
