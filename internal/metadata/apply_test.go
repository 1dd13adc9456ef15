package metadata

import (
	"errors"
	"reflect"
	"testing"
)

func strp(s string) *string { return &s }
func i32p(v int32) *int32   { return &v }

func mustApply(t *testing.T, im *Image, index uint64, recs ...Record) *Image {
	t.Helper()
	next, _, err := applyBatch(im, index, recs)
	if err != nil {
		t.Fatalf("apply at %d: %v", index, err)
	}
	return next
}

var (
	idA = [16]byte{1}
	idB = [16]byte{2}
)

// baseImage has brokers 0..2, topic "a" (2 partitions) and topic "b".
func baseImage(t *testing.T) *Image {
	im := emptyImage()
	im = mustApply(t, im, 1, &ClusterIDRecord{ClusterID: "c1"},
		&RegisterBrokerRecord{BrokerID: 0, Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "h0", Port: 9092}}},
		&RegisterBrokerRecord{BrokerID: 1, Rack: strp("r1")},
		&RegisterBrokerRecord{BrokerID: 2, Fenced: true})
	im = mustApply(t, im, 2, &TopicRecord{Name: "a", ID: idA},
		&PartitionRecord{TopicID: idA, Partition: 0, Replicas: []int32{0, 1}, ISR: []int32{0, 1}, Leader: 0},
		&PartitionRecord{TopicID: idA, Partition: 1, Replicas: []int32{1, 0}, ISR: []int32{1, 0}, Leader: 1},
		&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "a", Name: "cleanup.policy", Value: strp("compact")})
	im = mustApply(t, im, 3, &TopicRecord{Name: "b", ID: idB},
		&PartitionRecord{TopicID: idB, Partition: 0, Replicas: []int32{0}, ISR: []int32{0}, Leader: 0})
	return im
}

func TestApplyRecords(t *testing.T) {
	im := baseImage(t)
	if im.ClusterID != "c1" || im.Offset != 3 {
		t.Fatalf("cluster id %q offset %d", im.ClusterID, im.Offset)
	}
	if b := im.Brokers[1]; b == nil || *b.Rack != "r1" || b.Epoch != 1 || b.Fenced {
		t.Fatalf("broker 1: %+v", b)
	}
	if got := im.UnfencedBrokerIDs(); !reflect.DeepEqual(got, []int32{0, 1}) {
		t.Fatalf("unfenced %v", got)
	}
	a := im.Topic("a")
	if a == nil || a.ID != idA || len(a.Partitions) != 2 || im.TopicByID(idA) != a || a.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("topic a: %+v", a)
	}
	if p := im.Partition("a", 1); p.Leader != 1 || !reflect.DeepEqual(p.Replicas, []int32{1, 0}) {
		t.Fatalf("a-1: %+v", p)
	}

	// A second ClusterID record is ignored.
	im2 := mustApply(t, im, 4, &ClusterIDRecord{ClusterID: "other"})
	if im2.ClusterID != "c1" {
		t.Fatalf("cluster id changed to %q", im2.ClusterID)
	}

	// Re-registration replaces and gets a new epoch.
	im3 := mustApply(t, im, 5, &RegisterBrokerRecord{BrokerID: 2})
	if b := im3.Brokers[2]; b.Fenced || b.Epoch != 5 {
		t.Fatalf("broker 2: %+v", b)
	}

	// Broker configs, cluster default and per broker; delete removes the set.
	im4 := mustApply(t, im, 6,
		&ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "", Name: "log.retention.ms", Value: strp("1000")},
		&ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "1", Name: "x", Value: strp("y")})
	if im4.ConfigsFor(ConfigResource{Type: ConfigResourceBroker})["log.retention.ms"] != "1000" ||
		im4.ConfigsFor(ConfigResource{Type: ConfigResourceBroker, Name: "1"})["x"] != "y" {
		t.Fatalf("broker configs %v", im4.Configs)
	}
	im5 := mustApply(t, im4, 7, &ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "1", Name: "x"})
	if _, ok := im5.Configs[ConfigResource{Type: ConfigResourceBroker, Name: "1"}]; ok {
		t.Fatal("emptied config set still present")
	}
	if im4.Configs[ConfigResource{Type: ConfigResourceBroker, Name: "1"}]["x"] != "y" {
		t.Fatal("delete changed the previous image")
	}

	// Producer ids move forward only.
	im6 := mustApply(t, im, 8, &ProducerIDsRecord{NextBlockStart: 1000})
	if im6.NextProducerID != 1000 {
		t.Fatalf("next producer id %d", im6.NextProducerID)
	}
	if _, _, err := applyBatch(im6, 9, []Record{&ProducerIDsRecord{NextBlockStart: 1000}}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("producer ids backwards: %v", err)
	}

	// RemoveTopic drops the topic and its configs.
	im7 := mustApply(t, im, 10, &RemoveTopicRecord{TopicID: idA})
	if im7.Topic("a") != nil || im7.TopicByID(idA) != nil || im7.ConfigsFor(ConfigResource{Type: ConfigResourceTopic, Name: "a"}) != nil {
		t.Fatal("topic a still there")
	}
	if im.Topic("a") == nil {
		t.Fatal("remove changed the previous image")
	}
}

