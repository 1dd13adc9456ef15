package metadata

import (
	"fmt"
	"strings"
	"testing"
)

func applyDelta(t *testing.T, im *Image, index uint64, recs ...Record) (*Image, *Delta) {
	t.Helper()
	next, d, err := applyBatch(im, index, recs)
	if err != nil {
		t.Fatalf("apply at %d: %v", index, err)
	}
	return next, d
}

func describeLocal(lc LocalChanges) string {
	var b strings.Builder
	for _, part := range []struct {
		name string
		ps   []LocalPartition
	}{{"delete", lc.Deletes}, {"lead", lc.Leaders}, {"follow", lc.Followers}} {
		for _, lp := range part.ps {
			fmt.Fprintf(&b, "%s %s-%d;", part.name, lp.Topic.Name, lp.Partition.Partition)
		}
	}
	return b.String()
}

// TestDeltaLocalChanges checks that a batch's delta names what it touched
// and that LocalChanges sorts it, for one node, into deletes, leaders and
// followers, visiting only those topics; merged deltas cover both steps.
func TestDeltaLocalChanges(t *testing.T) {
	im := baseImage(t)
	// Node 1 leads a-1 and follows a-0; a leader change of a-0 to node 1.
	next, d := applyDelta(t, im, 4, &PartitionChangeRecord{TopicID: idA, Partition: 0, Leader: i32p(1)})
	if !d.TouchesTopic(idA) || d.TouchesTopic(idB) || d.Brokers {
		t.Fatalf("delta %+v", d)
	}
	if got, want := describeLocal(d.LocalChanges(im, next, 1)), "lead a-0;lead a-1;"; got != want {
		t.Fatalf("node 1: %q, want %q", got, want)
	}
	if got, want := describeLocal(d.LocalChanges(im, next, 0)), "follow a-0;follow a-1;"; got != want {
		t.Fatalf("node 0: %q, want %q", got, want)
	}
	// Topic b is not visited: node 0's b-0 does not appear.
	if got := describeLocal(d.LocalChanges(im, next, 0)); strings.Contains(got, "b-0") {
		t.Fatalf("untouched topic visited: %q", got)
	}

	// Removing b and re-creating a topic of the same name: the old one is
	// deleted, the new one led, in one merged delta.
	idB2 := [16]byte{9}
	n2, d2 := applyDelta(t, next, 5, &RemoveTopicRecord{TopicID: idB})
	n3, d3 := applyDelta(t, n2, 6, &TopicRecord{Name: "b", ID: idB2},
		&PartitionRecord{TopicID: idB2, Partition: 0, Replicas: []int32{0, 1}, ISR: []int32{0, 1}, Leader: 0})
	merged := &Delta{}
	merged.Merge(d2)
	merged.Merge(d3)
	lc := merged.LocalChanges(next, n3, 0)
	if got, want := describeLocal(lc), "delete b-0;lead b-0;"; got != want {
		t.Fatalf("re-created topic: %q, want %q", got, want)
	}
	if lc.Deletes[0].Topic.ID != idB || lc.Leaders[0].Topic.ID != idB2 {
		t.Fatal("the delete must name the old topic id, the leader the new one")
	}

	// A broker config change may change every topic's effective config:
	// every local partition is visited.
	n4, d4 := applyDelta(t, n3, 7, &ConfigRecord{ResourceType: ConfigResourceBroker, Name: "log.retention.ms", Value: strp("1")})
	if !d4.BrokerConfigs {
		t.Fatal("broker config change not in the delta")
	}
	if got, want := describeLocal(d4.LocalChanges(n3, n4, 1)), "lead a-0;lead a-1;follow b-0;"; got != want {
		t.Fatalf("after a broker config change: %q, want %q", got, want)
	}

	// A node taken out of the replicas deletes its replica.
	n5, d5 := applyDelta(t, n4, 8, &PartitionChangeRecord{TopicID: idB2, Partition: 0, Replicas: []int32{0}, ISR: []int32{0}})
	if got, want := describeLocal(d5.LocalChanges(n4, n5, 1)), "delete b-0;"; got != want {
		t.Fatalf("replica removed: %q, want %q", got, want)
	}

	// The first delta a subscriber gets is Full: everything, from nothing.
	full := &Delta{Full: true}
	if got, want := describeLocal(full.LocalChanges(nil, n5, 0)), "lead b-0;follow a-0;follow a-1;"; got != want {
		t.Fatalf("full: %q, want %q", got, want)
	}
}
