package broker_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/testbroker"
)

// TestClusterReassignUnderLoad moves a partition from brokers [1 2] to
// [3 4] while an idempotent acks=all producer writes to it: the new
// replicas catch up, the reassignment completes, the old replicas delete
// their logs, and every acknowledged record reads back exactly once. A
// second reassignment is cancelled in flight and the partition keeps its
// replicas.
func TestClusterReassignUnderLoad(t *testing.T) {
	c := testbroker.StartCluster(t, 4, "replica.fetch.max.bytes=65536")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := kadm.NewClient(c.Client())
	var assign kadm.AlterPartitionAssignmentsReq
	if _, err := adm.CreateTopic(ctx, 1, 2, nil, "move"); err != nil {
		t.Fatal(err)
	}
	c.WaitSynced()
	// Put it on [1 2] first, whatever the placement chose.
	assign.Assign("move", 0, []int32{1, 2})
	if resp, err := adm.AlterPartitionAssignments(ctx, assign); err != nil || resp.Error() != nil {
		t.Fatalf("to [1 2]: %v %v", err, resp.Error())
	}
	replicasOf := func() []int32 {
		ctl := c.Controller()
		if ctl == nil {
			return nil
		}
		p := ctl.Srv.Metadata().Image().Partition("move", 0)
		if len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0 {
			return nil
		}
		return p.Replicas
	}
	eventually(t, 30*time.Second, "replicas [1 2]", func() bool { return slices.Equal(replicasOf(), []int32{1, 2}) })

	prod := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("move"))
	var (
		mu    sync.Mutex
		acked []string
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v := fmt.Sprint(i)
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(v), Key: make([]byte, 512)}).FirstErr(); err == nil {
				mu.Lock()
				acked = append(acked, v)
				mu.Unlock()
			}
		}
	}()
	waitAcked := func(n int) {
		eventually(t, 30*time.Second, fmt.Sprintf("%d acknowledged records", n), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) >= n
		})
	}
	waitAcked(2000)

	assign = nil
	assign.Assign("move", 0, []int32{3, 4})
	if resp, err := adm.AlterPartitionAssignments(ctx, assign); err != nil || resp.Error() != nil {
		t.Fatalf("to [3 4]: %v %v", err, resp.Error())
	}
	eventually(t, 60*time.Second, "the reassignment to [3 4] completed", func() bool { return slices.Equal(replicasOf(), []int32{3, 4}) })
	if l, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"move": {0: {}}}); err != nil || len(l) != 0 {
		t.Fatalf("reassignments still listed: %v %v", l, err)
	}
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	waitAcked(n + 500)

	// A reassignment cancelled in flight (broker 1 is down, so it cannot
	// complete): brokers 3 and 4 stay.
	c.Node(1).Stop()
	eventually(t, 15*time.Second, "broker 1 fenced", func() bool {
		ctl := c.Controller()
		return ctl != nil && ctl.Srv.Metadata().Image().Brokers[1].Fenced
	})
	assign = nil
	assign.Assign("move", 0, []int32{1, 2})
	if resp, err := adm.AlterPartitionAssignments(ctx, assign); err != nil || resp.Error() != nil {
		t.Fatalf("to [1 2] again: %v %v", err, resp.Error())
	}
	l, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"move": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := l["move"][0]
	if !ok || !slices.Equal(r.AddingReplicas, []int32{1, 2}) || !slices.Equal(r.RemovingReplicas, []int32{3, 4}) {
		t.Fatalf("listed reassignment %+v (%v)", r, ok)
	}
	assign = nil
	assign.Assign("move", 0, nil)
	if resp, err := adm.AlterPartitionAssignments(ctx, assign); err != nil || resp.Error() != nil {
		t.Fatalf("cancel: %v %v", err, resp.Error())
	}
	c.Node(1).Start()
	close(stop)
	wg.Wait()
	final := []int32{3, 4}
	eventually(t, 30*time.Second, "replicas [3 4] after the cancel", func() bool { return slices.Equal(replicasOf(), final) })

	// Old replicas' logs are gone, the final ones are in step.
	eventually(t, 30*time.Second, "logs only on the final replicas", func() bool {
		for _, nd := range c.Nodes() {
			has := nd.Srv.Replicas().Get("move", 0) != nil
			if has != slices.Contains(final, nd.ID) {
				return false
			}
		}
		return true
	})
	cons := c.Client(kgo.ConsumeTopics("move"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	seen := map[string]int{}
	mu.Lock()
	want := slices.Clone(acked)
	mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		missing := 0
		for _, v := range want {
			if seen[v] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged records not read", missing, len(want))
		}
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		cons.PollFetches(pctx).EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
		pcancel()
	}
	for v, k := range seen {
		if k != 1 {
			t.Fatalf("record %s read %d times", v, k)
		}
	}
}

// TestClusterDecommissionBroker drains a broker and removes it: its
// partitions are reassigned to the others, it is stopped, and
// UnregisterBroker takes it out of the cluster's metadata.
func TestClusterDecommissionBroker(t *testing.T) {
	c := testbroker.StartCluster(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := kadm.NewClient(c.Client())
	if _, err := adm.CreateTopic(ctx, 4, 2, nil, "drain"); err != nil {
		t.Fatal(err)
	}
	c.WaitSynced()
	img := c.Controller().Srv.Metadata().Image()
	var assign kadm.AlterPartitionAssignmentsReq
	for _, p := range img.Topic("drain").Partitions {
		if slices.Contains(p.Replicas, 4) {
			// Keep the replicas not on 4, fill up from 1, 2, 3.
			to := slices.DeleteFunc(slices.Clone(p.Replicas), func(b int32) bool { return b == 4 })
			for _, b := range []int32{1, 2, 3} {
				if len(to) < 2 && !slices.Contains(to, b) {
					to = append(to, b)
				}
			}
			assign.Assign("drain", p.Partition, to)
		}
	}
	if len(assign) > 0 {
		if resp, err := adm.AlterPartitionAssignments(ctx, assign); err != nil || resp.Error() != nil {
			t.Fatalf("drain: %v %v", err, resp.Error())
		}
	}
	eventually(t, 30*time.Second, "nothing on broker 4", func() bool {
		ctl := c.Controller()
		if ctl == nil {
			return false
		}
		for _, p := range ctl.Srv.Metadata().Image().Topic("drain").Partitions {
			if slices.Contains(p.Replicas, 4) {
				return false
			}
		}
		return c.Node(4).Srv.Replicas().Get("drain", 0) == nil
	})
	// Broker 4 is a voter here: only its broker side is decommissioned.
	c.Node(4).Stop()
	req := kmsg.NewPtrUnregisterBrokerRequest()
	req.BrokerID = 4
	resp, err := req.RequestWith(ctx, c.Client())
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("unregister: %v %+v", err, resp)
	}
	eventually(t, 10*time.Second, "broker 4 gone from the metadata", func() bool {
		mreq := kmsg.NewPtrMetadataRequest()
		mresp, err := mreq.RequestWith(ctx, c.Client())
		if err != nil {
			return false
		}
		for _, b := range mresp.Brokers {
			if b.NodeID == 4 {
				return false
			}
		}
		return true
	})
	if _, ok := c.Controller().Srv.Metadata().Image().Brokers[4]; ok {
		t.Fatal("broker 4 still registered")
	}
	again := kmsg.NewPtrUnregisterBrokerRequest()
	again.BrokerID = 4
	if resp, err := again.RequestWith(ctx, c.Client()); err != nil || resp.ErrorCode != kerr.BrokerIDNotRegistered.Code {
		t.Fatalf("unregister twice: %v %+v", err, resp)
	}
}
