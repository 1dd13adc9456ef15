package metadata

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// Replication control (Kafka's ReplicationControlManager): who leads each
// partition and who is in its ISR. Every function here is pure: it reads
// an image and returns PartitionChangeRecords.
//
// The rules, as in Kafka:
//   - A leader is chosen from the ISR, in the order of the replica list
//     (so the first replica, the preferred one, leads when it can), among
//     the usable brokers (registered, unfenced, not shutting down).
//   - A broker that is fenced or enters controlled shutdown leaves every
//     ISR it is in, except that an ISR never becomes empty: its last
//     member stays, so that the partition remembers who has its data.
//     Partitions it led get a new leader from what is left of the ISR, or
//     none (-1: offline).
//   - When no ISR member is usable, a replica outside the ISR may lead only
//     if unclean.leader.election.enable is on for the topic (it may have
//     lost acknowledged records); it becomes the whole ISR.
//   - A broker that is unfenced becomes leader of the offline partitions
//     whose ISR it is in.

// usableFunc tells whether a broker may lead or join an ISR.
type usableFunc func(id int32) bool

// usableExcept is the image's usability with one broker taken out (the
// one being fenced or shut down, whose new state the image does not have
// yet).
func usableExcept(img *Image, out int32) usableFunc {
	return func(id int32) bool { return id != out && img.BrokerUsable(id) }
}

// electLeader chooses the leader of a partition whose ISR is isr: the first
// replica in assignment order that is in the ISR and usable; with unclean,
// failing that, the first usable replica, which then is the whole ISR.
// leader -1: none.
func electLeader(replicas, isr []int32, usable usableFunc, unclean bool) (leader int32, newISR []int32) {
	for _, r := range replicas {
		if slices.Contains(isr, r) && usable(r) {
			return r, isr
		}
	}
	if unclean {
		for _, r := range replicas {
			if usable(r) {
				return r, []int32{r}
			}
		}
	}
	return -1, isr
}

// partitionChange builds the record that takes p to (leader, isr), nil
// when neither changes.
func partitionChange(topicID [16]byte, p *Partition, leader int32, isr []int32) *PartitionChangeRecord {
	rec := &PartitionChangeRecord{TopicID: topicID, Partition: p.Partition}
	changed := false
	if leader != p.Leader {
		l := leader
		rec.Leader = &l
		changed = true
	}
	if !slices.Equal(isr, p.ISR) {
		rec.ISR = slices.Clone(isr)
		if rec.ISR == nil {
			rec.ISR = []int32{}
		}
		changed = true
	}
	if !changed {
		return nil
	}
	return rec
}

// sortedTopics returns the image's topics in name order, so that the
// records a function returns do not depend on map order.
func sortedTopics(img *Image) []*Topic {
	ts := make([]*Topic, 0, len(img.Topics))
	for _, t := range img.Topics {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b *Topic) int { return cmp.Compare(a.Name, b.Name) })
	return ts
}

// removeBrokerFromPartitions returns the changes that take broker out of
// every ISR and leadership (fencing, controlled shutdown). unclean says
// whether a topic allows unclean elections.
func removeBrokerFromPartitions(img *Image, broker int32, unclean func(*Topic) bool) []Record {
	usable := usableExcept(img, broker)
	var recs []Record
	for _, t := range sortedTopics(img) {
		for _, p := range t.Partitions {
			if !slices.Contains(p.Replicas, broker) {
				continue
			}
			isr := p.ISR
			if slices.Contains(isr, broker) && len(isr) > 1 {
				isr = slices.DeleteFunc(slices.Clone(isr), func(r int32) bool { return r == broker })
			}
			leader := p.Leader
			if leader == broker {
				leader, isr = electLeader(p.Replicas, isr, usable, unclean(t))
			}
			if rec := partitionChange(t.ID, p, leader, isr); rec != nil {
				recs = append(recs, rec)
			}
		}
	}
	return recs
}

// electOfflinePartitions returns the elections of every leaderless
// partition that can get a leader now, with usable as the brokers'
// state. only >= 0 limits them to partitions of which that broker is a
// replica (the broker just unfenced).
func electOfflinePartitions(img *Image, usable usableFunc, only int32, unclean func(*Topic) bool) []Record {
	var recs []Record
	for _, t := range sortedTopics(img) {
		for _, p := range t.Partitions {
			if p.Leader >= 0 || only >= 0 && !slices.Contains(p.Replicas, only) {
				continue
			}
			leader, isr := electLeader(p.Replicas, p.ISR, usable, unclean(t))
			if leader < 0 {
				continue
			}
			if rec := partitionChange(t.ID, p, leader, isr); rec != nil {
				recs = append(recs, rec)
			}
		}
	}
	return recs
}

// uncleanFor is the controller's view of unclean.leader.election.enable.
func (c *controls) uncleanFor(img *Image) func(*Topic) bool {
	return func(t *Topic) bool {
		if c.cfg.UncleanLeaderElection == nil {
			return false
		}
		return c.cfg.UncleanLeaderElection(img, t)
	}
}

