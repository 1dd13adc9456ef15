package metadata

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/raft"
)

// Controller operations share one shape (Kafka's ControllerResult): a
// pure function of the image and the request decides the record batches to
// append and how the response follows from their outcome; run does the
// rest: it takes the controller semaphore (so each operation sees the
// image its predecessor left), checks that this node is the leader and
// has applied everything of earlier terms, calls the function, proposes
// its batches, waits until raft has applied them here and hands their
// outcome to the function's done. The pure functions live in the
// control_*.go files, next to the Node method that runs them, and are
// tested on images without raft.

// controls holds what the pure operations need besides the image: the
// validators and defaults of Config. It does no I/O and keeps no state.
type controls struct {
	cfg *Config
}

// result is a controller operation's decision: the batches to append, each
// atomically, in order, and done, called with each batch's outcome (nil,
// an apply error, or a raft error) once they are applied. No batches: done
// is not called.
type result struct {
	batches [][]Record
	done    func(errs []error)
}

// run runs one controller operation on the leader (see above).
func (n *Node) run(ctx context.Context, op func(img *Image) result) error {
	release, err := n.begin(ctx)
	if err != nil {
		return err
	}
	defer release()
	r := op(n.Image())
	if len(r.batches) == 0 {
		return nil
	}
	errs := n.propose(ctx, r.batches)
	if r.done != nil {
		r.done(errs)
	}
	return nil
}

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
	var opErr error
	err = n.run(ctx, func(img *Image) result {
		var rec *ProducerIDsRecord
		first, rec, opErr = allocateProducerIDs(img)
		if opErr != nil {
			return result{}
		}
		return result{batches: [][]Record{{rec}}, done: func(errs []error) { opErr = errs[0] }}
	})
	if err = cmp.Or(err, opErr); err != nil {
		return 0, 0, err
	}
	return first, ProducerIDBlockSize, nil
}

// allocateProducerIDs decides the next producer-id block.
func allocateProducerIDs(img *Image) (int64, *ProducerIDsRecord, error) {
	first := img.NextProducerID
	if first > math.MaxInt64-ProducerIDBlockSize {
		return 0, nil, fmt.Errorf("%w: producer ids exhausted", ErrInvalidRequest)
	}
	return first, &ProducerIDsRecord{NextBlockStart: first + ProducerIDBlockSize}, nil
}
