package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestChaosCompacted is TestChaos on a compacted topic whose cleaner runs
// all the time (maintenance every 300 ms, 1 MiB segments, any dirty ratio,
// replaced files deleted after 100 ms), so that faults land in the middle
// of cleaner passes and segment merges. An idempotent producer writes
// values for 500 keys. Compaction may drop any record but the last of its
// key, so the checks are:
//
//   - for every key, the last acknowledged record (highest offset) is still
//     in the log at its offset with its value, or a later record of the
//     key is (one whose acknowledgement the fault swallowed);
//   - no value is in the log twice, and every record read is one that was
//     produced (nothing half-rewritten);
//   - offsets only grow within a partition;
//   - the cleaner did run: some offsets have no record left.
func TestChaosCompacted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	rounds, rng := chaosRounds(t)
	bin := samsaBinary(t)
	dir := t.TempDir()
	overrides := []string{"log.retention.check.interval.ms=300"}
	p, port, cport := startFreshProc(t, bin, dir, overrides...)
	addr := p.addr

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const topic, keys = "chaos-compacted", 500
	admCl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	if _, err := kadm.NewClient(admCl).CreateTopic(ctx, 2, 1, map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.bytes":             kadm.StringPtr("1048576"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
		"file.delete.delay.ms":      kadm.StringPtr("100"),
	}, topic); err != nil {
		t.Fatal(err)
	}

	prod := chaosProducer(t, addr, topic)
	var (
		mu       sync.Mutex
		lastAck  = map[string]ackedAt{} // key -> its acknowledged record with the highest offset
		lastVal  = map[string]string{}  // key -> that record's value
		produced = map[string]string{}  // value -> key, every record sent
		acked    int
	)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			k, v := fmt.Sprintf("k%03d", i%keys), fmt.Sprintf("v%08d-%0200d", i, 0)
			mu.Lock()
			produced[v] = k
			mu.Unlock()
			prod.Produce(ctx, &kgo.Record{Key: []byte(k), Value: []byte(v)}, func(r *kgo.Record, err error) {
				if err != nil {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				acked++
				if a, ok := lastAck[k]; !ok || r.Offset > a.off {
					lastAck[k], lastVal[k] = ackedAt{r.Partition, r.Offset}, v
				}
			})
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return acked
	}
	waitProgress(t, "before the first fault", ackedCount, 20000)
	runFaults(t, rng, rounds, ackedCount, 20000, p, func(int) {},
		func() *brokerProc { return startProc(t, bin, dir, port, cport, overrides...) })
	time.Sleep(time.Second) // a few more cleaner passes on the final data
	cancel()
	wg.Wait()
	flushClose(t, prod)

	// Read everything that is left.
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer rcancel()
	rd, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	ends, err := kadm.NewClient(rd).ListEndOffsets(rctx, topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("end offsets: %v %v", err, ends.Error())
	}
	done := map[int32]bool{}
	ends.Each(func(o kadm.ListedOffset) { done[o.Partition] = o.Offset == 0 })
	type seen struct {
		off int64
		val string
	}
	last := map[string]seen{} // key -> highest offset read
	values := map[string]bool{}
	prev := map[int32]int64{0: -1, 1: -1}
	read := 0
	for !done[0] || !done[1] {
		fs := rd.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("read %d records, not to the end", read)
		}
		fs.EachRecord(func(r *kgo.Record) {
			read++
			k, v := string(r.Key), string(r.Value)
			if r.Offset <= prev[r.Partition] {
				t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, prev[r.Partition])
			}
			prev[r.Partition] = r.Offset
			if pk, ok := produced[v]; !ok || pk != k {
				t.Fatalf("partition %d offset %d: record %q=%.9s was never produced", r.Partition, r.Offset, k, v)
			}
			if values[v] {
				t.Fatalf("value %.9s is in the log twice", v)
			}
			values[v] = true
			if s, ok := last[k]; !ok || r.Offset > s.off {
				last[k] = seen{r.Offset, v}
			}
			if end, _ := ends.Lookup(topic, r.Partition); r.Offset+1 >= end.Offset {
				done[r.Partition] = true
			}
		})
	}
	for k, a := range lastAck {
		s, ok := last[k]
		switch {
		case !ok || s.off < a.off:
			t.Fatalf("key %s: last acknowledged record (partition %d offset %d) lost; the log's last is at %d (present %v)",
				k, a.part, a.off, s.off, ok)
		case s.off == a.off && s.val != lastVal[k]:
			t.Fatalf("key %s offset %d holds %.9s, acknowledged %.9s", k, a.off, s.val, lastVal[k])
		}
	}
	var offsets int64
	ends.Each(func(o kadm.ListedOffset) { offsets += o.Offset })
	t.Logf("%d records acknowledged, %d left after compaction of %d offsets, %d keys", acked, read, offsets, len(last))
	// How far the cleaner got depends on the machine's load; that it ran
	// at all shows as offsets without a record.
	if int64(read) >= offsets {
		t.Fatalf("%d records left of %d offsets: the cleaner did not run", read, offsets)
	}
}