// AlterPartitionRequest is a leader's request to change the ISR of one of
// its partitions (Kafka's AlterPartition).
type AlterPartitionRequest struct {
	BrokerID       int32 // the leader asking
	BrokerEpoch    int64 // its registration epoch; -1: not checked
	TopicID        [16]byte
	Partition      int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// AlterPartitionResult is the partition's state after an AlterPartition,
// or the error that refused it.
type AlterPartitionResult struct {
	Leader         int32
	LeaderEpoch    int32
	ISR            []int32
	PartitionEpoch int32
	Err            error
}

// AlterPartition changes the ISR of a partition at its leader's request.
// The request is refused when its leader or partition epoch is not the
// current one (the leader acts on stale state), when the asking broker is
// not the leader, or when it adds a broker that may not be in the ISR.
// Asking for the ISR the partition has is answered with its state.
func (n *Node) AlterPartition(ctx context.Context, reqs []AlterPartitionRequest) []AlterPartitionResult {
	results := make([]AlterPartitionResult, len(reqs))
	err := n.run(ctx, func(img *Image) result {
		var r result
		var which []int
		for i, rq := range reqs {
			recs, err := alterPartition(img, rq, n.ctl.uncleanFor(img))
			if err != nil {
				results[i].Err = err
				continue
			}
			if len(recs) > 0 {
				// Each change is its own batch, so one refused on apply
				// does not take the others with it.
				r.batches = append(r.batches, recs)
				which = append(which, i)
			}
		}
		r.done = func(errs []error) {
			for j, err := range errs {
				results[which[j]].Err = err
			}
		}
		return r
	})
	img := n.Image()
	for i, rq := range reqs {
		if err != nil {
			results[i].Err = err
		}
		if results[i].Err != nil {
			continue
		}
		t := img.TopicsByID[rq.TopicID]
		if t == nil || int(rq.Partition) >= len(t.Partitions) {
			results[i].Err = fmt.Errorf("%w: the topic was deleted", ErrUnknownTopicID)
			continue
		}
		p := t.Partitions[rq.Partition]
		results[i] = AlterPartitionResult{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, ISR: p.ISR, PartitionEpoch: p.PartitionEpoch}
	}
	return results
}

// alterPartition checks one AlterPartition request against the image and
// returns its records (none: the ISR is already what was asked): the ISR
// change, and the completion of the partition's reassignment when the
// change brings its last adding replica into the ISR.
func alterPartition(img *Image, rq AlterPartitionRequest, unclean func(*Topic) bool) ([]Record, error) {
	b := img.Brokers[rq.BrokerID]
	if b == nil {
		return nil, fmt.Errorf("%w: broker %d is not registered", ErrStaleBrokerEpoch, rq.BrokerID)
	}
	if rq.BrokerEpoch >= 0 && rq.BrokerEpoch != b.Epoch {
		return nil, fmt.Errorf("%w: broker %d has epoch %d, not %d", ErrStaleBrokerEpoch, rq.BrokerID, b.Epoch, rq.BrokerEpoch)
	}
	t := img.TopicsByID[rq.TopicID]
	if t == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownTopicID, FormatUUID(rq.TopicID))
	}
	if rq.Partition < 0 || int(rq.Partition) >= len(t.Partitions) {
		return nil, fmt.Errorf("%w: partition %d of topic %q", ErrUnknownTopic, rq.Partition, t.Name)
	}
	p := t.Partitions[rq.Partition]
	switch {
	case p.Leader != rq.BrokerID:
		return nil, fmt.Errorf("%w: broker %d is not the leader of %s-%d (%d is)", ErrNotLeader, rq.BrokerID, t.Name, p.Partition, p.Leader)
	case rq.LeaderEpoch != p.LeaderEpoch:
		return nil, fmt.Errorf("%w: leader epoch %d, the partition's is %d", ErrFencedLeaderEpoch, rq.LeaderEpoch, p.LeaderEpoch)
	case rq.PartitionEpoch != p.PartitionEpoch:
		return nil, fmt.Errorf("%w: partition epoch %d, the partition's is %d", ErrInvalidUpdateVersion, rq.PartitionEpoch, p.PartitionEpoch)
	}
	if !slices.Contains(rq.ISR, rq.BrokerID) {
		return nil, fmt.Errorf("%w: the ISR %v must contain the leader %d", ErrInvalidRequest, rq.ISR, rq.BrokerID)
	}
	for i, r := range rq.ISR {
		if !slices.Contains(p.Replicas, r) || slices.Contains(rq.ISR[:i], r) {
			return nil, fmt.Errorf("%w: the ISR %v is not a set of the replicas %v", ErrInvalidRequest, rq.ISR, p.Replicas)
		}
		if !slices.Contains(p.ISR, r) && !img.BrokerUsable(r) {
			return nil, fmt.Errorf("%w: broker %d is fenced or shutting down and cannot join the ISR", ErrIneligibleReplica, r)
		}
	}
	if slices.Equal(sortedIDs(rq.ISR), sortedIDs(p.ISR)) {
		return nil, nil
	}
	recs := []Record{&PartitionChangeRecord{TopicID: t.ID, Partition: p.Partition, ISR: slices.Clone(rq.ISR)}}
	if done := maybeCompleteReassignment(img, t, p, rq.ISR, unclean(t)); done != nil {
		recs = append(recs, done)
	}
	return recs, nil
}

func sortedIDs(ids []int32) []int32 {
	s := slices.Clone(ids)
	slices.Sort(s)
	return s
}
