package broker

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/replica"
)

// txnWriter writes plain batches, transactional batches and markers
// straight to a partition as its leader (the broker does not serve
// transactions to clients yet), keeping each producer's next sequence.
type txnWriter struct {
	t   *testing.T
	p   *replica.Partition
	seq map[int64]int32
}

func newTxnWriter(t *testing.T, tb *testBroker, topic string) *txnWriter {
	t.Helper()
	// CreateTopics answers once the controller committed the topic; the
	// broker may apply it a moment later.
	deadline := time.Now().Add(10 * time.Second)
	p := tb.srv.Replicas().Get(topic, 0)
	for p == nil || !p.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatalf("%s-0 is not led here", topic)
		}
		time.Sleep(10 * time.Millisecond)
		p = tb.srv.Replicas().Get(topic, 0)
	}
	return &txnWriter{t: t, p: p, seq: map[int64]int32{}}
}

// batch appends one batch of vals: transactional for pid >= 0.
func (w *txnWriter) batch(pid int64, vals ...string) {
	w.t.Helper()
	recs := records.MakeRecords(len(vals), func(i int, r *records.Record) { r.Value = []byte(vals[i]) })
	spec := records.BatchSpec{FirstTimestamp: time.Now().UnixMilli(), Records: recs}
	if pid >= 0 {
		spec.Attributes = records.AttrTransactional
		spec.Idempotent, spec.ProducerID, spec.BaseSequence = true, pid, w.seq[pid]
		w.seq[pid] += int32(len(vals))
	}
	if _, err := w.p.AppendAsLeader(records.BuildBatch(spec), 1, -1, time.Now()); err != nil {
		w.t.Fatalf("append of %v: %v", vals, err)
	}
}

func (w *txnWriter) end(pid int64, commit bool) int64 {
	w.t.Helper()
	off, err := w.p.AppendMarker(pid, 0, commit, 0, time.Now())
	if err != nil {
		w.t.Fatalf("marker of %d: %v", pid, err)
	}
	return off
}

// fetchRaw sends one Fetch (v12 or what the client negotiates) for partition 0 of topic from offset.
func fetchRaw(t *testing.T, tb *testBroker, topic string, offset int64, isolation int8) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = -1
	req.IsolationLevel = isolation
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, tb.topicID(topic)
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t), tb.client())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch answered %+v", resp.Topics)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("fetch at %d isolation %d: error %d", offset, isolation, p.ErrorCode)
	}
	return p
}

// batchBases lists the base offsets of a record set's batches and the
// offset after the last one.
func batchBases(t *testing.T, set []byte) (bases []int64, next int64) {
	t.Helper()
	next = -1
	err := records.Split(set, func(_ []byte, h *records.Header) error {
		bases = append(bases, h.BaseOffset)
		next = h.NextOffset()
		return nil
	})
	if err != nil {
		t.Fatalf("record set: %v", err)
	}
	return bases, next
}

type abortedTxn struct{ pid, first int64 }

func abortedOf(p kmsg.FetchResponseTopicPartition) []abortedTxn {
	var out []abortedTxn
	for _, a := range p.AbortedTransactions {
		out = append(out, abortedTxn{a.ProducerID, a.FirstOffset})
	}
	return out
}

// latestOffset answers ListOffsets latest for partition 0 of topic.
func latestOffset(t *testing.T, tb *testBroker, topic string, isolation int8) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 7
	req.ReplicaID = -1
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = listLatest
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t), tb.client())
	if err != nil {
		t.Fatal(err)
	}
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode != 0 {
		t.Fatalf("list offsets isolation %d: error %d", isolation, sp.ErrorCode)
	}
	return sp.Offset
}

// pollValues polls cl until it has want records or wait passes, and
// returns the values (and offsets) it got.
func pollValues(t *testing.T, cl *kgo.Client, want int, wait time.Duration) ([]string, []int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var vals []string
	var offs []int64
	for len(vals) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			vals = append(vals, string(r.Value))
			offs = append(offs, r.Offset)
		})
	}
	return vals, offs
}

