package main

// The cluster workloads. W7 (throughput and end-to-end latency on a
// 3-broker cluster, topic RF=3) is `load produce` and `load e2e` with
// -addr a,b,c -replicas 3 -min-insync 2; W8 is `load failover` here: a
// paced acks=all idempotent producer, the leader of some partitions
// killed (SIGKILL) or stopped (SIGTERM, a controlled shutdown) under it,
// the time until each of its partitions is acknowledged again, and a
// check, by reading the whole topic back, that no acknowledged record is
// missing.

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// waitBrokers waits until the metadata lists n brokers (a cluster just
// started registers its brokers one by one).
func waitBrokers(ctx context.Context, adm *kadm.Client, n int) error {
	for {
		bs, err := adm.ListBrokers(ctx)
		if err == nil && len(bs) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d brokers not registered (last: %d, %v): %w", n, len(bs), err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// batchAck is one batch acknowledged by a broker (kgo's
// OnProduceBatchWritten hook): which broker answered is what tells the
// old leader's late answers from the new leader's.
type batchAck struct {
	at        time.Time
	node      int32
	partition int32
}

type ackHook struct {
	mu   sync.Mutex
	acks []batchAck
}

func (h *ackHook) OnProduceBatchWritten(meta kgo.BrokerMetadata, _ string, partition int32, _ kgo.ProduceBatchMetrics) {
	now := time.Now()
	h.mu.Lock()
	h.acks = append(h.acks, batchAck{now, meta.NodeID, partition})
	h.mu.Unlock()
}

// parseNodes reads "1=PID,2=PID,3=PID".
func parseNodes(s string) (map[int32]int, error) {
	m := map[int32]int{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		id, err1 := strconv.Atoi(k)
		pid, err2 := strconv.Atoi(v)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("-nodes: %q is not node=pid", kv)
		}
		m[int32(id)] = pid
	}
	return m, nil
}

// exited reports whether process pid is gone or a zombie (its parent,
// bench/run, reaps it later).
func exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

// runFailover is W8. Two producers (acks=all, idempotent: the bench's
// client) write to the RF=3 topic at -mbps together, one with kgo's
// defaults (the bench's client: RecordRetries 10, metadata refreshed at
// most every 5 s) and one that refreshes its metadata at most every 100 ms
// and retries until a 2-minute delivery timeout, as the Java producer does
// (retry.backoff.ms 100, retries unbounded, delivery.timeout.ms 120 s). After -warmup, send -signal to the broker
// chosen by -victim (a partition leader other than the active
// controller, or the controller itself) and go on producing for -after.
// Figures, over the partitions the victim led: leader moved = from the
// signal until a surviving broker's metadata names another leader (the
// cluster's part); resume = from the signal to the first batch another
// broker acknowledged (max and median over the partitions, for each
// producer); the longest pause in acknowledgements of the other
// partitions; and, after reading the topic back from the start, the
// acknowledged records missing (lost), the records read more than once,
// the records that failed.
func runFailover(args []string) error {
	f := newLoadFlags("failover")
	nodesFlag := f.fs.String("nodes", "", "the cluster's processes: node.id=pid,... (the victim is signalled by pid)")
	sigName := f.fs.String("signal", "KILL", "KILL or TERM")
	victimKind := f.fs.String("victim", "leader", "leader: the broker leading most partitions other than the active controller; controller: the active controller")
	mbps := f.fs.Float64("mbps", 10, "produce rate in MB/s (1e6 bytes), both producers together")
	warmup := f.fs.Duration("warmup", 5*time.Second, "produce this long before the signal")
	after := f.fs.Duration("after", 10*time.Second, "produce this long after the signal (longer if a partition has not resumed: up to 60 s)")
	fastAge := f.fs.Duration("fast-metadata", 100*time.Millisecond, "the second producer's kgo.MetadataMinAge")
	clientLog := f.fs.Bool("client-log", false, "log kgo's info messages to stderr (metadata refreshes, retries)")
	f.fs.Parse(args)
	nodes, err := parseNodes(*nodesFlag)
	if err != nil {
		return err
	}
	sig := syscall.SIGKILL
	if *sigName == "TERM" {
		sig = syscall.SIGTERM
	} else if *sigName != "KILL" {
		return fmt.Errorf("-signal %s: KILL or TERM", *sigName)
	}
	if f.size < 8 {
		return fmt.Errorf("-size %d: at least 8 (each value starts with its sequence number)", f.size)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	rate := *mbps * 1e6 / float64(f.size) / 2
	// Sized for the whole run, with room for the extension past -after.
	capacity := int64(rate*(warmup.Seconds()+after.Seconds()+60)) + 1
	fastName := "md age " + fastAge.String()
	prods := []*failProducer{
		newFailProducer("kgo default", 0, capacity),
		newFailProducer(fastName, capacity, capacity),
	}
	for i, p := range prods {
		opts := []kgo.Opt{kgo.DefaultProduceTopic(f.topic), kgo.ProducerLinger(f.linger), kgo.WithHooks(p.hook)}
		if i == 1 { // and retries as the Java producer's: until delivery.timeout.ms
			opts = append(opts, kgo.MetadataMinAge(*fastAge), kgo.RecordRetries(math.MaxInt), kgo.RecordDeliveryTimeout(2*time.Minute))
		}
		if *clientLog {
			name := p.name
			opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, func() string {
				return time.Now().UTC().Format("15:04:05.000 ") + name + " "
			})))
		}
		if p.cl, err = kafkaClient(f.addr, opts...); err != nil {
			return err
		}
		defer p.cl.Close()
	}
	cl := prods[0].cl
	if err := createTopicFlags(ctx, cl, f); err != nil {
		return err
	}
	adm := kadm.NewClient(cl)

	payload := randomPayload(f.size)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range prods {
		wg.Add(1)
		go func() { defer wg.Done(); p.run(ctx, stop, rate, payload) }()
	}
	stopProducers := func() { close(stop); wg.Wait() }

	time.Sleep(*warmup)
	md, err := adm.Metadata(ctx, f.topic)
	if err != nil {
		stopProducers()
		return err
	}
	led := map[int32][]int32{}
	for _, p := range md.Topics[f.topic].Partitions.Sorted() {
		led[p.Leader] = append(led[p.Leader], p.Partition)
	}
	victim := int32(-1)
	switch *victimKind {
	case "controller":
		victim = md.Controller
	case "leader":
		for id := range nodes {
			if id != md.Controller && (victim < 0 || len(led[id]) > len(led[victim]) || len(led[id]) == len(led[victim]) && id < victim) {
				victim = id
			}
		}
		if len(led[victim]) == 0 {
			victim = md.Controller
		}
	default:
		stopProducers()
		return fmt.Errorf("-victim %s: leader or controller", *victimKind)
	}
	pid, ok := nodes[victim]
	if !ok || len(led[victim]) == 0 {
		stopProducers()
		return fmt.Errorf("victim node %d: pid known %v, leads %v (leaders: %v, controller %d)", victim, ok, led[victim], led, md.Controller)
	}
	victimParts := led[victim]
	isVictimPart := map[int32]bool{}
	for _, p := range victimParts {
		isVictimPart[p] = true
	}
	t0 := time.Now()
	if err := syscall.Kill(pid, sig); err != nil {
		stopProducers()
		return fmt.Errorf("signal node %d (pid %d): %w", victim, pid, err)
	}
	fmt.Fprintf(os.Stderr, "failover: %s SIG%s to node %d (pid %d; controller %d) at %s, leader of partitions %v; leaders %v\n",
		f.workload, *sigName, victim, pid, md.Controller, t0.UTC().Format("15:04:05.000000"), victimParts, led)
	moved := watchLeaders(ctx, cl, f.topic, victim, md, victimParts, t0)

	var exitAfter time.Duration
	deadline := t0.Add(*after)
	for {
		if exitAfter == 0 && exited(pid) {
			exitAfter = time.Since(t0)
		}
		now := time.Now()
		all := true
		for _, p := range prods {
			all = all && len(p.resumed(t0, victim, isVictimPart)) == len(victimParts)
		}
		if now.After(t0.Add(60*time.Second)) || now.After(deadline) && all {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopProducers()
	var flushErrs []string
	for _, p := range prods {
		flushCtx, flushCancel := context.WithTimeout(ctx, 60*time.Second)
		if err := p.cl.Flush(flushCtx); err != nil {
			flushErrs = append(flushErrs, p.name+": "+err.Error())
		}
		flushCancel()
	}
	end := time.Now()
	for exitAfter == 0 && time.Since(t0) < 60*time.Second {
		if exited(pid) {
			exitAfter = time.Since(t0)
		}
		time.Sleep(10 * time.Millisecond)
	}
	leaderMoved := moved()

	// Read everything back.
	seen, dups, foreign, err := readBack(ctx, f.addr, f.topic, 2*capacity)
	if err != nil {
		return err
	}

	victimRole := "a partition leader, not the controller"
	if victim == md.Controller {
		victimRole = "the active controller"
	}
	notes := []string{fmt.Sprintf("SIG%s to node %d (%s), leader of %d of %d partitions; exited after %.3f s; leaders moved after %.3f s",
		*sigName, victim, victimRole, len(victimParts), f.partitions, exitAfter.Seconds(), leaderMoved.Seconds())}
	metrics := map[string]float64{
		"leader moved max sec":  leaderMoved.Seconds(),
		"partitions moved":      float64(len(victimParts)),
		"victim was controller": map[bool]float64{true: 1, false: 0}[victim == md.Controller],
	}
	var otherGap pause
	for _, p := range prods {
		res := p.resumed(t0, victim, isVictimPart)
		var rs []float64
		perPart := make([]string, 0, len(victimParts))
		for _, vp := range victimParts {
			d, ok := res[vp]
			if !ok {
				notes = append(notes, fmt.Sprintf("%s: partition %d never acknowledged again", p.name, vp))
				rs = append(rs, math.Inf(1))
				perPart = append(perPart, fmt.Sprintf("p%d never", vp))
				continue
			}
			rs = append(rs, d.Seconds())
			perPart = append(perPart, fmt.Sprintf("p%d %.3f", vp, d.Seconds()))
		}
		slices.Sort(rs)
		victimGap, og := p.gaps(t0, end, isVictimPart)
		if og.d > otherGap.d {
			otherGap = og
		}
		metrics["resume max sec, "+p.name] = rs[len(rs)-1]
		metrics["resume median sec, "+p.name] = median(rs)
		acked, lost, sample := p.check(seen)
		metrics["records acked"] += float64(acked)
		metrics["acked records lost"] += float64(lost)
		metrics["records failed"] += float64(p.failed.Load())
		notes = append(notes, fmt.Sprintf("%s producer: resume s %s; longest pause %v, on the other partitions %v", p.name, strings.Join(perPart, ", "), victimGap, og))
		if nf := p.failed.Load(); nf > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d records failed, first: %v", p.name, nf, p.first.Load()))
		}
		if lost > 0 {
			notes = append(notes, fmt.Sprintf("%s: LOST %d acknowledged records, e.g. sequence numbers %v", p.name, lost, sample))
		}
	}
	metrics["other gap max sec"] = otherGap.d.Seconds()
	metrics["records read twice"] = float64(dups)
	if len(flushErrs) > 0 {
		notes = append(notes, "flush: "+strings.Join(flushErrs, "; "))
	}
	if foreign > 0 {
		notes = append(notes, fmt.Sprintf("%d records read back that were never produced", foreign))
	}
	fmt.Fprintln(os.Stderr, "failover:", f.workload, strings.Join(notes, "; "))
	emit(result{Workload: f.workload, Broker: f.broker, Note: strings.Join(notes, "; "), Metrics: metrics})
	return nil
}

