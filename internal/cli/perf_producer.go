package cli

// samsa producer-perf-test (kafka-producer-perf-test.sh): produce N records
// of a given size as fast as allowed and report throughput and the latency
// of each record (ack time minus send time).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	Register(&Command{
		Name:    "producer-perf-test",
		Summary: "measure produce throughput and latency (kafka-producer-perf-test.sh)",
		Kafka:   "kafka-producer-perf-test.sh",
		Run:     runProducerPerf,
	})
}

const producerPerfSynopsis = `  samsa producer-perf-test --topic TOPIC --num-records N (--record-size B | --payload-file F) [options]
  Produces N records and prints, every 5 s and at the end, Kafka's lines:
    N records sent, X records/sec (Y MB/sec), Z ms avg latency, W ms max latency.
    N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency, P50 ms 50th, P95 ms 95th, P99 ms 99th, P999 ms 99.9th.
  A record's latency is the time from its send to its acknowledgement. MB is
  2^20 bytes. --json prints the summary as one JSON object instead (latencies
  in ms with fractions).`

const producerPerfExamples = `  samsa producer-perf-test --topic t --num-records 1000000 --record-size 1024 --throughput -1 \
      --producer-props bootstrap.servers=localhost:9092 acks=all linger.ms=5
  samsa producer-perf-test --bootstrap-server localhost:9092 --topic t --num-records 100000 \
      --payload-file payloads.txt --throughput 20000 --json`

// perfSummary is the final report (--json).
type perfSummary struct {
	Records      int64   `json:"records"`
	Errors       int64   `json:"errors"`
	Bytes        int64   `json:"bytes"`
	ElapsedSec   float64 `json:"elapsed_sec"`
	RecordsPerS  float64 `json:"records_per_sec"`
	MBPerSec     float64 `json:"mb_per_sec"`
	AvgLatencyMs float64 `json:"avg_latency_ms"`
	MaxLatencyMs float64 `json:"max_latency_ms"`
	P50Ms        float64 `json:"p50_ms"`
	P95Ms        float64 `json:"p95_ms"`
	P99Ms        float64 `json:"p99_ms"`
	P999Ms       float64 `json:"p999_ms"`
}

func runProducerPerf(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var (
			c                     conn
			topic, payloadFile    string
			delim                 = "\\n"
			numRecords            int64
			recordSize            int
			throughput            float64 = -1
			producerProps         []string
			printMetrics, jsonOut bool
			reportEvery           = 5 * time.Second
		)
		fs := newFlagSet("producer-perf-test", producerPerfSynopsis, producerPerfExamples)
		c.addConnFlags(fs, "", "producer.config", "command-config")
		fs.String(&topic, "topic", "topic", "REQUIRED: the topic to produce to")
		fs.Int64(&numRecords, "num-records", "n", "REQUIRED: records to produce")
		fs.Int(&recordSize, "record-size", "bytes", "record size in bytes (this or --payload-file)")
		fs.String(&payloadFile, "payload-file", "file", "file of payloads, one picked at random per record")
		fs.String(&delim, "payload-delimiter", "delim", "separator of the payloads in --payload-file (default \\n)")
		fs.Float64(&throughput, "throughput", "n", "cap in records/s; -1 (the default) for no cap")
		fs.Multi(&producerProps, "producer-props", "prop=value", "producer properties (e.g. acks=all linger.ms=5); they win over --producer.config")
		fs.Bool(&printMetrics, "print-metrics", "print client counters at the end")
		fs.Bool(&jsonOut, "json", "print the summary as JSON (Samsa extra)")
		fs.Duration(&reportEvery, "reporting-interval", "ms|duration", "progress line interval, as milliseconds or a duration like 5s (default 5s; Samsa extra)")
		if err := fs.parseNoArgs(args, stdout); err != nil {
			return err
		}
		switch {
		case topic == "":
			return errors.New("option --topic is required")
		case numRecords <= 0:
			return errors.New("option --num-records must be positive")
		case (recordSize > 0) == (payloadFile != ""):
			return errors.New("give exactly one of --record-size and --payload-file")
		case reportEvery <= 0:
			return errors.New("option --reporting-interval must be positive")
		}
		payloads, err := perfPayloads(recordSize, payloadFile, delim)
		if err != nil {
			return err
		}
		err = c.loadClientProps(stderr, knownProducerProps, func(p *props) error { return p.addKV(producerProps) })
		if err != nil {
			return err
		}
		cl, err := c.newProducer(topic)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()

		st := newPerfStats(time.Now())
		th := newRateThrottle(throughput)
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		var firstErr error
		var errOnce sync.Once
		done := make(chan struct{})
		var progress sync.WaitGroup
		progress.Add(1)
		go func() { // progress lines
			defer progress.Done()
			t := time.NewTicker(reportEvery)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case now := <-t.C:
					if !jsonOut {
						st.printWindow(stdout, now)
					}
				}
			}
		}()
		for i := int64(0); i < numRecords && ctx.Err() == nil; i++ {
			th.wait()
			payload := payloads[0]
			if len(payloads) > 1 {
				payload = payloads[rng.IntN(len(payloads))]
			}
			sent := time.Now()
			cl.Produce(ctx, &kgo.Record{Value: payload}, func(r *kgo.Record, err error) {
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					st.fail()
					return
				}
				st.record(time.Since(sent), len(r.Value))
			})
		}
		flushErr := cl.Flush(context.Background())
		close(done)
		progress.Wait()
		sum := st.summary(time.Now())
		if jsonOut {
			b, _ := json.Marshal(sum)
			fmt.Fprintln(stdout, string(b))
		} else {
			fmt.Fprintf(stdout, "%d records sent, %f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, "+
				"%d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th.\n",
				sum.Records, sum.RecordsPerS, sum.MBPerSec, sum.AvgLatencyMs, sum.MaxLatencyMs,
				int64(sum.P50Ms), int64(sum.P95Ms), int64(sum.P99Ms), int64(sum.P999Ms))
		}
		if printMetrics {
			fmt.Fprintf(stdout, "%-50s : %d\n%-50s : %d\n%-50s : %d\n", "producer-metrics:record-send-total", sum.Records+sum.Errors,
				"producer-metrics:record-error-total", sum.Errors, "producer-metrics:outgoing-byte-total", sum.Bytes)
		}
		if firstErr != nil {
			return fmt.Errorf("%d records failed, first: %v", sum.Errors, firstErr)
		}
		return flushErr
	})
}

