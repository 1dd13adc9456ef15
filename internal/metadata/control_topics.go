package metadata

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
)

// TopicSpec describes a topic to create.
type TopicSpec struct {
	Name string
	// NumPartitions and ReplicationFactor: -1 takes the node's default;
	// with an explicit Assignment both must be -1 (or 0).
	NumPartitions     int32
	ReplicationFactor int16
	// Assignment is an explicit replica assignment (partition -> replicas,
	// partitions 0..n-1); nil assigns automatically.
	Assignment map[int32][]int32
	Configs    map[string]*string
	// Internal allows the reserved internal names. Only the broker's own
	// coordinators set it, never the Kafka API path.
	Internal bool
}

// TopicResult is the outcome for one topic of CreateTopics or DeleteTopics.
type TopicResult struct {
	Name string
	ID   [16]byte
	// NumPartitions and ReplicationFactor are the topic's, with defaults
	// resolved (CreateTopics without error, also with validateOnly).
	NumPartitions     int32
	ReplicationFactor int16
	Err               error
}

// CreateTopics creates the topics, each atomically (a topic record, its
// partitions and its configs form one log entry). The results are in the
// order of specs. With validateOnly nothing is written and the IDs are
// zero.
func (n *Node) CreateTopics(ctx context.Context, specs []TopicSpec, validateOnly bool) []TopicResult {
	var results []TopicResult
	err := n.run(ctx, func(img *Image) result {
		var r result
		results, r = n.ctl.createTopics(img, specs, validateOnly)
		return r
	})
	if err != nil {
		results = make([]TopicResult, len(specs))
		for i, s := range specs {
			results[i] = TopicResult{Name: s.Name, Err: err}
		}
	}
	return results
}

// createTopics decides a CreateTopics: one batch per valid topic. The
// results are final once done has the batches' outcomes.
func (c *controls) createTopics(img *Image, specs []TopicSpec, validateOnly bool) ([]TopicResult, result) {
	results := make([]TopicResult, len(specs))
	for i, s := range specs {
		results[i].Name = s.Name
	}
	seen := map[string]int{}
	for _, s := range specs {
		seen[s.Name]++
	}
	coll := newCollisionIndex(img)
	newIDs := map[[16]byte]bool{}
	var r result
	var which []int
	for i, s := range specs {
		if seen[s.Name] > 1 {
			results[i].Err = fmt.Errorf("%w: topic %q appears more than once in the request", ErrInvalidRequest, s.Name)
			continue
		}
		plan, err := c.planTopic(img, s, coll, newIDs)
		if err != nil {
			results[i].Err = err
			continue
		}
		coll.add(s.Name)
		results[i].NumPartitions, results[i].ReplicationFactor = plan.partitions, plan.rf
		if !validateOnly {
			results[i].ID = plan.id
			r.batches = append(r.batches, plan.recs)
			which = append(which, i)
		}
	}
	r.done = func(errs []error) {
		for j, err := range errs {
			if err != nil {
				results[which[j]] = TopicResult{Name: results[which[j]].Name, Err: err}
			}
		}
	}
	return results, r
}

// topicPlan is a validated topic creation.
type topicPlan struct {
	recs       []Record
	id         [16]byte
	partitions int32
	rf         int16
}

// planTopic validates one spec against the image and returns its records.
func (c *controls) planTopic(img *Image, s TopicSpec, coll collisionIndex, newIDs map[[16]byte]bool) (topicPlan, error) {
	var none topicPlan
	if err := ValidateTopicName(s.Name); err != nil {
		return none, err
	}
	if IsInternalTopic(s.Name) && !s.Internal {
		return none, fmt.Errorf("%w: topic name %q is reserved for internal use", ErrInvalidTopic, s.Name)
	}
	if img.Topics[s.Name] != nil {
		return none, fmt.Errorf("%w: topic %q already exists", ErrTopicExists, s.Name)
	}
	if err := coll.check(s.Name); err != nil {
		return none, err
	}

	var parts [][]int32
	if s.Assignment != nil {
		if s.NumPartitions > 0 || s.ReplicationFactor > 0 {
			return none, fmt.Errorf("%w: topic %q: both a replica assignment and numPartitions or replicationFactor were given", ErrInvalidRequest, s.Name)
		}
		var err error
		if parts, err = assignmentFromMap(s.Assignment); err != nil {
			return none, err
		}
		if err := checkAssignment(img, 0, parts, len(parts[0])); err != nil {
			return none, err
		}
	} else {
		np, rf := s.NumPartitions, s.ReplicationFactor
		if np == -1 {
			np = c.cfg.DefaultNumPartitions
		}
		if rf == -1 {
			rf = c.cfg.DefaultReplicationFactor
		}
		if np <= 0 {
			return none, fmt.Errorf("%w: number of partitions %d is not positive", ErrInvalidPartitions, np)
		}
		brokers := img.UnfencedBrokerIDs()
		if err := checkReplicationFactor(int(rf), len(brokers)); err != nil {
			return none, err
		}
		parts = assignReplicasFor(img, brokers, topicStart(s.Name, len(brokers)), 0, np, int(rf))
	}

	var configRecs []Record
	for _, name := range slices.Sorted(maps.Keys(s.Configs)) {
		v := s.Configs[name]
		if v == nil {
			return none, fmt.Errorf("%w: topic %q: config %q has a null value", ErrInvalidConfig, s.Name, name)
		}
		if err := c.validateConfig(ConfigResourceTopic, name, v); err != nil {
			return none, err
		}
		configRecs = append(configRecs, &ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: s.Name, Name: name, Value: v})
	}

	plan := topicPlan{id: newTopicID(img, newIDs), partitions: int32(len(parts)), rf: int16(len(parts[0]))}
	plan.recs = []Record{&TopicRecord{Name: s.Name, ID: plan.id}}
	for p, replicas := range parts {
		rec, err := newPartitionRecord(img, plan.id, int32(p), replicas)
		if err != nil {
			return none, err
		}
		plan.recs = append(plan.recs, rec)
	}
	plan.recs = append(plan.recs, configRecs...)
	return plan, nil
}

