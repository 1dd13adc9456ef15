package metadata

import (
	"context"
	"fmt"
	"slices"
)

// Partition reassignment (Kafka's AlterPartitionReassignments, KIP-455):
// a partition whose replicas are to become a target set first gets the
// union, target first: the target's new replicas (adding) fetch as
// followers until the leader adds them to the ISR; when the last one
// joins, the reassignment completes in the same batch as that ISR
// change: the replicas become the target, the removed ones (removing)
// leave the ISR, the leader moves if it was one of them, and the leader
// epoch is bumped so that the removed replicas' fetches are fenced. A
// reassignment can be replaced by another or cancelled (the original
// replicas back, the added ones dropped).

// Reassignment asks for one partition's replicas to become Replicas; nil
// Replicas cancels the partition's reassignment in flight.
type Reassignment struct {
	Topic     string
	Partition int32
	Replicas  []int32
}

// OngoingReassignment is a partition being reassigned.
type OngoingReassignment struct {
	Topic            string
	Partition        int32
	Replicas         []int32
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// AlterReassignments starts, replaces or cancels reassignments; the errors
// are in the order of reqs (each partition's change is its own batch).
func (n *Node) AlterReassignments(ctx context.Context, reqs []Reassignment) []error {
	errs := make([]error, len(reqs))
	err := n.run(ctx, func(img *Image) result {
		var r result
		var which []int
		for i, rq := range reqs {
			recs, err := alterReassignment(img, rq, n.ctl.uncleanFor(img))
			if err != nil {
				errs[i] = err
				continue
			}
			if len(recs) > 0 {
				r.batches = append(r.batches, recs)
				which = append(which, i)
			}
		}
		r.done = func(berrs []error) {
			for j, err := range berrs {
				errs[which[j]] = err
			}
		}
		return r
	})
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// ListReassignments returns the reassignments in flight, of the named
// partitions (nil: all), by topic and partition.
func (n *Node) ListReassignments(parts []PartitionRef) []OngoingReassignment {
	img := n.Image()
	var out []OngoingReassignment
	add := func(t *Topic, p *Partition) {
		if len(p.AddingReplicas) == 0 && len(p.RemovingReplicas) == 0 {
			return
		}
		out = append(out, OngoingReassignment{t.Name, p.Partition, p.Replicas, p.AddingReplicas, p.RemovingReplicas})
	}
	if parts == nil {
		for _, t := range sortedTopics(img) {
			for _, p := range t.Partitions {
				add(t, p)
			}
		}
		return out
	}
	for _, ref := range parts {
		if p := img.Partition(ref.Topic, ref.Partition); p != nil {
			add(img.Topics[ref.Topic], p)
		}
	}
	return out
}

// alterReassignment decides one request.
func alterReassignment(img *Image, rq Reassignment, unclean func(*Topic) bool) ([]Record, error) {
	t := img.Topics[rq.Topic]
	p := img.Partition(rq.Topic, rq.Partition)
	if p == nil {
		return nil, fmt.Errorf("%w: %s-%d", ErrUnknownTopic, rq.Topic, rq.Partition)
	}
	ongoing := len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
	original := without(p.Replicas, p.AddingReplicas)
	if rq.Replicas == nil {
		if !ongoing {
			return nil, fmt.Errorf("%w: %s-%d", ErrNoReassignmentInProgress, rq.Topic, rq.Partition)
		}
		return []Record{revertRecord(img, t, p, original)}, nil
	}
	target := rq.Replicas
	if len(target) == 0 {
		return nil, fmt.Errorf("%w: %s-%d: the target replica list is empty", ErrInvalidReplicaAssignment, rq.Topic, rq.Partition)
	}
	for i, b := range target {
		if b < 0 || slices.Contains(target[:i], b) {
			return nil, fmt.Errorf("%w: %s-%d: bad replica list %v", ErrInvalidReplicaAssignment, rq.Topic, rq.Partition, target)
		}
		if img.Brokers[b] == nil {
			return nil, fmt.Errorf("%w: %s-%d: broker %d is not registered", ErrInvalidReplicaAssignment, rq.Topic, rq.Partition, b)
		}
	}
	if !ongoing && slices.Equal(target, p.Replicas) {
		return nil, nil // already so
	}
	adding := without(target, original)
	removing := without(original, target)
	replicas := append(slices.Clone(target), removing...)
	if len(adding) == 0 {
		// Nothing to catch up: the target at once (a reorder or a
		// removal), from the state without the reassignment in flight.
		base := *p
		base.Replicas = replicas
		base.AddingReplicas, base.RemovingReplicas = nil, removing
		return []Record{completeRecord(img, t, &base, unclean(t))}, nil
	}
	isr := intersect(p.ISR, replicas)
	if len(isr) == 0 {
		isr = p.ISR
	}
	rec := &PartitionChangeRecord{TopicID: t.ID, Partition: p.Partition, Replicas: replicas, ISR: isr,
		AddingReplicas: adding, RemovingReplicas: orEmpty(removing)}
	if !slices.Contains(replicas, p.Leader) && p.Leader >= 0 {
		l, newISR := electLeader(target, isr, img.BrokerUsable, false)
		rec.Leader, rec.ISR = &l, newISR
	}
	return []Record{rec}, nil
}

// maybeCompleteReassignment is the record that completes p's reassignment
// once isr (its ISR after a change) holds every adding replica, nil
// otherwise.
func maybeCompleteReassignment(img *Image, t *Topic, p *Partition, isr []int32, unclean bool) Record {
	if len(p.AddingReplicas) == 0 && len(p.RemovingReplicas) == 0 {
		return nil
	}
	for _, a := range p.AddingReplicas {
		if !slices.Contains(isr, a) {
			return nil
		}
	}
	q := *p
	q.ISR = isr
	q.PartitionEpoch++ // the ISR change applies first
	return completeRecord(img, t, &q, unclean)
}

// completeRecord takes a partition to its reassignment's target: the
// replicas less the removing ones, the ISR within them, a leader among
// them, the leader epoch bumped when replicas leave.
func completeRecord(img *Image, t *Topic, p *Partition, unclean bool) *PartitionChangeRecord {
	target := without(p.Replicas, p.RemovingReplicas)
	isr := intersect(p.ISR, target)
	leader := p.Leader
	if !slices.Contains(target, leader) || len(isr) == 0 {
		if len(isr) == 0 {
			isr = []int32{}
		}
		leader, isr = electLeader(target, isr, img.BrokerUsable, unclean)
		if len(isr) == 0 {
			isr = []int32{target[0]} // never an empty ISR
		}
	}
	rec := &PartitionChangeRecord{TopicID: t.ID, Partition: p.Partition, Replicas: target, ISR: isr,
		AddingReplicas: []int32{}, RemovingReplicas: []int32{}, BumpLeaderEpoch: len(p.RemovingReplicas) > 0}
	if leader != p.Leader {
		rec.Leader = &leader
	}
	return rec
}

// revertRecord cancels a reassignment: the original replicas back.
func revertRecord(img *Image, t *Topic, p *Partition, original []int32) *PartitionChangeRecord {
	isr := intersect(p.ISR, original)
	rec := &PartitionChangeRecord{TopicID: t.ID, Partition: p.Partition, Replicas: original,
		AddingReplicas: []int32{}, RemovingReplicas: []int32{}, BumpLeaderEpoch: len(p.AddingReplicas) > 0}
	leader := p.Leader
	if len(isr) == 0 {
		isr = []int32{original[0]}
	}
	if !slices.Contains(original, leader) {
		leader, isr = electLeader(original, isr, img.BrokerUsable, false)
	}
	rec.ISR = isr
	if leader != p.Leader {
		rec.Leader = &leader
	}
	return rec
}

// without returns a's ids that are not in b, in a's order.
func without(a, b []int32) []int32 {
	var out []int32
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// intersect returns a's ids that are in b, in a's order.
func intersect(a, b []int32) []int32 {
	var out []int32
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func orEmpty(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}
