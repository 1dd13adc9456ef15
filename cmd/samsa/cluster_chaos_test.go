package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/storage"
)

// TestClusterChaos is the Jepsen-style safety test of replication: three
// `samsa server` processes (combined broker and controller), each in its
// own network namespace with a client network and an internal network
// (netns_test.go), a topic with replication factor 3 and
// min.insync.replicas=2, idempotent acks=all producers and a consumer
// group committing offsets, and a seeded random schedule of faults:
//
//   - kill: SIGKILL the leader of a partition, a follower of it, the
//     active controller, or the transaction or group coordinator of the
//     exactly-once workers (cluster_chaos_eos_test.go); restart it after a
//     pause;
//   - stop: SIGSTOP one of those for 1-3 s (longer than the 2 s broker
//     session), then SIGCONT;
//   - cut: take a partition leader's (or the controller's) internal link
//     down for 3-7 s: it is cut off from its followers and the quorum
//     while clients still reach it (a zombie leader), then heal;
//   - bounce: 2-4 SIGKILL/restart in a row, each as soon as the previous
//     node serves again (not caught up);
//   - rekill: SIGKILL a partition's leader, then its successor as soon as
//     it is elected, and restart both;
//   - truncate: SIGKILL a node, cut the last KiBs off the active segment
//     of one of its partitions (a lost unflushed tail, as after a power
//     failure) and restart it: recovery and replication must repair it;
//   - reassign: move a partition off one of its replicas and back under
//     the load (the replica deletes its log, then copies the partition
//     again from scratch and rejoins the ISR);
//   - elect: a preferred leader election of every partition;
//   - min-ISR: SIGKILL one node, wait until it left every ISR, SIGKILL a
//     second one: a produce with acks=all to the survivor must fail
//     (NOT_ENOUGH_REPLICAS or a timeout), and no acknowledgement may
//     arrive while only one node is up.
//
// Each fault starts from a healthy cluster (all nodes serving, every ISR
// full) and is followed by progress of the producers. At the end every
// fault is healed, the cluster converges (same log end offset and high
// watermark on every node), the clients stop, the whole topic is read
// back through the brokers, the nodes are shut down cleanly and their log
// dirs opened with the storage package. It fails, listing every
// violation, if:
//
//   - an acknowledged record is missing, or not at the offset it was
//     acknowledged with (through the brokers, and on each replica);
//   - a record is in a partition twice, or an offset is missing or
//     repeated, or two acknowledgements name the same offset;
//   - a consumer read a record that is not in the final log at that
//     offset (a read of uncommitted data);
//   - the replicas are not byte-identical up to the high watermark, or
//     their log end offsets differ after convergence;
//   - the group's committed offsets went back, at a moment the cluster was
//     healthy, or below an offset commit that was acknowledged; or a
//     committed offset is past the end of its partition;
//   - anything was acknowledged in the min-ISR phase;
//   - a broker exited by itself;
//   - the cluster does not heal: two minutes after a fault was undone, a
//     replica is still out of an ISR (or a partition has no leader). The
//     remaining faults are then skipped, but the checks above still run.
//
// The exactly-once workers copy the topic in transactions meanwhile and
// are checked at the end (cluster_chaos_eos_test.go).
//
// A default run (8 faults, each kind once, and a min-ISR phase) takes
// about 100 s on two cores; SAMSA_CLUSTER_CHAOS_ROUNDS=50 with -timeout 60m is a soak of
// about 10 minutes.
//
// SAMSA_CLUSTER_CHAOS_SEED=N replays a schedule (the seed is logged;
// the moments of the faults, and so the nodes hit, still vary),
// SAMSA_CLUSTER_CHAOS_ROUNDS=N runs N random faults (default 8, plus one
// min-ISR phase per 10), SAMSA_CLUSTER_CHAOS_KEEP=DIR copies the nodes'
// logs and data there when the test fails. Needs root and ip netns.
func TestClusterChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three brokers in network namespaces")
	}
	seed, rounds := clusterChaosParams(t)
	lab := newNetLab(t, 3)
	bin := samsaBinary(t)
	r := newChaosRun(t, lab, bin, seed, rounds)
	r.run()
}

const (
	ccTopic      = "chaos"
	ccGroup      = "chaos-group"
	ccPartitions = 6
	ccNodes      = 3
)

func clusterChaosParams(t *testing.T) (seed uint64, rounds int) {
	seed = uint64(time.Now().UnixNano())
	if v := os.Getenv("SAMSA_CLUSTER_CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SAMSA_CLUSTER_CHAOS_SEED=%q", v)
		}
		seed = s
	}
	rounds = 8
	if v := os.Getenv("SAMSA_CLUSTER_CHAOS_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SAMSA_CLUSTER_CHAOS_ROUNDS=%q", v)
		}
		rounds = n
	}
	return seed, rounds
}

// ccFault is one planned fault. The roles are resolved to nodes when it
// runs (who leads what depends on the earlier faults).
type ccFault struct {
	action string // kill, stop, cut, bounce, truncate, rekill, reassign, elect, min-isr
	role   string // leader, follower, controller, txn-coordinator, group-coordinator
	part   int32  // the partition whose leader or follower is meant
	pick   int    // which follower, which survivor
	delay  time.Duration
	dur    time.Duration // stop or cut length, pause before a restart
	bounce []ccFault     // the steps of a bounce
	cut    int64         // bytes cut off a segment
}

func (f ccFault) String() string {
	switch f.action {
	case "bounce":
		var s []string
		for _, b := range f.bounce {
			s = append(s, fmt.Sprintf("%s(p%d)+%v", b.role, b.part, b.dur))
		}
		return "bounce " + strings.Join(s, ", ")
	case "min-isr":
		return fmt.Sprintf("min-isr (pick %d)", f.pick)
	case "truncate":
		return fmt.Sprintf("truncate %s of p%d: -%d bytes, restart after %v", f.role, f.part, f.cut, f.dur)
	case "rekill":
		return fmt.Sprintf("rekill leader of p%d and its successor, restart after %v", f.part, f.dur)
	case "reassign":
		return fmt.Sprintf("reassign p%d off one replica and back (pick %d)", f.part, f.pick)
	case "elect":
		return "preferred leader election of every partition"
	}
	who := f.role
	if f.role == "leader" || f.role == "follower" {
		who = fmt.Sprintf("%s of p%d", f.role, f.part)
	}
	return fmt.Sprintf("%s %s for %v (after %v)", f.action, who, f.dur, f.delay)
}

// planFaults draws the schedule: the random actions in shuffled blocks of
// all eight (so the default run has each once), min-ISR phases at random
// places, one per 10 rounds.
func planFaults(rng *rand.Rand, rounds int) []ccFault {
	actions := []string{"kill", "stop", "cut", "bounce", "truncate", "rekill", "reassign", "elect"}
	// The coordinators are those of the exactly-once workers: the
	// transaction coordinator of one's transactional id, the group
	// coordinator of their group.
	roles := []string{"leader", "follower", "controller", "txn-coordinator", "group-coordinator"}
	var out []ccFault
	var perm []int
	for i := 0; i < rounds; i++ {
		if i%len(actions) == 0 {
			perm = rng.Perm(len(actions))
		}
		f := ccFault{
			action: actions[perm[i%len(actions)]],
			role:   roles[rng.IntN(len(roles))],
			part:   int32(rng.IntN(ccPartitions)),
			pick:   rng.IntN(2),
			delay:  time.Duration(rng.IntN(500)) * time.Millisecond,
		}
		switch f.action {
		case "kill":
			f.dur = time.Duration(rng.IntN(3000)) * time.Millisecond
		case "stop":
			f.dur = time.Duration(1000+rng.IntN(2000)) * time.Millisecond
		case "cut":
			f.dur = time.Duration(3000+rng.IntN(4000)) * time.Millisecond
			if f.role == "follower" {
				f.role = "leader"
			}
		case "bounce":
			for j := 1 + rng.IntN(3); j >= 0; j-- {
				f.bounce = append(f.bounce, ccFault{
					role: roles[rng.IntN(len(roles))], part: int32(rng.IntN(ccPartitions)), pick: rng.IntN(2),
					dur: time.Duration(rng.IntN(1000)) * time.Millisecond,
				})
			}
		case "truncate":
			if f.role != "leader" && f.role != "follower" {
				f.role = "leader"
			}
			f.cut = int64(1024 + rng.IntN(15*1024))
			f.dur = time.Duration(rng.IntN(2000)) * time.Millisecond
		case "rekill":
			f.role = "leader"
			f.dur = time.Duration(rng.IntN(500)) * time.Millisecond
		}
		out = append(out, f)
	}
	for k := 0; k < 1+rounds/10; k++ {
		at := rng.IntN(len(out) + 1)
		out = slices.Insert(out, at, ccFault{action: "min-isr", pick: rng.IntN(1 << 20)})
	}
	return out
}

