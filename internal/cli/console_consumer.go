package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	Register(&Command{
		Name:    "console-consumer",
		Summary: "print records of a topic (kafka-console-consumer.sh)",
		Kafka:   "kafka-console-consumer.sh",
		Run: func(args []string, stdout, stderr io.Writer) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runConsoleConsumer(ctx, args, stdout, stderr)
		},
	})
}

const consumerSynopsis = `  samsa console-consumer --bootstrap-server HOST:PORT (--topic TOPIC | --include REGEX) [options]
  Prints each record's value on a line; --property print.key=true and the
  other formatter properties add columns. Without --group the consumer
  reads the partitions directly and commits nothing (Kafka's tool joins a
  random group instead); with --group it joins the group and commits what
  it printed. On exit (Ctrl-C, --max-messages, --timeout-ms) it prints
  "Processed a total of N messages" on stderr. --consumer-property
  group.protocol=consumer joins with the KIP-848 consumer protocol
  (group.remote.assignor=uniform or range picks the broker's assignor).

  Formatter properties (--property name=value), as Kafka's DefaultMessageFormatter:
    print.timestamp, print.key, print.offset, print.partition, print.headers
    (all false), print.value (true), key.separator (\t), line.separator (\n),
    headers.separator (,), null.literal (null)

  --output json (Samsa extra) prints one JSON object per record instead:
    {"topic","partition","offset","timestamp","timestampType","key","value",
     "headers":[{"key","value"}]}; keys and values that are not UTF-8 are
     base64 with "keyEncoding"/"valueEncoding":"base64".`

const consumerExamples = `  samsa console-consumer --bootstrap-server 127.0.0.1:9092 --topic events --from-beginning
  samsa console-consumer --topic events --from-beginning --property print.key=true --property key.separator=:
  samsa console-consumer --topic events --partition 0 --offset 42 --max-messages 10
  samsa console-consumer --topic events --group billing --from-beginning
  samsa console-consumer --topic events --group billing --consumer-property group.protocol=consumer
  samsa console-consumer --include 'events.*' --from-beginning --timeout-ms 5000 --output json`

// formatter prints records as Kafka's DefaultMessageFormatter.
type formatter struct {
	timestamp, key, offset, partition, headers, value bool
	keySep, lineSep, headersSep, nullLiteral          string
	json                                              bool
}

func newFormatter(p *props, jsonOut bool) (*formatter, error) {
	f := &formatter{
		value:       true,
		keySep:      unescapeSeparator(p.getOr("key.separator", "\t")),
		lineSep:     unescapeSeparator(p.getOr("line.separator", "\n")),
		headersSep:  unescapeSeparator(p.getOr("headers.separator", ",")),
		nullLiteral: p.getOr("null.literal", "null"),
		json:        jsonOut,
	}
	for name, ptr := range map[string]*bool{
		"print.timestamp": &f.timestamp, "print.key": &f.key, "print.offset": &f.offset,
		"print.partition": &f.partition, "print.headers": &f.headers, "print.value": &f.value,
	} {
		v, err := p.bool(name, *ptr)
		if err != nil {
			return nil, err
		}
		*ptr = v
	}
	return f, nil
}

func timestampType(r *kgo.Record) string {
	if r.Attrs.TimestampType() == 1 {
		return "LogAppendTime"
	}
	return "CreateTime"
}

func (f *formatter) orNull(b []byte) string {
	if b == nil {
		return f.nullLiteral
	}
	return string(b)
}

// jsonRecord is one record of --output json.
type jsonRecord struct {
	Topic         string       `json:"topic"`
	Partition     int32        `json:"partition"`
	Offset        int64        `json:"offset"`
	Timestamp     int64        `json:"timestamp"`
	TimestampType string       `json:"timestampType"`
	Key           *string      `json:"key"`
	KeyEncoding   string       `json:"keyEncoding,omitempty"`
	Value         *string      `json:"value"`
	ValueEncoding string       `json:"valueEncoding,omitempty"`
	Headers       []jsonHeader `json:"headers"`
}

