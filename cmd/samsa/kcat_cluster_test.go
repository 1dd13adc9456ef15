package main

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/testbroker"
)

// kcatPartition is a partition of `kcat -L -J`.
type kcatPartition struct {
	Partition int32 `json:"partition"`
	Leader    int32 `json:"leader"`
	Replicas  []struct {
		ID int32 `json:"id"`
	} `json:"replicas"`
	ISRs []struct {
		ID int32 `json:"id"`
	} `json:"isrs"`
}

// kcatTopic reads topic's partitions as kcat (librdkafka) sees them.
func kcatTopic(t *testing.T, bootstrap, topic string) (brokers int, parts map[int32]kcatPartition) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "kcat", "-b", bootstrap, "-L", "-J", "-t", topic).Output()
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, out)
	}
	var md struct {
		Brokers []struct {
			ID int32 `json:"id"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string          `json:"topic"`
			Partitions []kcatPartition `json:"partitions"`
		} `json:"topics"`
	}
	if err := json.Unmarshal(out, &md); err != nil {
		t.Fatalf("kcat -L -J: %v\n%s", err, out)
	}
	parts = map[int32]kcatPartition{}
	for _, tp := range md.Topics {
		if tp.Topic == topic {
			for _, p := range tp.Partitions {
				parts[p.Partition] = p
			}
		}
	}
	return len(md.Brokers), parts
}

func ids(list []struct {
	ID int32 `json:"id"`
}) []int32 {
	var out []int32
	for _, e := range list {
		out = append(out, e.ID)
	}
	return out
}

// TestKcatSeesClusterChanges checks, with kcat -L (librdkafka's metadata
// view), what the cluster-operations APIs changed: a reassignment moves
// the replicas, and a preferred election after reordering them moves the
// leader; kcat shows every broker and each partition's leader, replicas
// and ISR as the controller has them.
func TestKcatSeesClusterChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster and kcat")
	}
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat not installed")
	}
	c := testbroker.StartCluster(t, 3)
	bootstrap := strings.Join(c.Addrs(), ",")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := c.Admin()
	if _, err := adm.CreateTopic(ctx, 2, 2, nil, "kc"); err != nil {
		t.Fatal(err)
	}
	c.WaitSynced()
	// check waits until the controller has no reassignment in flight on
	// "kc", the replicas wanted, full ISRs (and, with preferred, the
	// first replica leading), then until kcat shows the same leader,
	// replicas and ISR and all three brokers.
	check := func(what string, want map[int32][]int32, preferred bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			img := c.Controller().Srv.Metadata().Image()
			settled := true
			for p, reps := range want {
				st := img.Partition("kc", p)
				settled = settled && st != nil && len(st.AddingReplicas) == 0 && len(st.RemovingReplicas) == 0 &&
					slices.Equal(st.Replicas, reps) && len(st.ISR) == len(reps) && (!preferred || st.Leader == reps[0])
			}
			var n int
			var parts map[int32]kcatPartition
			if settled {
				n, parts = kcatTopic(t, bootstrap, "kc")
				same := n == 3 && len(parts) == len(want)
				for p := range want {
					st, kp := img.Partition("kc", p), parts[p]
					isr, cisr := ids(kp.ISRs), slices.Clone(st.ISR)
					slices.Sort(isr)
					slices.Sort(cisr)
					same = same && kp.Leader == st.Leader && slices.Equal(ids(kp.Replicas), st.Replicas) && slices.Equal(isr, cisr)
				}
				if same {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: controller settled %v; kcat sees %d brokers, %+v; want replicas %v", what, settled, n, parts, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	reassign := func(want map[int32][]int32) {
		t.Helper()
		var req kadm.AlterPartitionAssignmentsReq
		for p, reps := range want {
			req.Assign("kc", p, reps)
		}
		if resp, err := adm.AlterPartitionAssignments(ctx, req); err != nil || resp.Error() != nil {
			t.Fatalf("reassign to %v: %v %v", want, err, resp.Error())
		}
	}

	moved := map[int32][]int32{0: {1, 2}, 1: {2, 3}}
	reassign(moved)
	check("after the first reassignment", moved, false)
	moved = map[int32][]int32{0: {3, 1}, 1: {1, 3}}
	reassign(moved)
	check("after moving every partition", moved, false)

	// Reorder without moving data, so each leader is no longer preferred;
	// a preferred election then puts the new first replica in front.
	reordered := map[int32][]int32{0: {1, 3}, 1: {3, 1}}
	reassign(reordered)
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"kc": {0: {}, 1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ps := range res {
		for _, r := range ps {
			if r.Err != nil && !errors.Is(r.Err, kerr.ElectionNotNeeded) {
				t.Fatalf("elect %d: %v %s", r.Partition, r.Err, r.ErrMessage)
			}
		}
	}
	check("after the preferred election", reordered, true)
}
