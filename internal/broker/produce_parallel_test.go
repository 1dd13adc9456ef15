package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// bigProduceRequest is an acks=all produce request to topic of one
// set per entry of parts (partition index); the parallel tests give it
// sets large enough together to take the parallel path
// (parallelProduceBytes), others a single partition's set.
func bigProduceRequest(topic string, parts []int32, sets [][]byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for i, p := range parts {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = p
		rp.Records = sets[i]
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// TestParallelProduceKeepsEachPartitionsAnswer sends one large request to
// 6 partitions, one of them with a corrupt batch and one that does not
// exist: the partitions are appended by several goroutines, and every
// answer must still be the one of its own partition, in request order.
func TestParallelProduceKeepsEachPartitionsAnswer(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "par", 5, nil)
	cl := tb.client()
	ctx := testCtx(t)
	const n = 6000 // ~100 KiB per batch
	parts := []int32{0, 1, 2, 3, 4, 9}
	sets := make([][]byte, len(parts))
	total := 0
	for i := range parts {
		sets[i] = testBatch(-1, -1, -1, n+i)
		total += len(sets[i])
	}
	if total < parallelProduceBytes {
		t.Fatalf("request of %d bytes would not take the parallel path", total)
	}
	sets[2][len(sets[2])-1] ^= 0xff // CRC mismatch on partition 2
	resp, err := bigProduceRequest("par", parts, sets).RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Topics[0].Partitions
	if len(got) != len(parts) {
		t.Fatalf("%d partition answers, want %d", len(got), len(parts))
	}
	for i, sp := range got {
		if sp.Partition != parts[i] {
			t.Fatalf("answer %d is for partition %d, want %d", i, sp.Partition, parts[i])
		}
		var want int16
		switch parts[i] {
		case 2:
			want = kerr.CorruptMessage.Code
		case 9:
			want = kerr.UnknownTopicOrPartition.Code
		}
		if sp.ErrorCode != want {
			t.Fatalf("partition %d: error %d, want %d", sp.Partition, sp.ErrorCode, want)
		}
		if want == 0 && sp.BaseOffset != 0 {
			t.Fatalf("partition %d: base offset %d, want 0", sp.Partition, sp.BaseOffset)
		}
	}
	ends, err := tb.admin().ListEndOffsets(ctx, "par")
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range parts[:5] {
		want := int64(n + i)
		if p == 2 {
			want = 0
		}
		if o, _ := ends.Lookup("par", p); o.Offset != want {
			t.Fatalf("partition %d ends at %d, want %d", p, o.Offset, want)
		}
	}
}

// TestParallelProduceRepeatedPartitionInOrder lists one partition twice in
// a large request, with an idempotent producer's sequences 0 and n: the two
// sets must be appended in request order (the second would be out of
// sequence first).
func TestParallelProduceRepeatedPartitionInOrder(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "rep", 2, nil)
	cl := tb.client()
	ctx := testCtx(t)
	pid, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
	if err != nil || pid.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %+v", err, pid)
	}
	const n = 8000
	for round := range 5 {
		seq := int32(round * 2 * n)
		sets := [][]byte{
			testBatch(pid.ProducerID, pid.ProducerEpoch, seq, n),
			testBatch(-1, -1, -1, n),
			testBatch(pid.ProducerID, pid.ProducerEpoch, seq+n, n),
		}
		resp, err := bigProduceRequest("rep", []int32{0, 1, 0}, sets).RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		got := resp.Topics[0].Partitions
		base := int64(round * 2 * n)
		if got[0].ErrorCode != 0 || got[2].ErrorCode != 0 || got[1].ErrorCode != 0 {
			t.Fatalf("round %d: errors %d %d %d", round, got[0].ErrorCode, got[1].ErrorCode, got[2].ErrorCode)
		}
		if got[0].BaseOffset != base || got[2].BaseOffset != base+n {
			t.Fatalf("round %d: offsets %d and %d, want %d and %d", round, got[0].BaseOffset, got[2].BaseOffset, base, base+n)
		}
	}
}