type jsonHeader struct {
	Key      string  `json:"key"`
	Value    *string `json:"value"`
	Encoding string  `json:"encoding,omitempty"`
}

// jsonBytes is b as a string, base64 if it is not UTF-8.
func jsonBytes(b []byte) (*string, string) {
	if b == nil {
		return nil, ""
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s, "base64"
}

func (f *formatter) write(w io.Writer, r *kgo.Record) error {
	if f.json {
		jr := jsonRecord{
			Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
			Timestamp: r.Timestamp.UnixMilli(), TimestampType: timestampType(r),
			Headers: []jsonHeader{},
		}
		jr.Key, jr.KeyEncoding = jsonBytes(r.Key)
		jr.Value, jr.ValueEncoding = jsonBytes(r.Value)
		for _, h := range r.Headers {
			jh := jsonHeader{Key: h.Key}
			jh.Value, jh.Encoding = jsonBytes(h.Value)
			jr.Headers = append(jr.Headers, jh)
		}
		b, err := json.Marshal(jr)
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	}
	var b strings.Builder
	sep := func(more bool) {
		if more {
			b.WriteString(f.keySep)
		} else {
			b.WriteString(f.lineSep)
		}
	}
	if f.timestamp {
		fmt.Fprintf(&b, "%s:%d", timestampType(r), r.Timestamp.UnixMilli())
		sep(f.partition || f.offset || f.headers || f.key || f.value)
	}
	if f.partition {
		fmt.Fprintf(&b, "Partition:%d", r.Partition)
		sep(f.offset || f.headers || f.key || f.value)
	}
	if f.offset {
		fmt.Fprintf(&b, "Offset:%d", r.Offset)
		sep(f.headers || f.key || f.value)
	}
	if f.headers {
		if len(r.Headers) == 0 {
			b.WriteString("NO_HEADERS")
		}
		for i, h := range r.Headers {
			if i > 0 {
				b.WriteString(f.headersSep)
			}
			b.WriteString(h.Key + ":" + f.orNull(h.Value))
		}
		sep(f.key || f.value)
	}
	if f.key {
		b.WriteString(f.orNull(r.Key))
		sep(f.value)
	}
	if f.value {
		b.WriteString(f.orNull(r.Value))
		b.WriteString(f.lineSep)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

type consumerRun struct {
	conn
	topic, include, group, offset, isolation, formatterName, output string
	partition                                                       int
	fromBeginning, skipOnError                                      bool
	maxMessages                                                     int64
	timeoutMs                                                       int64
	formatterProps, consumerProps                                   []string
	formatterConfig                                                 string
}

func runConsoleConsumer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var processed int64
	started := false
	err := runTool(func() error {
		var o consumerRun
		var systest bool
		var keyDeser, valueDeser string
		fs := newFlagSet("console-consumer", consumerSynopsis, consumerExamples)
		o.addConnFlags(fs, "", "consumer.config", "command-config")
		o.partition, o.maxMessages = -1, -1
		fs.String(&o.topic, "topic", "topic", "the topic to consume")
		fs.String(&o.include, "include", "regex", "consume every topic matching this regular expression")
		fs.String(&o.include, "whitelist", "regex", "old name of --include")
		fs.Int(&o.partition, "partition", "n", "consume only this partition (without a group)")
		fs.String(&o.offset, "offset", "earliest|latest|n", "with --partition: where to start (default latest)")
		fs.Bool(&o.fromBeginning, "from-beginning", "start at the earliest offset when there is no committed offset")
		fs.String(&o.group, "group", "group", "consume in this consumer group, committing offsets")
		fs.Int64(&o.maxMessages, "max-messages", "n", "exit after this many records")
		fs.Int64(&o.timeoutMs, "timeout-ms", "ms", "exit when no record arrived for this long")
		fs.String(&o.isolation, "isolation-level", "level", "read_uncommitted (default) or read_committed")
		fs.Strings(&o.formatterProps, "property", "name=value", "a formatter property (see above); repeatable")
		fs.String(&o.formatterConfig, "formatter-config", "file", "a properties file of formatter properties")
		fs.String(&o.formatterName, "formatter", "class", "only Kafka's DefaultMessageFormatter is supported")
		fs.Strings(&o.consumerProps, "consumer-property", "name=value", "a consumer property (group.id, fetch.max.bytes ...); repeatable")
		fs.Strings(&o.consumerProps, "command-property", "name=value", "same as --consumer-property (Kafka 4.1 name)")
		fs.Bool(&o.skipOnError, "skip-message-on-error", "accepted for compatibility: records are printed as bytes and never fail to decode")
		fs.String(&keyDeser, "key-deserializer", "class", "accepted for compatibility; keys are printed as bytes")
		fs.String(&valueDeser, "value-deserializer", "class", "accepted for compatibility; values are printed as bytes")
		fs.Bool(&systest, "enable-systest-events", "not supported")
		fs.String(&o.output, "output", "text|json", "text (default, Kafka's format) or json: one JSON object per record (Samsa extra)")
		fs.Duration(&o.timeout, "connect-timeout", "ms|duration", "how long to wait for the cluster at start-up (default 10s; Samsa extra)")
		if err := fs.parseNoArgs(args, stdout); err != nil {
			return err
		}
		if systest {
			return errors.New("option --enable-systest-events is not supported")
		}
		if (o.topic == "") == (o.include == "") {
			return errors.New("exactly one of --topic or --include is required")
		}
		if o.formatterName != "" && !strings.HasSuffix(o.formatterName, "DefaultMessageFormatter") {
			return fmt.Errorf("formatter %s is not supported; use --output json for JSON", o.formatterName)
		}
		if o.output != "" && o.output != "text" && o.output != "json" {
			return fmt.Errorf("option --output: %q is not text or json", o.output)
		}
		err := o.loadClientProps(stderr, knownConsumerProps, func(p *props) error { return p.addKV(o.consumerProps) })
		if err != nil {
			return err
		}
		if o.group != "" {
			if g, ok := o.props.get("group.id"); ok && g != o.group {
				return fmt.Errorf("the group given with --group (%s) differs from group.id (%s)", o.group, g)
			}
		} else {
			o.group, _ = o.props.get("group.id")
		}
		if o.isolation != "" {
			o.props.set("isolation.level", o.isolation)
		}
		if o.partition >= 0 && o.include != "" {
			return errors.New("option --partition needs --topic, not --include")
		}
		if o.offset != "" && o.partition < 0 {
			return errors.New("the partition is required when offset is specified")
		}
		if o.offset != "" && o.fromBeginning {
			return errors.New("options --from-beginning and --offset cannot be specified together")
		}
		if o.group != "" && o.partition >= 0 {
			return errors.New("options --group and --partition cannot be specified together")
		}
		fp := newProps()
		if o.formatterConfig != "" {
			if err := fp.loadFile(o.formatterConfig); err != nil {
				return err
			}
		}
		if err := fp.addKV(o.formatterProps); err != nil {
			return err
		}
		f, err := newFormatter(fp, o.output == "json")
		if err != nil {
			return err
		}
		start := kgo.NewOffset().AtEnd()
		if reset, ok := o.props.get("auto.offset.reset"); ok {
			switch reset {
			case "earliest":
				start = kgo.NewOffset().AtStart()
			case "latest":
			default:
				return fmt.Errorf("auto.offset.reset %q is not earliest or latest", reset)
			}
		}
		if o.fromBeginning {
			start = kgo.NewOffset().AtStart()
		}
		if o.partition >= 0 {
			switch o.offset {
			case "", "latest":
				start = kgo.NewOffset().AtEnd()
			case "earliest":
				start = kgo.NewOffset().AtStart()
			default:
				n, err := strconv.ParseInt(o.offset, 10, 64)
				if err != nil || n < 0 {
					return fmt.Errorf("option --offset: %q is not earliest, latest or a non-negative offset", o.offset)
				}
				start = kgo.NewOffset().At(n)
			}
		}
		copts, err := consumerOpts(o.props, o.group)
		if err != nil {
			return err
		}
		switch {
		case o.partition >= 0:
			copts = append(copts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.topic: {int32(o.partition): start}}))
		case o.include != "":
			copts = append(copts, kgo.ConsumeTopics("^(?:"+o.include+")$"), kgo.ConsumeRegex(), kgo.ConsumeResetOffset(start))
		default:
			copts = append(copts, kgo.ConsumeTopics(o.topic), kgo.ConsumeResetOffset(start))
		}
		// Check the topic before consuming, so that a typo is an error
		// rather than a consumer waiting forever.
		adm, closeAdm, err := o.newAdmin()
		if err != nil {
			return err
		}
		if o.topic != "" {
			if err := checkTopicPartition(ctx, &o.conn, adm, o.topic, o.partition); err != nil {
				closeAdm()
				return err
			}
		}
		closeAdm()
		cl, err := o.newClient(copts...)
		if err != nil {
			return err
		}
		started = true
		defer func() {
			if o.group != "" {
				cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if autoCommit, _ := o.props.bool("enable.auto.commit", true); autoCommit {
					if err := cl.CommitUncommittedOffsets(cctx); err != nil {
						fmt.Fprintf(stderr, "committing offsets: %s\n", oneLine(err))
					}
				}
				cancel()
			}
			cl.Close()
		}()
		return consumeLoop(ctx, cl, f, o.maxMessages, time.Duration(o.timeoutMs)*time.Millisecond, stdout, &processed)
	})
	if started {
		fmt.Fprintf(stderr, "Processed a total of %d messages\n", processed)
	}
	return err
}

