package compat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"

	"github.com/samsa-streaming/samsa/internal/testbroker"
)

// transport is a kafka-go Transport of the test's own, its connections
// closed at cleanup. (The default one is shared and caches metadata.)
func transport(t *testing.T) *kafka.Transport {
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// kafkaGoController dials the controller as kafka-go's documentation
// says to before creating topics on a Conn.
func kafkaGoController(t *testing.T, addr string) *kafka.Conn {
	t.Helper()
	conn, err := kafka.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		t.Fatalf("Controller: %v", err)
	}
	cc, err := kafka.Dial("tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func TestKafkaGoAdmin(t *testing.T) {
	b := testbroker.Start(t)
	ctx := testCtx(t)
	cc := kafkaGoController(t, b.Addr())
	topic := "kafkago-admin"
	err := cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "3600000"}}})
	if err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	parts, err := cc.ReadPartitions(topic)
	if err != nil || len(parts) != 3 {
		t.Fatalf("ReadPartitions: %d partitions, %v", len(parts), err)
	}

	cl := &kafka.Client{Addr: kafka.TCP(b.Addr()), Timeout: 10 * time.Second, Transport: transport(t)}
	dc, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"retention.ms"}}}})
	if err != nil || dc.Resources[0].Error != nil || len(dc.Resources[0].ConfigEntries) != 1 ||
		dc.Resources[0].ConfigEntries[0].ConfigValue != "3600000" {
		t.Fatalf("DescribeConfigs: %+v %v", dc, err)
	}
	iac, err := cl.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{Resources: []kafka.IncrementalAlterConfigsRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
		Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: "segment.bytes", Value: "1048576", ConfigOperation: kafka.ConfigOperationSet}}}}})
	if err != nil || iac.Resources[0].Error != nil {
		t.Fatalf("IncrementalAlterConfigs: %+v %v", iac, err)
	}
	cp, err := cl.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{{Name: topic, Count: 4}}})
	if err != nil || cp.Errors[topic] != nil {
		t.Fatalf("CreatePartitions: %+v %v", cp, err)
	}
	// kafka.Client answers Metadata from its transport's cache (6 s):
	// ask the broker on the Conn.
	if parts, err := cc.ReadPartitions(topic); err != nil || len(parts) != 4 {
		t.Fatalf("ReadPartitions after CreatePartitions: %d partitions, %v", len(parts), err)
	}
	// (Conn.CreateTopics hides this error; the Client shows it.)
	ct, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}}})
	if err != nil || !errors.Is(ct.Errors[topic], kafka.TopicAlreadyExists) {
		t.Fatalf("second CreateTopics: %+v %v, want TopicAlreadyExists", ct, err)
	}
	if err := cc.DeleteTopics(topic); err != nil {
		t.Fatalf("DeleteTopics: %v", err)
	}
	// Checked with franz-go: kafka-go's Conn asks for metadata with
	// auto-creation on, which would create the topic again.
	adm := b.Admin()
	waitFor(t, "topic deleted", func() bool {
		topics, err := adm.ListTopics(ctx)
		return err == nil && !topics.Has(topic)
	})
}

