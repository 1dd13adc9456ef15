package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/testbroker"
)

// txnTable parses a kafka-transactions.sh table: the header and the rows,
// each cell trimmed of its padding. Every line must end in a tab, as
// Kafka's prettyPrintTable writes it.
func txnTable(t *testing.T, out string) (header []string, rows [][]string) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasSuffix(l, "\t") {
			t.Fatalf("line %q does not end in a tab:\n%s", l, out)
		}
		cells := strings.Split(strings.TrimSuffix(l, "\t"), "\t")
		for i := range cells {
			cells[i] = strings.TrimRight(cells[i], " ")
		}
		if header == nil {
			header = cells
			continue
		}
		if len(cells) != len(header) {
			t.Fatalf("row %q has %d cells, the header %d", l, len(cells), len(header))
		}
		rows = append(rows, cells)
	}
	return header, rows
}

func wantHeader(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("header %q, want %q", got, want)
	}
}

// txnClient is a transactional franz-go producer, closed at cleanup.
func txnClient(t *testing.T, b *testbroker.Broker, id string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return b.Client(append([]kgo.Opt{kgo.TransactionalID(id), kgo.TransactionTimeout(60 * time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
}

func produceTxn(t *testing.T, ctx context.Context, cl *kgo.Client, rs ...*kgo.Record) {
	t.Helper()
	for _, r := range rs {
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("transactional produce: %v", err)
		}
	}
}

// waitLSO waits until the partition's last stable offset (the
// read_committed end offset) is want, and its high watermark if want < 0.
func waitLSO(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, partition int32, want int64) {
	t.Helper()
	var lso, hw int64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		lsos, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		hws, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := lsos.Lookup(topic, partition)
		h, _ := hws.Lookup(topic, partition)
		lso, hw = l.Offset, h.Offset
		if (want >= 0 && lso == want) || (want < 0 && lso == hw) {
			return
		}
	}
	t.Fatalf("%s-%d: last stable offset %d, high watermark %d, want LSO %d (-1: the HW)", topic, partition, lso, hw, want)
}

// TestTransactionsListDescribe: real transactions of franz-go producers,
// one committed and one left open, seen through list (and its filters),
// describe and describe-producers; force-terminate then aborts the open
// one and fences its producer.
func TestTransactionsListDescribe(t *testing.T) {
	t.Parallel()
	b, bs := cliBroker(t, "transaction.state.log.num.partitions=4")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := func(a ...string) []string { return append(append([]string{}, bs...), a...) }
	adm := b.Admin()
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "tx-events"); err != nil {
		t.Fatal(err)
	}

	done := txnClient(t, b, "tx-done", kgo.DefaultProduceTopic("tx-events"))
	if err := done.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceTxn(t, ctx, done, &kgo.Record{Value: []byte("a"), Partition: 0}, &kgo.Record{Value: []byte("b"), Partition: 0})
	if err := done.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	donePID, _, err := done.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// With KIP-890's verification (the default) a late write of the
	// committed transaction is refused: it cannot leave a transaction
	// hanging (TestTransactionsFindHangingAbort turns verification off).
	// Once its marker is written, that is: before it, a write of the
	// producer still joins the transaction being committed, as in Kafka
	// (KIP-890 part 2's epoch bump closes that window).
	waitLSO(t, ctx, adm, "tx-events", 0, -1)
	if _, err := rawTxnWrite(t, ctx, b.Client(), "tx-done", "tx-events", 0, donePID, 0, 2, 0); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("a late transactional write with verification on: %v, want INVALID_TXN_STATE", err)
	}
	open := txnClient(t, b, "tx-open", kgo.DefaultProduceTopic("tx-events"))
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceTxn(t, ctx, open, &kgo.Record{Value: []byte("open"), Partition: 1})
	openPID, openEpoch, err := open.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	doneRow := []string{"tx-done", "1", strconv.FormatInt(donePID, 10), "CompleteCommit"}
	openRow := []string{"tx-open", "1", strconv.FormatInt(openPID, 10), "Ongoing"}

	// list, and each filter.
	h, rows := txnTable(t, cliOK(t, "transactions", args("list")...))
	wantHeader(t, h, "TransactionalId", "Coordinator", "ProducerId", "TransactionState")
	if len(rows) != 2 || !slices.Equal(rows[0], doneRow) || !slices.Equal(rows[1], openRow) {
		t.Fatalf("list: %q, want %q and %q", rows, doneRow, openRow)
	}
	for _, c := range []struct {
		args []string
		want [][]string
	}{
		{[]string{"--state", "ongoing"}, [][]string{openRow}},
		{[]string{"--state", "COMPLETE_COMMIT,Empty"}, [][]string{doneRow}},
		{[]string{"--producer-id", strconv.FormatInt(donePID, 10)}, [][]string{doneRow}},
		{[]string{"--producer-id", "99999999"}, nil},
		{[]string{"--transactional-id-pattern", "^tx-o"}, [][]string{openRow}},
		{[]string{"--duration-filter", "3600000"}, nil},
		{[]string{"--state", "Ongoing", "--duration-filter", "0"}, [][]string{openRow}},
	} {
		_, rows := txnTable(t, cliOK(t, "transactions", args(append([]string{"list"}, c.args...)...)...))
		if len(rows) != len(c.want) || (len(rows) > 0 && !slices.Equal(rows[0], c.want[0])) {
			t.Fatalf("list %v: %q, want %q", c.args, rows, c.want)
		}
	}
	wantOneLineErr(t, cliRun(t, "transactions", args("list", "--state", "Running")...), "invalid transaction state 'Running'")
	wantOneLineErr(t, cliRun(t, "transactions", args("list", "--topic", "x")...), "option --topic does not go with list")

	// describe: the open transaction with its partition and start time.
	before := time.Now().UnixMilli()
	h, rows = txnTable(t, cliOK(t, "transactions", args("describe", "--transactional-id", "tx-open")...))
	wantHeader(t, h, "CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch", "TransactionState", "TransactionTimeoutMs",
		"CurrentTransactionStartTimeMs", "TransactionDurationMs", "TopicPartitions")
	if len(rows) != 1 {
		t.Fatalf("describe: %q", rows)
	}
	r := rows[0]
	if want := []string{"1", "tx-open", strconv.FormatInt(openPID, 10), strconv.Itoa(int(openEpoch)), "Ongoing", "60000"}; !slices.Equal(r[:6], want) || r[8] != "tx-events-1" {
		t.Fatalf("describe: %q, want %q ... tx-events-1", r, want)
	}
	start, err1 := strconv.ParseInt(r[6], 10, 64)
	dur, err2 := strconv.ParseInt(r[7], 10, 64)
	if err1 != nil || err2 != nil || start > before || start < before-60_000 || dur < 0 || dur > 60_000 {
		t.Fatalf("describe: start %q duration %q", r[6], r[7])
	}
	_, rows = txnTable(t, cliOK(t, "transactions", args("describe", "--transactional-id", "tx-done")...))
	if r := rows[0]; r[4] != "CompleteCommit" || r[8] != "" {
		t.Fatalf("describe tx-done: %q", r)
	}
	r2 := cliRun(t, "transactions", args("describe", "--transactional-id", "nope")...)
	wantOneLineErr(t, r2, "Failed to describe transaction state of transactional-id `nope`")
	wantOneLineErr(t, r2, "TRANSACTIONAL_ID_NOT_FOUND")
	wantOneLineErr(t, cliRun(t, "transactions", args("describe")...), "option --transactional-id is required")

	// describe-producers: the open transaction starts at offset 0 of
	// partition 1; partition 0's producer has none open.
	for _, extra := range [][]string{nil, {"--broker-id", "1"}} {
		out := cliOK(t, "transactions", args(append([]string{"describe-producers", "--topic", "tx-events", "--partition", "1"}, extra...)...)...)
		h, rows = txnTable(t, out)
		wantHeader(t, h, "ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence", "LastTimestamp", "CurrentTransactionStartOffset")
		if len(rows) != 1 || rows[0][0] != strconv.FormatInt(openPID, 10) || rows[0][1] != strconv.Itoa(int(openEpoch)) ||
			rows[0][3] != "0" || rows[0][5] != "0" {
			t.Fatalf("describe-producers %v: %q", extra, rows)
		}
	}
	_, rows = txnTable(t, cliOK(t, "transactions", args("describe-producers", "--topic", "tx-events", "--partition", "0")...))
	if len(rows) != 1 || rows[0][0] != strconv.FormatInt(donePID, 10) || rows[0][3] != "1" || rows[0][5] != "None" {
		t.Fatalf("describe-producers partition 0: %q", rows)
	}
	if ts, err := strconv.ParseInt(rows[0][4], 10, 64); err != nil || ts < before-60_000 {
		t.Fatalf("LastTimestamp %q", rows[0][4])
	}
	wantOneLineErr(t, cliRun(t, "transactions", args("describe-producers", "--topic", "nope", "--partition", "0")...),
		"Failed to describe producers for partition nope-0 on leader")

	// force-terminate aborts the open transaction: the LSO of partition 1
	// catches up, and the producer is fenced.
	waitLSO(t, ctx, adm, "tx-events", 1, 0)
	r2 = cliRun(t, "transactions", args("force-terminate", "--transactional-id", "tx-open")...)
	if r2.runErr != nil || !strings.Contains(r2.out, "Terminated transactional-id `tx-open` (was Ongoing") ||
		!strings.Contains(r2.err, "two-phase commit (KIP-939) is not supported") {
		t.Fatalf("force-terminate: %v\n%s\n%s", r2.runErr, r2.out, r2.err)
	}
	waitLSO(t, ctx, adm, "tx-events", 1, -1)
	_, rows = txnTable(t, cliOK(t, "transactions", args("describe", "--transactional-id", "tx-open")...))
	if st := rows[0][4]; (st != "Empty" && st != "CompleteAbort") || rows[0][8] != "" {
		t.Fatalf("after force-terminate: %q", rows[0])
	}
	if e, _ := strconv.Atoi(rows[0][3]); e <= int(openEpoch) {
		t.Fatalf("after force-terminate the epoch is %d, was %d", e, openEpoch)
	}
	err = open.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) && !errors.Is(err, kerr.InvalidProducerIDMapping) && !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("the terminated producer's commit: %v, want a fencing error", err)
	}
	wantOneLineErr(t, cliRun(t, "transactions", args("force-terminate", "--transactional-id", "nope")...), "TRANSACTIONAL_ID_NOT_FOUND")

	// The open transaction's record was aborted: read_committed sees the
	// committed two only.
	cons := b.Client(kgo.ConsumeTopics("tx-events"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
	defer ccancel()
	for cctx.Err() == nil {
		cons.PollFetches(cctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if slices.Sort(got); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("read_committed: %q", got)
	}
}

// lateTxnWrite appends a transactional batch of the producer's to a
// partition with a raw Produce request (cl: the partition's leader), the way a produce retry of a
// transaction that has already ended arrives late: the coordinator no
// longer has the partition in a transaction of the producer, so the
// partition's transaction stays open, hanging. Its records are dated ago.
func lateTxnWrite(t *testing.T, ctx context.Context, cl kmsg.Requestor, txnID, topic string, partition int32, pid int64, epoch int16, seq int32, ago time.Duration) int64 {
	t.Helper()
	off, err := rawTxnWrite(t, ctx, cl, txnID, topic, partition, pid, epoch, seq, ago)
	if err != nil {
		t.Fatalf("late transactional write to %s-%d: %v", topic, partition, err)
	}
	return off
}

// rawTxnWrite is lateTxnWrite's Produce, returning the partition's error.
func rawTxnWrite(t *testing.T, ctx context.Context, cl kmsg.Requestor, txnID, topic string, partition int32, pid int64, epoch int16, seq int32, ago time.Duration) (int64, error) {
	t.Helper()
	batch := records.BuildBatch(records.BatchSpec{
		Attributes:     records.AttrTransactional,
		FirstTimestamp: time.Now().Add(-ago).UnixMilli(),
		Idempotent:     true, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq,
		Records: records.MakeRecords(2, nil),
	})
	req := kmsg.NewPtrProduceRequest()
	req.TransactionID, req.Acks, req.TimeoutMillis = &txnID, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.BaseOffset, kerr.ErrorForCode(p.ErrorCode)
}

// TestTransactionsFindHangingAbort makes real hanging transactions and
// finds and aborts them. With KIP-890's verification (Samsa's default) a
// partition leader asks the coordinator before the first transactional
// write of a producer and refuses one the coordinator does not expect, so
// no produce can leave a transaction hanging; the broker runs with
// transaction.partition.verification.enable=false, as a Kafka cluster
// before 3.6 did, where a produce retry of a transaction that already
// committed arrives after its marker and opens a transaction nobody will
// end. find-hanging reports those (not an open transaction of a live
// producer, even an old one), abort writes their ABORT marker, and the
// last stable offset moves on.
func TestTransactionsFindHangingAbort(t *testing.T) {
	t.Parallel()
	b, bs := cliBroker(t, "transaction.state.log.num.partitions=4", "transaction.partition.verification.enable=false")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := func(a ...string) []string { return append(append([]string{}, bs...), a...) }
	adm := b.Admin()
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "tx-hang"); err != nil {
		t.Fatal(err)
	}

	// The zombie: a producer commits a transaction on partition 0, then a
	// late batch of it reaches partition 0 (offset 2, after the record
	// and the COMMIT marker) and, later, partition 2.
	zombie := txnClient(t, b, "tx-zombie", kgo.DefaultProduceTopic("tx-hang"))
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceTxn(t, ctx, zombie, &kgo.Record{Value: []byte("committed"), Partition: 0})
	if err := zombie.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	pid, epoch, err := zombie.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	zombie.Close() // the producer is gone
	// EndTxn returns before the markers are written: the late batch
	// comes after the COMMIT marker.
	waitLSO(t, ctx, adm, "tx-hang", 0, 2)
	raw := b.Client()
	start := lateTxnWrite(t, ctx, raw, "tx-zombie", "tx-hang", 0, pid, epoch, 1, 20*time.Minute)
	if start != 2 {
		t.Fatalf("the late batch is at offset %d, want 2", start)
	}
	waitLSO(t, ctx, adm, "tx-hang", 0, 2)

	// A live producer's transaction on partition 1, as old: the
	// coordinator has the partition in it, so it does not hang.
	live := txnClient(t, b, "tx-live", kgo.DefaultProduceTopic("tx-hang"))
	if err := live.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-20 * time.Minute)
	produceTxn(t, ctx, live, &kgo.Record{Value: []byte("live"), Partition: 1, Timestamp: old})
	livePID, _, err := live.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, rows := txnTable(t, cliOK(t, "transactions", args("describe-producers", "--topic", "tx-hang", "--partition", "1")...))
	if len(rows) != 1 || rows[0][0] != strconv.FormatInt(livePID, 10) || rows[0][4] != strconv.FormatInt(old.UnixMilli(), 10) || rows[0][5] != "0" {
		t.Fatalf("the live producer's open transaction: %q (at %d)", rows, old.UnixMilli())
	}

	hangRow := func(partition int32) []string {
		return []string{"tx-hang", itoa32(partition), strconv.FormatInt(pid, 10), strconv.Itoa(int(epoch))}
	}
	// checkHanging checks find-hanging's table: the rows' first columns
	// and their duration in minutes.
	checkHanging := func(what string, out string, minutes int, want ...[]string) [][]string {
		t.Helper()
		h, rows := txnTable(t, out)
		wantHeader(t, h, "Topic", "Partition", "ProducerId", "ProducerEpoch", "CoordinatorEpoch", "StartOffset", "LastTimestamp", "Duration(min)")
		if len(rows) != len(want) {
			t.Fatalf("%s: %q, want %d rows", what, rows, len(want))
		}
		for i, w := range want {
			if !slices.Equal(rows[i][:4], w) {
				t.Fatalf("%s: row %q, want %q", what, rows[i], w)
			}
			if d, err := strconv.Atoi(rows[i][7]); err != nil || d < minutes || d > minutes+1 {
				t.Fatalf("%s: duration %q minutes, want %d", what, rows[i][7], minutes)
			}
		}
		return rows
	}
	// The producer's last timestamp on partition 0 is its COMMIT
	// marker's (Samsa keeps a producer's latest), so the late
	// transaction is younger than the default 15 minutes; with 0 it is
	// found, and the live one (a candidate by its age) is not.
	checkHanging("default timeout", cliOK(t, "transactions", args("find-hanging", "--broker-id", "1")...), 0)
	out := cliOK(t, "transactions", args("find-hanging", "--broker-id", "1", "--max-transaction-timeout", "0")...)
	if rows := checkHanging("find-hanging --broker-id 1", out, 0, hangRow(0)); rows[0][5] != "2" {
		t.Fatalf("StartOffset %q, want 2", rows[0][5])
	}
	checkHanging("--topic", cliOK(t, "transactions", args("find-hanging", "--topic", "tx-hang", "--max-transaction-timeout", "0")...), 0, hangRow(0))
	checkHanging("--partition 1", cliOK(t, "transactions", args("find-hanging", "--topic", "tx-hang", "--partition", "1", "--max-transaction-timeout", "0")...), 0)
	wantOneLineErr(t, cliRun(t, "transactions", args("find-hanging")...), "requires either --topic or --broker-id")
	wantOneLineErr(t, cliRun(t, "transactions", args("find-hanging", "--broker-id", "1", "--partition", "0")...), "--partition argument requires --topic")

	// abort by start offset: the ABORT marker ends it, the LSO catches up.
	wantOneLineErr(t, cliRun(t, "transactions", args("abort", "--topic", "tx-hang", "--partition", "0", "--start-offset", "1")...),
		"could not find any open transactions starting at offset 1 on partition tx-hang-0")
	wantOneLineErr(t, cliRun(t, "transactions", args("abort", "--topic", "tx-hang", "--partition", "0")...),
		"must be identified either with --start-offset")
	wantOneLineErr(t, cliRun(t, "transactions", args("abort", "--topic", "tx-hang", "--partition", "0", "--producer-id", "1")...),
		"missing required argument --producer-epoch")
	out = cliOK(t, "transactions", args("abort", "--topic", "tx-hang", "--partition", "0", "--start-offset", "2")...)
	if want := fmt.Sprintf("Aborted the transaction of producer %d (epoch %d) on partition tx-hang-0.\n", pid, epoch); out != want {
		t.Fatalf("abort: %q, want %q", out, want)
	}
	waitLSO(t, ctx, adm, "tx-hang", 0, -1)
	checkHanging("after the abort", cliOK(t, "transactions", args("find-hanging", "--broker-id", "1", "--max-transaction-timeout", "0")...), 0)

	// A late batch on partition 2, where the producer never wrote: no
	// coordinator epoch yet. Aborted by producer id and epoch, with
	// coordinator epoch -1 (taken as 0).
	start = lateTxnWrite(t, ctx, raw, "tx-zombie", "tx-hang", 2, pid, epoch, 0, 20*time.Minute)
	_, rows = txnTable(t, cliOK(t, "transactions", args("describe-producers", "--topic", "tx-hang", "--partition", "2")...))
	if len(rows) != 1 || rows[0][2] != "-1" || rows[0][5] != strconv.FormatInt(start, 10) {
		t.Fatalf("partition 2's producers: %q", rows)
	}
	// Its records are 20 minutes old: found with the default 15, not
	// with 30.
	checkHanging("partition 2", cliOK(t, "transactions", args("find-hanging", "--broker-id", "1")...), 20, hangRow(2))
	checkHanging("younger than 30 minutes", cliOK(t, "transactions", args("find-hanging", "--broker-id", "1", "--max-transaction-timeout", "30")...), 0)
	waitLSO(t, ctx, adm, "tx-hang", 2, start)
	cliOK(t, "transactions", args("abort", "--topic", "tx-hang", "--partition", "2", "--producer-id", strconv.FormatInt(pid, 10),
		"--producer-epoch", strconv.Itoa(int(epoch)), "--coordinator-epoch", "-1")...)
	waitLSO(t, ctx, adm, "tx-hang", 2, -1)
	checkHanging("after both aborts", cliOK(t, "transactions", args("find-hanging", "--broker-id", "1", "--max-transaction-timeout", "0")...), 0)

	// The live transaction commits as usual; read_committed sees its
	// record and the committed one, none of the aborted late ones.
	if err := live.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	waitLSO(t, ctx, adm, "tx-hang", 1, -1)
	cons := b.Client(kgo.ConsumeTopics("tx-hang"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
	defer ccancel()
	for cctx.Err() == nil {
		cons.PollFetches(cctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if slices.Sort(got); !slices.Equal(got, []string{"committed", "live"}) {
		t.Fatalf("read_committed: %q", got)
	}
}

// TestTransactionsFindHangingCluster: on three brokers a hanging
// transaction is found from each one's --broker-id (a follower describes
// its own replica's producers; one that does not, as older Samsa
// brokers, has its leader asked, with a note), and aborted through the
// leader.
func TestTransactionsFindHangingCluster(t *testing.T) {
	t.Parallel()
	c := testbroker.StartCluster(t, 3, "transaction.partition.verification.enable=false", "transaction.state.log.num.partitions=2")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bs := []string{"--bootstrap-server", strings.Join(c.Addrs(), ",")}
	args := func(a ...string) []string { return append(append([]string{}, bs...), a...) }
	adm := c.Admin()
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "tx-rep"); err != nil {
		t.Fatal(err)
	}
	zombie := c.Client(kgo.TransactionalID("tx-rep-zombie"), kgo.DefaultProduceTopic("tx-rep"))
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceTxn(t, ctx, zombie, kgo.StringRecord("committed"))
	if err := zombie.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	pid, epoch, err := zombie.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	md, err := adm.Metadata(ctx, "tx-rep")
	if err != nil {
		t.Fatal(err)
	}
	leader := md.Topics["tx-rep"].Partitions[0].Leader
	// EndTxn returns before the markers are written: the late batch
	// comes after the COMMIT marker.
	waitLSO(t, ctx, adm, "tx-rep", 0, 2)
	if start := lateTxnWrite(t, ctx, zombie.Broker(int(leader)), "tx-rep-zombie", "tx-rep", 0, pid, epoch, 1, 0); start != 2 {
		t.Fatalf("the late batch is at offset %d, want 2", start)
	}
	for id := int32(1); id <= 3; id++ {
		// A follower answers from its own replica, which may not have
		// the late batch yet.
		var r cliResult
		var rows [][]string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			r = cliRun(t, "transactions", args("find-hanging", "--broker-id", itoa32(id), "--max-transaction-timeout", "0")...)
			if r.runErr != nil {
				t.Fatalf("find-hanging --broker-id %d: %v", id, r.runErr)
			}
			if _, rows = txnTable(t, r.out); len(rows) > 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(rows) != 1 || !slices.Equal(rows[0][:6], []string{"tx-rep", "0", strconv.FormatInt(pid, 10), strconv.Itoa(int(epoch)), rows[0][4], "2"}) {
			t.Fatalf("find-hanging --broker-id %d: %q", id, rows)
		}
		if noted := strings.Contains(r.err, "does not describe the producers of"); id != leader && !noted {
			t.Logf("broker %d (a follower) described its producers itself: %q", id, r.err)
		} else if id == leader && noted {
			t.Fatalf("the leader %d was not asked: %q", id, r.err)
		}
	}
	cliOK(t, "transactions", args("abort", "--topic", "tx-rep", "--partition", "0", "--start-offset", "2")...)
	waitLSO(t, ctx, adm, "tx-rep", 0, -1)
	for id := int32(1); id <= 3; id++ {
		// A follower may not have the marker yet.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			_, rows := txnTable(t, cliOK(t, "transactions", args("find-hanging", "--broker-id", itoa32(id), "--max-transaction-timeout", "0")...))
			if len(rows) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the abort, find-hanging --broker-id %d: %q", id, rows)
			}
		}
	}
}
