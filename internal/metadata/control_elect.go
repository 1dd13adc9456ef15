package metadata

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// ElectLeaders (Kafka's ElectLeaders API and the controller's leader
// balancing): preferred elections put leadership back on each partition's
// first replica; unclean ones give a leaderless partition any live
// replica.

// Election types (Kafka's ElectionType).
const (
	ElectPreferred int8 = 0
	ElectUnclean   int8 = 1
)

// PartitionRef names one partition.
type PartitionRef struct {
	Topic     string
	Partition int32
}

// ElectResult is the outcome for one partition.
type ElectResult struct {
	PartitionRef
	Err error
}

// ElectLeaders runs elections of a type for the named partitions (nil:
// every partition, and the results leave out those that need none). A
// partition whose leader is already the one the election would choose
// gets ErrElectionNotNeeded.
func (n *Node) ElectLeaders(ctx context.Context, typ int8, parts []PartitionRef) []ElectResult {
	var results []ElectResult
	err := n.run(ctx, func(img *Image) result {
		var recs []Record
		recs, results = electLeaders(img, typ, parts)
		if len(recs) == 0 {
			return result{}
		}
		return result{batches: [][]Record{recs}, done: func(errs []error) {
			if errs[0] != nil {
				for i := range results {
					if results[i].Err == nil {
						results[i].Err = errs[0]
					}
				}
			}
		}}
	})
	if err != nil {
		if results == nil {
			for _, p := range parts {
				results = append(results, ElectResult{PartitionRef: p})
			}
		}
		for i := range results {
			results[i].Err = err
		}
	}
	return results
}

// electLeaders decides the elections: one batch of partition changes and
// a result per partition (in the order asked, or by topic and partition
// for all).
func electLeaders(img *Image, typ int8, parts []PartitionRef) ([]Record, []ElectResult) {
	all := parts == nil
	if all {
		for _, t := range sortedTopics(img) {
			for _, p := range t.Partitions {
				parts = append(parts, PartitionRef{t.Name, p.Partition})
			}
		}
	}
	var recs []Record
	results := make([]ElectResult, len(parts))
	for i, ref := range parts {
		results[i].PartitionRef = ref
		t := img.Topics[ref.Topic]
		p := img.Partition(ref.Topic, ref.Partition)
		if p == nil {
			results[i].Err = fmt.Errorf("%w: %s-%d", ErrUnknownTopic, ref.Topic, ref.Partition)
			continue
		}
		rec, err := electOne(img, t, p, typ)
		results[i].Err = err
		if rec != nil {
			recs = append(recs, rec)
		}
	}
	if all {
		// As Kafka answers a request for every partition: only those an
		// election was tried for.
		results = slices.DeleteFunc(results, func(r ElectResult) bool { return errors.Is(r.Err, ErrElectionNotNeeded) })
	}
	return recs, results
}

func electOne(img *Image, t *Topic, p *Partition, typ int8) (*PartitionChangeRecord, error) {
	switch typ {
	case ElectPreferred:
		preferred := p.Replicas[0]
		if p.Leader == preferred {
			return nil, fmt.Errorf("%w: %s-%d is led by its preferred replica %d", ErrElectionNotNeeded, t.Name, p.Partition, preferred)
		}
		if !slices.Contains(p.ISR, preferred) || !img.BrokerUsable(preferred) {
			return nil, fmt.Errorf("%w: %s-%d: preferred replica %d is not in the ISR %v or not live", ErrPreferredLeaderNotAvailable, t.Name, p.Partition, preferred, p.ISR)
		}
		return partitionChange(t.ID, p, preferred, p.ISR), nil
	case ElectUnclean:
		if p.Leader >= 0 && img.BrokerUsable(p.Leader) {
			return nil, fmt.Errorf("%w: %s-%d has leader %d", ErrElectionNotNeeded, t.Name, p.Partition, p.Leader)
		}
		leader, isr := electLeader(p.Replicas, p.ISR, img.BrokerUsable, true)
		if leader < 0 {
			return nil, fmt.Errorf("%w: %s-%d: none of the replicas %v is live", ErrEligibleLeadersNotAvailable, t.Name, p.Partition, p.Replicas)
		}
		return partitionChange(t.ID, p, leader, isr), nil
	}
	return nil, fmt.Errorf("%w: election type %d", ErrInvalidRequest, typ)
}

// imbalancedPreferred returns the preferred elections that auto leader
// rebalancing makes: for every broker whose share of partitions that
// prefer it but are led elsewhere is above percent, those partitions
// whose preferred replica can lead (Kafka's
// leader.imbalance.per.broker.percentage check).
func imbalancedPreferred(img *Image, percent int) []PartitionRef {
	prefer := map[int32]int{}
	off := map[int32][]PartitionRef{}
	for _, t := range sortedTopics(img) {
		for _, p := range t.Partitions {
			pr := p.Replicas[0]
			prefer[pr]++
			if p.Leader != pr && slices.Contains(p.ISR, pr) && img.BrokerUsable(pr) {
				off[pr] = append(off[pr], PartitionRef{t.Name, p.Partition})
			}
		}
	}
	var out []PartitionRef
	for _, b := range slices.Sorted(maps.Keys(off)) {
		if len(off[b])*100 > percent*prefer[b] {
			out = append(out, off[b]...)
		}
	}
	return out
}

// rebalanceLeaders runs the preferred elections auto leader rebalancing
// calls for, if any.
func (n *Node) rebalanceLeaders(ctx context.Context, percent int) {
	_ = n.run(ctx, func(img *Image) result {
		parts := imbalancedPreferred(img, percent)
		if len(parts) == 0 {
			return result{}
		}
		recs, _ := electLeaders(img, ElectPreferred, parts)
		if len(recs) == 0 {
			return result{}
		}
		n.log.Info("auto leader rebalance: preferred elections", "partitions", len(recs))
		return result{batches: [][]Record{recs}}
	})
}