// failProducer is one of W8's producers: paced, each value starting with
// its sequence number (base, base+1, ...).
type failProducer struct {
	name     string
	cl       *kgo.Client
	hook     *ackHook
	base     int64
	acked    []bool // written once per record, by its callback
	ackedAt  []int64
	partOf   []int32
	failed   atomic.Int64
	first    atomic.Value
	produced atomic.Int64
}

func newFailProducer(name string, base, n int64) *failProducer {
	return &failProducer{name: name, hook: &ackHook{}, base: base,
		acked: make([]bool, n), ackedAt: make([]int64, n), partOf: make([]int32, n)}
}

func (p *failProducer) run(ctx context.Context, stop <-chan struct{}, rate float64, payload []byte) {
	pc := pacer{start: time.Now(), rate: rate}
	for i := int64(0); i < int64(len(p.acked)); i++ {
		select {
		case <-stop:
			return
		default:
		}
		pc.wait(i)
		v := append([]byte(nil), payload...)
		binary.BigEndian.PutUint64(v, uint64(p.base+i))
		seq := i
		p.cl.Produce(ctx, &kgo.Record{Value: v}, func(r *kgo.Record, err error) {
			if err != nil {
				p.failed.Add(1)
				p.first.CompareAndSwap(nil, err)
				return
			}
			p.ackedAt[seq] = time.Now().UnixNano()
			p.partOf[seq] = r.Partition
			p.acked[seq] = true
		})
		p.produced.Store(i + 1)
	}
}

