package metadata

import (
	"fmt"
	"hash/fnv"
	"slices"
)

// Replica assignment: explicit assignments are checked, automatic ones are
// made round-robin over the unfenced brokers.

// checkReplicationFactor checks rf against the number of unfenced brokers.
func checkReplicationFactor(rf, brokers int) error {
	if rf <= 0 {
		return fmt.Errorf("%w: replication factor %d is not positive", ErrInvalidReplicationFactor, rf)
	}
	if rf > brokers {
		return fmt.Errorf("%w: replication factor %d is larger than the %d available broker(s)", ErrInvalidReplicationFactor, rf, brokers)
	}
	return nil
}

// assignmentFromMap turns a partition -> replicas map into a list,
// checking that the partitions are 0..n-1.
func assignmentFromMap(m map[int32][]int32) ([][]int32, error) {
	if len(m) == 0 {
		return nil, fmt.Errorf("%w: the assignment is empty", ErrInvalidReplicaAssignment)
	}
	parts := make([][]int32, len(m))
	for p, replicas := range m {
		if p < 0 || int(p) >= len(m) {
			return nil, fmt.Errorf("%w: partitions must be numbered 0 to %d, got %d", ErrInvalidReplicaAssignment, len(m)-1, p)
		}
		parts[p] = replicas
	}
	return parts, nil
}

// checkAssignment checks explicit replica lists for partitions first,
// first+1, ...: each has rf replicas, none twice, all registered.
func checkAssignment(img *Image, first int32, parts [][]int32, rf int) error {
	for i, replicas := range parts {
		p := first + int32(i)
		if len(replicas) == 0 {
			return fmt.Errorf("%w: partition %d has no replicas", ErrInvalidReplicaAssignment, p)
		}
		if len(replicas) != rf {
			return fmt.Errorf("%w: partition %d has %d replicas where the others have %d; the replication factor must be the same for all partitions", ErrInvalidReplicaAssignment, p, len(replicas), rf)
		}
		for j, b := range replicas {
			if slices.Contains(replicas[:j], b) {
				return fmt.Errorf("%w: partition %d lists broker %d more than once", ErrInvalidReplicaAssignment, p, b)
			}
			if img.Brokers[b] == nil {
				return fmt.Errorf("%w: partition %d: broker %d is not registered", ErrInvalidReplicaAssignment, p, b)
			}
		}
	}
	return nil
}

// newPartitionRecord makes the record of a new partition: the unfenced
// replicas form the ISR, the first of them leads.
func newPartitionRecord(img *Image, topicID [16]byte, p int32, replicas []int32) (*PartitionRecord, error) {
	var isr []int32
	for _, b := range replicas {
		if br := img.Brokers[b]; br != nil && !br.Fenced {
			isr = append(isr, b)
		}
	}
	if len(isr) == 0 {
		return nil, fmt.Errorf("%w: all replicas %v of partition %d are fenced", ErrInvalidReplicaAssignment, replicas, p)
	}
	return &PartitionRecord{
		TopicID:   topicID,
		Partition: p,
		Replicas:  slices.Clone(replicas),
		ISR:       isr,
		Leader:    isr[0],
	}, nil
}

// topicStart is where a topic's round-robin starts: it varies per topic
// (so leaders of single-partition topics spread over the brokers) and is
// stable (so CreatePartitions continues the topic's pattern).
func topicStart(name string, brokers int) int {
	if brokers == 0 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32() % uint32(brokers))
}

// assignReplicas assigns count partitions, numbered from first, to rf of
// the brokers (sorted ids, rf <= len(brokers)). Partition p leads on
// brokers[(start+p) % n]; its followers come after the leader at a
// distance that shifts by one every n partitions, so the followers of one
// leader spread over the other brokers.
func assignReplicas(brokers []int32, start int, first, count int32, rf int) [][]int32 {
	n := len(brokers)
	parts := make([][]int32, count)
	for i := range parts {
		p := int(first) + i
		lead := (start + p) % n
		replicas := []int32{brokers[lead]}
		if n > 1 {
			shift := (p / n) % (n - 1)
			for j := 1; j < rf; j++ {
				replicas = append(replicas, brokers[(lead+1+(shift+j-1)%(n-1))%n])
			}
		}
		parts[i] = replicas
	}
	return parts
}

