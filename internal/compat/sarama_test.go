package compat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/samsa-streaming/samsa/internal/testbroker"
)

func init() {
	if os.Getenv("SAMSA_TEST_LOG") != "" {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.LstdFlags)
	} else {
		sarama.Logger = log.New(io.Discard, "", 0)
	}
}

// saramaVersions are the protocol levels sarama is run at: Kafka 2.1 (the
// oldest Kafka 4 still serves, KIP-896), sarama's default and its newest.
var saramaVersions = []sarama.KafkaVersion{sarama.V2_1_0_0, sarama.DefaultVersion, sarama.MaxVersion}

func saramaConfig(v sarama.KafkaVersion) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = v
	cfg.ClientID = "samsa-compat"
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	return cfg
}

func saramaAdmin(t *testing.T, addr string, cfg *sarama.Config) sarama.ClusterAdmin {
	t.Helper()
	adm, err := sarama.NewClusterAdmin([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama admin: %v", err)
	}
	t.Cleanup(func() { adm.Close() })
	return adm
}

func TestSaramaAdmin(t *testing.T) {
	b := testbroker.Start(t)
	for _, v := range saramaVersions {
		t.Run(v.String(), func(t *testing.T) {
			adm := saramaAdmin(t, b.Addr(), saramaConfig(v))
			topic := "sarama-admin-" + v.String()
			retention := "3600000"
			err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1,
				ConfigEntries: map[string]*string{"retention.ms": &retention}}, false)
			if err != nil {
				t.Fatalf("CreateTopic: %v", err)
			}
			err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
			if !errors.Is(err, sarama.ErrTopicAlreadyExists) {
				t.Fatalf("second CreateTopic: %v, want ErrTopicAlreadyExists", err)
			}
			if n := saramaPartitions(t, adm, topic); n != 3 {
				t.Fatalf("ListTopics: %d partitions, want 3", n)
			}
			entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
			if err != nil {
				t.Fatalf("DescribeConfig: %v", err)
			}
			if got := configEntry(entries, "retention.ms"); got != retention {
				t.Fatalf("retention.ms = %q, want %q", got, retention)
			}
			segment := "1048576"
			if err := adm.AlterConfig(sarama.TopicResource, topic, map[string]*string{"segment.bytes": &segment}, false); err != nil {
				t.Fatalf("AlterConfig: %v", err)
			}
			entries, err = adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
			if err != nil {
				t.Fatal(err)
			}
			// AlterConfigs replaces the topic's whole set (Kafka's
			// semantics), so retention.ms is back to its default.
			if got := configEntry(entries, "segment.bytes"); got != segment {
				t.Fatalf("segment.bytes = %q after AlterConfig", got)
			}
			if got := configEntry(entries, "retention.ms"); got != "604800000" {
				t.Fatalf("retention.ms = %q after AlterConfig, want the default", got)
			}
			if err := adm.CreatePartitions(topic, 5, nil, false); err != nil {
				t.Fatalf("CreatePartitions: %v", err)
			}
			if n := saramaPartitions(t, adm, topic); n != 5 {
				t.Fatalf("after CreatePartitions: %d partitions, want 5", n)
			}
			brokers, controller, err := adm.DescribeCluster()
			if err != nil || len(brokers) != 1 || controller != 1 {
				t.Fatalf("DescribeCluster: %v brokers, controller %d, %v", len(brokers), controller, err)
			}
			if err := adm.DeleteTopic(topic); err != nil {
				t.Fatalf("DeleteTopic: %v", err)
			}
			waitFor(t, "topic deleted", func() bool { return saramaPartitions(t, adm, topic) == 0 })
		})
	}
}

func saramaPartitions(t *testing.T, adm sarama.ClusterAdmin, topic string) int32 {
	t.Helper()
	topics, err := adm.ListTopics()
	if err != nil {
		t.Fatalf("ListTopics: %v", err)
	}
	return topics[topic].NumPartitions
}