// TestReadCommittedFetch writes plain records, a committed transaction, an
// aborted one and an open one, and reads them with both isolation levels:
// read_committed stops at the last stable offset (the open transaction's
// first offset) and is told about the aborted one, read_uncommitted reads
// to the high watermark, ListOffsets latest answers each its end, and the
// open transaction's commit wakes the read_committed consumer's delayed
// fetch.
func TestReadCommittedFetch(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "rc", 1, nil)
	w := newTxnWriter(t, tb, "rc")
	const pa, pb, pc = 1001, 1002, 1003
	w.batch(-1, "plain-0", "plain-1") // 0-1
	w.batch(pa, "a-0", "a-1")         // 2-3
	w.end(pa, true)                   // 4
	w.batch(-1, "plain-2")            // 5
	w.batch(pb, "b-0", "b-1")         // 6-7
	w.end(pb, false)                  // 8
	w.batch(-1, "plain-3")            // 9
	w.batch(pc, "c-0", "c-1")         // 10-11: open
	w.batch(-1, "plain-4")            // 12
	const lso, hw = 10, 13
	if l := w.p.Log; l.HighWatermark() != hw || l.LastStableOffset() != lso {
		t.Fatalf("log: high watermark %d, last stable offset %d; want %d, %d", l.HighWatermark(), l.LastStableOffset(), hw, lso)
	}

	// The raw answers.
	rc := fetchRaw(t, tb, "rc", 0, 1)
	bases, next := batchBases(t, rc.RecordBatches)
	if rc.HighWatermark != hw || rc.LastStableOffset != lso || next != lso || !slices.Equal(bases, []int64{0, 2, 4, 5, 6, 8, 9}) {
		t.Fatalf("read_committed from 0: hw %d lso %d, batches %v up to %d; want hw %d lso %d, batches up to %d", rc.HighWatermark, rc.LastStableOffset, bases, next, hw, lso, lso)
	}
	if got := abortedOf(rc); !slices.Equal(got, []abortedTxn{{pb, 6}}) {
		t.Fatalf("read_committed from 0: aborted transactions %v, want B's at 6", got)
	}
	if got := abortedOf(fetchRaw(t, tb, "rc", 7, 1)); !slices.Equal(got, []abortedTxn{{pb, 6}}) {
		t.Fatalf("read_committed from 7, inside B's transaction: aborted %v, want B's", got)
	}
	if got := abortedOf(fetchRaw(t, tb, "rc", 9, 1)); len(got) != 0 {
		t.Fatalf("read_committed from 9, past B's marker: aborted %v, want none", got)
	}
	if p := fetchRaw(t, tb, "rc", lso, 1); len(p.RecordBatches) != 0 || p.LastStableOffset != lso || p.AbortedTransactions != nil {
		t.Fatalf("read_committed at the LSO: %d bytes, lso %d, aborted %v", len(p.RecordBatches), p.LastStableOffset, abortedOf(p))
	}
	ru := fetchRaw(t, tb, "rc", 0, 0)
	if _, next := batchBases(t, ru.RecordBatches); ru.HighWatermark != hw || ru.LastStableOffset != lso || next != hw || ru.AbortedTransactions != nil {
		t.Fatalf("read_uncommitted from 0: hw %d lso %d, batches up to %d, aborted %v; want hw %d lso %d, up to %d, none", ru.HighWatermark, ru.LastStableOffset, next, abortedOf(ru), hw, lso, hw)
	}

	// ListOffsets latest.
	if got := latestOffset(t, tb, "rc", 1); got != lso {
		t.Fatalf("ListOffsets latest read_committed = %d, want %d", got, lso)
	}
	if got := latestOffset(t, tb, "rc", 0); got != hw {
		t.Fatalf("ListOffsets latest read_uncommitted = %d, want %d", got, hw)
	}

	// Consumers. read_uncommitted sees every data record to the HW.
	ucl := tb.client(kgo.ConsumeTopics("rc"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got, _ := pollValues(t, ucl, 11, 10*time.Second)
	if want := []string{"plain-0", "plain-1", "a-0", "a-1", "plain-2", "b-0", "b-1", "plain-3", "c-0", "c-1", "plain-4"}; !slices.Equal(got, want) {
		t.Fatalf("read_uncommitted consumer: %v, want %v", got, want)
	}
	// read_committed: the plain and committed records, not B's, and
	// nothing from C's open transaction on.
	ccl := tb.client(kgo.ConsumeTopics("rc"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(20*time.Second))
	got, _ = pollValues(t, ccl, 6, 10*time.Second)
	if want := []string{"plain-0", "plain-1", "a-0", "a-1", "plain-2", "plain-3"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed consumer: %v, want %v", got, want)
	}
	if more, _ := pollValues(t, ccl, 1, time.Second); len(more) != 0 {
		t.Fatalf("read_committed consumer read past the LSO: %v", more)
	}

	// C commits: its records and what follows become visible, and the
	// consumer's delayed fetch (20 s max wait) wakes for them.
	w.end(pc, true) // 13
	if l := w.p.Log; l.LastStableOffset() != 14 || l.HighWatermark() != 14 {
		t.Fatalf("after C's commit: lso %d hw %d, want 14", l.LastStableOffset(), l.HighWatermark())
	}
	start := time.Now()
	got, offs := pollValues(t, ccl, 3, 15*time.Second)
	if want := []string{"c-0", "c-1", "plain-4"}; !slices.Equal(got, want) || !slices.Equal(offs, []int64{10, 11, 12}) {
		t.Fatalf("read_committed consumer after C's commit: %v at %v, want %v at 10-12", got, offs, want)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("read_committed consumer took %v: its delayed fetch did not wake on the LSO's move", d)
	}
	if got := latestOffset(t, tb, "rc", 1); got != 14 {
		t.Fatalf("ListOffsets latest read_committed after the commit = %d, want 14", got)
	}
}

// TestReadCommittedFetchRegion reads, read_committed, a sealed segment that
// goes out with sendfile: its aborted transaction must be listed though the
// broker never reads the batches (the upper bound is the segment's end).
func TestReadCommittedFetchRegion(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "rcr", 1, map[string]*string{"segment.bytes": kmsg.StringPtr("1048576")})
	w := newTxnWriter(t, tb, "rcr")
	const pb, pc = 2001, 2002
	big := func(s string) string { return s + ";" + string(bytes.Repeat([]byte{'x'}, 600<<10)) }
	w.batch(-1, "p-0")      // 0, segment 0
	w.batch(pb, big("b-0")) // 1
	w.end(pb, false)        // 2
	w.batch(-1, big("p-1")) // 3: rolls, segment 3
	w.batch(pc, "c-0")      // 4: open
	if l := w.p.Log; l.LastStableOffset() != 4 || l.HighWatermark() != 5 {
		t.Fatalf("lso %d hw %d, want 4 and 5", l.LastStableOffset(), l.HighWatermark())
	}

	before := scrape(t, tb, "samsa_fetch_sendfile_bytes_total")
	p := fetchRaw(t, tb, "rcr", 0, 1)
	if sent := scrape(t, tb, "samsa_fetch_sendfile_bytes_total") - before; sent < 600<<10 {
		t.Fatalf("the sealed segment was not sent as a region (%.0f bytes with sendfile)", sent)
	}
	if bases, _ := batchBases(t, p.RecordBatches); !slices.Equal(bases, []int64{0, 1, 2}) {
		t.Fatalf("read_committed from 0: batches %v, want segment 0's (0, 1, 2)", bases)
	}
	if got := abortedOf(p); !slices.Equal(got, []abortedTxn{{pb, 1}}) {
		t.Fatalf("read_committed region: aborted %v, want B's at 1", got)
	}

	cl := tb.client(kgo.ConsumeTopics("rcr"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	got, offs := pollValues(t, cl, 2, 10*time.Second)
	if len(got) != 2 || got[0] != "p-0" || got[1] != big("p-1") || !slices.Equal(offs, []int64{0, 3}) {
		t.Fatalf("read_committed consumer: %d records at %v, want p-0 and p-1 at 0 and 3", len(got), offs)
	}
	if more, _ := pollValues(t, cl, 1, time.Second); len(more) != 0 {
		t.Fatalf("read_committed consumer read past the LSO: %d records", len(more))
	}
}