// TestKafkaGoWriterReader writes keyed records with headers through a
// Writer (acks=all) with every codec, then reads each partition back with
// a Reader from the first offset.
func TestKafkaGoWriterReader(t *testing.T) {
	b := testbroker.Start(t)
	codecs := []compress.Compression{0, compress.Gzip, compress.Snappy, compress.Lz4, compress.Zstd}
	for _, codec := range codecs {
		name := "none"
		if codec != 0 {
			name = codec.String()
		}
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			topic := "kafkago-" + name
			if err := kafkaGoController(t, b.Addr()).CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 3, ReplicationFactor: 1}); err != nil {
				t.Fatal(err)
			}
			// A Transport of its own: the default one would have
			// metadata from before the topic existed.
			w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Topic: topic, RequiredAcks: kafka.RequireAll, Transport: transport(t),
				Compression: codec, Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond}
			const n = 60
			sent := map[string]string{} // key -> value
			var msgs []kafka.Message
			for i := range n {
				k, v := strconv.Itoa(i), fmt.Sprintf("value-%d", i)
				sent[k] = v
				msgs = append(msgs, kafka.Message{Key: []byte(k), Value: []byte(v), Headers: []kafka.Header{{Key: "h", Value: []byte(v)}}})
			}
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatalf("WriteMessages: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}

			got := 0
			for part := range 3 {
				conn, err := kafka.DialLeader(ctx, "tcp", b.Addr(), topic, part)
				if err != nil {
					t.Fatal(err)
				}
				first, last, err := conn.ReadOffsets()
				conn.Close()
				if err != nil || first != 0 {
					t.Fatalf("partition %d: ReadOffsets %d-%d %v", part, first, last, err)
				}
				r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.Addr()}, Topic: topic, Partition: part, MaxWait: 100 * time.Millisecond})
				for off := first; off < last; off++ {
					m, err := r.ReadMessage(ctx)
					if err != nil {
						t.Fatalf("partition %d offset %d: %v", part, off, err)
					}
					want := sent[string(m.Key)]
					if m.Offset != off || string(m.Value) != want || len(m.Headers) != 1 || string(m.Headers[0].Value) != want {
						t.Fatalf("partition %d offset %d: got offset %d key %q value %q headers %v", part, off, m.Offset, m.Key, m.Value, m.Headers)
					}
					delete(sent, string(m.Key))
					got++
				}
				r.Close()
			}
			if got != n || len(sent) != 0 {
				t.Fatalf("read %d records, %d never seen", got, len(sent))
			}
		})
	}
}

// TestKafkaGoConsumerGroup runs two Readers in one group: every record is
// read, both members end up owning partitions, the commits land, and
// OffsetFetch reports them.
func TestKafkaGoConsumerGroup(t *testing.T) {
	b := testbroker.Start(t, "group.initial.rebalance.delay.ms=0")
	ctx := testCtx(t)
	topic, group := "kafkago-group", "kafkago-g"
	if err := kafkaGoController(t, b.Addr()).CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 4, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Topic: topic, RequiredAcks: kafka.RequireAll, Transport: transport(t), Balancer: &kafka.RoundRobin{}, BatchTimeout: 5 * time.Millisecond}
	const n = 200
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, kafka.Message{Value: []byte(strconv.Itoa(i))})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()

	var (
		mu   sync.Mutex
		seen = map[string]bool{}
		wg   sync.WaitGroup
	)
	done := make(chan struct{})
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range 2 {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.Addr()}, GroupID: group, Topic: topic,
			StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond,
			HeartbeatInterval: 200 * time.Millisecond, SessionTimeout: 6 * time.Second})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for {
				msg, err := r.FetchMessage(rctx)
				if err != nil {
					return
				}
				if err := r.CommitMessages(rctx, msg); err != nil {
					return
				}
				mu.Lock()
				if !seen[string(msg.Value)] {
					seen[string(msg.Value)] = true
					if len(seen) == n {
						close(done)
					}
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-done:
	case <-time.After(45 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the group read %d of %d records", len(seen), n)
	}
	// Both readers stay in the group, each with its share of the
	// partitions as kafka-go's range balancer encoded it in SyncGroup.
	cl := &kafka.Client{Addr: kafka.TCP(b.Addr()), Timeout: 10 * time.Second, Transport: transport(t)}
	waitFor(t, "two members sharing the four partitions", func() bool {
		dg, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err != nil || len(dg.Groups) != 1 || dg.Groups[0].GroupState != "Stable" || len(dg.Groups[0].Members) != 2 {
			return false
		}
		owned := 0
		for _, m := range dg.Groups[0].Members {
			n := 0
			for _, mt := range m.MemberAssignments.Topics {
				n += len(mt.Partitions)
			}
			if n == 0 {
				return false
			}
			owned += n
		}
		return owned == 4
	})
	cancel()
	wg.Wait()

	of, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1, 2, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	for _, p := range of.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("OffsetFetch partition %d: %v", p.Partition, p.Error)
		}
		committed += p.CommittedOffset
	}
	if committed != n {
		t.Fatalf("committed offsets sum to %d, want %d", committed, n)
	}
	dg, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil || len(dg.Groups) != 1 || dg.Groups[0].Error != nil || dg.Groups[0].GroupState != "Empty" {
		t.Fatalf("DescribeGroups: %+v %v, want Empty", dg, err)
	}
}
