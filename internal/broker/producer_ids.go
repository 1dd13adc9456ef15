package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// producerIDs hands out producer ids from blocks allocated by the
// controller (AllocateProducerIds), so ids stay unique across brokers and
// restarts. Once 90% of the current block is used it fetches the next one
// in the background (as Kafka's RPCProducerIdManager does), so that
// tryNext, which the transaction coordinator calls under its shard's
// lock, never waits for the controller.
type producerIDs struct {
	s  *Server
	mu sync.Mutex
	// nextID and end bound the current block [nextID, end); preStart
	// and preEnd the prefetched one (empty when preStart == preEnd).
	nextID, end      int64
	preStart, preEnd int64
	blockLen         int64
	fetching         bool
	// done is closed when the fetch last started ends; lastErr is its
	// failure.
	done    chan struct{}
	lastErr error
}

// errNoProducerIDs is tryNext finding no id ready: the next block is being
// fetched. Clients see COORDINATOR_LOAD_IN_PROGRESS and retry, as with
// Kafka.
var errNoProducerIDs = kerr.CoordinatorLoadInProgress

// next returns a new producer id, waiting for the controller if no block
// is ready (the idempotent InitProducerId path). The wait is outside the
// mutex, so tryNext never waits behind it.
func (p *producerIDs) next() (int64, error) {
	for range 3 {
		p.mu.Lock()
		if p.takeLocked() {
			id := p.issueLocked()
			p.mu.Unlock()
			return id, nil
		}
		p.prefetchLocked()
		done := p.done
		p.mu.Unlock()
		if done == nil {
			return -1, errNoProducerIDs // shutting down
		}
		select {
		case <-done:
		case <-p.s.ctx.Done():
			return -1, errNoProducerIDs
		}
		p.mu.Lock()
		err := p.lastErr
		p.mu.Unlock()
		if err != nil {
			return -1, err
		}
	}
	return -1, errNoProducerIDs
}

// tryNext returns a new producer id if one is ready, else
// errNoProducerIDs and starts fetching a block.
func (p *producerIDs) tryNext() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.takeLocked() {
		return p.issueLocked(), nil
	}
	p.prefetchLocked()
	return -1, errNoProducerIDs
}

// takeLocked makes sure the current block has an id, moving to the
// prefetched block when it is used up.
func (p *producerIDs) takeLocked() bool {
	if p.nextID < p.end {
		return true
	}
	if p.preStart < p.preEnd {
		p.nextID, p.end, p.blockLen = p.preStart, p.preEnd, p.preEnd-p.preStart
		p.preStart, p.preEnd = 0, 0
		return true
	}
	return false
}

// issueLocked hands out the next id of the current block and prefetches
// once 90% of it is used.
func (p *producerIDs) issueLocked() int64 {
	id := p.nextID
	p.nextID++
	if p.end-p.nextID <= p.blockLen/10 {
		p.prefetchLocked()
	}
	return id
}

// prefetchLocked starts fetching the next block unless one is ready or on
// its way.
func (p *producerIDs) prefetchLocked() {
	if p.fetching || p.preStart < p.preEnd || p.s.ctx.Err() != nil {
		return
	}
	p.fetching = true
	done := make(chan struct{})
	p.done = done
	p.s.wg.Add(1)
	go func() {
		defer p.s.wg.Done()
		start, n, err := p.fetch()
		p.mu.Lock()
		defer p.mu.Unlock()
		defer close(done)
		p.fetching, p.lastErr = false, err
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				p.s.logger.Warn("fetching a producer id block failed", "err", err)
			}
			return
		}
		p.preStart, p.preEnd = start, start+n
	}()
}

// fetch asks the controller for a block of ids.
func (p *producerIDs) fetch() (start, n int64, err error) {
	ctx, cancel := context.WithTimeout(p.s.ctx, 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.BrokerID, req.BrokerEpoch = p.s.nodeID, p.s.brokerEpoch.Load()
	resp, err := p.s.adminChannel.request(ctx, req)
	if err != nil {
		return 0, 0, err
	}
	ar := resp.(*kmsg.AllocateProducerIDsResponse)
	if err := kerr.ErrorForCode(ar.ErrorCode); err != nil {
		return 0, 0, err
	}
	if ar.ProducerIDLen <= 0 {
		return 0, 0, errors.New("the controller allocated an empty producer id block")
	}
	return ar.ProducerIDStart, int64(ar.ProducerIDLen), nil
}
