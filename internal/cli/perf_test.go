package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/testbroker"
)

func TestPerfTests(t *testing.T) {
	b := testbroker.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.Admin().CreateTopic(ctx, 4, 1, nil, "perf"); err != nil {
		t.Fatal(err)
	}

	out, stderr, err := execTool(t, "producer-perf-test", "--topic", "perf", "--num-records", "2000", "--record-size", "100",
		"--throughput", "-1", "--producer-props", "bootstrap.servers="+b.Addr(), "acks=all", "linger.ms=5",
		"--reporting-interval", "50ms")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	final := regexp.MustCompile(`(?m)^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th.$`)
	m := final.FindStringSubmatch(out)
	if m == nil || m[1] != "2000" {
		t.Fatalf("no final summary line:\n%s", out)
	}
	if rate, _ := strconv.ParseFloat(m[2], 64); rate <= 0 {
		t.Fatalf("rate %s", m[2])
	}
	p50, _ := strconv.Atoi(m[6])
	p999, _ := strconv.Atoi(m[9])
	maxLat, _ := strconv.ParseFloat(m[5], 64)
	if p50 > p999 || float64(p999) > maxLat+1 {
		t.Fatalf("percentiles out of order: %s", m[0])
	}
	progress := regexp.MustCompile(`(?m)^\d+ records sent, [\d.]+ records/sec \([\d.]+ MB/sec\), [\d.]+ ms avg latency, [\d.]+ ms max latency.$`)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") { // a fast run may print none
		if l != m[0] && !progress.MatchString(l) {
			t.Fatalf("unexpected line %q", l)
		}
	}

	// --json, payloads from a file, a throughput cap.
	pf := filepath.Join(t.TempDir(), "payloads")
	if err := os.WriteFile(pf, []byte("alpha|beta|gamma"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, stderr, err = execTool(t, "producer-perf-test", "--bootstrap-server", b.Addr(), "--topic", "perf",
		"--num-records", "2000", "--payload-file", pf, "--payload-delimiter", "|", "--throughput", "10000", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if time.Since(start) < 150*time.Millisecond {
		t.Fatalf("2000 records at 10000/s took only %v", time.Since(start))
	}
	var sum perfSummary
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &sum); err != nil {
		t.Fatalf("json summary %q: %v", out, err)
	}
	if sum.Records != 2000 || sum.Errors != 0 || sum.Bytes < 2000*4 || sum.Bytes > 2000*5 || sum.P99Ms < sum.P50Ms {
		t.Fatalf("summary %+v", sum)
	}

	// The consumer reads the 4000 records back, without a group.
	out, stderr, err = execTool(t, "consumer-perf-test", "--bootstrap-server", b.Addr(), "--topic", "perf",
		"--messages", "4000", "--timeout", "5000")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || lines[0] != "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec" {
		t.Fatalf("consumer output:\n%s", out)
	}
	csv := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}, [\d.]+, [\d.]+, 4000, [\d.]+, 0, \d+, [\d.]+, [\d.]+$`)
	if !csv.MatchString(lines[1]) {
		t.Fatalf("consumer line: %s", lines[1])
	}
	if advertises(t, b, 11) { // JoinGroup: consume again as a group member
		out, stderr, err = execTool(t, "consumer-perf-test", "--bootstrap-server", b.Addr(), "--topic", "perf",
			"--messages", "4000", "--group", "perf-group", "--hide-header")
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		grouped := regexp.MustCompile(`^[^,]+, [^,]+, [\d.]+, [\d.]+, 4000, [\d.]+, \d+, \d+, [\d.]+, [\d.]+$`)
		if !grouped.MatchString(strings.TrimSpace(out)) {
			t.Fatalf("group consumer output:\n%s", out)
		}
	}
	out, _, err = execTool(t, "consumer-perf-test", "--bootstrap-server", b.Addr(), "--topic", "perf",
		"--messages", "5000", "--timeout", "300", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var cs consumerPerfSummary
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &cs); err != nil || cs.Records != 4000 || !cs.TimedOut {
		t.Fatalf("json consumer summary %q: %v %+v", out, err, cs)
	}
}

func TestPerfFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--topic", "t"},
		{"--topic", "t", "--num-records", "10"},
		{"--topic", "t", "--num-records", "10", "--record-size", "5", "--payload-file", "x"},
		{"--topic", "t", "--num-records", "10", "--record-size", "5", "--producer-props", "novalue"},
	} {
		if _, _, err := execTool(t, "producer-perf-test", args...); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if _, _, err := execTool(t, "consumer-perf-test", "--topic", "t"); err == nil {
		t.Error("consumer without --messages accepted")
	}
	for _, tool := range []string{"producer-perf-test", "consumer-perf-test", "verifiable-producer", "verifiable-consumer"} {
		out, _, err := execTool(t, tool, "--help")
		if err != nil || !strings.Contains(out, "Examples:") {
			t.Errorf("%s --help: %v\n%s", tool, err, out)
		}
	}
	// Multi-value flags take the arguments up to the next flag.
	fs := newFlagSet("x", "", "")
	var props []string
	var n int
	fs.Multi(&props, "producer-props", "prop=value", "")
	fs.Int(&n, "n", "n", "")
	if err := fs.parse([]string{"--producer-props", "a=1", "b=2", "--n", "3", "--producer-props=c=4"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(props, " "); got != "a=1 b=2 c=4" || n != 3 {
		t.Fatalf("props %q n %d", got, n)
	}
	if javaDate(time.Date(2024, 3, 5, 7, 8, 9, 12e6, time.UTC), "yyyy-MM-dd HH:mm:ss:SSS") != "2024-03-05 07:08:09:012" {
		t.Fatal("javaDate")
	}
}

func TestRateThrottle(t *testing.T) {
	now := time.Unix(0, 0)
	th := newRateThrottle(1000)
	th.now = func() time.Time { return now }
	th.last = now
	th.sleep = func(d time.Duration) { now = now.Add(d) }
	for i := 0; i < 5000; i++ {
		th.wait()
	}
	// 5000 events at 1000/s take ~5 s (the first burst of 10 is free).
	if el := now.Sub(time.Unix(0, 0)); el < 4900*time.Millisecond || el > 5100*time.Millisecond {
		t.Fatalf("5000 events at 1000/s took %v", el)
	}
}
