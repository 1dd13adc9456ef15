package metadata

import (
	"fmt"
	"maps"
	"slices"
)

// applyBatch returns the image that results from applying the records of
// one log entry (raft index index) to prev. prev is not modified. The batch
// is atomic: on error the returned image is nil and nothing of the batch
// counts. Every node applies the same batches to the same images, so an
// error is the same everywhere.
func applyBatch(prev *Image, index uint64, recs []Record) (*Image, *Delta, error) {
	next := *prev
	b := &imageBuilder{next: &next, delta: &Delta{}}
	for i, r := range recs {
		if err := b.apply(r, index); err != nil {
			return nil, nil, fmt.Errorf("record %d (%s) at index %d: %w", i, r.RecordType(), index, err)
		}
	}
	next.Offset = index
	if b.delta.Features {
		next.FeaturesOffset = index
	}
	return &next, b.delta, nil
}

// imageBuilder copies the maps, topics and config sets of the image on their
// first change in a batch and changes the copies in place afterwards.
type imageBuilder struct {
	next  *Image
	delta *Delta

	ownBrokers     bool
	ownTopicMaps   bool
	ownConfigs     bool
	ownFeatures    bool
	ownedTopics    map[[16]byte]bool
	ownedResources map[ConfigResource]bool
}

func (b *imageBuilder) apply(r Record, index uint64) error {
	switch r := r.(type) {
	case *ClusterIDRecord:
		if b.next.ClusterID == "" {
			b.next.ClusterID = r.ClusterID
		}
		return nil
	case *RegisterBrokerRecord:
		return b.registerBroker(r, index)
	case *TopicRecord:
		return b.addTopic(r)
	case *PartitionRecord:
		return b.addPartition(r)
	case *PartitionChangeRecord:
		return b.changePartition(r)
	case *RemoveTopicRecord:
		return b.removeTopic(r)
	case *ConfigRecord:
		return b.setConfig(r)
	case *BrokerRegistrationChangeRecord:
		return b.changeBroker(r)
	case *UnregisterBrokerRecord:
		old := b.next.Brokers[r.BrokerID]
		if old == nil || old.Epoch != r.BrokerEpoch {
			return fmt.Errorf("%w: broker %d at epoch %d is not registered", ErrInvalidRecord, r.BrokerID, r.BrokerEpoch)
		}
		if !b.ownBrokers {
			b.next.Brokers = maps.Clone(b.next.Brokers)
			b.ownBrokers = true
		}
		delete(b.next.Brokers, r.BrokerID)
		b.delta.Brokers = true
		return nil
	case *FeatureLevelRecord:
		return b.setFeature(r)
	case *ProducerIDsRecord:
		if r.NextBlockStart <= b.next.NextProducerID {
			return fmt.Errorf("%w: producer id block start %d not above %d", ErrInvalidRecord, r.NextBlockStart, b.next.NextProducerID)
		}
		b.next.NextProducerID = r.NextBlockStart
		return nil
	}
	return fmt.Errorf("%w: unexpected record %T", ErrInvalidRecord, r)
}

func (b *imageBuilder) registerBroker(r *RegisterBrokerRecord, index uint64) error {
	if r.BrokerID < 0 {
		return fmt.Errorf("%w: broker id %d", ErrInvalidRecord, r.BrokerID)
	}
	if !b.ownBrokers {
		b.next.Brokers = maps.Clone(b.next.Brokers)
		b.ownBrokers = true
	}
	var rack *string
	if r.Rack != nil {
		s := *r.Rack
		rack = &s
	}
	b.next.Brokers[r.BrokerID] = &Broker{
		ID:            r.BrokerID,
		IncarnationID: r.IncarnationID,
		Endpoints:     slices.Clone(r.Endpoints),
		Rack:          rack,
		Fenced:        r.Fenced,
		Epoch:         int64(index),
		Features:      maps.Clone(r.Features),
	}
	b.delta.Brokers = true
	return nil
}

// setFeature finalizes a feature level. Any level is applied, also one
// this build does not support (a newer controller's): every node must
// reach the same image; broker registration refuses a broker that does
// not support the finalized levels.
func (b *imageBuilder) setFeature(r *FeatureLevelRecord) error {
	if r.Name == "" || r.FeatureLevel < 0 {
		return fmt.Errorf("%w: feature %q level %d", ErrInvalidRecord, r.Name, r.FeatureLevel)
	}
	if r.Name == FeatureMetadataVersion && r.FeatureLevel == 0 {
		return fmt.Errorf("%w: metadata.version cannot be removed", ErrInvalidRecord)
	}
	if !b.ownFeatures {
		b.next.Features = maps.Clone(b.next.Features)
		if b.next.Features == nil {
			b.next.Features = map[string]int16{}
		}
		b.ownFeatures = true
	}
	if r.FeatureLevel == 0 {
		delete(b.next.Features, r.Name)
	} else {
		b.next.Features[r.Name] = r.FeatureLevel
	}
	b.delta.Features = true
	return nil
}