func configEntry(entries []sarama.ConfigEntry, name string) string {
	for _, e := range entries {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// TestSaramaProduceConsume produces keyed records with a header through an
// idempotent SyncProducer with every codec, and reads each partition back
// with a partition consumer: every record at the offset the producer was
// told, with its key, value and header.
func TestSaramaProduceConsume(t *testing.T) {
	b := testbroker.Start(t)
	codecs := []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP,
		sarama.CompressionSnappy, sarama.CompressionLZ4, sarama.CompressionZSTD}
	for _, v := range saramaVersions {
		for _, codec := range codecs {
			t.Run(v.String()+"/"+codec.String(), func(t *testing.T) {
				cfg := saramaConfig(v)
				cfg.Producer.Compression = codec
				topic := fmt.Sprintf("sarama-%s-%s", v, codec)
				if err := saramaAdmin(t, b.Addr(), cfg).CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false); err != nil {
					t.Fatal(err)
				}
				p, err := sarama.NewSyncProducer([]string{b.Addr()}, cfg)
				if err != nil {
					t.Fatalf("NewSyncProducer: %v", err)
				}
				type pos struct {
					part int32
					off  int64
				}
				sent := map[pos]string{}
				const n = 60
				for i := range n {
					val := fmt.Sprintf("value-%d", i)
					part, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic,
						Key: sarama.StringEncoder(fmt.Sprint(i)), Value: sarama.StringEncoder(val),
						Headers: []sarama.RecordHeader{{Key: []byte("h"), Value: []byte(val)}}})
					if err != nil {
						t.Fatalf("SendMessage %d: %v", i, err)
					}
					sent[pos{part, off}] = val
				}
				if err := p.Close(); err != nil {
					t.Fatal(err)
				}

				c, err := sarama.NewConsumer([]string{b.Addr()}, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				got := 0
				for part := range int32(3) {
					pc, err := c.ConsumePartition(topic, part, sarama.OffsetOldest)
					if err != nil {
						t.Fatalf("ConsumePartition %d: %v", part, err)
					}
					for hw := pc.HighWaterMarkOffset(); hw > 0; {
						var m *sarama.ConsumerMessage
						select {
						case m = <-pc.Messages():
						case err := <-pc.Errors():
							t.Fatalf("partition %d: %v", part, err)
						case <-time.After(10 * time.Second):
							t.Fatalf("partition %d: no record after %d", part, got)
						}
						want, ok := sent[pos{part, m.Offset}]
						if !ok || string(m.Value) != want || len(m.Headers) != 1 || string(m.Headers[0].Value) != want {
							t.Fatalf("partition %d offset %d: value %q headers %v, want %q", part, m.Offset, m.Value, m.Headers, want)
						}
						got++
						if m.Offset+1 >= hw {
							break
						}
					}
					pc.Close()
				}
				if got != n {
					t.Fatalf("consumed %d records, want %d", got, n)
				}
			})
		}
	}
}

// TestSaramaAsyncIdempotent sends a burst through the AsyncProducer (many
// records per request, one request in flight): every record acknowledged,
// and the log holds each exactly once.
func TestSaramaAsyncIdempotent(t *testing.T) {
	b := testbroker.Start(t)
	cfg := saramaConfig(sarama.MaxVersion)
	cfg.Producer.Compression = sarama.CompressionLZ4
	topic := "sarama-async"
	if err := saramaAdmin(t, b.Addr(), cfg).CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 4, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	p, err := sarama.NewAsyncProducer([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	go func() {
		for i := range n {
			p.Input() <- &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("%0200d", i))}
		}
	}()
	for acked := 0; acked < n; {
		select {
		case <-p.Successes():
			acked++
		case err := <-p.Errors():
			t.Fatalf("after %d acks: %v", acked, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("only %d of %d acknowledged", acked, n)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	cl, err := sarama.NewClient([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var total int64
	for part := range int32(4) {
		end, err := cl.GetOffset(topic, part, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		total += end
	}
	if total != n {
		t.Fatalf("the log holds %d records, want %d", total, n)
	}
}

// TestSaramaConsumerGroup runs two members of one group: the partitions
// are shared between them, every record is seen, the marked offsets are
// committed, and the group is empty once both left.
func TestSaramaConsumerGroup(t *testing.T) {
	b := testbroker.Start(t, "group.initial.rebalance.delay.ms=0")
	for _, v := range saramaVersions {
		t.Run(v.String(), func(t *testing.T) {
			cfg := saramaConfig(v)
			adm := saramaAdmin(t, b.Addr(), cfg)
			topic, group := "sarama-group-"+v.String(), "sarama-g-"+v.String()
			if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 4, ReplicationFactor: 1}, false); err != nil {
				t.Fatal(err)
			}
			p, err := sarama.NewSyncProducer([]string{b.Addr()}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			const n = 200
			for i := range n {
				if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprint(i)), Value: sarama.StringEncoder(fmt.Sprint(i))}); err != nil {
					t.Fatal(err)
				}
			}
			p.Close()

			h := &groupHandler{seen: map[string]bool{}, claims: map[string]bool{}, want: n, done: make(chan struct{})}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for m := range 2 {
				cg, err := sarama.NewConsumerGroup([]string{b.Addr()}, group, cfg)
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer cg.Close()
					mh := &memberHandler{groupHandler: h, member: fmt.Sprint(m)}
					for ctx.Err() == nil {
						if err := cg.Consume(ctx, []string{topic}, mh); err != nil && ctx.Err() == nil {
							t.Logf("member %d: %v", m, err)
							time.Sleep(100 * time.Millisecond)
						}
					}
				}()
			}
			select {
			case <-h.done:
			case <-time.After(60 * time.Second):
				cancel()
				wg.Wait()
				t.Fatalf("the group saw %d of %d records", h.count(), n)
			}
			// Both members must get partitions once the second joined.
			waitFor(t, "both members own partitions", func() bool { return h.claimedBy() == 2 })
			cancel()
			wg.Wait()

			offsets, err := adm.ListConsumerGroupOffsets(group, nil)
			if err != nil {
				t.Fatal(err)
			}
			var committed int64
			for _, blk := range offsets.Blocks[topic] {
				committed += blk.Offset
			}
			if committed != n {
				t.Fatalf("committed offsets sum to %d, want %d", committed, n)
			}
			desc, err := adm.DescribeConsumerGroups([]string{group})
			if err != nil || len(desc) != 1 || desc[0].State != "Empty" {
				t.Fatalf("DescribeConsumerGroups: %+v %v, want state Empty", desc, err)
			}
		})
	}
}

type groupHandler struct {
	mu     sync.Mutex
	seen   map[string]bool
	claims map[string]bool // members that owned a partition since the last rebalance
	want   int
	done   chan struct{}
}

func (h *groupHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seen)
}