// checkTopicPartition fails when the topic (or the partition) does not
// exist.
func checkTopicPartition(ctx context.Context, c *conn, adm *kadm.Client, topic string, partition int) error {
	mctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	md, err := adm.Metadata(mctx, topic)
	if err != nil {
		return c.describeErr("looking up topic "+topic, err)
	}
	td, ok := md.Topics[topic]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("topic '%s' does not exist", topic)
	}
	if td.Err != nil {
		return fmt.Errorf("topic %s: %s", topic, kafkaErr(td.Err, ""))
	}
	if partition >= len(td.Partitions) {
		return fmt.Errorf("topic %s has %d partitions; partition %d does not exist", topic, len(td.Partitions), partition)
	}
	return nil
}

// consumeLoop prints records until ctx ends, max records were printed or
// no record came for idle (when idle > 0).
func consumeLoop(ctx context.Context, cl *kgo.Client, f *formatter, max int64, idle time.Duration, stdout io.Writer, processed *int64) error {
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	for max < 0 || *processed < max {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if idle > 0 {
			pctx, cancel = context.WithTimeout(ctx, idle)
		}
		n := 10000
		if max >= 0 {
			n = int(min(max-*processed, 10000))
		}
		fetches := cl.PollRecords(pctx, n)
		timedOut := pctx.Err() != nil
		cancel()
		if ctx.Err() != nil || fetches.IsClientClosed() {
			break
		}
		var fatal error
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			if fatal == nil {
				fatal = fmt.Errorf("consuming %s[%d]: %s", t, p, kafkaErr(err, ""))
			}
		})
		var werr error
		fetches.EachRecord(func(r *kgo.Record) {
			if werr != nil {
				return
			}
			werr = f.write(w, r)
			*processed++
		})
		if werr != nil {
			return werr
		}
		if fatal != nil {
			return fatal
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if timedOut && fetches.NumRecords() == 0 {
			break
		}
	}
	return nil
}