// perfPayloads returns the payload of every record (one random, fixed
// payload of size bytes, as Kafka does), or those read from a file.
func perfPayloads(size int, file, delim string) ([][]byte, error) {
	if file == "" {
		p := make([]byte, size)
		for i := range p {
			p[i] = byte('A' + rand.IntN(26))
		}
		return [][]byte{p}, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if delim == "\\n" {
		delim = "\n"
	}
	var out [][]byte
	for _, p := range bytes.Split(data, []byte(delim)) {
		if len(p) > 0 {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("payload file %s holds no payloads", file)
	}
	return out, nil
}

// perfStats accumulates acknowledged records: totals and a histogram for
// the run, and a window for the progress lines.
type perfStats struct {
	mu            sync.Mutex
	start         time.Time
	all           histogram // latency in µs
	bytes, errors int64
	winStart      time.Time
	winCount      int64
	winBytes      int64
	winLatSum     int64
	winLatMax     int64
}

func newPerfStats(now time.Time) *perfStats { return &perfStats{start: now, winStart: now} }

func (s *perfStats) record(lat time.Duration, size int) {
	us := lat.Microseconds()
	s.mu.Lock()
	s.all.Record(us)
	s.bytes += int64(size)
	s.winCount++
	s.winBytes += int64(size)
	s.winLatSum += us
	s.winLatMax = max(s.winLatMax, us)
	s.mu.Unlock()
}

func (s *perfStats) fail() {
	s.mu.Lock()
	s.errors++
	s.mu.Unlock()
}

// printWindow prints the progress line for the window ending now and
// starts a new one.
func (s *perfStats) printWindow(w io.Writer, now time.Time) {
	s.mu.Lock()
	secs := now.Sub(s.winStart).Seconds()
	n, b, sum, mx := s.winCount, s.winBytes, s.winLatSum, s.winLatMax
	s.winStart, s.winCount, s.winBytes, s.winLatSum, s.winLatMax = now, 0, 0, 0, 0
	s.mu.Unlock()
	avg := 0.0
	if n > 0 {
		avg = float64(sum) / float64(n) / 1000
	}
	fmt.Fprintf(w, "%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.\n",
		n, float64(n)/secs, float64(b)/secs/(1<<20), avg, float64(mx)/1000)
}

func (s *perfStats) summary(now time.Time) perfSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	secs := now.Sub(s.start).Seconds()
	n := int64(s.all.Count())
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return perfSummary{
		Records: n, Errors: s.errors, Bytes: s.bytes, ElapsedSec: secs,
		RecordsPerS: float64(n) / secs, MBPerSec: float64(s.bytes) / secs / (1 << 20),
		AvgLatencyMs: s.all.Mean() / 1000, MaxLatencyMs: ms(s.all.Max()),
		P50Ms: ms(s.all.Quantile(0.5)), P95Ms: ms(s.all.Quantile(0.95)),
		P99Ms: ms(s.all.Quantile(0.99)), P999Ms: ms(s.all.Quantile(0.999)),
	}
}
