package broker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/replica"
)

// wtmLeader waits until this broker leads topic-part.
func wtmLeader(t *testing.T, tb *testBroker, topic string, part int32) *replica.Partition {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p := tb.srv.Replicas().Get(topic, part); p != nil && p.IsLeader() {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s-%d is not led here", topic, part)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wtmTxnBatch appends a transactional batch of vals for (pid, epoch)
// starting at sequence seq, as the producer would.
func wtmTxnBatch(t *testing.T, p *replica.Partition, pid int64, epoch int16, seq int32, vals ...string) {
	t.Helper()
	recs := records.MakeRecords(len(vals), func(i int, r *records.Record) { r.Value = []byte(vals[i]) })
	spec := records.BatchSpec{FirstTimestamp: time.Now().UnixMilli(), Records: recs, Attributes: records.AttrTransactional,
		Idempotent: true, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}
	if _, err := p.AppendAsLeader(records.BuildBatch(spec), 1, -1, time.Now()); err != nil {
		t.Fatalf("append of %v: %v", vals, err)
	}
}

// wtmMarker is one marker of a WriteTxnMarkers request.
func wtmMarker(pid int64, epoch int16, commit bool, coordEpoch int32, topic string, parts ...int32) kmsg.WriteTxnMarkersRequestMarker {
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, epoch, commit, coordEpoch
	rt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	rt.Topic, rt.Partitions = topic, parts
	m.Topics = append(m.Topics, rt)
	return m
}

// wtmSend sends the markers to one broker (kgo's client would split the
// request by partition leader) and returns each partition's code, keyed
// "pid/topic/partition".
func wtmSend(t *testing.T, cl kmsg.Requestor, markers ...kmsg.WriteTxnMarkersRequestMarker) map[string]int16 {
	t.Helper()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Markers = markers
	resp, err := req.RequestWith(testCtx(t), cl)
	if err != nil {
		t.Fatalf("WriteTxnMarkers: %v", err)
	}
	if resp.Version != 1 {
		t.Errorf("answered at v%d, want v1", resp.Version)
	}
	codes := map[string]int16{}
	for _, m := range resp.Markers {
		for _, rt := range m.Topics {
			for _, rp := range rt.Partitions {
				codes[wtmKey(m.ProducerID, rt.Topic, rp.Partition)] = rp.ErrorCode
			}
		}
	}
	return codes
}

func wtmKey(pid int64, topic string, part int32) string {
	return fmt.Sprintf("%d/%s/%d", pid, topic, part)
}

// wtmPoll reads topic from the start with a read_committed consumer until
// it has want records (or wait passes) and returns their values.
func wtmPoll(t *testing.T, tb *testBroker, topic string, want int, wait time.Duration) []string {
	t.Helper()
	cl := tb.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var got []string
	for len(got) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

// TestWriteTxnMarkers: the handler commits and aborts transactions written
// to a partition, with the storage's fencing and the handler's own
// partition errors per partition.
func TestWriteTxnMarkers(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "wtm", 2, nil)
	createTopic(t, tb, "wtm-isr", 1, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")})
	p0 := wtmLeader(t, tb, "wtm", 0)
	p1 := wtmLeader(t, tb, "wtm", 1)
	cl := tb.client().Broker(int(tb.srv.nodeID))

	// A committed transaction on two partitions and an aborted one.
	wtmTxnBatch(t, p0, 100, 0, 0, "c1", "c2")
	wtmTxnBatch(t, p1, 100, 0, 0, "c3")
	wtmTxnBatch(t, p0, 200, 0, 0, "a1", "a2")
	// Open transactions hold the last stable offset at the first one.
	if lso := p0.Log.LastStableOffset(); lso != 0 {
		t.Fatalf("LSO with open transactions %d, want 0", lso)
	}
	codes := wtmSend(t, cl,
		wtmMarker(100, 0, true, 5, "wtm", 0, 1),
		wtmMarker(200, 0, false, 5, "wtm", 0),
	)
	want := map[string]int16{wtmKey(100, "wtm", 0): 0, wtmKey(100, "wtm", 1): 0, wtmKey(200, "wtm", 0): 0}
	if !maps.Equal(codes, want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	// Both markers are committed (acks=all) when the answer comes: no
	// transaction is open, the LSO is the log end.
	for _, p := range []*replica.Partition{p0, p1} {
		if leo, hw, lso := p.Log.LogEndOffset(), p.Log.HighWatermark(), p.Log.LastStableOffset(); hw != leo || lso != leo {
			t.Errorf("%s: LEO %d HW %d LSO %d after the markers", p.TP, leo, hw, lso)
		}
	}
	if leo := p0.Log.LogEndOffset(); leo != 6 {
		t.Errorf("wtm-0 log end %d, want 6 (4 records, 2 markers)", leo)
	}
	got := wtmPoll(t, tb, "wtm", 3, 10*time.Second)
	slices.Sort(got)
	if !slices.Equal(got, []string{"c1", "c2", "c3"}) {
		t.Fatalf("read_committed read %v, want the committed c1 c2 c3 only", got)
	}

	// A stale producer epoch: the producer moved on to epoch 3.
	wtmTxnBatch(t, p1, 300, 3, 0, "x")
	codes = wtmSend(t, cl, wtmMarker(300, 2, true, 5, "wtm", 1))
	if c := codes[wtmKey(300, "wtm", 1)]; c != kerr.InvalidProducerEpoch.Code {
		t.Errorf("stale producer epoch: code %d, want INVALID_PRODUCER_EPOCH", c)
	}
	// An older coordinator (epoch 4 after 5) is fenced; the current one
	// ends the transaction.
	wtmTxnBatch(t, p0, 100, 0, 2, "c4")
	codes = wtmSend(t, cl, wtmMarker(100, 0, true, 4, "wtm", 0))
	if c := codes[wtmKey(100, "wtm", 0)]; c != kerr.TransactionCoordinatorFenced.Code {
		t.Errorf("older coordinator epoch: code %d, want TRANSACTION_COORDINATOR_FENCED", c)
	}
	codes = wtmSend(t, cl, wtmMarker(100, 0, true, 5, "wtm", 0), wtmMarker(300, 3, false, 5, "wtm", 1))
	if c := codes[wtmKey(100, "wtm", 0)]; c != 0 {
		t.Errorf("current coordinator epoch: code %d", c)
	}
	if c := codes[wtmKey(300, "wtm", 1)]; c != 0 {
		t.Errorf("abort at the producer's epoch: code %d", c)
	}

	// Partitions not served here, and min.insync.replicas.
	codes = wtmSend(t, cl,
		wtmMarker(400, 0, true, 5, "no-such-topic", 0),
		wtmMarker(500, 0, true, 5, "wtm", 7),
		wtmMarker(600, 0, true, 5, "wtm-isr", 0),
	)
	want = map[string]int16{
		wtmKey(400, "no-such-topic", 0): kerr.UnknownTopicOrPartition.Code,
		wtmKey(500, "wtm", 7):           kerr.UnknownTopicOrPartition.Code,
		wtmKey(600, "wtm-isr", 0):       kerr.NotEnoughReplicas.Code,
	}
	if !maps.Equal(codes, want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	if leo := wtmLeader(t, tb, "wtm-isr", 0).Log.LogEndOffset(); leo != 0 {
		t.Errorf("NOT_ENOUGH_REPLICAS wrote a marker: log end %d", leo)
	}

	got = wtmPoll(t, tb, "wtm", 4, 10*time.Second)
	slices.Sort(got)
	if !slices.Equal(got, []string{"c1", "c2", "c3", "c4"}) {
		t.Fatalf("read_committed read %v, want c1-c4 (x aborted)", got)
	}
}