func (b *imageBuilder) changeBroker(r *BrokerRegistrationChangeRecord) error {
	old := b.next.Brokers[r.BrokerID]
	if old == nil {
		return fmt.Errorf("%w: broker %d is not registered", ErrInvalidRecord, r.BrokerID)
	}
	if old.Epoch != r.BrokerEpoch {
		return fmt.Errorf("%w: broker %d has epoch %d, the change is for %d", ErrInvalidRecord, r.BrokerID, old.Epoch, r.BrokerEpoch)
	}
	if !b.ownBrokers {
		b.next.Brokers = maps.Clone(b.next.Brokers)
		b.ownBrokers = true
	}
	c := *old
	if r.Fenced != nil {
		c.Fenced = *r.Fenced
	}
	if r.InControlledShutdown != nil {
		c.InControlledShutdown = *r.InControlledShutdown
	}
	b.next.Brokers[r.BrokerID] = &c
	b.delta.Brokers = true
	return nil
}

func (b *imageBuilder) cloneTopicMaps() {
	if !b.ownTopicMaps {
		b.next.Topics = maps.Clone(b.next.Topics)
		b.next.TopicsByID = maps.Clone(b.next.TopicsByID)
		b.ownTopicMaps = true
	}
}

// ownTopic returns a copy of the topic that this batch may change, nil when
// the topic does not exist.
func (b *imageBuilder) ownTopic(id [16]byte) *Topic {
	t := b.next.TopicsByID[id]
	if t == nil || b.ownedTopics[id] {
		return t
	}
	c := *t
	c.Partitions = slices.Clone(t.Partitions)
	c.Configs = maps.Clone(t.Configs)
	b.cloneTopicMaps()
	b.next.Topics[c.Name] = &c
	b.next.TopicsByID[id] = &c
	b.markOwned(id)
	return &c
}

func (b *imageBuilder) markOwned(id [16]byte) {
	if b.ownedTopics == nil {
		b.ownedTopics = map[[16]byte]bool{}
	}
	b.ownedTopics[id] = true
	b.delta.touch(id)
}

func (b *imageBuilder) addTopic(r *TopicRecord) error {
	if err := ValidateTopicName(r.Name); err != nil {
		return err
	}
	if _, ok := b.next.Topics[r.Name]; ok {
		return fmt.Errorf("%w: topic %q", ErrTopicExists, r.Name)
	}
	if r.ID == ([16]byte{}) {
		return fmt.Errorf("%w: topic %q has the zero id", ErrInvalidRecord, r.Name)
	}
	if _, ok := b.next.TopicsByID[r.ID]; ok {
		return fmt.Errorf("%w: topic id %s already used", ErrInvalidRecord, FormatUUID(r.ID))
	}
	b.cloneTopicMaps()
	t := &Topic{Name: r.Name, ID: r.ID}
	b.next.Topics[r.Name] = t
	b.next.TopicsByID[r.ID] = t
	b.markOwned(r.ID)
	return nil
}

func (b *imageBuilder) addPartition(r *PartitionRecord) error {
	t := b.ownTopic(r.TopicID)
	if t == nil {
		return fmt.Errorf("%w: %s", ErrUnknownTopicID, FormatUUID(r.TopicID))
	}
	if int(r.Partition) != len(t.Partitions) {
		return fmt.Errorf("%w: partition %d of topic %q added when it has %d", ErrInvalidRecord, r.Partition, t.Name, len(t.Partitions))
	}
	if err := checkPartitionState(r.Replicas, r.ISR, r.Leader); err != nil {
		return fmt.Errorf("partition %s-%d: %w", t.Name, r.Partition, err)
	}
	t.Partitions = append(t.Partitions, &Partition{
		Partition:      r.Partition,
		Replicas:       slices.Clone(r.Replicas),
		ISR:            slices.Clone(r.ISR),
		Leader:         r.Leader,
		LeaderEpoch:    r.LeaderEpoch,
		PartitionEpoch: r.PartitionEpoch,
	})
	return nil
}

