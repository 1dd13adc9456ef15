package cli

// samsa verifiable-consumer (kafka-verifiable-consumer.sh): a group member
// that prints Kafka's JSON events for rebalances, consumed records and
// commits, for test harnesses.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	Register(&Command{
		Name:    "verifiable-consumer",
		Summary: "consume in a group, printing JSON events (kafka-verifiable-consumer.sh)",
		Kafka:   "kafka-verifiable-consumer.sh",
		Run:     runVerifiableConsumer,
	})
}

const verifiableConsumerHelp = `
Usage: samsa verifiable-consumer --bootstrap-server HOST:PORT --topic TOPIC --group-id GROUP [flags]

Joins GROUP, consumes TOPIC and prints Kafka's JSON events on stdout, one
per line: startup_complete, partitions_assigned and partitions_revoked
{partitions: [{topic, partition}]}, records_consumed {count, partitions:
[{topic, partition, count, minOffset, maxOffset}]} per poll, record_data
per record with --verbose, offsets_committed {offsets: [{topic, partition,
offset}], success, error} after each commit (unless --enable-autocommit),
shutdown_complete. Stops after --max-messages, or on SIGINT/SIGTERM.

Examples:
  samsa verifiable-consumer --bootstrap-server localhost:9092 --topic t --group-id g --max-messages 1000
  samsa verifiable-consumer --bootstrap-server localhost:9092 --topic t --group-id g \
      --group-instance-id member-1 --assignment-strategy org.apache.kafka.clients.consumer.CooperativeStickyAssignor --verbose
`

func runVerifiableConsumer(args []string, stdout, stderr io.Writer) error {
	fs := newToolFlags("verifiable-consumer", verifiableConsumerHelp)
	bootstrap := fs.String("bootstrap-server", "", "brokers to connect to, host:port[,host:port...]")
	brokerList := fs.String("broker-list", "", "deprecated synonym of --bootstrap-server")
	topic := fs.String("topic", "", "topic to consume (required)")
	groupID := fs.String("group-id", "", "consumer group id (required)")
	instanceID := fs.String("group-instance-id", "", "static membership id (KIP-345)")
	groupProtocol := fs.String("group-protocol", "classic", "group protocol; only classic is supported")
	maxMessages := fs.Int64("max-messages", -1, "records to consume; -1 consumes until killed")
	sessionTimeout := fs.Int("session-timeout", 30000, "session timeout in ms")
	autoCommit := fs.Bool("enable-autocommit", false, "let the client commit periodically instead of after each poll")
	resetPolicy := fs.String("reset-policy", "earliest", "where to start without a committed offset: earliest, latest or none")
	strategy := fs.String("assignment-strategy", "org.apache.kafka.clients.consumer.RangeAssignor",
		"partition assignor (Kafka class name or range, roundrobin, sticky, cooperative-sticky)")
	verbose := fs.Bool("verbose", false, "print a record_data event per record")
	config := fs.String("consumer.config", "", "consumer properties file")
	fs.StringVar(config, "command-config", "", "synonym of --consumer.config")
	if done, err := fs.parse(args, stdout); done || err != nil {
		return err
	}
	switch {
	case *topic == "":
		return errors.New("verifiable-consumer: --topic is required (see --help)")
	case *groupID == "":
		return errors.New("verifiable-consumer: --group-id is required (see --help)")
	case *groupProtocol != "classic":
		return fmt.Errorf("verifiable-consumer: --group-protocol %s is not supported (only classic)", *groupProtocol)
	}
	if *bootstrap == "" {
		*bootstrap = *brokerList
	}
	props := clientProps{}
	if *config != "" {
		if err := loadPropsFile(*config, props); err != nil {
			return err
		}
	}
	opts, err := propsConsumerOpts(props, *bootstrap, stderr)
	if err != nil {
		return err
	}
	balancer, err := vcBalancer(*strategy)
	if err != nil {
		return err
	}
	reset := kgo.NewOffset().AtStart()
	switch *resetPolicy {
	case "earliest":
	case "latest":
		reset = kgo.NewOffset().AtEnd()
	case "none":
		reset = kgo.NoResetOffset()
	default:
		return fmt.Errorf("verifiable-consumer: --reset-policy %q: want earliest, latest or none", *resetPolicy)
	}

	ev := newEventWriter(stdout)
	opts = append(opts,
		kgo.ConsumerGroup(*groupID),
		kgo.ConsumeTopics(*topic),
		kgo.Balancers(balancer),
		kgo.SessionTimeout(time.Duration(*sessionTimeout)*time.Millisecond),
		kgo.ConsumeResetOffset(reset),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			ev.emit("partitions_assigned", partitionsEvent{Partitions: vcPartitionList(m)})
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			ev.emit("partitions_revoked", partitionsEvent{Partitions: vcPartitionList(m)})
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			ev.emit("partitions_revoked", partitionsEvent{Partitions: vcPartitionList(m)})
		}),
	)
	if *instanceID != "" {
		opts = append(opts, kgo.InstanceID(*instanceID))
	}
	if !*autoCommit {
		opts = append(opts, kgo.DisableAutoCommit())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ev.emit("startup_complete", nil)
	var consumed int64
	var runErr error
	for *maxMessages < 0 || consumed < *maxMessages {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			break
		}
		var fatal error
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			fmt.Fprintf(stderr, "fetch error on %s-%d: %v\n", t, p, err)
			if *resetPolicy == "none" {
				fatal = err
			}
		})
		if fatal != nil {
			runErr = fatal
			break
		}
		limit := int64(-1)
		if *maxMessages >= 0 {
			limit = *maxMessages - consumed
		}
		summary, commits := vcSummarize(fetches, limit, func(r *kgo.Record) {
			if *verbose {
				ev.emit("record_data", recordData{Key: jsonOptString(r.Key), Value: jsonOptString(r.Value),
					Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
			}
		})
		if summary.Count == 0 {
			continue
		}
		consumed += summary.Count
		ev.emit("records_consumed", summary)
		if !*autoCommit {
			ev.emit("offsets_committed", vcCommitOffsets(ctx, cl, commits))
		}
	}
	cl.Close() // leaves the group (revocation events are printed by the callbacks)
	ev.emit("shutdown_complete", nil)
	return runErr
}

