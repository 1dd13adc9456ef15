package metadata

import (
	"cmp"
	"slices"
)

// Delta says what changed between two images: the topics a batch created,
// changed or removed, and whether brokers, broker configs or the
// controller changed. A subscriber applies a change by visiting only what
// the delta names, never by diffing whole images (Kafka's MetadataDelta).
// Deltas of consecutive images merge (Merge), so a subscriber that fell
// behind applies one merged delta between the first and the last image.
type Delta struct {
	// Full: everything may have changed (the first image a subscriber
	// gets, a snapshot restore).
	Full bool
	// Topics are the ids of the topics created, changed (partitions,
	// leaders, ISRs, configs) or removed.
	Topics map[[16]byte]struct{}
	// Brokers: a registration, fencing or shutdown state changed.
	Brokers bool
	// BrokerConfigs: a dynamic broker config (cluster-wide or per broker)
	// changed; every topic's effective config may have changed with it.
	BrokerConfigs bool
	// Controller: the active controller changed.
	Controller bool
	// Features: a finalized feature level changed.
	Features bool
}

func (d *Delta) touch(id [16]byte) {
	if d.Topics == nil {
		d.Topics = map[[16]byte]struct{}{}
	}
	d.Topics[id] = struct{}{}
}

// Merge adds the changes of a later delta to d.
func (d *Delta) Merge(o *Delta) {
	if o == nil {
		return
	}
	d.Full = d.Full || o.Full
	d.Brokers = d.Brokers || o.Brokers
	d.BrokerConfigs = d.BrokerConfigs || o.BrokerConfigs
	d.Controller = d.Controller || o.Controller
	d.Features = d.Features || o.Features
	for id := range o.Topics {
		d.touch(id)
	}
}

// TouchesTopic reports whether the topic may have changed.
func (d *Delta) TouchesTopic(id [16]byte) bool {
	if d.Full || d.BrokerConfigs {
		return true
	}
	_, ok := d.Topics[id]
	return ok
}

// LocalPartition is one partition replica of a node, as an image has it.
type LocalPartition struct {
	Topic     *Topic
	Partition *Partition
}

// LocalChanges are the changes of a delta for the partitions one node
// hosts, sorted the way the node applies them (Kafka's
// TopicsDelta.localChanges): the replicas to delete, the partitions it
// now leads, and those it now follows.
type LocalChanges struct {
	// Deletes are replicas of prev that the node no longer hosts: the
	// topic was removed (or replaced by one of the same name), or the
	// node is no longer among the replicas. Topic and Partition are
	// prev's.
	Deletes []LocalPartition
	// Leaders and Followers are the node's replicas in next whose state
	// may have changed (new partitions, leader or ISR changes, topic
	// config changes), by role in next.
	Leaders   []LocalPartition
	Followers []LocalPartition
}

// LocalChanges sorts the changes from prev to next (prev nil: an empty
// image) that d names into what node nodeID must do.
func (d *Delta) LocalChanges(prev, next *Image, nodeID int32) LocalChanges {
	var lc LocalChanges
	visit := func(id [16]byte) {
		var old, cur *Topic
		if prev != nil {
			old = prev.TopicsByID[id]
		}
		cur = next.TopicsByID[id]
		if old != nil {
			for _, p := range old.Partitions {
				if !slices.Contains(p.Replicas, nodeID) {
					continue
				}
				if cur == nil || int(p.Partition) >= len(cur.Partitions) || !slices.Contains(cur.Partitions[p.Partition].Replicas, nodeID) {
					lc.Deletes = append(lc.Deletes, LocalPartition{old, p})
				}
			}
		}
		if cur == nil {
			return
		}
		for _, p := range cur.Partitions {
			if !slices.Contains(p.Replicas, nodeID) {
				continue
			}
			if p.Leader == nodeID {
				lc.Leaders = append(lc.Leaders, LocalPartition{cur, p})
			} else {
				lc.Followers = append(lc.Followers, LocalPartition{cur, p})
			}
		}
	}
	if d.Full || d.BrokerConfigs {
		seen := map[[16]byte]bool{}
		for id := range next.TopicsByID {
			seen[id] = true
			visit(id)
		}
		if prev != nil {
			for id := range prev.TopicsByID {
				if !seen[id] {
					visit(id)
				}
			}
		}
	} else {
		for id := range d.Topics {
			visit(id)
		}
	}
	for _, l := range [][]LocalPartition{lc.Deletes, lc.Leaders, lc.Followers} {
		slices.SortFunc(l, func(a, b LocalPartition) int {
			return cmp.Or(cmp.Compare(a.Topic.Name, b.Topic.Name), cmp.Compare(a.Partition.Partition, b.Partition.Partition))
		})
	}
	return lc
}
