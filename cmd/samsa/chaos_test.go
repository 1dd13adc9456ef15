package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestChaos runs an idempotent acks=all producer and a consumer group
// against the binary while the broker is repeatedly SIGKILLed and
// restarted, or SIGSTOPped for longer than a heartbeat and resumed. The
// clients live through every fault, as applications do. At the end it
// checks the properties of the reliability checklist that one node can
// show:
//
//   - every acknowledged record is in the log, at the offset it was
//     acknowledged with (no acknowledged write lost);
//   - no record is in the log twice (the idempotent producer's retries
//     across a crash are recognised: producer state survives recovery);
//   - each partition's offsets run from its start without a gap (one
//     record per offset);
//   - the group's committed offsets never go backwards across restarts.
//
// Three faults run in the default suite (about 15 s); SAMSA_CHAOS_ROUNDS=N
// runs N, for a soak.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	rounds, rng := chaosRounds(t)
	bin := samsaBinary(t)
	dir := t.TempDir()
	p, port, cport := startFreshProc(t, bin, dir)
	addr := p.addr

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const topic, group = "chaos", "chaos-group"
	admCl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, topic); err != nil {
		t.Fatal(err)
	}

	prod := chaosProducer(t, addr, topic)
	var (
		mu     sync.Mutex
		acked  = map[string]ackedAt{}
		failed int
	)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			v := fmt.Sprintf("r%07d-%s", i, make([]byte, 100))
			prod.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(r *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed++
					return
				}
				acked[string(r.Value)] = ackedAt{r.Partition, r.Offset}
			})
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()

	// The group member: consumes and commits what it polled.
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var consumed sync.Map // partition -> highest offset polled + 1
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { consumed.Store(r.Partition, r.Offset+1) })
			// Errors during an outage are expected; the client retries.
			cons.CommitUncommittedOffsets(ctx)
		}
	}()

	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	lastCommitted := map[int32]int64{}
	checkCommits := func(round int) {
		t.Helper()
		var offs kadm.OffsetResponses
		deadline := time.Now().Add(30 * time.Second)
		for {
			offs, err = adm.FetchOffsets(ctx, group)
			if err == nil && offs.Error() == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: fetching committed offsets: %v / %v", round, err, offs.Error())
			}
			time.Sleep(100 * time.Millisecond)
		}
		offs.Each(func(o kadm.OffsetResponse) {
			if o.At < lastCommitted[o.Partition] {
				t.Errorf("round %d: partition %d committed offset went back from %d to %d",
					round, o.Partition, lastCommitted[o.Partition], o.At)
			}
			lastCommitted[o.Partition] = o.At
		})
	}

	committedSum := func() int64 {
		var n int64
		for _, o := range lastCommitted {
			n += o
		}
		return n
	}
	waitProgress(t, "before the first fault", ackedCount, 3000)
	checkCommits(0)
	firstCommitted := committedSum()
	runFaults(t, rng, rounds, ackedCount, 2000, p, checkCommits,
		func() *brokerProc { return startProc(t, bin, dir, port, cport) })
	// The group kept consuming and committing through the faults.
	deadline := time.Now().Add(30 * time.Second)
	for checkCommits(rounds + 1); committedSum() <= firstCommitted; checkCommits(rounds + 1) {
		if time.Now().After(deadline) {
			t.Fatalf("the group committed nothing after the faults (%d before them)", firstCommitted)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("the group committed %d offsets before the faults, %d after", firstCommitted, committedSum())

	// Stop the clients, keep the broker: what is in the log now is final.
	// Flush waits for every record's callback, so acked is complete.
	cancel()
	wg.Wait()
	flushClose(t, prod)
	cons.Close()
	mu.Lock()
	want := acked
	t.Logf("%d records acknowledged, %d failed (not acknowledged: may or may not be in the log)", len(want), failed)
	mu.Unlock()

	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer rcancel()
	verify(t, rctx, addr, topic, want)
}

// chaosRounds is the number of faults (3, or SAMSA_CHAOS_ROUNDS) and a
// random source whose seed is logged, so a failing run can be replayed.
func chaosRounds(t *testing.T) (int, *rand.Rand) {
	rounds := 3
	if v := os.Getenv("SAMSA_CHAOS_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SAMSA_CHAOS_ROUNDS=%q", v)
		}
		rounds = n
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d rounds", seed, rounds)
	return rounds, rand.New(rand.NewPCG(seed, seed))
}

