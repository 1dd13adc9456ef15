package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceSpread produces n records of 1-3 KiB (or small ones) round robin
// to the partitions of topic, uncompressed, in batches of at most
// batchMax bytes, and returns them in production order.
func produceSpread(t *testing.T, tb *testBroker, topic string, partitions, n, batchMax int, small bool) []*kgo.Record {
	t.Helper()
	cl := tb.client(kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(20*time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(int32(batchMax)))
	var recs []*kgo.Record
	for i := range n {
		size := 1024 + (i%3)*1024
		if small {
			size = 600
		}
		v := bytes.Repeat([]byte{byte(i)}, size)
		copy(v, fmt.Sprintf("record-%d;", i))
		recs = append(recs, &kgo.Record{Value: v, Partition: int32(i % partitions)})
	}
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return recs
}

// consumeChecked reads every record of topic from the start with a
// per-partition fetch limit and checks each arrives once, in order, with
// its bytes.
func consumeChecked(t *testing.T, tb *testBroker, topic string, partitions int, recs []*kgo.Record, limit int32) {
	t.Helper()
	cl := tb.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxPartitionBytes(limit), kgo.FetchMaxBytes(max(limit, 1<<20)))
	ctx, cancel := context.WithTimeout(testCtx(t), 60*time.Second)
	defer cancel()
	next := map[int32]int64{}
	got := 0
	for got < len(recs) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s, limit %d: consumed %d of %d records", topic, limit, got, len(recs))
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next[r.Partition] {
				t.Fatalf("%s, limit %d: partition %d offset %d, want %d", topic, limit, r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition]++
			if want := recs[int(r.Offset)*partitions+int(r.Partition)]; !bytes.Equal(r.Value, want.Value) {
				t.Fatalf("%s, limit %d: partition %d offset %d: value differs", topic, limit, r.Partition, r.Offset)
			}
			got++
		})
	}
}

// TestFetchSendfile consumes large record sets, which are sent from the
// segment files with sendfile, through consumers whose per-partition
// limits cut the answers: after whole batches when they are large, inside
// a batch when they are many and small (as Kafka's fetch does). Every
// record must arrive once, in order, with its bytes, and the sendfile
// counter must have moved.
func TestFetchSendfile(t *testing.T) {
	tb := startBroker(t, "log.segment.bytes=1048576")
	createTopic(t, tb, "big", 3, nil)
	createTopic(t, tb, "small", 1, nil)
	big := produceSpread(t, tb, "big", 3, 6000, 48<<10, false)  // 4 segments per partition
	small := produceSpread(t, tb, "small", 1, 2000, 1024, true) // a batch per record
	before := scrape(t, tb, "samsa_fetch_sendfile_bytes_total")

	// A raw fetch of the small batches with a 100,000-byte limit gets
	// exactly that many bytes: whole batches, then the start of one more.
	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "small", tb.topicID("small") // kgo may send v13+, which names topics by id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 100_000
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t), tb.client())
	if err != nil {
		t.Fatal(err)
	}
	set := resp.Topics[0].Partitions[0].RecordBatches
	if len(set) != 100_000 {
		t.Fatalf("fetch with a 100,000-byte limit returned %d bytes (error %d)", len(set), resp.Topics[0].Partitions[0].ErrorCode)
	}
	whole := 0
	for len(set) >= 12 {
		size := 12 + int(binary.BigEndian.Uint32(set[8:]))
		if size > len(set) {
			break
		}
		whole++
		set = set[size:]
	}
	if whole == 0 || len(set) == 0 {
		t.Fatalf("%d whole batches and %d bytes of a partial one; want both", whole, len(set))
	}

	for _, limit := range []int32{100_000, 300_000, 1 << 20, 10 << 20} {
		consumeChecked(t, tb, "big", 3, big, limit)
		consumeChecked(t, tb, "small", 1, small, limit)
	}
	// The consumers read 4 x 13.5 MiB, most of it as regions.
	if sent := scrape(t, tb, "samsa_fetch_sendfile_bytes_total") - before; sent < 4*12e6/2 {
		t.Fatalf("%.0f bytes went out with sendfile", sent)
	}
}
