package broker_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/testbroker"
)

// Cluster-operation benchmarks (issue 12's performance figures; see
// docs/PERFORMANCE.md "Cluster operations"). Each iteration is one
// operation on an in-process cluster; run them with -benchtime=Nx:
//
//	go test -run '^$' -bench 'Reassign|ElectLeaders' -benchtime 3x ./internal/broker/

// BenchmarkReassignCatchUp adds a replica to a partition that holds
// that many MiB of 1 KiB records (random, uncompressed) and times it from AlterPartitionReassignments
// until the reassignment completed (the new replica caught up and joined
// the ISR), then removes it again, untimed. With a throttle the topic's
// throttled.replicas name both replicas and both brokers' rates are set,
// as `samsa reassign-partitions --throttle` does; "throttle-ratio" is the
// measured rate over the throttle.
func BenchmarkReassignCatchUp(b *testing.B) {
	for _, bc := range []struct {
		name     string
		mib      int
		throttle int64 // bytes per second; 0 none
	}{
		{"unthrottled", 512, 0},
		{"throttle=50MB/s", 256, 50 << 20},
		{"throttle=10MB/s", 64, 10 << 20},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var over []string
			if bc.throttle > 0 {
				r := fmt.Sprint(bc.throttle)
				over = append(over, "leader.replication.throttled.rate="+r, "follower.replication.throttled.rate="+r)
			}
			c := testbroker.StartCluster(b, 2, over...)
			ctx := context.Background()
			adm := c.Admin()
			var cfg map[string]*string
			if bc.throttle > 0 {
				all := "*"
				cfg = map[string]*string{"leader.replication.throttled.replicas": &all, "follower.replication.throttled.replicas": &all}
			}
			if _, err := adm.CreateTopic(ctx, 1, 1, cfg, "catchup"); err != nil {
				b.Fatal(err)
			}
			c.WaitSynced()
			img := c.Controller().Srv.Metadata().Image()
			from := img.Partition("catchup", 0).Replicas[0]
			to := 3 - from
			// The data: that many MiB of 1 KiB records (random, uncompressed), produced with acks=1.
			cl := c.Client(kgo.DefaultProduceTopic("catchup"), kgo.RequiredAcks(kgo.LeaderAck()),
				kgo.DisableIdempotentWrite(), kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
			val := make([]byte, 1024)
			rand.Read(val)
			n := bc.mib << 10
			errs := make(chan error, 1)
			for i := 0; i < n; i++ {
				cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
					if err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			select {
			case err := <-errs:
				b.Fatal(err)
			default:
			}
			reassign := func(replicas []int32) {
				var req kadm.AlterPartitionAssignmentsReq
				req.Assign("catchup", 0, replicas)
				if resp, err := adm.AlterPartitionAssignments(ctx, req); err != nil || resp.Error() != nil {
					b.Fatalf("to %v: %v %v", replicas, err, resp.Error())
				}
				deadline := time.Now().Add(10 * time.Minute)
				for {
					ctl := c.Controller()
					if ctl != nil {
						p := ctl.Srv.Metadata().Image().Partition("catchup", 0)
						if len(p.AddingReplicas) == 0 && len(p.RemovingReplicas) == 0 && slices.Equal(p.Replicas, replicas) && len(p.ISR) == len(replicas) {
							return
						}
					}
					if time.Now().After(deadline) {
						b.Fatalf("reassignment to %v not done", replicas)
					}
					time.Sleep(2 * time.Millisecond)
				}
			}
			var (
				total time.Duration
				size  int64 // the log's bytes
			)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				reassign([]int32{from, to})
				total += time.Since(start)
				b.StopTimer()
				lead, fol := c.Node(from).Srv.Replicas().Get("catchup", 0), c.Node(to).Srv.Replicas().Get("catchup", 0)
				if fol == nil || fol.Log.LogEndOffset() != lead.Log.LogEndOffset() || lead.Log.LogEndOffset() < int64(n) {
					b.Fatalf("reassignment done, new replica not caught up")
				}
				size = lead.Log.Size()
				reassign([]int32{from})
				b.StartTimer()
			}
			b.StopTimer()
			sec := total.Seconds() / float64(b.N)
			mbps := float64(size) / sec / (1 << 20)
			b.ReportMetric(mbps, "MiB/s")
			b.ReportMetric(sec, "s/catch-up")
			if bc.throttle > 0 {
				b.ReportMetric(mbps*(1<<20)/float64(bc.throttle), "throttle-ratio")
			}
		})
	}
}

