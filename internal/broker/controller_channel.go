package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/kclient"
	"github.com/samsa-streaming/samsa/internal/wire"
)

// controllerChannel sends requests to the active controller (Kafka's
// NodeToControllerChannelManager). On the active controller itself the
// request goes straight to its controller-listener handler; elsewhere over
// the CONTROLLER listener of the node raft elected (its address from
// controller.quorum.voters). A request that finds no controller, a broken
// connection, or an answer of NOT_CONTROLLER (leadership moved) is sent
// again, to the new controller, until its context ends. Each purpose
// (lifecycle, ISR changes, admin) has its own channel and connection, so
// a slow topic creation never holds up a heartbeat.
type controllerChannel struct {
	s       *Server
	purpose string

	mu     sync.Mutex // one request at a time
	conn   *kclient.Conn
	connTo int32
	rotate int
}

func newControllerChannel(s *Server, purpose string) *controllerChannel {
	return &controllerChannel{s: s, purpose: purpose, connTo: -1}
}

// errNoController: no controller is known yet (an election is running).
var errNoController = errors.New("no active controller is known")

// request sends req (its version set by the caller) and returns the
// controller's answer.
func (c *controllerChannel) request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	backoff := 20 * time.Millisecond
	var last error
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			if last != nil {
				return nil, fmt.Errorf("%w (last: %v)", ctx.Err(), last)
			}
			return nil, ctx.Err()
		}
		resp, err := c.try(ctx, req)
		if err == nil && !answersNotController(resp) {
			return resp, nil
		}
		if err == nil {
			err = kerr.NotController
		}
		last = err
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-c.s.ctx.Done():
			t.Stop()
			return nil, errShuttingDown
		case <-t.C:
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

func (c *controllerChannel) try(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if c.s.meta.IsController() {
		return c.s.localController(ctx, req)
	}
	id := c.s.meta.ControllerID()
	addr := c.s.meta.ControllerAddr()
	if id < 0 || addr == "" {
		// No controller known (a broker-only node before it observes
		// the quorum, or an election): ask the voters in turn; the
		// others answer NOT_CONTROLLER.
		id, addr = c.nextVoter()
		if id < 0 {
			return nil, errNoController
		}
	}
	if c.conn != nil && c.connTo != id {
		c.conn.Close()
		c.conn = nil
	}
	if c.conn == nil {
		conn, err := c.s.dialer.Dial(ctx, addr)
		if err != nil {
			return nil, fmt.Errorf("dialing controller %d at %s: %w", id, addr, err)
		}
		c.conn, c.connTo = conn, id
	}
	resp, err := c.conn.Request(ctx, req)
	if err != nil {
		c.conn.Close()
		c.conn = nil
		return nil, err
	}
	return resp, nil
}

// nextVoter rotates over controller.quorum.voters.
func (c *controllerChannel) nextVoter() (int32, string) {
	voters, err := c.s.cfg.Voters()
	if err != nil || len(voters) == 0 {
		return -1, ""
	}
	ids := make([]int32, 0, len(voters))
	for id := range voters {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	c.rotate++
	id := ids[c.rotate%len(ids)]
	return id, voters[id]
}

func (c *controllerChannel) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// localController runs a controller request on this node's own handler,
// as if it had come in on the CONTROLLER listener.
func (s *Server) localController(_ context.Context, req kmsg.Request) (kmsg.Response, error) {
	ah := controllerHandlers[req.Key()]
	if ah == nil {
		return nil, fmt.Errorf("no controller handler for %s", kmsg.NameForKey(req.Key()))
	}
	r := &request{
		hdr: wire.RequestHeader{Key: req.Key(), Version: req.GetVersion()},
		req: req,
		c:   &conn{s: s, apis: controllerHandlers, listener: "local", controller: true},
	}
	resp := ah.fn(s, r)
	if resp == nil {
		return nil, fmt.Errorf("controller handler for %s answered asynchronously", kmsg.NameForKey(req.Key()))
	}
	return resp, nil
}

// answersNotController tells whether a controller's answer says it is not
// the controller (any more), so the request must go to the new one.
func answersNotController(resp kmsg.Response) bool {
	nc := kerr.NotController.Code
	switch r := resp.(type) {
	case *kmsg.BrokerRegistrationResponse:
		return r.ErrorCode == nc
	case *kmsg.BrokerHeartbeatResponse:
		return r.ErrorCode == nc
	case *kmsg.AlterPartitionResponse:
		return r.ErrorCode == nc
	case *kmsg.AllocateProducerIDsResponse:
		return r.ErrorCode == nc
	case *kmsg.DescribeQuorumResponse:
		// A controller that is not the raft leader answers
		// NOT_LEADER_OR_FOLLOWER for the partition, as Kafka's does.
		if r.ErrorCode == nc {
			return true
		}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode == nc || p.ErrorCode == kerr.NotLeaderForPartition.Code {
					return true
				}
			}
		}
	case *kmsg.AlterPartitionAssignmentsResponse:
		if r.ErrorCode == nc {
			return true
		}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode == nc {
					return true
				}
			}
		}
	case *kmsg.ListPartitionReassignmentsResponse:
		return r.ErrorCode == nc
	case *kmsg.UnregisterBrokerResponse:
		return r.ErrorCode == nc
	case *kmsg.AddRaftVoterResponse:
		return r.ErrorCode == nc
	case *kmsg.RemoveRaftVoterResponse:
		return r.ErrorCode == nc
	case *kmsg.ElectLeadersResponse:
		if r.ErrorCode == nc {
			return true
		}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode == nc {
					return true
				}
			}
		}
	case *kmsg.CreateTopicsResponse:
		for _, t := range r.Topics {
			if t.ErrorCode == nc {
				return true
			}
		}
	case *kmsg.DeleteTopicsResponse:
		for _, t := range r.Topics {
			if t.ErrorCode == nc {
				return true
			}
		}
	case *kmsg.CreatePartitionsResponse:
		for _, t := range r.Topics {
			if t.ErrorCode == nc {
				return true
			}
		}
	case *kmsg.AlterConfigsResponse:
		for _, t := range r.Resources {
			if t.ErrorCode == nc {
				return true
			}
		}
	case *kmsg.IncrementalAlterConfigsResponse:
		for _, t := range r.Resources {
			if t.ErrorCode == nc {
				return true
			}
		}
	}
	return false
}