func (h *groupHandler) claimedBy() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.claims)
}

type memberHandler struct {
	*groupHandler
	member string
}

func (h *memberHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(s.Claims()) > 0 {
		h.claims[h.member] = true
	} else {
		delete(h.claims, h.member)
	}
	return nil
}

func (h *memberHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *memberHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		s.MarkMessage(m, "")
		h.mu.Lock()
		if !h.seen[string(m.Value)] {
			h.seen[string(m.Value)] = true
			if len(h.seen) == h.want {
				close(h.done)
			}
		}
		h.mu.Unlock()
	}
	return nil
}

// TestSaramaTransactional drives sarama's transactional producer: one
// transaction committed, one aborted; a read_committed consumer sees the
// committed records only, in order, and a read_uncommitted one sees all;
// offsets committed in a transaction (AddOffsetsToTxn, TxnOffsetCommit)
// become the group's on commit and not on abort.
func TestSaramaTransactional(t *testing.T) {
	b := testbroker.Start(t)
	cfg := saramaConfig(sarama.MaxVersion)
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Transaction.ID = "sarama-txn"
	const topic = "sarama-txn"
	if err := saramaAdmin(t, b.Addr(), cfg).CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	p, err := sarama.NewSyncProducer([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatalf("transactional producer: %v", err)
	}
	defer p.Close()
	send := func(prefix string, commit bool) {
		t.Helper()
		if err := p.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("%s-%d", prefix, i))}); err != nil {
				t.Fatalf("send in transaction: %v", err)
			}
		}
		if commit {
			err = p.CommitTxn()
		} else {
			err = p.AbortTxn()
		}
		if err != nil {
			t.Fatalf("end transaction (commit %v): %v", commit, err)
		}
	}
	send("c1", true)
	send("a1", false)
	send("c2", true)

	// Offsets in a transaction (TxnOffsetCommit): visible to the group
	// once committed, not after an abort.
	const group = "sarama-txn-group"
	offsets := func(off int64, commit bool) {
		t.Helper()
		if err := p.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("o-%d", off))}); err != nil {
			t.Fatal(err)
		}
		if err := p.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{topic: {{Partition: 0, Offset: off}}}, group); err != nil {
			t.Fatalf("AddOffsetsToTxn: %v", err)
		}
		if commit {
			err = p.CommitTxn()
		} else {
			err = p.AbortTxn()
		}
		if err != nil {
			t.Fatalf("end transaction with offsets (commit %v): %v", commit, err)
		}
	}
	committedOffset := func() int64 {
		t.Helper()
		adm := saramaAdmin(t, b.Addr(), saramaConfig(sarama.MaxVersion))
		resp, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetBlock(topic, 0).Offset
	}
	offsets(7, true)
	// The markers follow EndTxn's answer: the offset shows once written.
	waitFor(t, "the committed transaction's offset", func() bool { return committedOffset() == 7 })
	offsets(9, false)
	time.Sleep(300 * time.Millisecond)
	if got := committedOffset(); got != 7 {
		t.Fatalf("after an aborted transaction with offset 9: committed %d, want 7", got)
	}

	read := func(level sarama.IsolationLevel, want int) []string {
		t.Helper()
		ccfg := saramaConfig(sarama.MaxVersion)
		ccfg.Consumer.IsolationLevel = level
		c, err := sarama.NewConsumer([]string{b.Addr()}, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		var got []string
		for len(got) < want {
			select {
			case m := <-pc.Messages():
				got = append(got, string(m.Value))
			case err := <-pc.Errors():
				t.Fatal(err)
			case <-time.After(5 * time.Second):
				t.Fatalf("isolation %d: %d records, want %d: %v", level, len(got), want, got)
			}
		}
		// Nothing more arrives.
		select {
		case m := <-pc.Messages():
			t.Fatalf("isolation %d: unexpected record %q after %v", level, m.Value, got)
		case <-time.After(300 * time.Millisecond):
		}
		return got
	}
	committed := read(sarama.ReadCommitted, 11)
	committed = committed[:10] // then the offsets transaction's o-7
	for i, v := range committed {
		want := fmt.Sprintf("c%d-%d", 1+i/5, i%5)
		if v != want {
			t.Fatalf("read_committed record %d: %q, want %q (all: %v)", i, v, want, committed)
		}
	}
	read(sarama.ReadUncommitted, 17)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