// resumed gives, for each partition of victims, the time from t0 to the
// first batch another broker than victim acknowledged after t0.
func (p *failProducer) resumed(t0 time.Time, victim int32, victims map[int32]bool) map[int32]time.Duration {
	p.hook.mu.Lock()
	defer p.hook.mu.Unlock()
	r := map[int32]time.Duration{}
	for _, a := range p.hook.acks {
		if a.at.After(t0) && a.node != victim && victims[a.partition] {
			if _, ok := r[a.partition]; !ok {
				r[a.partition] = a.at.Sub(t0)
			}
		}
	}
	return r
}

// pause is the longest time without an acknowledgement on a set of
// partitions: on which, and from when (relative to the signal).
type pause struct {
	d, from   time.Duration
	partition int32
}

func (p pause) String() string {
	return fmt.Sprintf("%.3f s (p%d, from %+.3f s)", p.d.Seconds(), p.partition, p.from.Seconds())
}

// gaps returns the longest pause between two acknowledgements, from the
// last one before t0 on, of the victim partitions and of the others.
func (p *failProducer) gaps(t0, end time.Time, victims map[int32]bool) (victimGap, otherGap pause) {
	byPart := map[int32][]int64{}
	for i := int64(0); i < p.produced.Load(); i++ {
		if p.acked[i] {
			byPart[p.partOf[i]] = append(byPart[p.partOf[i]], p.ackedAt[i])
		}
	}
	for part, ts := range byPart {
		slices.Sort(ts)
		var worst pause
		prev := int64(0)
		for _, t := range ts {
			if t >= t0.UnixNano() && prev > 0 && time.Duration(t-prev) > worst.d {
				worst = pause{time.Duration(t - prev), time.Duration(prev - t0.UnixNano()), part}
			}
			prev = t
		}
		if prev < t0.UnixNano() { // nothing after the signal
			worst = pause{time.Duration(end.UnixNano() - prev), time.Duration(prev - t0.UnixNano()), part}
		}
		if victims[part] && worst.d > victimGap.d {
			victimGap = worst
		} else if !victims[part] && worst.d > otherGap.d {
			otherGap = worst
		}
	}
	return victimGap, otherGap
}