// DeleteTopics deletes topics by name and by id (DeleteTopics v6+). The
// results hold the names' outcomes in order, then the ids'. A topic named
// more than once fails every time with ErrInvalidRequest.
func (n *Node) DeleteTopics(ctx context.Context, names []string, ids [][16]byte) []TopicResult {
	var results []TopicResult
	err := n.run(ctx, func(img *Image) result {
		var r result
		results, r = deleteTopics(img, names, ids)
		return r
	})
	if err != nil {
		results = make([]TopicResult, len(names)+len(ids))
		for i, name := range names {
			results[i] = TopicResult{Name: name, Err: err}
		}
		for i, id := range ids {
			results[len(names)+i] = TopicResult{ID: id, Err: err}
		}
	}
	return results
}

// deleteTopics decides a DeleteTopics: one RemoveTopic batch per topic.
func deleteTopics(img *Image, names []string, ids [][16]byte) ([]TopicResult, result) {
	results := make([]TopicResult, len(names)+len(ids))
	for i, name := range names {
		results[i].Name = name
	}
	for i, id := range ids {
		results[len(names)+i].ID = id
	}
	topics := make([]*Topic, len(results))
	seen := map[[16]byte]int{}
	for i := range results {
		var t *Topic
		if i < len(names) {
			if t = img.Topics[names[i]]; t == nil {
				results[i].Err = fmt.Errorf("%w: topic %q does not exist", ErrUnknownTopic, names[i])
				continue
			}
		} else {
			id := results[i].ID
			if id == ([16]byte{}) {
				results[i].Err = fmt.Errorf("%w: neither a topic name nor a topic id was given", ErrInvalidRequest)
				continue
			}
			if t = img.TopicsByID[id]; t == nil {
				results[i].Err = fmt.Errorf("%w: no topic has id %s", ErrUnknownTopicID, FormatUUID(id))
				continue
			}
		}
		results[i].Name, results[i].ID = t.Name, t.ID
		topics[i] = t
		seen[t.ID]++
	}
	var r result
	var which []int
	for i, t := range topics {
		if t == nil {
			continue
		}
		if seen[t.ID] > 1 {
			results[i].Err = fmt.Errorf("%w: topic %q appears more than once in the request", ErrInvalidRequest, t.Name)
			continue
		}
		r.batches = append(r.batches, []Record{&RemoveTopicRecord{TopicID: t.ID}})
		which = append(which, i)
	}
	r.done = func(errs []error) {
		for j, err := range errs {
			results[which[j]].Err = err
		}
	}
	return results, r
}

// CreatePartitions raises the partition count of a topic to newCount. An
// explicit assignment gives the replicas of each new partition (len:
// newCount minus the current count); nil assigns automatically with the
// topic's replication factor.
func (n *Node) CreatePartitions(ctx context.Context, topic string, newCount int32, assignment [][]int32, validateOnly bool) error {
	var opErr error
	err := n.run(ctx, func(img *Image) result {
		recs, err := createPartitions(img, topic, newCount, assignment)
		if err != nil || validateOnly {
			opErr = err
			return result{}
		}
		return result{batches: [][]Record{recs}, done: func(errs []error) { opErr = errs[0] }}
	})
	return cmp.Or(err, opErr)
}

// createPartitions decides a CreatePartitions: the records of the new
// partitions, one batch.
func createPartitions(img *Image, topic string, newCount int32, assignment [][]int32) ([]Record, error) {
	t := img.Topics[topic]
	if t == nil {
		return nil, fmt.Errorf("%w: topic %q does not exist", ErrUnknownTopic, topic)
	}
	cur := int32(len(t.Partitions))
	switch {
	case newCount == cur:
		return nil, fmt.Errorf("%w: topic %q already has %d partitions", ErrInvalidPartitions, topic, cur)
	case newCount < cur:
		return nil, fmt.Errorf("%w: topic %q has %d partitions, more than the requested %d; partitions cannot be removed", ErrInvalidPartitions, topic, cur, newCount)
	}
	rf := 1
	if cur > 0 {
		rf = len(t.Partitions[0].Replicas)
	}
	parts := assignment
	if parts != nil {
		if int32(len(parts)) != newCount-cur {
			return nil, fmt.Errorf("%w: topic %q: adding %d partitions but %d assignments were given", ErrInvalidReplicaAssignment, topic, newCount-cur, len(parts))
		}
		if err := checkAssignment(img, cur, parts, rf); err != nil {
			return nil, err
		}
	} else {
		brokers := img.UnfencedBrokerIDs()
		if err := checkReplicationFactor(rf, len(brokers)); err != nil {
			return nil, err
		}
		parts = assignReplicasFor(img, brokers, topicStart(topic, len(brokers)), cur, newCount-cur, rf)
	}
	var recs []Record
	for i, replicas := range parts {
		rec, err := newPartitionRecord(img, t.ID, cur+int32(i), replicas)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// newTopicID returns a random UUID v4 that is not zero and not used.
func newTopicID(img *Image, taken map[[16]byte]bool) [16]byte {
	for {
		var id [16]byte
		_, _ = rand.Read(id[:])
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if img.TopicsByID[id] == nil && !taken[id] {
			taken[id] = true
			return id
		}
	}
}