// ccAck is where and when a record was acknowledged.
type ccAck struct {
	part int32
	off  int64
	at   time.Time
}

type ccEvent struct {
	at  time.Time
	msg string
}

type ccViolation struct {
	kind string
	msg  string
}

// chaosRun is the state of one run: the cluster, the clients, what they
// saw, the violations found.
type chaosRun struct {
	t      *testing.T
	lab    *netLab
	rng    *rand.Rand // the schedule
	rt     *rand.Rand // choices at run time (their number depends on timing)
	seed   uint64
	faults []ccFault
	nodes  []*clusterNode // index id-1
	tmp    string
	start  time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// stopProducing ends the producers' loops; they then wait for every
	// record's outcome.
	stopProducing chan struct{}
	prodWG        sync.WaitGroup

	admCl   *kgo.Client
	adm     *kadm.Client
	nodeCls []*kgo.Client // one per node, seeded with it only
	http    *httpGetter

	mu         sync.Mutex
	events     []ccEvent
	violations []ccViolation
	acked      map[string]ccAck    // record id -> where acknowledged
	ackedAt    map[[2]int64]string // (partition, offset) -> id acknowledged there
	failed     map[string]int      // produce errors, by text
	nProduced  atomic.Int64
	consumed   map[[2]int64]string // (partition, offset) -> id read there
	commitAck  map[int32]int64     // highest offset commit acknowledged per partition
	commitObs  map[int32]int64     // highest committed offset observed per partition
	lastCheck  map[int32]int64     // committed offsets at the last healthy checkpoint
	stale      []string            // committed offsets seen going back during a fault
	phaseFrom  time.Time           // acks after this (and before phaseTo) are violations
	phaseTo    time.Time
	phaseAcks  []ccPhaseAck

	// degraded: the cluster did not recover from a fault; the final
	// checks wait less for it.
	degraded bool

	// eos is the exactly-once workers (cluster_chaos_eos_test.go).
	eos *ccEOS

	// faultSeq is odd while a fault is in progress (from its start until
	// the cluster is healthy again), even in steady state.
	faultSeq atomic.Int64
}

func newChaosRun(t *testing.T, lab *netLab, bin string, seed uint64, rounds int) *chaosRun {
	r := &chaosRun{
		t: t, lab: lab, seed: seed, rng: rand.New(rand.NewPCG(seed, seed^0x5ca1ab1e)),
		rt:  rand.New(rand.NewPCG(seed, 7)),
		tmp: t.TempDir(), start: time.Now(),
		acked: map[string]ccAck{}, ackedAt: map[[2]int64]string{}, failed: map[string]int{},
		consumed: map[[2]int64]string{}, commitAck: map[int32]int64{}, commitObs: map[int32]int64{},
		lastCheck: map[int32]int64{},
		http:      newHTTPGetter(),
	}
	r.faults = planFaults(r.rng, rounds)
	t.Logf("seed %d (SAMSA_CLUSTER_CHAOS_SEED=%d replays it), %d faults:", seed, seed, len(r.faults))
	for i, f := range r.faults {
		t.Logf("  fault %d: %s", i+1, f)
	}
	for id := 1; id <= ccNodes; id++ {
		r.nodes = append(r.nodes, &clusterNode{
			id: id, bin: bin, ns: labNS(id), peers: ccNodes,
			dataDir: filepath.Join(r.tmp, fmt.Sprintf("data-%d", id)),
			logPath: filepath.Join(r.tmp, fmt.Sprintf("node-%d.log", id)),
			extra: []string{
				"min.insync.replicas=2",
				"default.replication.factor=3",
				"offsets.topic.replication.factor=3",
				"offsets.topic.num.partitions=4",
				"num.partitions=3",
				"log.segment.bytes=1048576", // several segments per partition: recovery crosses rolls
				"group.initial.rebalance.delay.ms=500",
				"auto.create.topics.enable=false",
			},
		})
		r.nodes[id-1].extra = append(r.nodes[id-1].extra, eosConfigs...)
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.stopProducing = make(chan struct{})
	// One cleanup for the end of the run, registered after the lab's so
	// it runs first: report (on failure), stop the clients and nodes,
	// keep the evidence if asked to.
	t.Cleanup(r.cleanup)
	return r
}

func (r *chaosRun) cleanup() {
	t := r.t
	r.cancel()
	select {
	case <-r.stopProducing:
	default:
		close(r.stopProducing)
	}
	r.prodWG.Wait()
	r.wg.Wait()
	if t.Failed() {
		r.report()
	}
	for _, cl := range r.nodeCls {
		cl.Close()
	}
	if r.admCl != nil {
		r.admCl.Close()
	}
	for _, n := range r.nodes {
		n.kill()
	}
	if dst := os.Getenv("SAMSA_CLUSTER_CHAOS_KEEP"); dst != "" && t.Failed() {
		dst = filepath.Join(dst, fmt.Sprintf("cluster-chaos-%d-%d", r.seed, time.Now().Unix()))
		if err := copyTree(r.tmp, dst); err != nil {
			t.Logf("keeping the evidence: %v", err)
		} else {
			t.Logf("node logs and data dirs copied to %s", dst)
		}
	}
}

// report prints what a failure needs: the timeline and each node's log tail.
func (r *chaosRun) report() {
	t := r.t
	r.mu.Lock()
	events := append([]ccEvent(nil), r.events...)
	r.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d; timeline (UTC):\n", r.seed)
	for _, e := range events {
		fmt.Fprintf(&b, "  %s  %s\n", e.at.UTC().Format("15:04:05.000"), e.msg)
	}
	t.Log(b.String())
	for _, n := range r.nodes {
		t.Logf("---- last lines of node %d's log (%s) ----\n%s", n.id, n.logPath, tailLines(n.logPath, 80))
	}
}

// event logs a step of the run with its time.
func (r *chaosRun) event(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	now := time.Now()
	r.mu.Lock()
	r.events = append(r.events, ccEvent{now, msg})
	r.mu.Unlock()
	r.t.Logf("%s [+%5.1fs] %s", now.UTC().Format("15:04:05.000"), now.Sub(r.start).Seconds(), msg)
}

// violate records a safety violation; the run goes on so that the report
// lists all of them.
func (r *chaosRun) violate(kind, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.violations = append(r.violations, ccViolation{kind, msg})
	n := len(r.violations)
	r.mu.Unlock()
	if n <= 200 {
		r.t.Logf("%s VIOLATION (%s): %s", stamp(), kind, msg)
	}
}

func (r *chaosRun) node(id int32) *clusterNode { return r.nodes[id-1] }

func (r *chaosRun) run() {
	t := r.t
	r.event("starting %d nodes", ccNodes)
	for _, n := range r.nodes {
		n.start(t)
	}
	r.waitAllServing(3 * time.Minute)
	var seeds []string
	for id := 1; id <= ccNodes; id++ {
		seeds = append(seeds, labClientHost(id))
		cl, err := kgo.NewClient(kgo.SeedBrokers(labClientHost(id)), kgo.DialTimeout(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		r.nodeCls = append(r.nodeCls, cl)
	}
	var err error
	r.admCl, err = kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DialTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r.adm = kadm.NewClient(r.admCl)
	ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
	res, err := r.adm.CreateTopic(ctx, ccPartitions, 3, nil, ccTopic)
	cancel()
	if err != nil || res.Err != nil {
		t.Fatalf("creating %s: %v %v", ccTopic, err, res.Err)
	}
	r.createEOSTopic()
	r.mustBeHealthy("the topic created", 2*time.Minute)

	r.startWorkload(seeds)
	waitProgress(t, "before the first fault", r.ackedCount, 2000)
	r.mustBeHealthy("the group's offsets topic", 2*time.Minute)

	for i, f := range r.faults {
		r.checkCommits(fmt.Sprintf("before fault %d", i+1))
		r.faultSeq.Add(1) // odd: a fault
		r.event("fault %d/%d: %s (%d acknowledged so far)", i+1, len(r.faults), f, r.ackedCount())
		r.runFault(f)
		r.healAll()
		if !r.waitHealthy(fmt.Sprintf("after fault %d", i+1), 2*time.Minute) {
			// Not a reason to skip the safety checks: on to them.
			r.event("the cluster did not recover from fault %d: no more faults, checking what is there", i+1)
			r.degraded = true
			break
		}
		r.faultSeq.Add(1) // even: steady again
		waitProgress(t, fmt.Sprintf("after fault %d", i+1), r.ackedCount, 500)
	}
	r.checkCommits("after the faults")
	r.finish(seeds)
}

func (r *chaosRun) waitAllServing(timeout time.Duration) {
	var wg sync.WaitGroup
	errs := make([]error, len(r.nodes))
	for i, n := range r.nodes {
		if !n.running() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.waitServing(timeout)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		r.t.Fatal(err)
	}
}

func (r *chaosRun) ackedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.acked)
}

// recID is the id a value starts with (up to '|').
func recID(v []byte) string {
	id, _, _ := strings.Cut(string(v), "|")
	return id
}

var ccPad = strings.Repeat("x", 90)

// startWorkload starts two idempotent acks=all producers and two group
// consumers committing what they read, plus an observer of the group's
// committed offsets.
func (r *chaosRun) startWorkload(seeds []string) {
	t := r.t
	for p := 0; p < 2; p++ {
		prod, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(ccTopic),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(2*time.Millisecond),
			kgo.RecordDeliveryTimeout(3*time.Minute), kgo.RetryTimeout(3*time.Minute),
			kgo.MaxBufferedRecords(20000), kgo.DialTimeout(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		r.prodWG.Add(1)
		go func() {
			defer r.prodWG.Done()
			r.produceLoop(p, prod)
		}()
	}
	for c := 0; c < 2; c++ {
		cons, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(ccGroup), kgo.ConsumeTopics(ccTopic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
			kgo.FetchMaxWait(300*time.Millisecond), kgo.SessionTimeout(6*time.Second),
			kgo.HeartbeatInterval(500*time.Millisecond), kgo.DialTimeout(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() {
				// Close waits until the group is left, which takes a
				// coordinator: bounded, for a failing cluster.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				cons.LeaveGroupContext(ctx)
				cons.Close()
			}()
			r.consumeLoop(cons)
		}()
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.observeCommits()
	}()
	r.startEOS(seeds)
}

// produceLoop produces unique values p<N>-<seq>|... at a moderate rate
// until stopProducing, then waits for every callback (Flush).
func (r *chaosRun) produceLoop(p int, prod *kgo.Client) {
	defer func() {
		ctx, cancel := context.WithTimeout(r.ctx, 4*time.Minute)
		defer cancel()
		if err := prod.Flush(ctx); err != nil {
			r.event("producer %d: flush: %v", p, err)
		}
		prod.Close()
	}()
	for i := 0; ; i++ {
		select {
		case <-r.stopProducing:
			return
		default:
		}
		id := fmt.Sprintf("p%d-%08d", p, i)
		r.nProduced.Add(1)
		prod.Produce(r.ctx, &kgo.Record{Value: []byte(id + "|" + ccPad)}, func(rec *kgo.Record, err error) {
			now := time.Now()
			r.mu.Lock()
			defer r.mu.Unlock()
			if err != nil {
				msg := err.Error()
				if len(msg) > 80 {
					msg = msg[:80]
				}
				r.failed[msg]++
				return
			}
			r.acked[id] = ccAck{rec.Partition, rec.Offset, now}
			k := [2]int64{int64(rec.Partition), rec.Offset}
			if other, dup := r.ackedAt[k]; dup {
				r.mu.Unlock()
				r.violate("two acks, one offset", "%s and %s were both acknowledged at partition %d offset %d", other, id, rec.Partition, rec.Offset)
				r.mu.Lock()
			}
			r.ackedAt[k] = id
			if !r.phaseFrom.IsZero() && now.After(r.phaseFrom) && (r.phaseTo.IsZero() || now.Before(r.phaseTo)) {
				r.phaseAcks = append(r.phaseAcks, ccPhaseAck{id, rec.Partition, rec.Offset, now})
			}
		})
		if i%10 == 9 {
			time.Sleep(5 * time.Millisecond) // about 2000 records/s per producer at most
		}
	}
}

// consumeLoop polls, records what it read (two different records read at
// one offset is a violation), and commits, recording the acknowledged
// commits.
func (r *chaosRun) consumeLoop(cons *kgo.Client) {
	for r.ctx.Err() == nil {
		fs := cons.PollFetches(r.ctx)
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Topic != ccTopic {
				return
			}
			id := recID(rec.Value)
			k := [2]int64{int64(rec.Partition), rec.Offset}
			r.mu.Lock()
			prev, seen := r.consumed[k]
			if !seen {
				r.consumed[k] = id
			}
			r.mu.Unlock()
			if seen && prev != id {
				r.violate("divergent reads", "partition %d offset %d was read as %s and later as %s", rec.Partition, rec.Offset, prev, id)
			}
		})
		r.commit(cons)
	}
}

func (r *chaosRun) commit(cons *kgo.Client) {
	unc := cons.UncommittedOffsets()
	if len(unc) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, 15*time.Second)
	defer cancel()
	cons.CommitOffsetsSync(ctx, unc, func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			return
		}
		sent := map[int32]int64{}
		for _, rt := range req.Topics {
			if rt.Topic == ccTopic {
				for _, rp := range rt.Partitions {
					sent[rp.Partition] = rp.Offset
				}
			}
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, rt := range resp.Topics {
			if rt.Topic != ccTopic {
				continue
			}
			for _, rp := range rt.Partitions {
				if o, ok := sent[rp.Partition]; ok && rp.ErrorCode == 0 && o > r.commitAck[rp.Partition] {
					r.commitAck[rp.Partition] = o
				}
			}
		}
	})
}

