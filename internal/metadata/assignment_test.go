package metadata

import (
	"errors"
	"slices"
	"testing"
)

func TestAssignReplicas(t *testing.T) {
	brokers := []int32{1, 2, 3, 5}
	parts := assignReplicas(brokers, 2, 0, 12, 3)
	leaders := map[int32]int{}
	followers := map[[2]int32]int{}
	for p, r := range parts {
		if len(r) != 3 {
			t.Fatalf("partition %d: %v", p, r)
		}
		for j, b := range r {
			if slices.Contains(r[:j], b) || !slices.Contains(brokers, b) {
				t.Fatalf("partition %d: %v", p, r)
			}
		}
		leaders[r[0]]++
		followers[[2]int32{r[0], r[1]}]++
	}
	if parts[0][0] != 3 { // start 2 -> brokers[2]
		t.Fatalf("first leader %d", parts[0][0])
	}
	for _, b := range brokers {
		if leaders[b] != 3 {
			t.Fatalf("leaders not balanced: %v", leaders)
		}
	}
	// Each leader's first follower varies across rounds.
	if len(followers) < 8 {
		t.Fatalf("followers not spread: %v", followers)
	}
	// Continuing from partition 12 matches assigning 0..15 at once.
	more := assignReplicas(brokers, 2, 12, 4, 3)
	all := assignReplicas(brokers, 2, 0, 16, 3)
	if !slices.EqualFunc(more, all[12:], slices.Equal) {
		t.Fatalf("continuation %v != %v", more, all[12:])
	}
	if got := assignReplicas([]int32{7}, 0, 0, 2, 1); !slices.EqualFunc(got, [][]int32{{7}, {7}}, slices.Equal) {
		t.Fatalf("single broker: %v", got)
	}
}

func TestCheckAssignment(t *testing.T) {
	im := emptyImage()
	for _, id := range []int32{0, 1, 2} {
		im.Brokers[id] = &Broker{ID: id}
	}
	im.Brokers[2].Fenced = true
	if err := checkAssignment(im, 0, [][]int32{{0, 1}, {1, 2}}, 2); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		parts [][]int32
		rf    int
	}{
		"duplicate":      {[][]int32{{0, 0}}, 2},
		"unknown broker": {[][]int32{{0, 9}}, 2},
		"uneven rf":      {[][]int32{{0, 1}, {1}}, 2},
		"empty":          {[][]int32{{}}, 0},
	} {
		if err := checkAssignment(im, 0, tc.parts, tc.rf); !errors.Is(err, ErrInvalidReplicaAssignment) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := assignmentFromMap(map[int32][]int32{0: {0}, 2: {1}}); !errors.Is(err, ErrInvalidReplicaAssignment) {
		t.Errorf("gap: %v", err)
	}
	if _, err := assignmentFromMap(map[int32][]int32{}); !errors.Is(err, ErrInvalidReplicaAssignment) {
		t.Errorf("empty map: %v", err)
	}
	// Fenced replicas stay out of the ISR; all fenced is an error.
	rec, err := newPartitionRecord(im, [16]byte{1}, 0, []int32{2, 1})
	if err != nil || rec.Leader != 1 || !slices.Equal(rec.ISR, []int32{1}) {
		t.Fatalf("%+v %v", rec, err)
	}
	if _, err := newPartitionRecord(im, [16]byte{1}, 0, []int32{2}); !errors.Is(err, ErrInvalidReplicaAssignment) {
		t.Fatalf("all fenced: %v", err)
	}
}

func TestEditList(t *testing.T) {
	for _, tc := range []struct {
		list, change string
		add          bool
		want         string
	}{
		{"delete", "compact", true, "delete,compact"},
		{"delete,compact", "compact", true, "delete,compact"},
		{"", "compact", true, "compact"},
		{"delete,compact", "delete", false, "compact"},
		{"compact", "compact", false, ""},
		{"a, b ,c", "b,x", false, "a,c"},
	} {
		if got := editList(tc.list, tc.change, tc.add); got != tc.want {
			t.Errorf("editList(%q, %q, %v) = %q, want %q", tc.list, tc.change, tc.add, got, tc.want)
		}
	}
}

// TestAssignReplicasRackAware checks that with broker.rack set every
// partition's replicas span as many racks as the replication factor
// allows, leaders spread evenly, and no broker repeats in a partition.
func TestAssignReplicasRackAware(t *testing.T) {
	brokers := []int32{1, 2, 3, 4, 5, 6}
	racks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
	parts := assignReplicasRackAware(brokers, racks, 0, 0, 60, 3)
	leaders := map[int32]int{}
	for p, reps := range parts {
		seen := map[string]bool{}
		for i, b := range reps {
			if slices.Contains(reps[:i], b) {
				t.Fatalf("partition %d lists broker %d twice: %v", p, b, reps)
			}
			seen[racks[b]] = true
		}
		if len(seen) != 3 {
			t.Fatalf("partition %d: replicas %v span racks %v, want all three", p, reps, seen)
		}
		leaders[reps[0]]++
	}
	for _, b := range brokers {
		if leaders[b] != 10 {
			t.Fatalf("leaders per broker %v, want 10 each", leaders)
		}
	}
	// Two racks, RF 3: both racks, one of them twice.
	two := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b"}
	for p, reps := range assignReplicasRackAware([]int32{1, 2, 3, 4}, two, 1, 0, 8, 3) {
		seen := map[string]bool{}
		for _, b := range reps {
			seen[two[b]] = true
		}
		if len(reps) != 3 || len(seen) != 2 {
			t.Fatalf("partition %d: %v", p, reps)
		}
	}
}
