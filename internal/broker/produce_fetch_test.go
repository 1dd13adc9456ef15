package broker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func createTopic(t *testing.T, tb *testBroker, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := tb.admin().CreateTopic(testCtx(t), partitions, 1, configs, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", name, err, resp.Err)
	}
}

// produceN produces n keyed records synchronously and returns them with
// their assigned partitions and offsets.
func produceN(t *testing.T, cl *kgo.Client, topic string, n int) []*kgo.Record {
	t.Helper()
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i%7)), Value: []byte(fmt.Sprintf("value-%d", i))})
	}
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return recs
}

// consumeAll reads every record of topic from the start until want records
// have arrived.
func consumeAll(t *testing.T, tb *testBroker, topic string, want int) []*kgo.Record {
	t.Helper()
	cl := tb.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before timeout", len(got), want)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		got = append(got, fs.Records()...)
	}
	return got
}

type tpo struct {
	p int32
	o int64
}

func checkSame(t *testing.T, produced, consumed []*kgo.Record) {
	t.Helper()
	if len(produced) != len(consumed) {
		t.Fatalf("produced %d records, consumed %d", len(produced), len(consumed))
	}
	byPos := map[tpo]*kgo.Record{}
	for _, r := range consumed {
		k := tpo{r.Partition, r.Offset}
		if _, dup := byPos[k]; dup {
			t.Fatalf("offset %d of partition %d consumed twice", r.Offset, r.Partition)
		}
		byPos[k] = r
	}
	for _, p := range produced {
		c := byPos[tpo{p.Partition, p.Offset}]
		if c == nil {
			t.Fatalf("record at partition %d offset %d not consumed", p.Partition, p.Offset)
		}
		if string(c.Key) != string(p.Key) || string(c.Value) != string(p.Value) {
			t.Fatalf("partition %d offset %d: got %q=%q, produced %q=%q", p.Partition, p.Offset, c.Key, c.Value, p.Key, p.Value)
		}
	}
}

func TestProduceConsumeRoundTrip(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "orders", 3, nil)
	for _, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		cl := tb.client(kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic("orders"))
		produceN(t, cl, "orders", 50)
	}
	// offsets per partition are dense from 0
	cl := tb.client()
	recs := produceN(t, cl, "orders", 100)
	all := consumeAll(t, tb, "orders", 350)
	next := map[int32]int64{}
	for _, r := range all {
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
	}
	checkSame(t, recs, filterValues(all, recs))
}

func filterValues(all, want []*kgo.Record) []*kgo.Record {
	keep := map[tpo]bool{}
	for _, r := range want {
		keep[tpo{r.Partition, r.Offset}] = true
	}
	var out []*kgo.Record
	for _, r := range all {
		if keep[tpo{r.Partition, r.Offset}] {
			out = append(out, r)
		}
	}
	return out
}

func TestAcksZeroAndOne(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "acks", 1, nil)
	for _, acks := range []kgo.Acks{kgo.NoAck(), kgo.LeaderAck()} {
		cl := tb.client(kgo.RequiredAcks(acks), kgo.DisableIdempotentWrite())
		produceN(t, cl, "acks", 20)
	}
	consumeAll(t, tb, "acks", 40)
}

func TestRestartKeepsRecordsAndOffsets(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "durable", 2, nil)
	recs := produceN(t, tb.client(), "durable", 200)
	end := map[int32]int64{}
	for _, r := range recs {
		end[r.Partition] = max(end[r.Partition], r.Offset+1)
	}
	tb.restart()
	checkSame(t, recs, consumeAll(t, tb, "durable", 200))
	// appends continue after the old end
	more := produceN(t, tb.client(), "durable", 10)
	for _, r := range more {
		if r.Offset < end[r.Partition] {
			t.Fatalf("partition %d: offset %d reused after restart (end was %d)", r.Partition, r.Offset, end[r.Partition])
		}
	}
}

func TestAutoCreateOnMetadataAndProduce(t *testing.T) {
	tb := startBroker(t, "num.partitions=4")
	recs := produceN(t, tb.client(kgo.AllowAutoTopicCreation()), "auto-created", 5)
	if len(recs) != 5 {
		t.Fatal("short produce")
	}
	td, err := tb.admin().ListTopics(testCtx(t), "auto-created")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(td["auto-created"].Partitions); n != 4 {
		t.Fatalf("auto-created topic has %d partitions, want num.partitions=4", n)
	}

	off := startBroker(t, "auto.create.topics.enable=false")
	cl := off.client(kgo.AllowAutoTopicCreation(), kgo.RecordRetries(1), kgo.RecordDeliveryTimeout(2*time.Second))
	err = cl.ProduceSync(testCtx(t), &kgo.Record{Topic: "nope", Value: []byte("x")}).FirstErr()
	if err == nil {
		t.Fatal("produce to a missing topic succeeded with auto.create.topics.enable=false")
	}
}

// TestFetchLongPoll checks that a fetch with max_wait waits for data and
// returns as soon as it arrives, not at the deadline.
func TestFetchLongPoll(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "poll", 1, nil)
	cl := tb.client()
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.MaxWaitMillis = 10000
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "poll", tb.topicID("poll")
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	done := make(chan *kmsg.FetchResponse, 1)
	start := time.Now()
	go func() {
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("fetch returned before any data was produced")
	default:
	}
	produceN(t, tb.client(), "poll", 1)
	resp := <-done
	if time.Since(start) > 8*time.Second {
		t.Fatal("fetch waited for its deadline instead of waking on the produce")
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("fetch returned no records: %+v", resp)
	}
}

