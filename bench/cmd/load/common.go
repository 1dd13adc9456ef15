package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// loadFlags are the flags the workloads share.
type loadFlags struct {
	fs         *flag.FlagSet
	kind       string
	broker     string
	workload   string
	addr       string
	topic      string
	partitions int
	records    int64
	size       int
	linger     time.Duration
	replicas   int // replication factor of the topics it creates
	minISR     int // min.insync.replicas of those topics (0: the broker's)
}

func newLoadFlags(name string) *loadFlags {
	f := &loadFlags{fs: flag.NewFlagSet(name, flag.ExitOnError)}
	f.fs.StringVar(&f.kind, "kind", "kafka", "kafka or nats")
	f.fs.StringVar(&f.broker, "broker", "", "broker name in the result (samsa, kfake, nats)")
	f.fs.StringVar(&f.workload, "workload", "", "workload name in the result (W1 ...)")
	f.fs.StringVar(&f.addr, "addr", "127.0.0.1:29092", "broker address")
	f.fs.StringVar(&f.topic, "topic", "bench", "topic (Kafka) or stream (NATS)")
	f.fs.IntVar(&f.partitions, "partitions", 8, "partitions (Kafka); subjects (NATS)")
	f.fs.Int64Var(&f.records, "records", 100000, "records")
	f.fs.IntVar(&f.size, "size", 1024, "record size in bytes")
	f.fs.DurationVar(&f.linger, "linger", 5*time.Millisecond, "producer linger (Kafka)")
	f.fs.IntVar(&f.replicas, "replicas", 1, "replication factor of the topic (Kafka; a cluster: -addr a,b,c)")
	f.fs.IntVar(&f.minISR, "min-insync", 0, "min.insync.replicas of the topic (0: the broker's default)")
	return f
}

func emit(r result) {
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

// latencies collects durations; percentiles are exact (sorted). The
// samples live in an array sized up front: an add claims a slot with one
// atomic increment. Growing a slice while a workload runs copies tens of
// MB in one non-preemptible memmove onto freshly faulted pages; the
// garbage collector's stop-the-world then waits for it, and W4 measured
// those 60-170 ms pauses of the load generator as broker latency. A lock
// per add cost W2 (2.4M records/s) 3% of the two CPUs.
type latencies struct {
	n  atomic.Int64
	v  []time.Duration
	mu sync.Mutex // guards extra
	// extra holds samples past len(v) (more adds than announced).
	extra []time.Duration
}

// newLatencies sizes the collection for n samples.
func newLatencies(n int64) *latencies {
	return &latencies{v: make([]time.Duration, n)}
}

func (l *latencies) add(d time.Duration) {
	if i := l.n.Add(1) - 1; i < int64(len(l.v)) {
		l.v[i] = d
		return
	}
	l.mu.Lock()
	l.extra = append(l.extra, d)
	l.mu.Unlock()
}

// all returns the samples; call it once the adds are over.
func (l *latencies) all() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(l.n.Load(), int64(len(l.v)))
	if len(l.extra) > 0 {
		l.v = append(l.v[:n], l.extra...)
		l.extra = nil
		n = int64(len(l.v))
		l.n.Store(n)
	}
	return l.v[:n]
}

// ms returns the q-quantile in milliseconds.
func (l *latencies) ms(q float64) float64 {
	v := l.all()
	if len(v) == 0 {
		return 0
	}
	if !slices.IsSorted(v) {
		slices.Sort(v)
	}
	i := int(q*float64(len(v))+0.999999) - 1
	i = max(0, min(i, len(v)-1))
	return float64(v[i]) / 1e6
}

func randomPayload(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// kafkaClient is the one client configuration of every Kafka-protocol
// workload: acks=all, idempotent (kgo's default with acks=all), linger
// 5 ms, no compression (the payloads are random), 32 MiB of buffer (the
// Java producer's buffer.memory). addr may list several brokers, comma
// separated (a cluster).
func kafkaClient(addr string, extra ...kgo.Opt) (*kgo.Client, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(addr, ",")...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5 * time.Millisecond), // W4 overrides it with -linger
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedBytes(32 << 20),
		kgo.MaxBufferedRecords(1 << 20),
		kgo.RecordRetries(10),
	}
	return kgo.NewClient(append(opts, extra...)...)
}

// createTopic creates a topic (ignoring "already exists") and waits until
// every partition has a leader in the metadata.
func createTopic(ctx context.Context, cl *kgo.Client, topic string, partitions int) error {
	return createTopicRF(ctx, cl, topic, partitions, 1, 0)
}

// createTopicFlags creates f's topic with f's replication.
func createTopicFlags(ctx context.Context, cl *kgo.Client, f *loadFlags) error {
	return createTopicRF(ctx, cl, f.topic, f.partitions, f.replicas, f.minISR)
}

// createTopicRF is createTopic with a replication factor and, when minISR
// > 0, min.insync.replicas; with rf > 1 it first waits until rf brokers
// are registered (a cluster just started), and then until every partition
// has rf in-sync replicas.
func createTopicRF(ctx context.Context, cl *kgo.Client, topic string, partitions, rf, minISR int) error {
	adm := kadm.NewClient(cl)
	var configs map[string]*string
	if minISR > 0 {
		v := strconv.Itoa(minISR)
		configs = map[string]*string{"min.insync.replicas": &v}
	}
	if rf > 1 {
		if err := waitBrokers(ctx, adm, rf); err != nil {
			return err
		}
	}
	resp, err := adm.CreateTopic(ctx, int32(partitions), int16(rf), configs, topic)
	if err != nil && !strings.Contains(err.Error(), "TOPIC_ALREADY_EXISTS") {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	if resp.Err != nil && !strings.Contains(resp.Err.Error(), "TOPIC_ALREADY_EXISTS") {
		return fmt.Errorf("create %s: %w", topic, resp.Err)
	}
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			if t, ok := md.Topics[topic]; ok && t.Err == nil && len(t.Partitions) == partitions {
				ready := true
				for _, p := range t.Partitions {
					if p.Leader < 0 || p.Err != nil || len(p.ISR) < rf {
						ready = false
					}
				}
				if ready {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s not ready: %w", topic, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// rssMiB reads a process's resident set size from /proc.
func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}

// pacer paces events at a fixed rate: wait blocks until event i is due.
type pacer struct {
	start time.Time
	rate  float64
}

func (p *pacer) wait(i int64) {
	if p.rate <= 0 {
		return
	}
	due := p.start.Add(time.Duration(float64(i) / p.rate * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		time.Sleep(d)
	}
}