// chaosProducer is the chaos tests' producer: idempotent (kgo's default),
// acks=all, retrying through the outages.
func chaosProducer(t *testing.T, addr, topic string) *kgo.Client {
	t.Helper()
	prod, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(time.Millisecond), kgo.RecordDeliveryTimeout(2*time.Minute),
		kgo.RetryTimeout(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return prod
}

// flushClose waits until every record's callback has run, then closes.
func flushClose(t *testing.T, prod *kgo.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := prod.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	prod.Close()
}

// waitProgress waits until count has grown by more (a minute at most).
func waitProgress(t *testing.T, what string, count func() int, more int) {
	t.Helper()
	from := count()
	deadline := time.Now().Add(60 * time.Second)
	for count() < from+more {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no progress (%d acknowledged)", what, count())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runFaults hits the broker rounds times (see fault), calling before(round)
// first and waiting for step more acknowledgements after each. It returns
// the broker running at the end.
func runFaults(t *testing.T, rng *rand.Rand, rounds int, acked func() int, step int,
	p *brokerProc, before func(round int), restart func() *brokerProc) *brokerProc {
	t.Helper()
	for round := 1; round <= rounds; round++ {
		before(round)
		p = fault(t, rng, round, acked(), p, restart)
		waitProgress(t, fmt.Sprintf("round %d", round), acked, step)
	}
	return p
}

// fault hits the broker once: one time in three a SIGSTOP of 1-3 s, else a
// SIGKILL at a random moment and, after a random pause, a restart. It
// returns the broker now running.
func fault(t *testing.T, rng *rand.Rand, round, acked int, p *brokerProc, restart func() *brokerProc) *brokerProc {
	t.Helper()
	if rng.IntN(3) == 0 {
		d := time.Duration(1000+rng.IntN(2000)) * time.Millisecond
		t.Logf("round %d: SIGSTOP for %v (%d acknowledged)", round, d, acked)
		p.cmd.Process.Signal(syscall.SIGSTOP)
		time.Sleep(d)
		p.cmd.Process.Signal(syscall.SIGCONT)
		return p
	}
	time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
	t.Logf("round %d: SIGKILL (%d acknowledged)", round, acked)
	p.kill()
	time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
	return restart()
}

// ackedAt is where a record was acknowledged.
type ackedAt struct {
	part int32
	off  int64
}

// verify reads the whole topic and checks it against the acknowledged
// records (value -> where): each at its place, none twice, no gaps.
func verify(t *testing.T, ctx context.Context, addr, topic string, acked map[string]ackedAt) {
	t.Helper()
	rd, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	adm := kadm.NewClient(rd)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("end offsets: %v %v", err, ends.Error())
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil || starts.Error() != nil {
		t.Fatalf("start offsets: %v %v", err, starts.Error())
	}
	var total int64
	next := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(topic, o.Partition)
		total += o.Offset - s.Offset
		next[o.Partition] = s.Offset
	})
	where := map[string][2]int64{}
	for read := int64(0); read < total; {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", read, total)
		}
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatal(err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			read++
			if r.Offset != next[r.Partition] {
				t.Fatalf("partition %d: offset %d after %d (a gap or a repeat)", r.Partition, r.Offset, next[r.Partition]-1)
			}
			next[r.Partition]++
			v := string(r.Value)
			if prev, dup := where[v]; dup {
				t.Fatalf("record %.8s is in the log twice: partition %d offset %d and partition %d offset %d",
					v, prev[0], prev[1], r.Partition, r.Offset)
			}
			where[v] = [2]int64{int64(r.Partition), r.Offset}
		})
	}
	for v, a := range acked {
		got, ok := where[v]
		if !ok {
			t.Fatalf("acknowledged record %.8s (partition %d offset %d) lost", v, a.part, a.off)
		}
		if got != [2]int64{int64(a.part), a.off} {
			t.Fatalf("acknowledged record %.8s at partition %d offset %d, acknowledged at %d/%d", v, got[0], got[1], a.part, a.off)
		}
	}
	t.Logf("verified %d records in the log, %d acknowledged", total, len(acked))
}