// vcSummarize groups the polled records per partition (at most limit
// records when limit >= 0) and returns the records_consumed event and the
// offsets to commit.
func vcSummarize(fetches kgo.Fetches, limit int64, each func(*kgo.Record)) (recordsConsumed, []commitData) {
	var (
		out     = recordsConsumed{Partitions: []recordSetSummary{}}
		commits []commitData
	)
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		recs := p.Records
		if limit >= 0 && int64(len(recs)) > limit-out.Count {
			recs = recs[:max(0, limit-out.Count)]
		}
		if len(recs) == 0 {
			return
		}
		for _, r := range recs {
			each(r)
		}
		s := recordSetSummary{Topic: p.Topic, Partition: p.Partition, Count: int64(len(recs)),
			MinOffset: recs[0].Offset, MaxOffset: recs[len(recs)-1].Offset}
		out.Partitions = append(out.Partitions, s)
		out.Count += s.Count
		commits = append(commits, commitData{Topic: p.Topic, Partition: p.Partition, Offset: s.MaxOffset + 1})
	})
	return out, commits
}

// vcCommitOffsets commits synchronously and describes the outcome.
func vcCommitOffsets(ctx context.Context, cl *kgo.Client, commits []commitData) offsetsCommitted {
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for _, c := range commits {
		if offsets[c.Topic] == nil {
			offsets[c.Topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[c.Topic][c.Partition] = kgo.EpochOffset{Epoch: -1, Offset: c.Offset}
	}
	ev := offsetsCommitted{Offsets: commits, Success: true}
	var commitErr error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			commitErr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && commitErr == nil {
					commitErr = e
				}
			}
		}
	})
	if commitErr != nil {
		ev.Success, ev.Error = false, commitErr.Error()
	}
	return ev
}

// vcPartitionList turns an assignment into sorted topic-partitions.
func vcPartitionList(m map[string][]int32) []topicPartitionJSON {
	out := []topicPartitionJSON{}
	for t, ps := range m {
		for _, p := range ps {
			out = append(out, topicPartitionJSON{Topic: t, Partition: p})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// vcBalancer maps Kafka's assignor class names (or short names) onto
// franz-go balancers.
func vcBalancer(name string) (kgo.GroupBalancer, error) {
	short := strings.ToLower(name[strings.LastIndexByte(name, '.')+1:])
	switch strings.TrimSuffix(short, "assignor") {
	case "range":
		return kgo.RangeBalancer(), nil
	case "roundrobin", "round-robin":
		return kgo.RoundRobinBalancer(), nil
	case "sticky":
		return kgo.StickyBalancer(), nil
	case "cooperativesticky", "cooperative-sticky":
		return kgo.CooperativeStickyBalancer(), nil
	}
	return nil, fmt.Errorf("unknown assignment strategy %q: want RangeAssignor, RoundRobinAssignor, StickyAssignor or CooperativeStickyAssignor", name)
}
