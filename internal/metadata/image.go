package metadata

import (
	"encoding/base64"
	"slices"
)

// Kafka's ConfigResourceType values used by the image.
const (
	ConfigResourceTopic  int8 = 2
	ConfigResourceBroker int8 = 4
)

// ConfigResource names a config resource. A broker resource with Name ""
// is the cluster-wide default broker config; otherwise Name is a broker id
// in decimal or a topic name.
type ConfigResource struct {
	Type int8
	Name string
}

// Image is the cluster metadata at one raft index. An Image is immutable:
// consumers must treat every field, map, slice and pointed-to struct as
// read-only. Each applied log entry produces a new Image that shares all
// unchanged maps, topics and partitions with the previous one (copy on
// write), so holding an old Image is cheap and always consistent.
type Image struct {
	ClusterID string
	// Offset is the raft index of the last log entry applied to the image
	// (entries that carry no records, such as raft's own no-op and
	// configuration entries, do not move it).
	Offset uint64
	// ControllerID is the node id of the raft leader, -1 when none is
	// known. It is not part of the replicated state: each node sets it
	// from its own view of raft.
	ControllerID int32
	Brokers      map[int32]*Broker
	Topics       map[string]*Topic
	TopicsByID   map[[16]byte]*Topic
	// Configs holds broker configs (Type ConfigResourceBroker); topic
	// configs are in Topic.Configs. ConfigsFor reads either.
	Configs map[ConfigResource]map[string]string
	// NextProducerID is the first producer id not yet handed out.
	NextProducerID int64
	// Features are the finalized feature levels (above 0 only), with
	// metadata.version once the log has feature records (features.go).
	Features map[string]int16
	// FeaturesOffset is the raft index of the last entry that changed a
	// feature level, 0 before the first.
	FeaturesOffset uint64
}

// Topic is one topic. Partitions[i].Partition == i.
type Topic struct {
	Name       string
	ID         [16]byte
	Partitions []*Partition
	Configs    map[string]string // topic-level overrides only
}

// Partition is one partition's replica assignment and leadership.
type Partition struct {
	Partition int32
	Replicas  []int32
	ISR       []int32
	// AddingReplicas and RemovingReplicas are set while a reassignment
	// runs: Replicas is then the target followed by the replicas being
	// removed, AddingReplicas the target's new ones (catching up as
	// followers), RemovingReplicas the ones that leave once every adding
	// replica is in the ISR.
	AddingReplicas   []int32 `json:",omitempty"`
	RemovingReplicas []int32 `json:",omitempty"`
	Leader           int32   // -1: no leader
	LeaderEpoch      int32
	PartitionEpoch   int32
}

// Broker is one registered broker.
type Broker struct {
	ID            int32
	IncarnationID [16]byte
	Endpoints     []Endpoint
	Rack          *string
	// Fenced: the broker may not lead or be added to an ISR. A broker
	// registers fenced, is unfenced once its heartbeats show it caught up
	// with the metadata log, and is fenced again when its heartbeats stop
	// (broker.session.timeout.ms) or its controlled shutdown ends.
	Fenced bool
	// InControlledShutdown: the broker asked to shut down; its
	// leaderships are being moved away and it gets no new ones.
	InControlledShutdown bool
	// Epoch is the raft index of the broker's latest registration.
	Epoch int64
	// Features are the feature levels the broker supports, nil when its
	// registration predates feature versions (then taken as this build's).
	Features map[string]FeatureRange `json:",omitempty"`
}

// Usable reports whether the broker may lead partitions and join ISRs.
func (b *Broker) Usable() bool { return b != nil && !b.Fenced && !b.InControlledShutdown }

// emptyImage returns an image with no state and no known controller.
func emptyImage() *Image {
	return &Image{
		ControllerID: -1,
		Brokers:      map[int32]*Broker{},
		Topics:       map[string]*Topic{},
		TopicsByID:   map[[16]byte]*Topic{},
		Configs:      map[ConfigResource]map[string]string{},
	}
}

// Topic returns the named topic or nil.
func (im *Image) Topic(name string) *Topic { return im.Topics[name] }

// TopicByID returns the topic with the id or nil.
func (im *Image) TopicByID(id [16]byte) *Topic { return im.TopicsByID[id] }

// Partition returns one partition or nil.
func (im *Image) Partition(topic string, partition int32) *Partition {
	t := im.Topics[topic]
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return nil
	}
	return t.Partitions[partition]
}

// BrokerIDs returns the ids of all registered brokers, sorted.
func (im *Image) BrokerIDs() []int32 {
	ids := make([]int32, 0, len(im.Brokers))
	for id := range im.Brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// UnfencedBrokerIDs returns the ids of the brokers that may take new
// replicas (unfenced, not shutting down), sorted.
func (im *Image) UnfencedBrokerIDs() []int32 {
	ids := make([]int32, 0, len(im.Brokers))
	for id, b := range im.Brokers {
		if b.Usable() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// BrokerUsable reports whether broker id is registered, unfenced and not
// shutting down.
func (im *Image) BrokerUsable(id int32) bool { return im.Brokers[id].Usable() }

// ConfigsFor returns the dynamic configs of a resource (topic overrides for
// a topic, dynamic broker configs for a broker), nil when there are none.
func (im *Image) ConfigsFor(res ConfigResource) map[string]string {
	if res.Type == ConfigResourceTopic {
		if t := im.Topics[res.Name]; t != nil {
			return t.Configs
		}
		return nil
	}
	return im.Configs[res]
}

// FormatUUID renders a topic id as Kafka does (URL-safe base64, no padding).
func FormatUUID(id [16]byte) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}