// fetchCommitted returns the group's committed offsets of the topic.
func (r *chaosRun) fetchCommitted(ctx context.Context) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	offs, err := r.adm.FetchOffsets(ctx, ccGroup)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == ccTopic && o.At >= 0 {
			out[o.Partition] = o.At
		}
	})
	return out, nil
}

// observeCommits watches the committed offsets. Going back in steady
// state is a violation; during a fault it is noted (a coordinator cut off
// from the others, or just resumed from SIGSTOP, may answer from its
// stale state until it learns it lost its role, as Kafka's does).
func (r *chaosRun) observeCommits() {
	for r.ctx.Err() == nil {
		seq := r.faultSeq.Load()
		got, err := r.fetchCommitted(r.ctx)
		steady := seq%2 == 0 && r.faultSeq.Load() == seq
		if err == nil {
			r.mu.Lock()
			for p, o := range got {
				if prev := r.commitObs[p]; o < prev {
					msg := fmt.Sprintf("%s partition %d committed offset seen at %d after %d", stamp(), p, o, prev)
					if steady {
						r.mu.Unlock()
						r.violate("commit went back", "%s (in steady state)", msg)
						r.mu.Lock()
					} else {
						r.stale = append(r.stale, msg)
					}
				} else {
					r.commitObs[p] = o
				}
			}
			r.mu.Unlock()
		}
		select {
		case <-r.ctx.Done():
		case <-time.After(400 * time.Millisecond):
		}
	}
}

