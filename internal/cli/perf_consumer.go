package cli

// samsa consumer-perf-test (kafka-consumer-perf-test.sh): consume N
// records and report throughput in Kafka's CSV layout.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	Register(&Command{
		Name:    "consumer-perf-test",
		Summary: "measure consume throughput (kafka-consumer-perf-test.sh)",
		Kafka:   "kafka-consumer-perf-test.sh",
		Run:     runConsumerPerf,
	})
}

const consumerPerfSynopsis = `  samsa consumer-perf-test --bootstrap-server HOST:PORT --topic TOPIC --messages N [options]
  Consumes N records from the start of TOPIC (every partition, assigned
  directly; with --group, as a member of that consumer group) and prints
  Kafka's header and CSV line:
    start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  Data is key plus value bytes; MB is 2^20 bytes. With --show-detailed-stats
  a line per --reporting-interval instead. --json prints one JSON object.
  If no record arrives for --timeout ms the test stops early with a warning.`

const consumerPerfExamples = `  samsa consumer-perf-test --bootstrap-server localhost:9092 --topic t --messages 1000000
  samsa consumer-perf-test --bootstrap-server localhost:9092 --topic t --messages 100000 --group perf --json`

type consumerPerfSummary struct {
	StartTime     string  `json:"start_time"`
	EndTime       string  `json:"end_time"`
	MB            float64 `json:"data_consumed_mb"`
	MBPerSec      float64 `json:"mb_per_sec"`
	Records       int64   `json:"records"`
	RecordsPerSec float64 `json:"records_per_sec"`
	RebalanceMs   int64   `json:"rebalance_time_ms"`
	FetchMs       int64   `json:"fetch_time_ms"`
	FetchMBPerSec float64 `json:"fetch_mb_per_sec"`
	FetchRecPerS  float64 `json:"fetch_records_per_sec"`
	TimedOut      bool    `json:"timed_out"`
}

