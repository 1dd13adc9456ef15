package metadata

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/raft"
)

// Controller operations share one shape: begin (take the controller
// semaphore, check that this node is the leader and has applied everything
// of earlier terms), validate against the current image, propose records,
// wait until raft has applied them here, release. Forwarding to a remote
// controller will plug in at begin: a node that is not the leader will send
// the operation to ControllerID instead of failing with ErrNotController.

// begin starts a controller operation; release must be called when err is
// nil.
func (n *Node) begin(ctx context.Context) (release func(), err error) {
	release, err = n.acquire(ctx)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil { // acquire may win a race with the cancellation
		release()
		return nil, err
	}
	if !n.IsController() {
		release()
		return nil, n.notController()
	}
	if err := n.ensureLeaderReady(ctx); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

func (n *Node) notController() error {
	if id := n.ControllerID(); id >= 0 {
		return fmt.Errorf("%w (the controller is node %d)", ErrNotController, id)
	}
	return fmt.Errorf("%w (no controller is known)", ErrNotController)
}

// propose appends each batch as one raft log entry (raft writes entries
// proposed together in one go) and waits until each is applied locally.
// errs[i] is the error of batches[i]: a raft error or the apply error.
func (n *Node) propose(ctx context.Context, batches [][]Record) []error {
	errs := make([]error, len(batches))
	futures := make([]raft.ApplyFuture, len(batches))
	for i, b := range batches {
		data, err := EncodeBatch(b)
		if err != nil {
			errs[i] = err
			continue
		}
		futures[i] = n.raft.Apply(data, applyTimeout(ctx))
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		if err := n.wait(ctx, f); err != nil {
			errs[i] = err
			if ctx.Err() != nil { // the rest is not waited for: unknown
				for j := i + 1; j < len(errs); j++ {
					if errs[j] == nil {
						errs[j] = ctx.Err()
					}
				}
				break
			}
			continue
		}
		if err, ok := f.Response().(error); ok && err != nil {
			errs[i] = err
		}
	}
	return errs
}

// wait waits for a raft future or the context. When the context ends
// first, the outcome of the proposal is unknown.
func (n *Node) wait(ctx context.Context, f raft.Future) error {
	if ctx.Done() == nil {
		return raftError(f.Error())
	}
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return raftError(err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// raftError maps raft's errors to the package's.
func raftError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %v", ErrNotController, err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	}
	return err
}

// applyTimeout bounds how long raft may take to accept a proposal: the
// context's deadline, or no bound.
func applyTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 0
}

// ProducerIDBlockSize is how many producer ids AllocateProducerIDs hands
// out at a time (Kafka's block size).
const ProducerIDBlockSize = 1000

// AllocateProducerIDs hands out the next block of producer ids: first and
// count (ProducerIDBlockSize). Blocks never overlap, also across restarts
// and controller changes.
func (n *Node) AllocateProducerIDs(ctx context.Context) (first int64, count int32, err error) {
	release, err := n.begin(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer release()
	first = n.Image().NextProducerID
	if first > math.MaxInt64-ProducerIDBlockSize {
		return 0, 0, fmt.Errorf("%w: producer ids exhausted", ErrInvalidRequest)
	}
	rec := &ProducerIDsRecord{NextBlockStart: first + ProducerIDBlockSize}
	if err := n.propose(ctx, [][]Record{{rec}})[0]; err != nil {
		return 0, 0, err
	}
	return first, ProducerIDBlockSize, nil
}

// RegisterBroker registers b (ID, Endpoints, Rack, Fenced) or replaces its
// registration. Its epoch becomes the raft index of the record.
func (n *Node) RegisterBroker(ctx context.Context, b Broker) error {
	if b.ID < 0 {
		return fmt.Errorf("%w: broker id %d is negative", ErrInvalidRequest, b.ID)
	}
	names := map[string]bool{}
	for _, e := range b.Endpoints {
		if e.Name == "" || names[e.Name] {
			return fmt.Errorf("%w: broker %d: listener name %q empty or repeated", ErrInvalidRequest, b.ID, e.Name)
		}
		names[e.Name] = true
		if e.Port < 0 || e.Port > 65535 {
			return fmt.Errorf("%w: broker %d: listener %s has port %d", ErrInvalidRequest, b.ID, e.Name, e.Port)
		}
	}
	release, err := n.begin(ctx)
	if err != nil {
		return err
	}
	defer release()
	rec := &RegisterBrokerRecord{BrokerID: b.ID, Endpoints: b.Endpoints, Rack: b.Rack, Fenced: b.Fenced}
	return n.propose(ctx, [][]Record{{rec}})[0]
}