// assignReplicasFor assigns automatically over the image's usable brokers:
// rack-aware (assignReplicasRackAware) when any broker has broker.rack
// set, round-robin otherwise.
func assignReplicasFor(img *Image, brokers []int32, start int, first, count int32, rf int) [][]int32 {
	racks := map[int32]string{}
	for _, id := range brokers {
		if r := img.Brokers[id].Rack; r != nil {
			racks[id] = *r
		}
	}
	if len(racks) == 0 {
		return assignReplicas(brokers, start, first, count, rf)
	}
	return assignReplicasRackAware(brokers, racks, start, first, count, rf)
}

// assignReplicasRackAware spreads each partition's replicas over as many
// racks as it can (a broker without broker.rack counts as a rack of its
// own, ""), in the spirit of Kafka's rack-aware assignment: the brokers
// are laid out so that neighbours are in different racks (one from each
// rack in turn), leaders go round that layout, and each follower is the
// next broker, in an order shifted per round like assignReplicas, whose
// rack the partition does not have yet; once every rack has a replica,
// racks repeat.
func assignReplicasRackAware(brokers []int32, racks map[int32]string, start int, first, count int32, rf int) [][]int32 {
	byRack := map[string][]int32{}
	var names []string
	for _, id := range brokers {
		r := racks[id]
		if _, ok := byRack[r]; !ok {
			names = append(names, r)
		}
		byRack[r] = append(byRack[r], id)
	}
	slices.Sort(names)
	var arranged []int32
	for i := 0; len(arranged) < len(brokers); i++ {
		for _, r := range names {
			if i < len(byRack[r]) {
				arranged = append(arranged, byRack[r][i])
			}
		}
	}
	n := len(arranged)
	parts := make([][]int32, count)
	for i := range parts {
		p := int(first) + i
		lead := (start + p) % n
		replicas := []int32{arranged[lead]}
		used := map[string]bool{racks[arranged[lead]]: true}
		shift := 0
		if n > 1 {
			shift = (p / n) % (n - 1)
		}
		for len(replicas) < rf {
			pick := -1
			for pass := 0; pass < 2 && pick < 0; pass++ {
				for j := 0; j < n-1; j++ {
					b := arranged[(lead+1+(shift+j)%(n-1))%n]
					if slices.Contains(replicas, b) {
						continue
					}
					if pass == 0 && used[racks[b]] && len(used) < len(names) {
						continue
					}
					pick = int(b)
					break
				}
			}
			if pick < 0 {
				break // rf <= n was checked
			}
			replicas = append(replicas, int32(pick))
			used[racks[int32(pick)]] = true
		}
		parts[i] = replicas
	}
	return parts
}

// AssignReplicas is the controller's automatic placement, for tools that
// propose one (reassign-partitions --generate): count partitions over
// brokers (sorted ids) with rf replicas each, rack-aware when racks names
// any broker's rack, the round-robin starting where a topic of that name
// starts.
func AssignReplicas(topic string, brokers []int32, racks map[int32]string, count int32, rf int) ([][]int32, error) {
	if err := checkReplicationFactor(rf, len(brokers)); err != nil {
		return nil, err
	}
	brokers = slices.Clone(brokers)
	slices.Sort(brokers)
	start := topicStart(topic, len(brokers))
	if len(racks) > 0 {
		return assignReplicasRackAware(brokers, racks, start, 0, count, rf), nil
	}
	return assignReplicas(brokers, start, 0, count, rf), nil
}