func runConsumerPerf(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var (
			c                        conn
			topic, group             string
			messages                 int64
			fetchSize                      = 1024 * 1024
			timeoutMs                int64 = 10000
			interval                 int64 = 5000
			detailed, fromLatest     bool
			hideHeader, printMetrics bool
			jsonOut                  bool
			dateFormat               = "yyyy-MM-dd HH:mm:ss:SSS"
			threads                  = 1
		)
		fs := newFlagSet("consumer-perf-test", consumerPerfSynopsis, consumerPerfExamples)
		c.addConnFlags(fs, "", "consumer.config", "command-config")
		c.addBrokerListFlag(fs)
		fs.String(&topic, "topic", "topic", "REQUIRED: the topic to consume")
		fs.Int64(&messages, "messages", "n", "REQUIRED: records to consume")
		fs.String(&group, "group", "group", "consume as a member of this group (default: direct assignment, no group)")
		fs.Int(&fetchSize, "fetch-size", "bytes", "bytes to fetch per partition per request (default 1048576)")
		fs.Int64(&timeoutMs, "timeout", "ms", "stop when no record arrived for this many ms (default 10000)")
		fs.Bool(&detailed, "show-detailed-stats", "print a line per reporting interval")
		fs.Int64(&interval, "reporting-interval", "ms", "interval of the detailed stats in ms (default 5000)")
		fs.Bool(&fromLatest, "from-latest", "start at the end of the log instead of the start")
		fs.Bool(&hideHeader, "hide-header", "do not print the header line")
		fs.String(&dateFormat, "date-format", "format", "Java-style date format of the times (default yyyy-MM-dd HH:mm:ss:SSS)")
		fs.Bool(&printMetrics, "print-metrics", "accepted for compatibility")
		fs.Bool(&jsonOut, "json", "print the summary as JSON (Samsa extra)")
		fs.Int(&threads, "threads", "n", "accepted for compatibility (ignored)")
		if err := fs.parseNoArgs(args, stdout); err != nil {
			return err
		}
		switch {
		case topic == "":
			return errors.New("option --topic is required")
		case messages <= 0:
			return errors.New("option --messages must be positive")
		case interval <= 0:
			return errors.New("option --reporting-interval must be positive")
		}
		// As in Kafka, --fetch-size wins over the config file.
		err := c.loadClientProps(stderr, knownConsumerProps, func(p *props) error {
			p.set("max.partition.fetch.bytes", strconv.Itoa(fetchSize))
			return nil
		})
		if err != nil {
			return err
		}
		start := kgo.NewOffset().AtStart()
		if fromLatest {
			start = kgo.NewOffset().AtEnd()
		}
		opts := []kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(start)}
		testStart := time.Now()
		assigned := make(chan time.Time, 1)
		if group != "" {
			opts = append(opts, kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
				select {
				case assigned <- time.Now():
				default:
				}
			}))
		} else {
			assigned <- testStart
		}
		cl, err := c.newConsumer(group, opts...)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()

		if detailed && !hideHeader && !jsonOut {
			fmt.Fprintln(stdout, "time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec")
		}
		var (
			count, bytes int64
			lastCount    int64
			lastBytes    int64
			lastReport   = testStart
			lastRecord   = time.Now()
			rebalanceAt  time.Time
			timedOut     bool
			idle               = time.Duration(timeoutMs) * time.Millisecond
			pollTimeout        = min(idle, 500*time.Millisecond)
			reportEvery        = time.Duration(interval) * time.Millisecond
			rebalanceMs  int64 = -1
		)
		for count < messages && ctx.Err() == nil {
			pctx, cancel := context.WithTimeout(ctx, pollTimeout)
			fetches := cl.PollRecords(pctx, int(min(messages-count, 10000)))
			cancel()
			now := time.Now()
			if rebalanceMs < 0 {
				select {
				case rebalanceAt = <-assigned:
					rebalanceMs = rebalanceAt.Sub(testStart).Milliseconds()
				default:
				}
			}
			var fatal error
			fetches.EachError(func(t string, p int32, err error) {
				if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
					fatal = fmt.Errorf("fetching %s-%d: %w", t, p, err)
				}
			})
			if fatal != nil {
				return fatal
			}
			n := 0
			fetches.EachRecord(func(r *kgo.Record) {
				n++
				bytes += int64(len(r.Key) + len(r.Value))
			})
			count += int64(n)
			if n > 0 {
				lastRecord = now
			} else if now.Sub(lastRecord) > idle {
				timedOut = true
				break
			}
			if detailed && now.Sub(lastReport) >= reportEvery {
				if !jsonOut {
					secs := now.Sub(lastReport).Seconds()
					mb := float64(bytes-lastBytes) / (1 << 20)
					fmt.Fprintf(stdout, "%s, %.4f, %.4f, %d, %.4f, %d, %d, %.4f, %.4f\n",
						javaDate(now, dateFormat), float64(bytes)/(1<<20), mb/secs, count, float64(count-lastCount)/secs,
						0, now.Sub(lastReport).Milliseconds(), mb/secs, float64(count-lastCount)/secs)
				}
				lastReport, lastCount, lastBytes = now, count, bytes
			}
		}
		end := time.Now()
		if timedOut || (count < messages && ctx.Err() == nil) {
			fmt.Fprintf(stderr, "WARNING: Exiting before consuming the expected number of messages: timeout (%d ms) exceeded. "+
				"You can use the --timeout option to increase the timeout.\n", timeoutMs)
		}
		if rebalanceMs < 0 {
			rebalanceMs = 0
		}
		elapsed := end.Sub(testStart).Seconds()
		fetchMs := max(end.Sub(testStart).Milliseconds()-rebalanceMs, 0)
		mb := float64(bytes) / (1 << 20)
		s := consumerPerfSummary{
			StartTime: javaDate(testStart, dateFormat), EndTime: javaDate(end, dateFormat),
			MB: mb, MBPerSec: mb / elapsed, Records: count, RecordsPerSec: float64(count) / elapsed,
			RebalanceMs: rebalanceMs, FetchMs: fetchMs, TimedOut: timedOut,
		}
		if fetchMs > 0 {
			s.FetchMBPerSec = mb / (float64(fetchMs) / 1000)
			s.FetchRecPerS = float64(count) / (float64(fetchMs) / 1000)
		}
		switch {
		case jsonOut:
			b, _ := json.Marshal(s)
			fmt.Fprintln(stdout, string(b))
		case !detailed:
			if !hideHeader {
				fmt.Fprintln(stdout, "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec")
			}
			fmt.Fprintf(stdout, "%s, %s, %.4f, %.4f, %d, %.4f, %d, %d, %.4f, %.4f\n",
				s.StartTime, s.EndTime, s.MB, s.MBPerSec, s.Records, s.RecordsPerSec,
				s.RebalanceMs, s.FetchMs, s.FetchMBPerSec, s.FetchRecPerS)
		}
		return nil
	})
}

// javaDate formats t with the common SimpleDateFormat letters (yyyy MM dd
// HH mm ss SSS).
func javaDate(t time.Time, f string) string {
	r := strings.NewReplacer("yyyy", "2006", "MM", "01", "dd", "02", "HH", "15", "mm", "04", "ss", "05", "SSS", "\x00")
	out := t.Format(r.Replace(f))
	return strings.ReplaceAll(out, "\x00", fmt.Sprintf("%03d", t.Nanosecond()/1e6))
}