// check counts the acknowledged records and those of them missing from
// seen (indexed by sequence number), with a few of the missing.
func (p *failProducer) check(seen []uint8) (acked, lost int64, sample []int64) {
	for i := int64(0); i < p.produced.Load(); i++ {
		if !p.acked[i] {
			continue
		}
		acked++
		if seen[p.base+i] == 0 {
			lost++
			if len(sample) < 10 {
				sample = append(sample, p.base+i)
			}
		}
	}
	return acked, lost, sample
}

// watchLeaders asks each surviving broker for the topic's metadata every
// 10 ms from t0 on, until each of parts has a leader other than victim;
// the function it returns gives the time from t0 until the last of them
// moved, as the first survivor to answer showed it (-1 s if not all did):
// the cluster's side of a failover (the session timeout, the election,
// the metadata reaching the brokers), without the client's.
func watchLeaders(ctx context.Context, cl *kgo.Client, topic string, victim int32, md kadm.Metadata, parts []int32, t0 time.Time) func() time.Duration {
	var (
		mu   sync.Mutex
		when = map[int32]time.Duration{}
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		for time.Since(t0) < 60*time.Second {
			for _, b := range md.Brokers {
				if b.NodeID == victim {
					continue
				}
				req := kmsg.NewPtrMetadataRequest()
				t := kmsg.NewMetadataRequestTopic()
				t.Topic = kmsg.StringPtr(topic)
				req.Topics = append(req.Topics, t)
				rctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
				resp, err := req.RequestWith(rctx, cl.Broker(int(b.NodeID)))
				cancel()
				if err != nil || len(resp.Topics) != 1 {
					continue
				}
				at := time.Since(t0)
				mu.Lock()
				for _, p := range resp.Topics[0].Partitions {
					if _, ok := when[p.Partition]; !ok && slices.Contains(parts, p.Partition) && p.Leader >= 0 && p.Leader != victim {
						when[p.Partition] = at
					}
				}
				n := len(when)
				mu.Unlock()
				if n == len(parts) {
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return func() time.Duration {
		<-done
		mu.Lock()
		defer mu.Unlock()
		if len(when) < len(parts) {
			return -time.Second
		}
		var worst time.Duration
		for _, d := range when {
			worst = max(worst, d)
		}
		return worst
	}
}

// readBack reads the topic from the start to its end offsets and counts
// how often each sequence number (< n) appears.
func readBack(ctx context.Context, addr, topic string, n int64) (seen []uint8, dups, foreign int64, err error) {
	cl, err := kafkaClient(addr)
	if err != nil {
		return nil, 0, 0, err
	}
	adm := kadm.NewClient(cl)
	var ends kadm.ListedOffsets
	for {
		// Right after a failover a partition may briefly have no leader.
		ends, err = adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cl.Close()
	if err != nil {
		return nil, 0, 0, fmt.Errorf("end offsets: %w", err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	cl, err = kafkaClient(addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return nil, 0, 0, err
	}
	defer cl.Close()
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer rcancel()
	seen = make([]uint8, n)
	for len(want) > 0 {
		fs := cl.PollFetches(rctx)
		if err := rctx.Err(); err != nil {
			return nil, 0, 0, fmt.Errorf("reading back: partitions not read to their end: %v: %w", want, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if len(r.Value) < 8 {
				foreign++
			} else if s := int64(binary.BigEndian.Uint64(r.Value)); s < 0 || s >= n {
				foreign++
			} else {
				if seen[s] > 0 {
					dups++
				}
				if seen[s] < 255 {
					seen[s]++
				}
			}
			if e, ok := want[r.Partition]; ok && r.Offset+1 >= e {
				delete(want, r.Partition)
			}
		})
	}
	return seen, dups, foreign, nil
}
