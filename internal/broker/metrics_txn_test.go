package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// waitScrape scrapes until the sample is want, failing after a while.
func waitScrape(t *testing.T, tb *testBroker, sample string, want float64) {
	t.Helper()
	got := 0.0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = scrape(t, tb, sample); got == want {
			return
		}
	}
	t.Fatalf("%s = %v, want %v", sample, got, want)
}

// TestTxnMetrics drives a franz-go transactional producer and checks the
// transaction metrics: the coordinator's ongoing transactions and ids by
// state, the last stable offset lag of the partitions written, the
// coordinator's partition load time and the marker write latency.
func TestTxnMetrics(t *testing.T) {
	tb := startBroker(t, "transaction.state.log.num.partitions=3")
	ctx := testCtx(t)
	if _, err := tb.admin().CreateTopic(ctx, 2, 1, nil, "txn-metered"); err != nil {
		t.Fatal(err)
	}
	lag := func(p int) string {
		return fmt.Sprintf(`samsa_partition_last_stable_offset_lag{partition="%d",topic="txn-metered"}`, p)
	}
	pr := tb.client(kgo.TransactionalID("txn-metrics"), kgo.DefaultProduceTopic("txn-metered"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := pr.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := pr.ProduceSync(ctx, &kgo.Record{Value: []byte("v"), Partition: int32(i % 2)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Open: partition 0 holds 2 undecided records, partition 1 one.
	if got := scrape(t, tb, `samsa_transaction_coordinator_ongoing_transactions`); got != 1 {
		t.Fatalf("ongoing transactions %v, want 1", got)
	}
	if got := scrape(t, tb, `samsa_transaction_coordinator_transactional_ids{state="Ongoing"}`); got != 1 {
		t.Fatalf("ids in Ongoing %v, want 1", got)
	}
	if got0, got1 := scrape(t, tb, lag(0)), scrape(t, tb, lag(1)); got0 != 2 || got1 != 1 {
		t.Fatalf("LSO lag %v and %v, want 2 and 1", got0, got1)
	}
	// __transaction_state's partitions were each loaded once, when it
	// was created.
	waitScrape(t, tb, `samsa_coordinator_partition_load_time_seconds_count{coordinator="transaction"}`, 3)
	if got := scrape(t, tb, `samsa_transaction_marker_write_duration_seconds_count`); got != 0 {
		t.Fatalf("marker writes %v before any transaction ended", got)
	}

	if err := pr.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	// The markers are written (this broker leads both partitions: one
	// local WriteTxnMarkers), the lag is gone, the id is CompleteCommit.
	waitScrape(t, tb, lag(0), 0)
	waitScrape(t, tb, lag(1), 0)
	waitScrape(t, tb, `samsa_transaction_coordinator_transactional_ids{state="CompleteCommit"}`, 1)
	if got := scrape(t, tb, `samsa_transaction_coordinator_ongoing_transactions`); got != 0 {
		t.Fatalf("ongoing transactions %v after the commit, want 0", got)
	}
	if got := scrape(t, tb, `samsa_transaction_marker_write_duration_seconds_count{destination="local"}`); got < 1 {
		t.Fatalf("local marker writes %v, want at least 1", got)
	}
	if got := scrape(t, tb, `samsa_transaction_marker_write_duration_seconds_sum{destination="local"}`); got <= 0 {
		t.Fatalf("marker write time %v", got)
	}

	// A restart reloads the coordinator's partitions, now with records.
	tb.restart()
	waitScrape(t, tb, `samsa_coordinator_partition_load_time_seconds_count{coordinator="transaction"}`, 3)
	waitScrape(t, tb, `samsa_transaction_coordinator_transactional_ids{state="CompleteCommit"}`, 1)
	if got := scrape(t, tb, lag(0)); got != 0 {
		t.Fatalf("LSO lag after the restart %v", got)
	}
}
