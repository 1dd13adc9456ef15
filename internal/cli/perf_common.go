package cli

// Helpers shared by the test-harness tools (verifiable producer and
// consumer, producer and consumer perf tests): flag parsing with Kafka's
// multi-value flags, client properties (Kafka's names mapped onto franz-go
// options) and a throughput throttle.

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// toolFlags wraps a flag.FlagSet with the help text of one tool. Help goes
// to stdout; a bad flag becomes one error line.
type toolFlags struct {
	*flag.FlagSet
	name     string
	help     string   // description and examples, printed before the flags
	multi    []string // flags that take several following arguments
	multiVal map[string][]string
}

func newToolFlags(name, help string) *toolFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &toolFlags{FlagSet: fs, name: name, help: help, multiVal: map[string][]string{}}
}

// multiFlag declares a flag that, like Kafka's argparse nargs='+' flags
// (--producer-props a=b c=d), takes every following argument up to the next
// one starting with "-". Its values are read with values.
func (f *toolFlags) multiFlag(name, usage string) {
	f.multi = append(f.multi, name)
	f.Func(name, usage, func(v string) error {
		f.multiVal[name] = append(f.multiVal[name], v)
		return nil
	})
}

func (f *toolFlags) values(name string) []string { return f.multiVal[name] }

// parse parses args. It returns done=true when --help was asked (the help
// is then written to stdout).
func (f *toolFlags) parse(args []string, stdout io.Writer) (done bool, err error) {
	var expanded []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		expanded = append(expanded, a)
		name := strings.TrimLeft(a, "-")
		if !strings.HasPrefix(a, "-") || strings.Contains(name, "=") || !toolContains(f.multi, name) {
			continue
		}
		// --name v1 v2 ... becomes --name v1 --name v2 ...
		n := 0
		for i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			if n > 0 {
				expanded = append(expanded, a)
			}
			expanded = append(expanded, args[i+1])
			i++
			n++
		}
	}
	if err := f.Parse(expanded); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.usage(stdout)
			return true, nil
		}
		return false, fmt.Errorf("%s: %v (see --help)", f.name, err)
	}
	if f.NArg() > 0 {
		return false, fmt.Errorf("%s: unexpected argument %q (see --help)", f.name, f.Arg(0))
	}
	return false, nil
}

func (f *toolFlags) usage(w io.Writer) {
	fmt.Fprintln(w, strings.TrimSpace(f.help))
	fmt.Fprintln(w, "\nFlags:")
	f.SetOutput(w)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
}

// isSet reports whether a flag was given on the command line.
func (f *toolFlags) isSet(name string) bool {
	set := false
	f.Visit(func(fl *flag.Flag) {
		if fl.Name == name {
			set = true
		}
	})
	return set
}

func toolContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// clientProps are Kafka client properties (bootstrap.servers, acks,
// linger.ms ...), from a properties file and key=value flags.
type clientProps map[string]string

// loadPropsFile reads a Java-style properties file (key=value or key: value
// lines, # and ! comments).
func loadPropsFile(path string, into clientProps) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			return fmt.Errorf("%s:%d: expected key=value", path, n)
		}
		into[strings.TrimSpace(line[:i])] = strings.TrimSpace(line[i+1:])
	}
	return sc.Err()
}

// addPropArgs adds key=value arguments.
func addPropArgs(kvs []string, into clientProps) error {
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("property %q is not key=value", kv)
		}
		into[k] = v
	}
	return nil
}

// propsMs reads a millisecond property.
func propsMs(p clientProps, key string) (time.Duration, bool, error) {
	v, ok := p[key]
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false, fmt.Errorf("property %s=%q: not a number of milliseconds", key, v)
	}
	return time.Duration(n) * time.Millisecond, true, nil
}

func propsInt(p clientProps, key string) (int64, bool, error) {
	v, ok := p[key]
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("property %s=%q: not a number", key, v)
	}
	return n, true, nil
}

// propsClientOpts maps the properties every client has. bootstrap is the
// --bootstrap-server flag (it wins over bootstrap.servers).
func propsClientOpts(p clientProps, bootstrap string, warn io.Writer) ([]kgo.Opt, error) {
	if bootstrap == "" {
		bootstrap = p["bootstrap.servers"]
	}
	if bootstrap == "" {
		bootstrap = "127.0.0.1:9092" // a default samsa server; Kafka requires the flag
	}
	opts := []kgo.Opt{kgo.SeedBrokers(strings.Split(bootstrap, ",")...)}
	if id, ok := p["client.id"]; ok {
		opts = append(opts, kgo.ClientID(id))
	}
	if d, ok, err := propsMs(p, "request.timeout.ms"); err != nil {
		return nil, err
	} else if ok {
		opts = append(opts, kgo.RequestTimeoutOverhead(d))
	}
	if sp, ok := p["security.protocol"]; ok && !strings.EqualFold(sp, "PLAINTEXT") {
		return nil, fmt.Errorf("security.protocol=%s is not supported by this tool yet", sp)
	}
	return opts, nil
}

