package broker

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// scrape reads /metrics and returns the samples whose name and labels start
// with prefix, summed.
func scrape(t *testing.T, tb *testBroker, prefix string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + tb.srv.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		sum += v
	}
	return sum
}

func TestMetricsMoveWithTraffic(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "metered", 2, nil)
	inBefore := scrape(t, tb, `kafka_server_brokertopicmetrics_messages_in_total{topic="metered"}`)
	produceN(t, tb.client(), "metered", 40)
	consumeAll(t, tb, "metered", 40)

	if got := scrape(t, tb, `kafka_server_brokertopicmetrics_messages_in_total{topic="metered"}`); got-inBefore != 40 {
		t.Fatalf("messages in moved by %v, want 40", got-inBefore)
	}
	if got := scrape(t, tb, `kafka_server_brokertopicmetrics_bytes_in_total{topic="metered"}`); got <= 0 {
		t.Fatal("bytes in did not move")
	}
	if got := scrape(t, tb, `kafka_server_brokertopicmetrics_bytes_out_total{topic="metered"}`); got <= 0 {
		t.Fatal("bytes out did not move")
	}
	if got := scrape(t, tb, `kafka_log_log_end_offset{partition="0",topic="metered"}`) + scrape(t, tb, `kafka_log_log_end_offset{partition="1",topic="metered"}`); got != 40 {
		t.Fatalf("log end offsets sum to %v, want 40", got)
	}
	if got := scrape(t, tb, `kafka_network_requests_total{request="Produce"}`); got < 1 {
		t.Fatal("no Produce request counted")
	}
	if got := scrape(t, tb, `kafka_server_replicamanager_partitions`); got != 2 {
		t.Fatalf("partitions gauge %v, want 2", got)
	}
	if got := scrape(t, tb, `go_goroutines`); got <= 0 {
		t.Fatal("no Go runtime metrics")
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + tb.srv.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	// pprof is off by default
	resp, err := http.Get("http://" + tb.srv.HTTPAddr() + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("pprof served without samsa.http.pprof.enable: %d", resp.StatusCode)
	}
}

// TestGroupLagMetric commits offsets for a group and checks the lag gauge.
func TestGroupLagMetric(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "lagged", 1, nil)
	produceN(t, tb.client(), "lagged", 10)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "lagged", Partition: 0, At: 4, LeaderEpoch: -1})
	if _, err := tb.admin().CommitOffsets(testCtx(t), "lag-group", offs); err != nil {
		t.Fatal(err)
	}
	if got := scrape(t, tb, `kafka_consumergroup_lag{consumergroup="lag-group",partition="0",topic="lagged"}`); got != 6 {
		t.Fatalf("lag %v, want 6", got)
	}
	if got := scrape(t, tb, `kafka_consumergroup_current_offset{consumergroup="lag-group",partition="0",topic="lagged"}`); got != 4 {
		t.Fatalf("committed offset %v, want 4", got)
	}
}
