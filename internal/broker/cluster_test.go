package broker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/testbroker"
)

func eventually(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterReplicates runs three combined nodes in one process: a topic
// with three replicas created through a broker that may not be the
// controller (forwarded), records produced with acks=all reach every
// replica, byte for byte; stopping a partition leader moves its
// leadership to another ISR member and producing goes on; the stopped
// node comes back, catches up and rejoins the ISR.
func TestClusterReplicates(t *testing.T) {
	c := testbroker.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Create through a node that is not the controller.
	var via *testbroker.Node
	for _, nd := range c.Nodes() {
		if !nd.Srv.Metadata().IsController() {
			via = nd
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(via.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	res, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "rep")
	if err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}

	prod := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("rep"))
	produce := func(from, n int) {
		t.Helper()
		var rs []*kgo.Record
		for i := from; i < from+n; i++ {
			rs = append(rs, &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprint(i))})
		}
		if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce %d..%d: %v", from, from+n, err)
		}
	}
	produce(0, 300)

	// Every replica has every record below the high watermark, the same
	// bytes, and the ISR is whole.
	sameReplicas := func() bool {
		for p := int32(0); p < 3; p++ {
			var leo, hw []int64
			for _, nd := range c.Nodes() {
				if !nd.Running() {
					continue
				}
				rp := nd.Srv.Replicas().Get("rep", p)
				if rp == nil {
					return false
				}
				leo = append(leo, rp.Log.LogEndOffset())
				hw = append(hw, rp.Log.HighWatermark())
			}
			if slices.Min(leo) != slices.Max(leo) || slices.Min(hw) != slices.Max(leo) {
				return false
			}
		}
		return true
	}
	eventually(t, 10*time.Second, "replicas in step", sameReplicas)
	for p := int32(0); p < 3; p++ {
		var first []byte
		for _, nd := range c.Nodes() {
			l := nd.Srv.Replicas().Get("rep", p).Log
			rr, err := l.Read(l.LogStartOffset(), 64<<20, -1, true)
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = rr.Records
			} else if !slices.Equal(first, rr.Records) {
				t.Fatalf("partition %d: node %d's log differs", p, nd.ID)
			}
		}
	}

	// Stop the leader of partition 0: leadership moves within the ISR.
	img := c.Controller().Srv.Metadata().Image()
	p0 := img.Partition("rep", 0)
	old := c.Node(p0.Leader)
	old.Stop()
	eventually(t, 10*time.Second, "a new leader for rep-0", func() bool {
		ctl := c.Controller()
		if ctl == nil {
			return false
		}
		p := ctl.Srv.Metadata().Image().Partition("rep", 0)
		return p.Leader >= 0 && p.Leader != old.ID && !slices.Contains(p.ISR, old.ID)
	})
	produce(300, 300)

	// Back: it catches up and rejoins every ISR.
	old.Start()
	eventually(t, 20*time.Second, "the restarted node back in every ISR", func() bool {
		ctl := c.Controller()
		if ctl == nil {
			return false
		}
		im := ctl.Srv.Metadata().Image()
		for p := int32(0); p < 3; p++ {
			if len(im.Partition("rep", p).ISR) != 3 {
				return false
			}
		}
		return true
	})
	eventually(t, 10*time.Second, "replicas in step again", sameReplicas)

	// Everything produced reads back once, in order per key.
	cons := c.Client(kgo.ConsumeTopics("rep"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]int{}
	for len(seen) < 600 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 600: %v", len(seen), err)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
	}
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("record %s read %d times", v, n)
		}
	}
}