func TestFetchOffsetOutOfRange(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "oor", 1, nil)
	produceN(t, tb.client(), "oor", 3)
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "oor", tb.topicID("oor")
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset = 100
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t), tb.client())
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != kerr.OffsetOutOfRange.Code || p.HighWatermark != 3 {
		t.Fatalf("got error %d hw %d, want OFFSET_OUT_OF_RANGE and hw 3", p.ErrorCode, p.HighWatermark)
	}
}

// TestFetchSessions drives KIP-227 by hand: a full fetch opens a session,
// an incremental one with nothing new answers no partitions, a wrong epoch
// is refused, and new data shows up in the next incremental answer.
func TestFetchSessions(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "sess", 2, nil)
	cl := tb.client()
	ctx := testCtx(t)

	full := kmsg.NewPtrFetchRequest()
	full.Version = 12
	full.SessionEpoch = 0
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "sess", tb.topicID("sess")
	for p := int32(0); p < 2; p++ {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
	}
	full.Topics = append(full.Topics, rt)
	resp, err := full.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.SessionID == 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("full fetch: session %d, topics %+v", resp.SessionID, resp.Topics)
	}
	id := resp.SessionID

	inc := kmsg.NewPtrFetchRequest()
	inc.Version = 12
	inc.SessionID, inc.SessionEpoch = id, 1
	resp, err = inc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Fatalf("incremental fetch with nothing new: error %d, %d topics", resp.ErrorCode, len(resp.Topics))
	}

	bad := kmsg.NewPtrFetchRequest()
	bad.Version = 12
	bad.SessionID, bad.SessionEpoch = id, 7
	resp, _ = bad.RequestWith(ctx, cl)
	if resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("wrong epoch: error %d, want INVALID_FETCH_SESSION_EPOCH", resp.ErrorCode)
	}

	pcl := tb.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := pcl.ProduceSync(ctx, &kgo.Record{Topic: "sess", Partition: 1, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	inc.SessionEpoch = 2
	resp, err = inc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].Partition != 1 {
		t.Fatalf("incremental fetch after a produce to partition 1: %+v", resp.Topics)
	}

	unknown := kmsg.NewPtrFetchRequest()
	unknown.Version = 12
	unknown.SessionID, unknown.SessionEpoch = id+1, 1
	resp, _ = unknown.RequestWith(ctx, cl)
	if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown session: error %d, want FETCH_SESSION_ID_NOT_FOUND", resp.ErrorCode)
	}
}

// TestIdempotentDuplicateGetsOriginalOffset resends the same idempotent
// batch by hand and expects the first append's offset back, not a new one.
func TestIdempotentDuplicateGetsOriginalOffset(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "idem", 1, nil)
	cl := tb.client()
	ctx := testCtx(t)
	ipid := kmsg.NewPtrInitProducerIDRequest()
	pid, err := ipid.RequestWith(ctx, cl)
	if err != nil || pid.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %d", err, pid.ErrorCode)
	}
	produce := func(seq int32, epoch int16) kmsg.ProduceResponseTopicPartition {
		req := kmsg.NewPtrProduceRequest()
		req.Acks = -1
		req.TimeoutMillis = 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "idem"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = testBatch(pid.ProducerID, epoch, seq, 3)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0]
	}
	first := produce(0, pid.ProducerEpoch)
	second := produce(3, pid.ProducerEpoch)
	dup := produce(0, pid.ProducerEpoch)
	if first.ErrorCode != 0 || second.ErrorCode != 0 || dup.ErrorCode != 0 {
		t.Fatalf("errors: %d %d %d", first.ErrorCode, second.ErrorCode, dup.ErrorCode)
	}
	if first.BaseOffset != 0 || second.BaseOffset != 3 || dup.BaseOffset != 0 {
		t.Fatalf("offsets: first %d second %d duplicate %d; want 0, 3, 0", first.BaseOffset, second.BaseOffset, dup.BaseOffset)
	}
	if gap := produce(10, pid.ProducerEpoch); gap.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: error %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", gap.ErrorCode)
	}
	if bumped := produce(0, pid.ProducerEpoch+1); bumped.ErrorCode != 0 {
		t.Fatalf("new epoch from sequence 0: error %d", bumped.ErrorCode)
	}
	if stale := produce(6, pid.ProducerEpoch); stale.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("stale epoch: error %d, want INVALID_PRODUCER_EPOCH", stale.ErrorCode)
	}
	tb.restart()
	cl = tb.client()
	if dup := produce(0, pid.ProducerEpoch+1); dup.ErrorCode != 0 || dup.BaseOffset != 6 {
		t.Fatalf("duplicate after restart: error %d offset %d, want 0 and 6", dup.ErrorCode, dup.BaseOffset)
	}
}

// TestFetchWakesOnAppendBeforeWatch produces a record after a delayed
// fetch's first read found nothing but before it registered for wakeups:
// the fetch must still answer with it at once, not at its max wait.
func TestFetchWakesOnAppendBeforeWatch(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "race", 1, nil)
	producer := tb.client()
	produceN(t, producer, "race", 1) // connected and warm
	var once sync.Once
	hook := func() { once.Do(func() { produceN(t, producer, "race", 1) }) }
	tb.srv.fetchReadHook.Store(&hook)

	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.MaxWaitMillis = 10000
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "race", tb.topicID("race")
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset = 1 // past the first record: nothing to read yet
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	start := time.Now()
	resp, err := req.RequestWith(context.Background(), tb.client())
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("fetch answered after %v: the append before its watch woke nobody", d)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("fetch returned no records: %+v", resp)
	}
}