func TestApplyPartitionChange(t *testing.T) {
	im := baseImage(t)
	// ISR shrink only: partition epoch moves, leader epoch does not.
	im2 := mustApply(t, im, 4, &PartitionChangeRecord{TopicID: idA, Partition: 0, ISR: []int32{0}})
	p := im2.Partition("a", 0)
	if p.LeaderEpoch != 0 || p.PartitionEpoch != 1 || !reflect.DeepEqual(p.ISR, []int32{0}) {
		t.Fatalf("after ISR change: %+v", p)
	}
	// Leader change bumps both.
	im3 := mustApply(t, im2, 5, &PartitionChangeRecord{TopicID: idA, Partition: 0, Leader: i32p(1), ISR: []int32{1}})
	p = im3.Partition("a", 0)
	if p.Leader != 1 || p.LeaderEpoch != 1 || p.PartitionEpoch != 2 {
		t.Fatalf("after leader change: %+v", p)
	}
	// Same leader again: no leader epoch bump.
	im4 := mustApply(t, im3, 6, &PartitionChangeRecord{TopicID: idA, Partition: 0, Leader: i32p(1)})
	if p := im4.Partition("a", 0); p.LeaderEpoch != 1 || p.PartitionEpoch != 3 {
		t.Fatalf("after no-op leader: %+v", p)
	}
	// Invalid changes fail and leave nothing behind.
	for _, r := range []*PartitionChangeRecord{
		{TopicID: idA, Partition: 0, Leader: i32p(2)},            // not a replica
		{TopicID: idA, Partition: 0, ISR: []int32{0, 2}},         // ISR outside replicas
		{TopicID: idA, Partition: 0, Replicas: []int32{}},        // no replicas
		{TopicID: idA, Partition: 7, ISR: []int32{0}},            // no such partition
		{TopicID: [16]byte{9}, Partition: 0, Leader: i32p(0)},    // no such topic
		{TopicID: idA, Partition: 0, Replicas: []int32{0, 0, 1}}, // duplicate replica
	} {
		if _, _, err := applyBatch(im4, 7, []Record{r}); err == nil {
			t.Errorf("change %+v applied", r)
		}
	}
	// The other partitions and topics are shared, the changed ones are not.
	if im.Partition("a", 0).PartitionEpoch != 0 || im.Partition("a", 0).Leader != 0 {
		t.Fatal("previous image changed")
	}
	if im2.Partition("a", 1) != im.Partition("a", 1) || im2.Topic("b") != im.Topic("b") {
		t.Fatal("unchanged partition or topic was copied")
	}
	if im2.Topic("a") == im.Topic("a") {
		t.Fatal("changed topic shared")
	}
	if !reflect.DeepEqual(im.Partition("a", 0).ISR, []int32{0, 1}) {
		t.Fatal("previous ISR changed")
	}
}

