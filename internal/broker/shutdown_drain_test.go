package broker_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/testbroker"
)

// TestClusterShutdownDrainRedirects stops (controlled shutdown) the
// leader of a partition under a producer whose metadata may not be
// refreshed for a minute: it can only find the new leader through the
// NOT_LEADER_OR_FOLLOWER answers with leader hints (KIP-951) that the
// stopping broker gives while it drains. Its records must go on being
// acknowledged well within that minute.
func TestClusterShutdownDrainRedirects(t *testing.T) {
	c := testbroker.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := c.Admin()
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "drain"); err != nil {
		t.Fatal(err)
	}
	c.WaitSynced()
	leader := c.Controller().Srv.Metadata().Image().Partition("drain", 0).Leader
	var others []string
	for _, nd := range c.Nodes() {
		if nd.ID != leader {
			others = append(others, nd.Addr())
		}
	}
	// Seeded with the brokers that stay, so that a reconnect to a seed
	// cannot stand in for the hint.
	prod, err := kgo.NewClient(kgo.SeedBrokers(others...), kgo.DefaultProduceTopic("drain"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MetadataMinAge(time.Minute), kgo.MetadataMaxAge(time.Minute),
		kgo.RecordDeliveryTimeout(80*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var (
		stopped atomic.Bool
		after   atomic.Int64          // acknowledgements after the leader stopped
		done    = make(chan struct{}) // closed: the producing loop stops
		wg      sync.WaitGroup
	)
	wg.Add(1)
	go func() { // keep a produce in flight
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			r := &kgo.Record{Value: []byte(fmt.Sprint(i))}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				continue
			}
			if stopped.Load() {
				after.Add(1)
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	c.Node(leader).Stop()
	stopped.Store(true)
	deadline := time.Now().Add(20 * time.Second)
	for after.Load() < 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(done)
	prod.Close() // fails a produce still waiting for a metadata refresh
	wg.Wait()
	if n := after.Load(); n < 20 {
		t.Fatalf("%d records acknowledged in 20 s after the leader's controlled shutdown: the producer did not follow the leader hint", n)
	}
	if nl := c.Controller().Srv.Metadata().Image().Partition("drain", 0).Leader; nl == leader || nl < 0 {
		t.Fatalf("leader %d after stopping %d", nl, leader)
	}
}