func (b *imageBuilder) changePartition(r *PartitionChangeRecord) error {
	old := b.next.TopicsByID[r.TopicID]
	if old == nil {
		return fmt.Errorf("%w: %s", ErrUnknownTopicID, FormatUUID(r.TopicID))
	}
	if r.Partition < 0 || int(r.Partition) >= len(old.Partitions) {
		return fmt.Errorf("%w: partition %d of topic %q", ErrUnknownTopic, r.Partition, old.Name)
	}
	p := *old.Partitions[r.Partition]
	if r.Replicas != nil {
		p.Replicas = slices.Clone(r.Replicas)
	}
	if r.ISR != nil {
		p.ISR = slices.Clone(r.ISR)
	}
	if r.AddingReplicas != nil {
		p.AddingReplicas = nilIfEmpty(r.AddingReplicas)
	}
	if r.RemovingReplicas != nil {
		p.RemovingReplicas = nilIfEmpty(r.RemovingReplicas)
	}
	if r.Leader != nil && *r.Leader != p.Leader {
		p.Leader = *r.Leader
		p.LeaderEpoch++
	} else if r.BumpLeaderEpoch {
		p.LeaderEpoch++
	}
	p.PartitionEpoch++
	for _, a := range append(slices.Clone(p.AddingReplicas), p.RemovingReplicas...) {
		if !slices.Contains(p.Replicas, a) {
			return fmt.Errorf("%w: partition %s-%d: reassigned replica %d not among the replicas %v", ErrInvalidRecord, old.Name, r.Partition, a, p.Replicas)
		}
	}
	if err := checkPartitionState(p.Replicas, p.ISR, p.Leader); err != nil {
		return fmt.Errorf("partition %s-%d: %w", old.Name, r.Partition, err)
	}
	t := b.ownTopic(r.TopicID)
	t.Partitions[r.Partition] = &p
	return nil
}

func nilIfEmpty(s []int32) []int32 {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// checkPartitionState checks the invariants every partition keeps.
func checkPartitionState(replicas, isr []int32, leader int32) error {
	if len(replicas) == 0 {
		return fmt.Errorf("%w: no replicas", ErrInvalidRecord)
	}
	for i, r := range replicas {
		if r < 0 || slices.Contains(replicas[:i], r) {
			return fmt.Errorf("%w: bad replica list %v", ErrInvalidRecord, replicas)
		}
	}
	for _, r := range isr {
		if !slices.Contains(replicas, r) {
			return fmt.Errorf("%w: ISR %v not within replicas %v", ErrInvalidRecord, isr, replicas)
		}
	}
	if leader != -1 && !slices.Contains(replicas, leader) {
		return fmt.Errorf("%w: leader %d not a replica of %v", ErrInvalidRecord, leader, replicas)
	}
	return nil
}

func (b *imageBuilder) removeTopic(r *RemoveTopicRecord) error {
	t := b.next.TopicsByID[r.TopicID]
	if t == nil {
		return fmt.Errorf("%w: %s", ErrUnknownTopicID, FormatUUID(r.TopicID))
	}
	b.cloneTopicMaps()
	delete(b.next.Topics, t.Name)
	delete(b.next.TopicsByID, r.TopicID)
	b.delta.touch(r.TopicID)
	return nil
}

func (b *imageBuilder) setConfig(r *ConfigRecord) error {
	if r.Name == "" {
		return fmt.Errorf("%w: config record without a name", ErrInvalidRecord)
	}
	switch r.ResourceType {
	case ConfigResourceTopic:
		old := b.next.Topics[r.ResourceName]
		if old == nil {
			return fmt.Errorf("%w: config for topic %q", ErrUnknownTopic, r.ResourceName)
		}
		t := b.ownTopic(old.ID)
		t.Configs = setOrDelete(t.Configs, r.Name, r.Value)
		return nil
	case ConfigResourceBroker:
		res := ConfigResource{Type: r.ResourceType, Name: r.ResourceName}
		if !b.ownConfigs {
			b.next.Configs = maps.Clone(b.next.Configs)
			b.ownConfigs = true
		}
		set := b.next.Configs[res]
		if !b.ownedResources[res] {
			set = maps.Clone(set)
			if b.ownedResources == nil {
				b.ownedResources = map[ConfigResource]bool{}
			}
			b.ownedResources[res] = true
		}
		set = setOrDelete(set, r.Name, r.Value)
		b.delta.BrokerConfigs = true
		if set == nil {
			delete(b.next.Configs, res)
		} else {
			b.next.Configs[res] = set
		}
		return nil
	}
	return fmt.Errorf("%w: config resource type %d", ErrInvalidRecord, r.ResourceType)
}

// setOrDelete changes a config set the caller owns; an emptied set becomes
// nil.
func setOrDelete(set map[string]string, name string, value *string) map[string]string {
	if value == nil {
		delete(set, name)
		if len(set) == 0 {
			return nil
		}
		return set
	}
	if set == nil {
		set = map[string]string{}
	}
	set[name] = *value
	return set
}