func TestApplyCopyOnWrite(t *testing.T) {
	im := baseImage(t)
	snapshot := func(im *Image) []byte { return mustJSON(t, newSnapshotImage(im)) }
	before := snapshot(im)
	_ = mustApply(t, im, 4,
		&TopicRecord{Name: "c", ID: [16]byte{3}},
		&PartitionRecord{TopicID: [16]byte{3}, Partition: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1},
		&PartitionRecord{TopicID: idA, Partition: 2, Replicas: []int32{0}, ISR: []int32{0}, Leader: 0},
		&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "a", Name: "cleanup.policy"},
		&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "b", Name: "retention.ms", Value: strp("5")},
		&ConfigRecord{ResourceType: ConfigResourceBroker, Name: "k", Value: strp("v")},
		&RegisterBrokerRecord{BrokerID: 0, Fenced: true},
		&RemoveTopicRecord{TopicID: idB},
		&ProducerIDsRecord{NextBlockStart: 5000},
	)
	if after := snapshot(im); string(after) != string(before) {
		t.Fatalf("previous image changed:\n%s\n%s", before, after)
	}
	// A failing batch changes nothing, not even the parts before the
	// failing record.
	if _, _, err := applyBatch(im, 5, []Record{
		&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "a", Name: "x", Value: strp("1")},
		&TopicRecord{Name: "a", ID: [16]byte{4}},
	}); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate topic: %v", err)
	}
	if after := snapshot(im); string(after) != string(before) {
		t.Fatal("failed batch changed the image")
	}
}

func TestApplyRejects(t *testing.T) {
	im := baseImage(t)
	for name, rec := range map[string]Record{
		"topic exists":        &TopicRecord{Name: "a", ID: [16]byte{5}},
		"id taken":            &TopicRecord{Name: "z", ID: idA},
		"zero id":             &TopicRecord{Name: "z"},
		"bad name":            &TopicRecord{Name: "a b", ID: [16]byte{5}},
		"partition gap":       &PartitionRecord{TopicID: idA, Partition: 3, Replicas: []int32{0}, Leader: 0},
		"partition exists":    &PartitionRecord{TopicID: idA, Partition: 1, Replicas: []int32{0}, Leader: 0},
		"partition no topic":  &PartitionRecord{TopicID: [16]byte{5}, Replicas: []int32{0}},
		"remove unknown":      &RemoveTopicRecord{TopicID: [16]byte{5}},
		"config no topic":     &ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "zz", Name: "x", Value: strp("1")},
		"config bad type":     &ConfigRecord{ResourceType: 8, ResourceName: "x", Name: "x", Value: strp("1")},
		"config without name": &ConfigRecord{ResourceType: ConfigResourceBroker},
		"negative broker":     &RegisterBrokerRecord{BrokerID: -1},
	} {
		if _, _, err := applyBatch(im, 4, []Record{rec}); err == nil {
			t.Errorf("%s: applied", name)
		}
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	recs := []Record{
		&ClusterIDRecord{ClusterID: "c"},
		&RegisterBrokerRecord{BrokerID: 3, Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "h", Port: 9092, SecurityProtocol: 0}}, Rack: strp("r"), Fenced: true},
		&TopicRecord{Name: "t", ID: [16]byte{1, 2, 3}},
		&PartitionRecord{TopicID: [16]byte{1}, Partition: 2, Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 5},
		&PartitionChangeRecord{TopicID: [16]byte{1}, Partition: 2, Leader: i32p(-1), ISR: []int32{}},
		&PartitionChangeRecord{TopicID: [16]byte{1}, Partition: 2, Replicas: []int32{3}},
		&RemoveTopicRecord{TopicID: [16]byte{1}},
		&ConfigRecord{ResourceType: 2, ResourceName: "t", Name: "n", Value: strp("v")},
		&ConfigRecord{ResourceType: 4, ResourceName: "", Name: "n"},
		&ProducerIDsRecord{NextBlockStart: 2000},
	}
	b, err := EncodeBatch(recs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, recs) {
		t.Fatalf("round trip:\n%#v\n%#v", got, recs)
	}
	// nil vs empty ISR survives: nil means unchanged, empty is a change.
	if got[4].(*PartitionChangeRecord).ISR == nil || got[5].(*PartitionChangeRecord).ISR != nil {
		t.Fatal("ISR nil/empty lost")
	}
	for _, bad := range []string{
		`[{"type":"Nope","v":0,"data":{}}]`,
		`[{"type":"Topic","v":9,"data":{}}]`,
		`[{"type":"Topic","v":0,"data":[]}]`,
		`{`,
	} {
		if _, err := DecodeBatch([]byte(bad)); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