// checkCommits is the checkpoint in a healthy cluster: every committed
// offset is at least the last checkpoint's and every acknowledged commit.
func (r *chaosRun) checkCommits(when string) {
	r.mu.Lock()
	acked := maps2(r.commitAck)
	r.mu.Unlock()
	var got map[int32]int64
	var err error
	deadline := time.Now().Add(time.Minute)
	for {
		if got, err = r.fetchCommitted(r.ctx); err == nil {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: fetching committed offsets: %v", when, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for p, a := range acked {
		if got[p] < a {
			r.violate("acknowledged commit lost", "%s: partition %d committed offset is %d, but a commit of %d was acknowledged", when, p, got[p], a)
		}
	}
	for p, o := range r.lastCheck {
		if got[p] < o {
			r.violate("commit went back", "%s: partition %d committed offset is %d, it was %d at the previous checkpoint", when, p, got[p], o)
		}
	}
	for p, o := range got {
		r.lastCheck[p] = o
	}
}

func maps2(m map[int32]int64) map[int32]int64 {
	out := make(map[int32]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ccPartState is a partition as one node's metadata shows it.
type ccPartState struct {
	leader, epoch int32
	replicas, isr []int32
	err           int16
}

// nodeMetadata asks node id (and only it) for the metadata of every topic.
func (r *chaosRun) nodeMetadata(ctx context.Context, id int) (map[string]map[int32]ccPartState, []int32, error) {
	ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	seeds := r.nodeCls[id-1].SeedBrokers()
	if len(seeds) == 0 {
		return nil, nil, fmt.Errorf("no seed broker for node %d", id)
	}
	kr, err := seeds[0].Request(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	resp := kr.(*kmsg.MetadataResponse)
	out := map[string]map[int32]ccPartState{}
	for _, tp := range resp.Topics {
		if tp.Topic == nil {
			continue
		}
		m := map[int32]ccPartState{}
		for _, p := range tp.Partitions {
			m[p.Partition] = ccPartState{leader: p.Leader, epoch: p.LeaderEpoch, replicas: p.Replicas, isr: p.ISR, err: p.ErrorCode}
		}
		out[*tp.Topic] = m
	}
	var brokers []int32
	for _, b := range resp.Brokers {
		brokers = append(brokers, b.NodeID)
	}
	return out, brokers, nil
}

// anyMetadata is the topic's metadata from the first running node that
// answers.
func (r *chaosRun) anyMetadata() map[int32]ccPartState {
	for _, id := range r.rt.Perm(ccNodes) {
		if !r.nodes[id].running() {
			continue
		}
		md, _, err := r.nodeMetadata(r.ctx, id+1)
		if err == nil && len(md[ccTopic]) > 0 {
			return md[ccTopic]
		}
	}
	return nil
}

// activeController is the node whose metrics say it is the active
// controller, or -1.
func (r *chaosRun) activeController() int {
	for id := 1; id <= ccNodes; id++ {
		if !r.nodes[id-1].running() {
			continue
		}
		ss, err := r.http.metrics(r.ctx, id)
		if err != nil {
			continue
		}
		for _, s := range ss {
			if s.name == "kafka_controller_kafkacontroller_active_controller_count" && s.value == 1 {
				return id
			}
		}
	}
	return -1
}

// resolve turns a role into a node: the leader of part, one of its
// followers, or the active controller; a random running node when that is
// not known.
func (r *chaosRun) resolve(f ccFault) (int, string) {
	switch f.role {
	case "controller":
		if id := r.activeController(); id > 0 {
			return id, fmt.Sprintf("node %d (active controller)", id)
		}
	case "txn-coordinator", "group-coordinator":
		if id, what, ok := r.coordinatorOf(f); ok {
			return id, what
		}
	case "leader", "follower":
		md := r.anyMetadata()
		if st, ok := md[f.part]; ok && st.leader > 0 {
			if f.role == "leader" {
				return int(st.leader), fmt.Sprintf("node %d (leader of %s-%d, epoch %d, ISR %v)", st.leader, ccTopic, f.part, st.epoch, st.isr)
			}
			var fol []int32
			for _, id := range st.replicas {
				if id != st.leader {
					fol = append(fol, id)
				}
			}
			if len(fol) > 0 {
				id := fol[f.pick%len(fol)]
				return int(id), fmt.Sprintf("node %d (follower of %s-%d, leader %d, ISR %v)", id, ccTopic, f.part, st.leader, st.isr)
			}
		}
	}
	var up []int
	for _, n := range r.nodes {
		if n.running() {
			up = append(up, n.id)
		}
	}
	if len(up) == 0 {
		return 1, "node 1 (nothing running)"
	}
	id := up[r.rt.IntN(len(up))]
	return id, fmt.Sprintf("node %d (random: the %s of p%d is not known)", id, f.role, f.part)
}

// coordinatorOf finds the node coordinating an exactly-once worker's
// transactional id or their group (FindCoordinator).
func (r *chaosRun) coordinatorOf(f ccFault) (int, string, bool) {
	req := kmsg.NewPtrFindCoordinatorRequest()
	key := fmt.Sprintf("chaos-eos-%d", f.pick%ccEOSWorkers)
	if f.role == "group-coordinator" {
		key = ccEOSGroup
	} else {
		req.CoordinatorType = 1
	}
	req.CoordinatorKey, req.CoordinatorKeys = key, []string{key}
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, r.admCl)
	if err != nil {
		return 0, "", false
	}
	code, node := resp.ErrorCode, resp.NodeID
	if len(resp.Coordinators) > 0 {
		code, node = resp.Coordinators[0].ErrorCode, resp.Coordinators[0].NodeID
	}
	if code != 0 || node <= 0 || int(node) > len(r.nodes) {
		return 0, "", false
	}
	return int(node), fmt.Sprintf("node %d (%s of %s)", node, f.role, key), true
}

func (r *chaosRun) restart(n *clusterNode) {
	n.start(r.t)
	if err := n.waitServing(3 * time.Minute); err != nil {
		r.t.Fatal(err)
	}
	r.event("node %d serving again (incarnation %d)", n.id, n.incarnation)
}

func (r *chaosRun) runFault(f ccFault) {
	time.Sleep(f.delay)
	switch f.action {
	case "kill":
		id, who := r.resolve(f)
		n := r.node(int32(id))
		r.event("SIGKILL %s; restart in %v", who, f.dur)
		n.kill()
		time.Sleep(f.dur)
		r.restart(n)
	case "stop":
		id, who := r.resolve(f)
		n := r.node(int32(id))
		r.event("SIGSTOP %s for %v", who, f.dur)
		n.stop()
		time.Sleep(f.dur)
		n.cont()
		r.event("SIGCONT node %d", id)
	case "cut":
		id, who := r.resolve(f)
		r.event("cutting the internal link of %s for %v", who, f.dur)
		if err := r.lab.setInternal(id, false); err != nil {
			r.t.Fatal(err)
		}
		time.Sleep(f.dur)
		if err := r.lab.setInternal(id, true); err != nil {
			r.t.Fatal(err)
		}
		r.event("healed the internal link of node %d", id)
	case "bounce":
		for i, b := range f.bounce {
			id, who := r.resolve(b)
			n := r.node(int32(id))
			r.event("bounce %d/%d: SIGKILL %s; restart in %v", i+1, len(f.bounce), who, b.dur)
			n.kill()
			time.Sleep(b.dur)
			r.restart(n)
		}
	case "truncate":
		r.truncateFault(f)
	case "rekill":
		r.rekillFault(f)
	case "reassign":
		r.reassignFault(f)
	case "elect":
		r.electFault()
	case "min-isr":
		r.minISRPhase(f)
	default:
		r.t.Fatalf("unknown fault %q", f.action)
	}
}

// truncateFault kills a node and cuts the tail off the active segment of
// one of its partitions, as if the last writes had never reached the disk.
// Every ISR is full when it starts, so the records cut off are on the
// other two replicas: acknowledged data must survive.
func (r *chaosRun) truncateFault(f ccFault) {
	id, who := r.resolve(f)
	n := r.node(int32(id))
	md := r.anyMetadata()
	if st := md[f.part]; len(st.isr) < 2 {
		r.t.Fatalf("truncate: %s-%d has ISR %v: cutting a replica's tail could lose acknowledged records legitimately", ccTopic, f.part, st.isr)
	}
	r.event("SIGKILL %s, then cut %d bytes off its active segment of %s-%d", who, f.cut, ccTopic, f.part)
	n.kill()
	dir := filepath.Join(n.dataDir, fmt.Sprintf("%s-%d", ccTopic, f.part))
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	sort.Strings(segs) // 20-digit base offsets: the last is the active segment
	if len(segs) == 0 {
		r.t.Fatalf("truncate: no segment in %s", dir)
	}
	seg := segs[len(segs)-1]
	fi, err := os.Stat(seg)
	if err != nil {
		r.t.Fatal(err)
	}
	to := max(fi.Size()-f.cut, 0)
	if err := os.Truncate(seg, to); err != nil {
		r.t.Fatal(err)
	}
	r.event("truncated %s from %d to %d bytes (%d segments); restart in %v", strings.TrimPrefix(seg, r.tmp+"/"), fi.Size(), to, len(segs), f.dur)
	time.Sleep(f.dur)
	r.restart(n)
}

// rekillFault kills the leader of a partition and then its successor as
// soon as the successor is elected (before it has written anything as
// leader), and restarts both: leaders elected and lost in quick
// succession, as in a too fast rolling restart.
func (r *chaosRun) rekillFault(f ccFault) {
	st, ok := r.anyMetadata()[f.part]
	if !ok || st.leader <= 0 {
		r.t.Fatalf("rekill: no leader known for %s-%d", ccTopic, f.part)
	}
	first := r.node(st.leader)
	r.event("SIGKILL node %d (leader of %s-%d, epoch %d, ISR %v), then its successor once elected", st.leader, ccTopic, f.part, st.epoch, st.isr)
	first.kill()
	var next ccPartState
	deadline := time.Now().Add(time.Minute)
	for {
		next = r.anyMetadata()[f.part]
		if next.leader > 0 && next.leader != st.leader && next.epoch > st.epoch {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("rekill: no new leader for %s-%d a minute after node %d died: %+v", ccTopic, f.part, st.leader, next)
		}
		time.Sleep(20 * time.Millisecond)
	}
	second := r.node(next.leader)
	r.event("SIGKILL node %d, elected leader of %s-%d at epoch %d (ISR %v); restart both in %v", next.leader, ccTopic, f.part, next.epoch, next.isr, f.dur)
	second.kill()
	time.Sleep(f.dur)
	first.start(r.t)
	second.start(r.t)
	r.waitAllServing(3 * time.Minute)
	r.event("nodes %d and %d serving again", first.id, second.id)
}

// reassignFault moves a partition off one of its replicas and back, under
// the producers' load: first to the other two (the removed replica deletes
// its log), then to all three again, so that replica copies the partition
// from scratch as a follower and rejoins the ISR, when the reassignment
// completes.
func (r *chaosRun) reassignFault(f ccFault) {
	st, ok := r.anyMetadata()[f.part]
	if !ok || len(st.replicas) != ccNodes {
		r.t.Fatalf("reassign: %s-%d has replicas %v", ccTopic, f.part, st.replicas)
	}
	drop := st.replicas[f.pick%len(st.replicas)]
	keep := slices.DeleteFunc(slices.Clone(st.replicas), func(b int32) bool { return b == drop })
	move := func(to []int32) {
		var req kadm.AlterPartitionAssignmentsReq
		req.Assign(ccTopic, f.part, to)
		deadline := time.Now().Add(time.Minute)
		for {
			ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
			resp, err := r.adm.AlterPartitionAssignments(ctx, req)
			cancel()
			if err == nil && resp.Error() == nil {
				break
			}
			if time.Now().After(deadline) {
				r.t.Fatalf("reassign %s-%d to %v: %v %v", ccTopic, f.part, to, err, resp.Error())
			}
			time.Sleep(200 * time.Millisecond)
		}
		for {
			if cur := r.anyMetadata()[f.part]; slices.Equal(sortedIDs(cur.replicas), sortedIDs(to)) && len(cur.isr) == len(to) {
				return
			}
			if time.Now().After(deadline) {
				r.t.Fatalf("reassign %s-%d to %v: not done in a minute: %+v", ccTopic, f.part, to, r.anyMetadata()[f.part])
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	r.event("reassigning %s-%d from %v to %v", ccTopic, f.part, st.replicas, keep)
	move(keep)
	back := append(slices.Clone(keep), drop)
	r.event("reassigning %s-%d back to %v: node %d copies it again", ccTopic, f.part, back, drop)
	move(back)
	r.event("%s-%d on %v again", ccTopic, f.part, back)
}

func sortedIDs(ids []int32) []int32 {
	s := slices.Clone(ids)
	slices.Sort(s)
	return s
}

// electFault runs a preferred leader election of every partition: the
// leadership moves back to the first replicas (those the earlier faults
// moved it off), under the producers' load.
func (r *chaosRun) electFault() {
	ctx, cancel := context.WithTimeout(r.ctx, 20*time.Second)
	defer cancel()
	res, err := r.adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
	if err != nil {
		r.t.Fatalf("preferred election: %v", err)
	}
	var moved []string
	for _, ps := range res {
		for _, p := range ps {
			if p.Err == nil {
				moved = append(moved, fmt.Sprintf("%s-%d", p.Topic, p.Partition))
			}
		}
	}
	sort.Strings(moved)
	r.event("preferred leader election moved %v", moved)
}

// minISRPhase: with two of three nodes down, a produce with acks=all must
// not be acknowledged, and no producer may get an acknowledgement.
func (r *chaosRun) minISRPhase(f ccFault) {
	t := r.t
	// The producer gets its producer id first: with two nodes down there
	// is no controller quorum to allocate one. Its first records, while
	// every node is up, are acknowledged like the workload's.
	var seeds []string
	for id := 1; id <= ccNodes; id++ {
		seeds = append(seeds, labClientHost(id))
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(ccTopic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(15*time.Second), kgo.ProduceRequestTimeout(5*time.Second),
		kgo.RecordRetries(3), kgo.DialTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	wctx, wcancel := context.WithTimeout(r.ctx, time.Minute)
	for p := int32(0); p < ccPartitions; p++ {
		id := fmt.Sprintf("w%d-%d", f.pick, p)
		rec, err := prod.ProduceSync(wctx, &kgo.Record{Partition: p, Value: []byte(id + "|" + ccPad)}).First()
		if err != nil {
			r.event("min-ISR phase: warm-up produce to %s-%d: %v", ccTopic, p, err)
			continue
		}
		r.mu.Lock()
		r.acked[id] = ccAck{rec.Partition, rec.Offset, time.Now()}
		r.mu.Unlock()
	}
	wcancel()

	a := 1 + f.pick%ccNodes
	r.event("min-ISR phase: SIGKILL node %d, wait until it left every ISR", a)
	r.node(int32(a)).kill()
	var md map[int32]ccPartState
	deadline := time.Now().Add(2 * time.Minute)
	for {
		md = r.anyMetadata()
		ok := len(md) == ccPartitions
		for _, st := range md {
			if st.leader <= 0 || st.leader == int32(a) || slices.Contains(st.isr, int32(a)) || len(st.isr) < 2 {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("min-ISR phase: node %d still in an ISR, or a partition has no leader, after 2 minutes: %v", a, md)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The survivor leads some partitions, so that the produce to it
	// reaches a leader (the others' leader is dead).
	leads := map[int32][]int32{}
	for p, st := range md {
		leads[st.leader] = append(leads[st.leader], p)
	}
	var cands []int32
	for id := int32(1); id <= ccNodes; id++ {
		if id != int32(a) && len(leads[id]) > 0 {
			cands = append(cands, id)
		}
	}
	s := cands[(f.pick/ccNodes)%len(cands)]
	var b int32
	for id := int32(1); id <= ccNodes; id++ {
		if id != int32(a) && id != s {
			b = id
		}
	}
	r.event("min-ISR phase: SIGKILL node %d: node %d is alone (no controller quorum), leading %v; metadata %v", b, s, leads[s], md)
	r.node(b).kill()
	r.mu.Lock()
	r.phaseFrom, r.phaseTo = time.Now().Add(2*time.Second), time.Time{}
	r.mu.Unlock()

	time.Sleep(2 * time.Second)
	// Each record either fails, or waits: an idempotent producer does not
	// give up a batch it sent whose answer it has not seen. After 30 s the
	// phase ends (the nodes restart); a record acknowledged after that is
	// a normal acknowledged record, checked like the others.
	type outcome struct {
		p   int32
		off int64
		err error
	}
	results := make(chan outcome, ccPartitions)
	for p := int32(0); p < ccPartitions; p++ {
		id := fmt.Sprintf("m%d-%d", f.pick, p)
		prod.Produce(r.ctx, &kgo.Record{Partition: p, Value: []byte(id + "|" + ccPad)}, func(rec *kgo.Record, err error) {
			now := time.Now()
			r.mu.Lock()
			over := !r.phaseTo.IsZero() && now.After(r.phaseTo)
			if err == nil && over {
				r.acked[id] = ccAck{rec.Partition, rec.Offset, now}
			}
			r.mu.Unlock()
			if err == nil && !over {
				r.violate("acknowledged below min.insync.replicas", "with only node %d up, a produce with acks=all of %s to %s-%d was acknowledged at offset %d", s, id, ccTopic, p, rec.Offset)
			}
			results <- outcome{p, rec.Offset, err}
		})
	}
	var outcomes []string
	timeout := time.After(30 * time.Second)
	for len(outcomes) < ccPartitions {
		select {
		case o := <-results:
			if o.err == nil {
				outcomes = append(outcomes, fmt.Sprintf("p%d: ACKNOWLEDGED at %d", o.p, o.off))
			} else {
				outcomes = append(outcomes, fmt.Sprintf("p%d (leader %d): %v", o.p, md[o.p].leader, o.err))
			}
			continue
		case <-timeout:
		}
		for p := int32(0); p < ccPartitions; p++ {
			if !slices.ContainsFunc(outcomes, func(o string) bool {
				return strings.HasPrefix(o, fmt.Sprintf("p%d ", p)) || strings.HasPrefix(o, fmt.Sprintf("p%d:", p))
			}) {
				outcomes = append(outcomes, fmt.Sprintf("p%d (leader %d): no answer in 30 s", p, md[p].leader))
			}
		}
	}
	sort.Strings(outcomes)
	r.event("min-ISR phase: acks=all produces to node %d: %s", s, strings.Join(outcomes, "; "))
	var refused int
	for _, o := range outcomes {
		if strings.Contains(o, "NOT_ENOUGH_REPLICAS") || strings.Contains(o, "REQUEST_TIMED_OUT") ||
			strings.Contains(o, "timed out") || strings.Contains(o, "no answer") {
			refused++
		}
	}
	r.mu.Lock()
	r.phaseTo = time.Now()
	phaseAcks := append([]ccPhaseAck(nil), r.phaseAcks...)
	r.mu.Unlock()
	// An acknowledgement that arrives in the phase is right if the record
	// reached node b before it died: a produce request answers once all
	// its partitions are settled, so a record committed just before the
	// kill may be answered seconds later, when another partition of the
	// request timed out. The record must then be in b's log.
	if len(phaseAcks) > 0 {
		leos := r.copiedLogEnds(r.node(b))
		for _, pa := range phaseAcks {
			if pa.off >= leos[pa.part] {
				r.violate("acknowledged below min.insync.replicas", "while only node %d was up, a producer got an acknowledgement for %s at partition %d offset %d (%s), which node %d (log end %d) never had",
					s, pa.id, pa.part, pa.off, pa.at.UTC().Format("15:04:05.000"), b, leos[pa.part])
			} else {
				r.event("min-ISR phase: %s acknowledged at %s for partition %d offset %d, which node %d had before it died (log end %d): committed before the kill",
					pa.id, pa.at.UTC().Format("15:04:05.000"), pa.part, pa.off, b, leos[pa.part])
			}
		}
	}
	r.event("min-ISR phase: %d of %d refused or timed out; restarting nodes %d and %d", refused, ccPartitions, a, b)
	r.node(int32(a)).start(t)
	r.node(b).start(t)
	r.waitAllServing(3 * time.Minute)
	r.event("min-ISR phase over: nodes %d and %d serving again", a, b)
}

// ccPhaseAck is an acknowledgement that arrived in a min-ISR phase.
type ccPhaseAck struct {
	id   string
	part int32
	off  int64
	at   time.Time
}

// copiedLogEnds reads the log end offsets of the topic's partitions on a
// dead node from a copy of its log dir (opening the dir itself would write
// to it).
func (r *chaosRun) copiedLogEnds(n *clusterNode) map[int32]int64 {
	t := r.t
	dst := t.TempDir()
	entries, err := os.ReadDir(n.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), ccTopic+"-") {
			continue
		}
		if err := os.CopyFS(filepath.Join(dst, e.Name()), os.DirFS(filepath.Join(n.dataDir, e.Name()))); err != nil {
			t.Fatal(err)
		}
	}
	m, err := storage.OpenManager(storage.ManagerConfig{Dirs: []string{dst}, Now: time.Now(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("node %d: opening a copy of its log dir: %v", n.id, err)
	}
	defer m.Close()
	out := map[int32]int64{}
	for tp, l := range m.All() {
		if tp.Topic == ccTopic {
			out[tp.Partition] = l.LogEndOffset()
		}
	}
	return out
}

// healAll undoes whatever is still broken: links, stopped and dead nodes.
func (r *chaosRun) healAll() {
	for _, n := range r.nodes {
		if err := r.lab.setInternal(n.id, true); err != nil {
			r.t.Fatal(err)
		}
		n.mu.Lock()
		stopped := n.stopped
		n.mu.Unlock()
		if stopped {
			n.cont()
		}
		if !n.running() {
			r.event("node %d is down: restarting it", n.id)
			n.start(r.t)
		}
	}
	r.waitAllServing(3 * time.Minute)
}

// waitHealthy waits until every node serves, every node's metadata shows
// all three brokers and every partition (the topic's, the offsets
// topic's) with a leader and a full ISR, the nodes agree on the leaders
// and epochs, and no leader reports an under-replicated partition.
func (r *chaosRun) waitHealthy(what string, timeout time.Duration) bool {
	start := time.Now()
	deadline := start.Add(timeout)
	defer r.reportExits()
	for {
		why := r.unhealthy()
		if why == "" {
			break
		}
		if time.Now().After(deadline) {
			r.violate("no recovery", "%s: the cluster is not healthy %v after every fault was healed: %s\nreplicas (log end offset / high watermark per node):%s",
				what, timeout, why, r.replicaTable())
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.event("healthy (%s) after %.1fs", what, time.Since(start).Seconds())
	return true
}

// mustBeHealthy is waitHealthy for the set-up, where there is nothing to
// check yet.
func (r *chaosRun) mustBeHealthy(what string, timeout time.Duration) {
	if !r.waitHealthy(what, timeout) {
		r.t.FailNow()
	}
}

// reportExits turns the brokers' exits nobody asked for into violations.
func (r *chaosRun) reportExits() {
	for _, n := range r.nodes {
		for _, u := range n.takeUnexpectedExits() {
			r.violate("broker exited", "%s", u)
		}
	}
}

func (r *chaosRun) unhealthy() string {
	var ref map[string]map[int32]ccPartState
	for id := 1; id <= ccNodes; id++ {
		n := r.nodes[id-1]
		n.mu.Lock()
		up, stopped := n.proc != nil, n.stopped
		n.mu.Unlock()
		if !up || stopped {
			return fmt.Sprintf("node %d down or stopped", id)
		}
		md, brokers, err := r.nodeMetadata(r.ctx, id)
		if err != nil {
			return fmt.Sprintf("node %d metadata: %v", id, err)
		}
		if len(brokers) != ccNodes {
			return fmt.Sprintf("node %d lists brokers %v", id, brokers)
		}
		if len(md[ccTopic]) > 0 && len(md[ccTopic]) != ccPartitions {
			return fmt.Sprintf("node %d has %d partitions of %s", id, len(md[ccTopic]), ccTopic)
		}
		for topic, parts := range md {
			for p, st := range parts {
				if st.err != 0 || st.leader < 0 || len(st.isr) != ccNodes {
					return fmt.Sprintf("node %d: %s-%d leader %d ISR %v error %d", id, topic, p, st.leader, st.isr, st.err)
				}
				if ref != nil {
					if o, ok := ref[topic][p]; !ok || o.leader != st.leader || o.epoch != st.epoch {
						return fmt.Sprintf("nodes disagree on %s-%d: leader %d epoch %d vs leader %d epoch %d", topic, p, o.leader, o.epoch, st.leader, st.epoch)
					}
				}
			}
		}
		if ref == nil {
			ref = md
		} else if len(ref) != len(md) {
			return fmt.Sprintf("node %d knows %d topics, node 1 %d", id, len(md), len(ref))
		}
		ss, err := r.http.metrics(r.ctx, id)
		if err != nil {
			return fmt.Sprintf("node %d metrics: %v", id, err)
		}
		for _, s := range ss {
			if s.name == "kafka_server_replicamanager_under_replicated_partitions" && s.value != 0 {
				return fmt.Sprintf("node %d leads %v under-replicated partitions", id, s.value)
			}
		}
	}
	return ""
}

// finish stops the clients, waits for convergence, reads everything back
// and checks it, through the brokers and on disk.
func (r *chaosRun) finish(seeds []string) {
	t := r.t
	r.event("stopping the producers (waiting for every record's outcome), then the consumers")
	close(r.stopProducing)
	r.prodWG.Wait()
	r.finishEOS(3 * time.Minute)
	r.cancel()
	r.wg.Wait()
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.mu.Lock()
	acked := len(r.acked)
	failed := 0
	var ferrs []string
	for msg, k := range r.failed {
		failed += k
		ferrs = append(ferrs, fmt.Sprintf("%d× %s", k, msg))
	}
	stale := append([]string(nil), r.stale...)
	r.mu.Unlock()
	sort.Strings(ferrs)
	r.event("%d records produced, %d acknowledged, %d failed (may or may not be in the log): %s",
		r.nProduced.Load(), acked, failed, strings.Join(ferrs, "; "))
	if len(stale) > 0 {
		r.event("committed offsets seen going back during faults (stale coordinator reads, allowed): %s", strings.Join(stale, "; "))
	}
	wait := 3 * time.Minute
	if r.degraded {
		wait = 30 * time.Second
	}
	r.waitHealthy("the end", wait)
	r.checkCommits("the end")
	final, err := r.fetchCommitted(r.ctx)
	if err != nil {
		t.Fatalf("final committed offsets: %v", err)
	}
	r.waitConverged(wait)

	client := r.readThroughBrokers(seeds)
	r.checkLogs("read through the brokers", client, final, false)
	r.checkEOS(seeds, client)

	r.event("shutting the nodes down (SIGTERM)")
	for _, n := range r.nodes {
		if !n.terminate(time.Minute) {
			r.event("node %d: no clean exit after SIGTERM (killed after a minute, or failed)", n.id)
		}
	}
	r.reportExits()
	r.checkDisks(client)

	r.mu.Lock()
	vs := append([]ccViolation(nil), r.violations...)
	r.mu.Unlock()
	if len(vs) > 0 {
		byKind := map[string][]string{}
		var kinds []string
		for _, v := range vs {
			if byKind[v.kind] == nil {
				kinds = append(kinds, v.kind)
			}
			byKind[v.kind] = append(byKind[v.kind], v.msg)
		}
		for _, k := range kinds {
			msgs := byKind[k]
			shown := msgs[:min(len(msgs), 30)]
			t.Errorf("VIOLATION: %s (%d):\n  %s", k, len(msgs), strings.Join(shown, "\n  "))
		}
		t.Errorf("seed %d: rerun with SAMSA_CLUSTER_CHAOS_SEED=%d", r.seed, r.seed)
		return
	}
	r.event("no violation: %d acknowledged records all in place on every replica, replicas identical, commits monotonic", acked)
}

// waitConverged waits until, for every partition of every topic, each
// node has the same log end offset and its high watermark is there too.
func (r *chaosRun) waitConverged(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	var why string
	for time.Now().Before(deadline) {
		if why = r.divergence(); why == "" {
			r.event("converged: every node has the same log end offset and high watermark on every partition")
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	r.violate("no convergence", "after %v with every node up and no client: %s", timeout, why)
}

func (r *chaosRun) divergence() string {
	type key struct {
		topic string
		part  string
	}
	leo := map[key][]float64{}
	hw := map[key][]float64{}
	for id := 1; id <= ccNodes; id++ {
		ss, err := r.http.metrics(r.ctx, id)
		if err != nil {
			return fmt.Sprintf("node %d metrics: %v", id, err)
		}
		for _, s := range ss {
			k := key{s.labels["topic"], s.labels["partition"]}
			switch s.name {
			case "kafka_log_log_end_offset":
				leo[k] = append(leo[k], s.value)
			case "kafka_cluster_partition_high_watermark":
				hw[k] = append(hw[k], s.value)
			}
		}
	}
	if len(leo) < ccPartitions {
		return fmt.Sprintf("only %d partitions in the metrics", len(leo))
	}
	for k, v := range leo {
		if len(v) != ccNodes || slices.Min(v) != slices.Max(v) {
			return fmt.Sprintf("%s-%s log end offsets %v", k.topic, k.part, v)
		}
		if h := hw[k]; len(h) != ccNodes || slices.Min(h) != v[0] || slices.Max(h) != v[0] {
			return fmt.Sprintf("%s-%s log end offset %v, high watermarks %v", k.topic, k.part, v[0], h)
		}
	}
	return ""
}

// replicaTable renders each node's log end offset and high watermark of
// every partition, from the metrics, for a failure message.
func (r *chaosRun) replicaTable() string {
	rows := map[string][]string{}
	for id := 1; id <= ccNodes; id++ {
		ss, err := r.http.metrics(r.ctx, id)
		if err != nil {
			continue
		}
		leo, hw := map[string]float64{}, map[string]float64{}
		for _, s := range ss {
			k := s.labels["topic"] + "-" + s.labels["partition"]
			switch s.name {
			case "kafka_log_log_end_offset":
				leo[k] = s.value
			case "kafka_cluster_partition_high_watermark":
				hw[k] = s.value
			}
		}
		for k, v := range leo {
			rows[k] = append(rows[k], fmt.Sprintf("n%d %.0f/%.0f", id, v, hw[k]))
		}
	}
	var keys []string
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %-22s %s", k, strings.Join(rows[k], "  "))
	}
	return b.String()
}

// ccLog is one partition's records: ids by offset from start.
type ccLog struct {
	start, hw, leo int64
	ids            []string
}

// readThroughBrokers reads the whole topic with a plain consumer.
func (r *chaosRun) readThroughBrokers(seeds []string) map[int32]*ccLog {
	t := r.t
	ctx, cancel := context.WithTimeout(r.ctx, 3*time.Minute)
	defer cancel()
	rd, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(ccTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	adm := kadm.NewClient(rd)
	ends, err := adm.ListEndOffsets(ctx, ccTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("end offsets: %v", err)
	}
	starts, err := adm.ListStartOffsets(ctx, ccTopic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		t.Fatalf("start offsets: %v", err)
	}
	logs := map[int32]*ccLog{}
	var total, read int64
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(ccTopic, o.Partition)
		logs[o.Partition] = &ccLog{start: s.Offset, hw: o.Offset, leo: o.Offset}
		total += o.Offset - s.Offset
	})
	for read < total {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records through the brokers", read, total)
		}
		fs.EachError(func(_ string, p int32, err error) {
			r.event("reading partition %d: %v", p, err)
		})
		fs.EachRecord(func(rec *kgo.Record) {
			l := logs[rec.Partition]
			if rec.Offset >= l.leo {
				return
			}
			read++
			want := l.start + int64(len(l.ids))
			if rec.Offset != want {
				r.violate("offset gap or repeat", "through the brokers: partition %d has offset %d where %d was next", rec.Partition, rec.Offset, want)
				for want < rec.Offset {
					l.ids = append(l.ids, "")
					want++
				}
				if rec.Offset < want {
					return
				}
			}
			l.ids = append(l.ids, recID(rec.Value))
		})
	}
	r.event("read %d records through the brokers", read)
	return logs
}

// checkLogs checks one view of the topic (the brokers', or a replica's
// files) against what the clients saw. A replica is checked up to its end
// only (ownRange): one that fell behind is reported by checkDisks.
func (r *chaosRun) checkLogs(view string, logs map[int32]*ccLog, committed map[int32]int64, ownRange bool) {
	r.mu.Lock()
	acked := make(map[string]ccAck, len(r.acked))
	for k, v := range r.acked {
		acked[k] = v
	}
	consumed := make(map[[2]int64]string, len(r.consumed))
	for k, v := range r.consumed {
		consumed[k] = v
	}
	r.mu.Unlock()
	bad := func(kind, format string, args ...any) { r.violate(kind, view+": "+format, args...) }
	where := map[string][2]int64{}
	var n int
	for p, l := range logs {
		n += len(l.ids)
		for i, id := range l.ids {
			if id == "" {
				continue
			}
			off := l.start + int64(i)
			if prev, dup := where[id]; dup {
				bad("duplicate", "%s is at partition %d offset %d and at partition %d offset %d", id, prev[0], prev[1], p, off)
				continue
			}
			where[id] = [2]int64{int64(p), off}
		}
	}
	at := func(p int32, off int64) string {
		l := logs[p]
		if l == nil || off < l.start || off >= l.start+int64(len(l.ids)) {
			return "(no record)"
		}
		return l.ids[off-l.start]
	}
	end := func(p int32) int64 {
		if l := logs[p]; l != nil {
			return l.start + int64(len(l.ids))
		}
		return 0
	}
	var lost, moved []string
	for id, a := range acked {
		if ownRange && a.off >= end(a.part) {
			continue
		}
		got, ok := where[id]
		switch {
		case !ok:
			lost = append(lost, fmt.Sprintf("%s (acknowledged at partition %d offset %d at %s; that offset holds %q)",
				id, a.part, a.off, a.at.UTC().Format("15:04:05.000"), at(a.part, a.off)))
		case got != [2]int64{int64(a.part), a.off}:
			moved = append(moved, fmt.Sprintf("%s acknowledged at partition %d offset %d (%s) is at partition %d offset %d",
				id, a.part, a.off, a.at.UTC().Format("15:04:05.000"), got[0], got[1]))
		}
	}
	sort.Strings(lost)
	sort.Strings(moved)
	for _, l := range lost {
		bad("acknowledged record lost", "%s", l)
	}
	for _, m := range moved {
		bad("acknowledged record moved", "%s", m)
	}
	var dirty []string
	for k, id := range consumed {
		if ownRange && k[1] >= end(int32(k[0])) {
			continue
		}
		if got := at(int32(k[0]), k[1]); got != id {
			dirty = append(dirty, fmt.Sprintf("a consumer read %s at partition %d offset %d, the final log has %q there", id, k[0], k[1], got))
		}
	}
	sort.Strings(dirty)
	for _, d := range dirty {
		bad("read of uncommitted data", "%s", d)
	}
	for p, o := range committed {
		if l := logs[p]; l == nil || o > l.start+int64(len(l.ids)) {
			bad("commit past the end", "partition %d committed offset %d is past its end", p, o)
		}
	}
	r.event("%s: checked %d records against %d acknowledged and %d consumed", view, n, len(acked), len(consumed))
}

// ccBatch is a batch as a replica has it on disk.
type ccBatch struct {
	base, last int64
	size       int
	sum        [32]byte
	hdr        records.Header
}

// ccReplica is one node's copy of a partition, read from its files.
type ccReplica struct {
	batches []ccBatch
	log     *ccLog
}

// readReplicas opens a stopped node's log dir with the storage package
// and reads every partition of the topic (and the log end offsets of the
// others).
func (r *chaosRun) readReplicas(n *clusterNode) (map[int32]*ccReplica, map[string]int64) {
	t := r.t
	m, err := storage.OpenManager(storage.ManagerConfig{
		Dirs: []string{n.dataDir}, Now: time.Now(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("node %d: opening its log dir: %v", n.id, err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			t.Logf("node %d: closing its log dir: %v", n.id, err)
		}
	}()
	reps := map[int32]*ccReplica{}
	others := map[string]int64{}
	for tp, l := range m.All() {
		if tp.Topic != ccTopic {
			others[tp.String()] = l.LogEndOffset()
			continue
		}
		rep := &ccReplica{log: &ccLog{start: l.LogStartOffset(), hw: l.HighWatermark(), leo: l.LogEndOffset()}}
		reps[tp.Partition] = rep
		ids := &rep.log.ids
		for off := l.LogStartOffset(); off < l.LogEndOffset(); {
			rr, err := l.Read(off, 1<<20, -1, true)
			if err != nil {
				r.violate("unreadable replica", "node %d: %s at offset %d: %v", n.id, tp, off, err)
				break
			}
			buf, progressed := rr.Records, false
			for len(buf) >= records.LogOverhead {
				h, err := records.ParseHeader(buf)
				if err != nil || h.Size() > len(buf) {
					break
				}
				batch := buf[:h.Size()]
				buf = buf[h.Size():]
				progressed = true
				if err := records.CheckCRC(batch, &h); err != nil {
					r.violate("corrupt batch", "node %d: %s batch at %d: %v", n.id, tp, h.BaseOffset, err)
				}
				rep.batches = append(rep.batches, ccBatch{base: h.BaseOffset, last: h.LastOffset(), size: len(batch), sum: sha256.Sum256(batch), hdr: h})
				err = records.Records(batch, 16<<20, func(rec *records.Record) error {
					o := h.BaseOffset + int64(rec.OffsetDelta)
					want := rep.log.start + int64(len(*ids))
					if o < want {
						r.violate("offset gap or repeat", "node %d: %s has offset %d again (next was %d)", n.id, tp, o, want)
						return nil
					}
					if o > want {
						r.violate("offset gap or repeat", "node %d: %s has offset %d where %d was next", n.id, tp, o, want)
						for ; want < o; want++ {
							*ids = append(*ids, "")
						}
					}
					*ids = append(*ids, recID(rec.Value))
					return nil
				})
				if err != nil {
					r.violate("corrupt batch", "node %d: %s batch at %d: %v", n.id, tp, h.BaseOffset, err)
				}
				off = max(off, h.NextOffset())
			}
			if !progressed {
				r.violate("unreadable replica", "node %d: %s: no whole batch at offset %d (log end %d)", n.id, tp, off, l.LogEndOffset())
				break
			}
		}
	}
	return reps, others
}

// checkDisks reads each stopped node's files, compares the replicas batch
// by batch up to the end the brokers served (every node's high watermark
// was there at convergence), requires equal log end offsets, and checks
// each replica's records like the brokers' view.
func (r *chaosRun) checkDisks(client map[int32]*ccLog) {
	reps := make([]map[int32]*ccReplica, ccNodes)
	others := map[string][]int64{}
	for i, n := range r.nodes {
		var o map[string]int64
		reps[i], o = r.readReplicas(n)
		for tp, leo := range o {
			others[tp] = append(others[tp], leo)
		}
	}
	for tp, leos := range others {
		if len(leos) != ccNodes || slices.Min(leos) != slices.Max(leos) {
			r.violate("replicas differ", "%s: log end offsets on the nodes %v", tp, leos)
		}
	}
	var nbatches int
	for p := int32(0); p < ccPartitions; p++ {
		var rs []*ccReplica
		var leos, hws []int64
		for i := range r.nodes {
			rp := reps[i][p]
			if rp == nil {
				r.violate("replica missing", "%s-%d is not on node %d", ccTopic, p, i+1)
				rp = &ccReplica{log: &ccLog{}}
			}
			rs = append(rs, rp)
			leos, hws = append(leos, rp.log.leo), append(hws, rp.log.hw)
		}
		if slices.Min(leos) != slices.Max(leos) {
			r.violate("replicas differ", "%s-%d: log end offsets %v after convergence (high watermarks %v)", ccTopic, p, leos, hws)
		}
		end := slices.Min(hws)
		if c := client[p]; c != nil {
			end = max(end, c.leo)
			if slices.Min(hws) < c.leo {
				r.event("note: %s-%d: high watermarks in the files %v, below the end %d served before the shutdown", ccTopic, p, hws, c.leo)
			}
		}
		ref := rs[0].batches
		behind := map[int]bool{} // reported once per node
		for i, rp := range rs[1:] {
			for j := 0; ; j++ {
				var a, b *ccBatch
				if j < len(ref) && ref[j].base < end {
					a = &ref[j]
				}
				if j < len(rp.batches) && rp.batches[j].base < end {
					b = &rp.batches[j]
				}
				if a == nil && b == nil {
					break
				}
				if a == nil || b == nil {
					var short int
					var at int64
					if a == nil {
						short, at = 1, b.base
					} else {
						short, at = i+2, a.base
					}
					if behind[short] {
						break
					}
					behind[short] = true
					r.violate("replica behind", "%s-%d: node %d's replica ends at offset %d, below the committed end %d (the others have it: it stopped replicating)",
						ccTopic, p, short, at, end)
					break
				}
				if a.base != b.base || a.sum != b.sum {
					r.violate("replicas differ", "%s-%d below the committed end %d: node 1 has %s, node %d has %s",
						ccTopic, p, end, descBatch(a), i+2, descBatch(b))
					break
				}
				nbatches++
			}
		}
		// Each replica holds what the brokers served (as far as it goes:
		// a replica behind is reported above).
		if c := client[p]; c != nil {
			for i, rp := range rs {
				for k, id := range c.ids {
					off := c.start + int64(k) - rp.log.start
					if off >= int64(len(rp.log.ids)) {
						break
					}
					got := "(no record)"
					if off >= 0 {
						got = rp.log.ids[off]
					}
					if got != id {
						r.violate("replicas differ", "%s-%d offset %d: read %q through the brokers, node %d's files have %q", ccTopic, p, c.start+int64(k), id, i+1, got)
						break
					}
				}
			}
		}
	}
	for i := range r.nodes {
		logs := map[int32]*ccLog{}
		for p, rp := range reps[i] {
			logs[p] = rp.log
		}
		r.checkLogs(fmt.Sprintf("node %d's files", i+1), logs, nil, true)
	}
	r.event("compared the replicas on disk: %d batches identical on the three nodes", nbatches)
}

func descBatch(b *ccBatch) string {
	if b == nil {
		return "no batch"
	}
	return fmt.Sprintf("batch %d-%d (%d bytes, leader epoch %d, producer %d/%d seq %d, crc %08x)",
		b.base, b.last, b.size, b.hdr.PartitionLeaderEpoch, b.hdr.ProducerID, b.hdr.ProducerEpoch, b.hdr.BaseSequence, b.hdr.CRC)
}
