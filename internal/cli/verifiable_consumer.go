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
	"strconv"
	"strings"
	"syscall"

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

const verifiableConsumerSynopsis = `  samsa verifiable-consumer --bootstrap-server HOST:PORT --topic TOPIC --group-id GROUP [options]
  Joins GROUP, consumes TOPIC and prints Kafka's JSON events on stdout, one
  per line: startup_complete, partitions_assigned and partitions_revoked
  {partitions: [{topic, partition}]}, records_consumed {count, partitions:
  [{topic, partition, count, minOffset, maxOffset}]} per poll, record_data
  per record with --verbose, offsets_committed {offsets: [{topic, partition,
  offset}], success, error} after each commit (unless --enable-autocommit),
  shutdown_complete. Stops after --max-messages, or on SIGINT/SIGTERM.
  --group-protocol consumer joins with the KIP-848 protocol
  (ConsumerGroupHeartbeat; the broker assigns with --group-remote-assignor,
  and --session-timeout and --assignment-strategy do not apply).`

const verifiableConsumerExamples = `  samsa verifiable-consumer --bootstrap-server localhost:9092 --topic t --group-id g --max-messages 1000
  samsa verifiable-consumer --bootstrap-server localhost:9092 --topic t --group-id g \
      --group-instance-id member-1 --assignment-strategy org.apache.kafka.clients.consumer.CooperativeStickyAssignor --verbose
  samsa verifiable-consumer --bootstrap-server localhost:9092 --topic t --group-id g \
      --group-protocol consumer --group-remote-assignor range`

func runVerifiableConsumer(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var (
			c                   conn
			topic, groupID      string
			instanceID          string
			groupProtocol       = "classic"
			remoteAssignor      string
			maxMessages         int64 = -1
			sessionTimeout            = 30000
			autoCommit, verbose bool
			resetPolicy         = "earliest"
			strategy            = "org.apache.kafka.clients.consumer.RangeAssignor"
		)
		fs := newFlagSet("verifiable-consumer", verifiableConsumerSynopsis, verifiableConsumerExamples)
		c.addConnFlags(fs, "", "consumer.config", "command-config")
		c.addBrokerListFlag(fs)
		fs.String(&topic, "topic", "topic", "REQUIRED: the topic to consume")
		fs.String(&groupID, "group-id", "group", "REQUIRED: the consumer group id")
		fs.String(&instanceID, "group-instance-id", "id", "static membership id (KIP-345)")
		fs.String(&groupProtocol, "group-protocol", "protocol", "group protocol: classic (the default) or consumer (KIP-848)")
		fs.String(&remoteAssignor, "group-remote-assignor", "assignor", "with --group-protocol consumer: the server assignor, uniform (the default) or range")
		fs.Int64(&maxMessages, "max-messages", "n", "records to consume; -1 (the default) consumes until killed")
		fs.Int(&sessionTimeout, "session-timeout", "ms", "session timeout in ms (default 30000)")
		fs.Bool(&autoCommit, "enable-autocommit", "let the client commit periodically instead of after each poll")
		fs.String(&resetPolicy, "reset-policy", "policy", "where to start without a committed offset: earliest (the default), latest or none")
		fs.String(&strategy, "assignment-strategy", "assignor",
			"partition assignor (Kafka class name or range, roundrobin, sticky, cooperative-sticky; default RangeAssignor)")
		fs.Bool(&verbose, "verbose", "print a record_data event per record")
		if err := fs.parseNoArgs(args, stdout); err != nil {
			return err
		}
		switch {
		case topic == "":
			return errors.New("option --topic is required")
		case groupID == "":
			return errors.New("option --group-id is required")
		}
		consumerProto := false
		switch strings.ToLower(groupProtocol) {
		case "classic":
			if remoteAssignor != "" {
				return errors.New("option --group-remote-assignor needs --group-protocol consumer")
			}
		case "consumer":
			consumerProto = true
		default:
			return fmt.Errorf("option --group-protocol: %q is not classic or consumer", groupProtocol)
		}
		if _, err := groupBalancer(strategy); err != nil {
			return err
		}
		reset := kgo.NewOffset().AtStart()
		switch resetPolicy {
		case "earliest":
		case "latest":
			reset = kgo.NewOffset().AtEnd()
		case "none":
			reset = kgo.NoResetOffset()
		default:
			return fmt.Errorf("option --reset-policy: %q is not earliest, latest or none", resetPolicy)
		}
		// As in Kafka, the options win over the config file.
		err := c.loadClientProps(stderr, knownConsumerProps, func(p *props) error {
			p.set("group.id", groupID)
			p.set("enable.auto.commit", strconv.FormatBool(autoCommit))
			if consumerProto {
				// As Kafka's tool: the broker assigns and times
				// sessions out, so --session-timeout and
				// --assignment-strategy do not apply.
				p.set("group.protocol", "consumer")
				if remoteAssignor != "" {
					p.set("group.remote.assignor", remoteAssignor)
				}
			} else {
				p.set("group.protocol", "classic")
				p.set("session.timeout.ms", strconv.Itoa(sessionTimeout))
				p.set("partition.assignment.strategy", strategy)
			}
			if instanceID != "" {
				p.set("group.instance.id", instanceID)
			}
			return nil
		})
		if err != nil {
			return err
		}

		ev := newEventWriter(stdout)
		// startup_complete goes out before the client exists: the client
		// joins the group as soon as it is created, and its
		// partitions_assigned must come after startup_complete.
		ev.emit("startup_complete", nil)
		cl, err := c.newConsumer(groupID,
			kgo.ConsumeTopics(topic),
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
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()

		var consumed int64
		var runErr error
		for maxMessages < 0 || consumed < maxMessages {
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
				if resetPolicy == "none" {
					fatal = err
				}
			})
			if fatal != nil {
				runErr = fatal
				break
			}
			limit := int64(-1)
			if maxMessages >= 0 {
				limit = maxMessages - consumed
			}
			summary, commits := vcSummarize(fetches, limit, func(r *kgo.Record) {
				if verbose {
					ev.emit("record_data", recordData{Key: jsonOptString(r.Key), Value: jsonOptString(r.Value),
						Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
				}
			})
			if summary.Count == 0 {
				continue
			}
			consumed += summary.Count
			ev.emit("records_consumed", summary)
			if !autoCommit {
				ev.emit("offsets_committed", vcCommitOffsets(ctx, cl, commits))
			}
		}
		cl.Close() // leaves the group (revocation events are printed by the callbacks)
		ev.emit("shutdown_complete", nil)
		return runErr
	})
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