// BenchmarkElectLeaders1000 times a preferred leader election that moves
// the leadership of 1,000 partitions: each iteration rotates every
// partition's replica order (a reassignment to the same replicas, which
// completes at once; untimed), then sends ElectLeaders PREFERRED for all
// of them and waits until every broker's metadata names the new
// preferred leaders and each new leader's replica leads. "s/answer" is
// the time until ElectLeaders answered; the benchmark's time per op is
// until the last broker applied the last leadership.
func BenchmarkElectLeaders1000(b *testing.B) {
	const parts = 1000
	c := testbroker.StartCluster(b, 3, "auto.leader.rebalance.enable=false")
	ctx := context.Background()
	adm := c.Admin()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "elect", -1, -1
	for p := int32(0); p < parts; p++ {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = p, []int32{1, 2, 3}
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 60000
	resp, err := req.RequestWith(ctx, c.Client())
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		b.Fatalf("create: %v %+v", err, resp)
	}
	c.WaitSynced()
	order := []int32{1, 2, 3}
	// settled reports whether every broker sees leader as the leader of
	// every partition, in its ISR of three, and leader leads them all.
	settled := func(leader int32) bool {
		for _, nd := range c.Nodes() {
			img := nd.Srv.Metadata().Image()
			for p := int32(0); p < parts; p++ {
				st := img.Partition("elect", p)
				if st == nil || st.Leader != leader || len(st.ISR) != 3 {
					return false
				}
			}
		}
		rm := c.Node(leader).Srv.Replicas()
		for p := int32(0); p < parts; p++ {
			if rp := rm.Get("elect", p); rp == nil || !rp.IsLeader() {
				return false
			}
		}
		return true
	}
	wait := func(what string, ok func() bool) {
		deadline := time.Now().Add(2 * time.Minute)
		for !ok() {
			if time.Now().After(deadline) {
				b.Fatalf("timed out: %s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	wait("leaders on broker 1", func() bool { return settled(1) })
	var answered time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		order = append(order[1:], order[0])
		var assign kadm.AlterPartitionAssignmentsReq
		for p := int32(0); p < parts; p++ {
			assign.Assign("elect", p, slices.Clone(order))
		}
		if r, err := adm.AlterPartitionAssignments(ctx, assign); err != nil || r.Error() != nil {
			b.Fatalf("reorder: %v %v", err, r.Error())
		}
		wait("the reorder", func() bool {
			for _, nd := range c.Nodes() {
				img := nd.Srv.Metadata().Image()
				for p := int32(0); p < parts; p++ {
					if st := img.Partition("elect", p); st == nil || !slices.Equal(st.Replicas, order) {
						return false
					}
				}
			}
			return true
		})
		b.StartTimer()
		all := kadm.TopicsSet{}
		for p := int32(0); p < parts; p++ {
			all.Add("elect", p)
		}
		start := time.Now()
		res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, all)
		answered += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		for _, ps := range res {
			for _, r := range ps {
				if r.Err != nil {
					b.Fatalf("elect %d: %v", r.Partition, r.Err)
				}
			}
		}
		wait("leaders moved", func() bool { return settled(order[0]) })
	}
	b.StopTimer()
	b.ReportMetric(answered.Seconds()/float64(b.N), "s/answer")
}
