package replica

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// alterRequest is one partition's proposed ISR, with the epochs it is based
// on.
type alterRequest struct {
	leaderEpoch    int32
	partitionEpoch int32
	isr            []int32
}

// alterResult is the controller's answer for one partition.
type alterResult struct {
	leaderEpoch    int32
	partitionEpoch int32
	isr            []int32
	err            error
}

// alterSender sends the ISR changes the leaders propose to the controller,
// the ones waiting at a time in one AlterPartition request (Kafka's
// AlterPartitionManager). A partition has at most one change in flight
// (leaderState.pending), so the queue holds one entry per partition.
type alterSender struct {
	m    *Manager
	wake chan struct{}
	mu   struct {
		sync.Mutex
		queue map[*Partition]alterRequest
	}
}

func newAlterSender(m *Manager) *alterSender {
	a := &alterSender{m: m, wake: make(chan struct{}, 1)}
	a.mu.queue = map[*Partition]alterRequest{}
	return a
}

func (a *alterSender) enqueue(p *Partition, rq alterRequest) {
	a.mu.Lock()
	a.mu.queue[p] = rq
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *alterSender) run() {
	for {
		select {
		case <-a.m.ctx.Done():
			return
		case <-a.wake:
		}
		a.mu.Lock()
		batch := a.mu.queue
		a.mu.queue = map[*Partition]alterRequest{}
		a.mu.Unlock()
		if len(batch) > 0 {
			a.send(batch)
		}
	}
}

func (a *alterSender) send(batch map[*Partition]alterRequest) {
	parts := make([]*Partition, 0, len(batch))
	reqs := make([]metadata.AlterPartitionRequest, 0, len(batch))
	epoch := a.m.cfg.Cluster.BrokerEpoch()
	for p, rq := range batch {
		parts = append(parts, p)
		reqs = append(reqs, metadata.AlterPartitionRequest{
			BrokerID:       a.m.cfg.NodeID,
			BrokerEpoch:    epoch,
			TopicID:        p.TopicID,
			Partition:      p.TP.Partition,
			LeaderEpoch:    rq.leaderEpoch,
			PartitionEpoch: rq.partitionEpoch,
			ISR:            rq.isr,
		})
	}
	ctx, cancel := context.WithTimeout(a.m.ctx, 10*time.Second)
	defer cancel()
	results, err := a.m.cfg.Cluster.AlterPartition(ctx, reqs)
	if err == nil && len(results) != len(reqs) {
		err = errors.New("AlterPartition answered for other partitions than asked")
	}
	for i, p := range parts {
		var res alterResult
		if err != nil {
			res.err = err
		} else {
			r := results[i]
			res = alterResult{leaderEpoch: r.LeaderEpoch, partitionEpoch: r.PartitionEpoch, isr: r.ISR, err: r.Err}
		}
		p.alterDone(batch[p], res)
	}
}
