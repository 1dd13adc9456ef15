package broker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-streaming/samsa/internal/records"
)

// TestTxnProducerCommitAbort drives franz-go's transactional producer:
// a committed transaction is read by a read_committed consumer, an aborted
// one is not (though read_uncommitted sees its records), and the last
// stable offset catches up with the high watermark once both have ended.
func TestTxnProducerCommitAbort(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	adm := tb.admin()
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "txn-out"); err != nil {
		t.Fatal(err)
	}
	pr := tb.client(kgo.TransactionalID("txn-client-1"), kgo.DefaultProduceTopic("txn-out"), kgo.TransactionTimeout(30*time.Second))
	defer pr.Close()

	run := func(commit bool, prefix string, n int) {
		t.Helper()
		if err := pr.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			r := &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", prefix, i), Partition: int32(i % 2)}
			if err := pr.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce in transaction: %v", err)
			}
		}
		if err := pr.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end transaction (commit %v): %v", commit, err)
		}
	}
	run(true, "c1", 10)
	run(false, "a1", 10)
	run(true, "c2", 10)

	read := func(level kgo.IsolationLevel) map[string]bool {
		t.Helper()
		cl := tb.client(kgo.ConsumeTopics("txn-out"), kgo.FetchIsolationLevel(level), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer cl.Close()
		got := map[string]bool{}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		want := 20
		if level == kgo.ReadUncommitted() {
			want = 30
		}
		for len(got) < want {
			fs := cl.PollFetches(cctx)
			if cctx.Err() != nil {
				break
			}
			fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
		}
		return got
	}
	committed := read(kgo.ReadCommitted())
	if len(committed) != 20 {
		t.Fatalf("read_committed saw %d records, want 20: %v", len(committed), committed)
	}
	for v := range committed {
		if v[0] == 'a' {
			t.Fatalf("read_committed saw aborted record %q", v)
		}
	}
	if all := read(kgo.ReadUncommitted()); len(all) != 30 {
		t.Fatalf("read_uncommitted saw %d records, want 30", len(all))
	}
	// Both partitions end with a marker at the high watermark: nothing
	// is left open.
	for p := int32(0); p < 2; p++ {
		part := tb.srv.replicas.Get("txn-out", p)
		deadline := time.Now().Add(5 * time.Second)
		for part.Log.LastStableOffset() != part.Log.HighWatermark() {
			if time.Now().After(deadline) {
				t.Fatalf("partition %d: LSO %d, HW %d", p, part.Log.LastStableOffset(), part.Log.HighWatermark())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestTxnZombieFenced: a second producer with the same transactional id
// fences the first, whose next transactional call fails with a fencing
// error, and whose open transaction is aborted.
func TestTxnZombieFenced(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "txn-zombie"); err != nil {
		t.Fatal(err)
	}
	old := tb.client(kgo.TransactionalID("txn-zombie-id"), kgo.DefaultProduceTopic("txn-zombie"))
	defer old.Close()
	if err := old.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := old.ProduceSync(ctx, kgo.StringRecord("zombie")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// The new producer's InitProducerId aborts the old one's transaction
	// (retrying on CONCURRENT_TRANSACTIONS while its markers go out).
	nw := tb.client(kgo.TransactionalID("txn-zombie-id"), kgo.DefaultProduceTopic("txn-zombie"))
	defer nw.Close()
	if err := nw.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := nw.ProduceSync(ctx, kgo.StringRecord("live")).FirstErr(); err != nil {
		t.Fatalf("new producer: %v", err)
	}
	if err := nw.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	err := old.ProduceSync(ctx, kgo.StringRecord("zombie-2")).FirstErr()
	if err == nil {
		err = old.EndTransaction(ctx, kgo.TryCommit)
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) && !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("zombie producer: %v, want a fencing error", err)
	}
	cl := tb.client(kgo.ConsumeTopics("txn-zombie"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var got []string
	for len(got) < 1 && cctx.Err() == nil {
		cl.PollFetches(cctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != 1 || got[0] != "live" {
		t.Fatalf("read_committed: %v, want [live]", got)
	}
}

// TestTxnProduceNotAdded: KIP-890 part 1. A transactional batch for a
// partition the coordinator never added to the transaction is refused
// with INVALID_TXN_STATE and nothing is appended (no hanging
// transaction).
func TestTxnProduceNotAdded(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "txn-unadded"); err != nil {
		t.Fatal(err)
	}
	cl := tb.client()
	defer cl.Close()
	id := "txn-unadded-id"
	pid, epoch := initTxnWire(t, ctx, cl, id)
	set := records.BuildBatch(records.BatchSpec{FirstTimestamp: time.Now().UnixMilli(), Attributes: records.AttrTransactional,
		Idempotent: true, ProducerID: pid, ProducerEpoch: epoch, Records: []records.Record{{Value: []byte("not-added")}}})
	preq := bigProduceRequest("txn-unadded", []int32{0}, [][]byte{set})
	preq.TransactionID = &id
	presp, err := preq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := presp.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidTxnState.Code {
		t.Fatalf("produce to a partition not in the transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
	p := tb.srv.replicas.Get("txn-unadded", 0)
	if leo := p.Log.LogEndOffset(); leo != 0 {
		t.Fatalf("log end offset %d after a refused write", leo)
	}
}

// TestTxnBadInput: the bad inputs over the wire, each answered
// with Kafka's code: EndTxn for an unknown id or with a wrong epoch,
// AddPartitionsToTxn for a topic that does not exist, and a control batch
// written by a client.
func TestTxnBadInput(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "txn-bad"); err != nil {
		t.Fatal(err)
	}
	cl := tb.client()
	id := "txn-bad-id"
	pid, epoch := initTxnWire(t, ctx, cl, id)

	// kgo sends the highest version both sides have: a client capped at
	// Kafka 2.0 sends EndTxn v1, which knows no PRODUCER_FENCED.
	old := tb.client(kgo.MaxVersions(kversion.V2_0_0()))
	end := func(version int16, tid string, pid int64, epoch int16) int16 {
		t.Helper()
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = tid, pid, epoch, true
		via := cl
		if version < 2 {
			via = old
		}
		resp, err := req.RequestWith(ctx, via)
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	}
	// An id this coordinator never saw (its shard is the same one's or
	// another's: either way loaded by now, or NOT_COORDINATOR).
	if code := end(4, "never-initialized", 1, 0); code != kerr.InvalidProducerIDMapping.Code && code != kerr.NotCoordinator.Code {
		t.Errorf("EndTxn of an unknown id: %v, want INVALID_PRODUCER_ID_MAPPING", kerr.ErrorForCode(code))
	}
	if code := end(4, id, pid, epoch+1); code != kerr.ProducerFenced.Code {
		t.Errorf("EndTxn with a wrong epoch (v4): %v, want PRODUCER_FENCED", kerr.ErrorForCode(code))
	}
	if code := end(1, id, pid, epoch+1); code != kerr.InvalidProducerEpoch.Code {
		t.Errorf("EndTxn with a wrong epoch (v1): %v, want INVALID_PRODUCER_EPOCH", kerr.ErrorForCode(code))
	}
	if code := end(3, id, pid+1, epoch); code != kerr.InvalidProducerIDMapping.Code {
		t.Errorf("EndTxn with another producer id: %v, want INVALID_PRODUCER_ID_MAPPING", kerr.ErrorForCode(code))
	}
	// No transaction ongoing: nothing to commit.
	if code := end(3, id, pid, epoch); code != kerr.InvalidTxnState.Code {
		t.Errorf("EndTxn without a transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}

	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.SetVersion(3)
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch
	for _, topic := range []string{"txn-bad", "no-such-topic"} {
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		add.Topics = append(add.Topics, rt)
	}
	aresp, err := add.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int16{}
	for _, rt := range aresp.Topics {
		for _, rp := range rt.Partitions {
			codes[rt.Topic] = rp.ErrorCode
		}
	}
	if codes["no-such-topic"] != kerr.UnknownTopicOrPartition.Code || codes["txn-bad"] != kerr.OperationNotAttempted.Code {
		t.Errorf("AddPartitionsToTxn with an unknown topic: %v", codes)
	}

	// A control batch from a client.
	ctl := records.BuildBatch(records.BatchSpec{FirstTimestamp: time.Now().UnixMilli(),
		Attributes: records.AttrTransactional | records.AttrControl, Idempotent: true, ProducerID: pid, ProducerEpoch: epoch,
		BaseSequence: -1, Records: []records.Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}}}})
	preq := bigProduceRequest("txn-bad", []int32{0}, [][]byte{ctl})
	preq.TransactionID = &id
	presp, err := preq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := presp.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidRecord.Code {
		t.Errorf("a client's control batch: %v, want INVALID_RECORD", kerr.ErrorForCode(code))
	}
	if leo := tb.srv.replicas.Get("txn-bad", 0).Log.LogEndOffset(); leo != 0 {
		t.Errorf("log end offset %d after refused writes", leo)
	}
}

// initTxnWire finds the id's coordinator and initializes a producer id
// for it over the wire, retrying while the coordinator loads.
func initTxnWire(t *testing.T, ctx context.Context, cl *kgo.Client, id string) (int64, int16) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorType, fc.CoordinatorKey = 1, id
		if _, err := fc.RequestWith(ctx, cl); err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = &id, 30000
		req.ProducerID, req.ProducerEpoch = -1, -1
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode == 0 {
			return resp.ProducerID, resp.ProducerEpoch
		}
		if !kerr.IsRetriable(kerr.ErrorForCode(resp.ErrorCode)) || time.Now().After(deadline) {
			t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTxnKIP890Part2: with transaction.version 2 finalized, franz-go uses
// KIP-890 part 2: no AddPartitionsToTxn or AddOffsetsToTxn (the partition
// leader adds the partition on its first produce, v12, and the group
// coordinator the group on TxnOffsetCommit v5), and EndTxn v5 bumps the
// epoch of every transaction, so that a write of an ended transaction is
// fenced by its epoch. Commits, aborts, offsets and read_committed behave
// as before.
func TestTxnKIP890Part2(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	uf := kmsg.NewPtrUpdateFeaturesRequest()
	fu := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
	fu.Feature, fu.MaxVersionLevel, fu.UpgradeType = "transaction.version", 2, 1
	uf.FeatureUpdates = append(uf.FeatureUpdates, fu)
	if resp, err := uf.RequestWith(ctx, tb.client()); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("finalizing transaction.version 2: %v %+v", err, resp)
	}
	if _, err := tb.admin().CreateTopics(ctx, 2, 1, nil, "tv2-in", "tv2-out"); err != nil {
		t.Fatal(err)
	}
	in := tb.client(kgo.DefaultProduceTopic("tv2-in"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceIn := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			if err := in.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "in-%d", i), Partition: int32(i % 2)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	pr := tb.client(kgo.TransactionalID("tv2-producer"), kgo.DefaultProduceTopic("tv2-out"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	// franz-go learns the finalized features from its first answers and
	// opts in to part 2 at the end of its first transaction: a warm-up.
	if err := pr.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := pr.ProduceSync(ctx, &kgo.Record{Value: []byte("warm-up")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := pr.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	requests := func(api string) float64 { return scrape(t, tb, `kafka_network_requests_total{request="`+api+`"}`) }
	before := requests("AddPartitionsToTxn")
	epochs := map[int16]bool{}
	for round, commit := range []bool{true, false, true} {
		if err := pr.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			r := &kgo.Record{Value: fmt.Appendf(nil, "r%d-%d", round, i), Partition: int32(i % 2)}
			if err := pr.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("round %d produce: %v", round, err)
			}
			epochs[r.ProducerEpoch] = true
		}
		if err := pr.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("round %d end: %v", round, err)
		}
	}
	if requests("EndTxn") == 0 {
		t.Fatal("no EndTxn requests in the metrics: the request counts are not read")
	}
	if n := requests("AddPartitionsToTxn") - before; n != 0 {
		t.Errorf("%v AddPartitionsToTxn requests with transaction.version 2", n)
	}
	// Each transaction had its own epoch.
	if len(epochs) != 3 {
		t.Fatalf("producer epochs of three transactions: %v, want three", epochs)
	}

	// A consume-transform-produce transaction with the group's offsets.
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(tb.srv.Addr()), kgo.TransactionalID("tv2-session"),
		kgo.ConsumerGroup("tv2-group"), kgo.ConsumeTopics("tv2-in"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(), kgo.DefaultProduceTopic("tv2-out"))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	// The session's own first transaction may use the old protocol (as
	// the producer's above); its later ones add the group through
	// TxnOffsetCommit v5, with no AddOffsetsToTxn. The input comes in
	// four parts of 5, each copied in transactions of its own.
	copied := 0
	var sessBefore float64
	for part := range 4 {
		produceIn(part*5, 5)
		for copied < (part+1)*5 {
			fs := sess.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("copied %d of %d", copied, (part+1)*5)
			}
			if err := sess.Begin(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				copied++
				sess.Produce(ctx, &kgo.Record{Value: append([]byte("copy-"), r.Value...)}, nil)
			})
			if ok, err := sess.End(ctx, kgo.TryCommit); err != nil || !ok {
				t.Fatalf("session end: committed %v, %v", ok, err)
			}
		}
		if part == 0 {
			sessBefore = requests("AddOffsetsToTxn")
		}
	}
	if n := requests("AddOffsetsToTxn") - sessBefore; n != 0 {
		t.Errorf("%v AddOffsetsToTxn requests with transaction.version 2", n)
	}
	offs, err := tb.admin().FetchOffsets(ctx, "tv2-group")
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		if o, ok := offs.Lookup("tv2-in", p); !ok || o.At != 10 {
			t.Errorf("committed offset of tv2-in/%d: %+v, want 10", p, o)
		}
	}
	cl := tb.client(kgo.ConsumeTopics("tv2-out"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]bool{}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for len(got) < 29 && cctx.Err() == nil {
		cl.PollFetches(cctx).EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
	}
	if len(got) != 29 {
		t.Fatalf("read_committed: %d records, want 29 (warm-up, 8 produced, 20 copied): %v", len(got), got)
	}
	for v := range got {
		if len(v) > 2 && v[:2] == "r1" {
			t.Fatalf("read_committed saw aborted record %q", v)
		}
	}
	for p := int32(0); p < 2; p++ {
		part := tb.srv.replicas.Get("tv2-out", p)
		if lso, hw := part.Log.LastStableOffset(), part.Log.HighWatermark(); lso != hw {
			t.Errorf("tv2-out/%d: LSO %d, HW %d", p, lso, hw)
		}
	}
}