// propsProducerOpts maps Kafka producer properties onto franz-go options;
// unknown keys are reported on warn and ignored, as Kafka's clients do.
func propsProducerOpts(p clientProps, bootstrap string, warn io.Writer) ([]kgo.Opt, error) {
	opts, err := propsClientOpts(p, bootstrap, warn)
	if err != nil {
		return nil, err
	}
	idempotent := true
	if v, ok := p["enable.idempotence"]; ok {
		idempotent = v == "true"
	}
	if v, ok := p["acks"]; ok {
		switch v {
		case "all", "-1":
			opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
		case "1":
			opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
			idempotent = false
		case "0":
			opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
			idempotent = false
		default:
			return nil, fmt.Errorf("property acks=%q: want all, -1, 0 or 1", v)
		}
	}
	if !idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if d, ok, err := propsMs(p, "linger.ms"); err != nil {
		return nil, err
	} else if ok {
		opts = append(opts, kgo.ProducerLinger(d))
	}
	if n, ok, err := propsInt(p, "batch.size"); err != nil {
		return nil, err
	} else if ok && n > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(int32(n)))
	}
	if n, ok, err := propsInt(p, "buffer.memory"); err != nil {
		return nil, err
	} else if ok && n > 0 {
		opts = append(opts, kgo.MaxBufferedBytes(int(n)))
	}
	if n, ok, err := propsInt(p, "max.in.flight.requests.per.connection"); err != nil {
		return nil, err
	} else if ok && n > 0 {
		opts = append(opts, kgo.MaxProduceRequestsInflightPerBroker(int(n)))
	}
	if n, ok, err := propsInt(p, "retries"); err != nil {
		return nil, err
	} else if ok && n >= 0 && n < 1<<31 {
		opts = append(opts, kgo.RecordRetries(int(n)))
	}
	if d, ok, err := propsMs(p, "delivery.timeout.ms"); err != nil {
		return nil, err
	} else if ok {
		opts = append(opts, kgo.RecordDeliveryTimeout(d))
	}
	if n, ok, err := propsInt(p, "max.request.size"); err != nil {
		return nil, err
	} else if ok && n > 0 {
		opts = append(opts, kgo.BrokerMaxWriteBytes(int32(n)))
	}
	if v, ok := p["compression.type"]; ok {
		c, err := propsCodec(v)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.ProducerBatchCompression(c))
	}
	known := map[string]bool{"bootstrap.servers": true, "client.id": true, "request.timeout.ms": true,
		"security.protocol": true, "enable.idempotence": true, "acks": true, "linger.ms": true,
		"batch.size": true, "buffer.memory": true, "max.in.flight.requests.per.connection": true,
		"retries": true, "delivery.timeout.ms": true, "max.request.size": true, "compression.type": true,
		"key.serializer": true, "value.serializer": true}
	warnUnknown(p, known, warn)
	return opts, nil
}

// propsConsumerOpts maps Kafka consumer properties onto franz-go options.
func propsConsumerOpts(p clientProps, bootstrap string, warn io.Writer) ([]kgo.Opt, error) {
	opts, err := propsClientOpts(p, bootstrap, warn)
	if err != nil {
		return nil, err
	}
	if n, ok, err := propsInt(p, "fetch.max.bytes"); err != nil {
		return nil, err
	} else if ok && n > 0 {
		opts = append(opts, kgo.FetchMaxBytes(int32(n)))
	}
	if n, ok, err := propsInt(p, "max.partition.fetch.bytes"); err != nil {
		return nil, err
	} else if ok && n > 0 {
		opts = append(opts, kgo.FetchMaxPartitionBytes(int32(n)))
	}
	if n, ok, err := propsInt(p, "fetch.min.bytes"); err != nil {
		return nil, err
	} else if ok && n > 0 {
		opts = append(opts, kgo.FetchMinBytes(int32(n)))
	}
	if d, ok, err := propsMs(p, "fetch.max.wait.ms"); err != nil {
		return nil, err
	} else if ok {
		opts = append(opts, kgo.FetchMaxWait(d))
	}
	if v, ok := p["isolation.level"]; ok {
		switch v {
		case "read_committed":
			opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		case "read_uncommitted":
			opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
		default:
			return nil, fmt.Errorf("property isolation.level=%q: want read_committed or read_uncommitted", v)
		}
	}
	known := map[string]bool{"bootstrap.servers": true, "client.id": true, "request.timeout.ms": true,
		"security.protocol": true, "fetch.max.bytes": true, "max.partition.fetch.bytes": true,
		"fetch.min.bytes": true, "fetch.max.wait.ms": true, "isolation.level": true,
		"group.id": true, "group.instance.id": true, "session.timeout.ms": true, "enable.auto.commit": true,
		"auto.offset.reset": true, "partition.assignment.strategy": true, "auto.commit.interval.ms": true,
		"heartbeat.interval.ms": true, "key.deserializer": true, "value.deserializer": true}
	warnUnknown(p, known, warn)
	return opts, nil
}

func warnUnknown(p clientProps, known map[string]bool, warn io.Writer) {
	for k := range p {
		if !known[k] {
			fmt.Fprintf(warn, "WARN: property %s is not supported by this tool and is ignored\n", k)
		}
	}
}

func propsCodec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none", "uncompressed":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("compression.type=%q: want none, gzip, snappy, lz4 or zstd", name)
}

// rateThrottle caps a rate of events per second with a token bucket. The
// bucket holds max(1, rate/100) tokens (10 ms worth), so a stall is not
// followed by a long burst. A rate <= 0 means unlimited.
type rateThrottle struct {
	rate   float64 // events per second
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
	sleep  func(time.Duration)
}

func newRateThrottle(perSecond float64) *rateThrottle {
	t := &rateThrottle{rate: perSecond, now: time.Now, sleep: time.Sleep}
	t.burst = max(1, perSecond/100)
	t.tokens = t.burst
	t.last = t.now()
	return t
}

// wait blocks until one event may go.
func (t *rateThrottle) wait() {
	if t.rate <= 0 {
		return
	}
	for {
		now := t.now()
		t.tokens = min(t.burst, t.tokens+now.Sub(t.last).Seconds()*t.rate)
		t.last = now
		if t.tokens >= 1 {
			t.tokens--
			return
		}
		t.sleep(time.Duration((1 - t.tokens) / t.rate * float64(time.Second)))
	}
}
