package cli

// Producer and consumer properties: Kafka's client settings mapped onto
// franz-go options, shared by the console, verifiable and perf tools. The
// connection and security settings every client has are in client.go.

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// loadClientProps reads the properties files of a producer or consumer
// tool; set (if not nil) then applies the tool's own options, which win
// over the files as in Kafka. Properties that are neither common nor in
// known are reported once on w.
func (c *conn) loadClientProps(w io.Writer, known map[string]bool, set func(p *props) error) error {
	c.known = known
	if err := c.loadProps(w); err != nil {
		return err
	}
	if set != nil {
		if err := set(c.props); err != nil {
			return err
		}
	}
	c.props.trimValues()
	c.warnUnused(w)
	return nil
}

// newProducer connects a producer for topic configured by c.props (see
// loadClientProps).
func (c *conn) newProducer(topic string, extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := producerOpts(c.props)
	if err != nil {
		return nil, err
	}
	return c.newClient(append(append(opts, kgo.DefaultProduceTopic(topic)), extra...)...)
}

// newConsumer connects a consumer configured by c.props, in group unless
// it is empty; extra says what to consume.
func (c *conn) newConsumer(group string, extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := consumerOpts(c.props, group)
	if err != nil {
		return nil, err
	}
	return c.newClient(append(opts, extra...)...)
}

// knownProducerProps are the producer properties producerOpts maps.
var knownProducerProps = map[string]bool{
	"acks": true, "enable.idempotence": true, "compression.type": true, "linger.ms": true,
	"batch.size": true, "max.request.size": true, "delivery.timeout.ms": true, "retries": true,
	"buffer.memory": true, "max.in.flight.requests.per.connection": true,
}

// producerOpts maps producer properties to kgo options.
func producerOpts(p *props) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	acks := strings.ToLower(strings.TrimSpace(p.getOr("acks", "all")))
	idem, err := p.bool("enable.idempotence", acks == "all" || acks == "-1")
	if err != nil {
		return nil, err
	}
	switch acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		return nil, fmt.Errorf("acks %q is not one of all, -1, 0, 1", acks)
	}
	if idem && acks != "all" && acks != "-1" {
		return nil, errors.New("enable.idempotence=true needs acks=all (-1)")
	}
	if !idem {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	switch c := strings.ToLower(p.getOr("compression.type", "none")); c {
	case "none", "":
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		return nil, fmt.Errorf("compression codec %q is not one of none, gzip, snappy, lz4, zstd", c)
	}
	if opts0, err := intOpts(p, map[string]func(int64) kgo.Opt{
		"linger.ms":           func(n int64) kgo.Opt { return kgo.ProducerLinger(time.Duration(n) * time.Millisecond) },
		"batch.size":          func(n int64) kgo.Opt { return kgo.ProducerBatchMaxBytes(int32(n)) },
		"max.request.size":    func(n int64) kgo.Opt { return kgo.ProducerBatchMaxBytes(int32(n)) },
		"delivery.timeout.ms": func(n int64) kgo.Opt { return kgo.RecordDeliveryTimeout(time.Duration(n) * time.Millisecond) },
		"retries":             func(n int64) kgo.Opt { return kgo.RecordRetries(int(n)) },
		"buffer.memory":       func(n int64) kgo.Opt { return kgo.MaxBufferedBytes(int(n)) },
		"request.timeout.ms":  func(n int64) kgo.Opt { return kgo.ProduceRequestTimeout(time.Duration(n) * time.Millisecond) },
		"max.in.flight.requests.per.connection": func(n int64) kgo.Opt {
			return kgo.MaxProduceRequestsInflightPerBroker(int(n))
		},
	}); err != nil {
		return nil, err
	} else {
		opts = append(opts, opts0...)
	}
	return opts, nil
}

func intOpts(p *props, m map[string]func(int64) kgo.Opt) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	for _, k := range p.keys {
		fn, ok := m[k]
		if !ok {
			continue
		}
		n, err := p.int(k, 0)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, fmt.Errorf("property %s: must not be negative", k)
		}
		opts = append(opts, fn(n))
	}
	return opts, nil
}

// knownConsumerProps are the consumer properties consumerOpts maps.
var knownConsumerProps = map[string]bool{
	"group.id": true, "auto.offset.reset": true, "isolation.level": true, "fetch.min.bytes": true,
	"fetch.max.bytes": true, "fetch.max.wait.ms": true, "max.partition.fetch.bytes": true,
	"session.timeout.ms": true, "heartbeat.interval.ms": true, "enable.auto.commit": true,
	"auto.commit.interval.ms": true, "group.instance.id": true, "partition.assignment.strategy": true,
	"group.protocol": true, "group.remote.assignor": true,
}

// consumerProtocolUnsupported are the properties Kafka's consumer refuses
// with group.protocol=consumer: the broker assigns partitions and owns the
// session timeout and heartbeat interval.
var consumerProtocolUnsupported = []string{"partition.assignment.strategy", "session.timeout.ms", "heartbeat.interval.ms"}

// groupProtocol reads group.protocol (classic, the default, or consumer)
// and group.remote.assignor, checking them as Kafka's consumer does.
func groupProtocol(p *props) (consumer bool, assignor string, err error) {
	switch proto := strings.ToLower(strings.TrimSpace(p.getOr("group.protocol", "classic"))); proto {
	case "classic":
		if _, ok := p.get("group.remote.assignor"); ok {
			return false, "", errors.New("group.remote.assignor cannot be set when group.protocol=classic")
		}
		return false, "", nil
	case "consumer":
	default:
		return false, "", fmt.Errorf("group.protocol %q is not classic or consumer", proto)
	}
	for _, k := range consumerProtocolUnsupported {
		if _, ok := p.get(k); ok {
			return false, "", fmt.Errorf("%s cannot be set when group.protocol=consumer", k)
		}
	}
	assignor = strings.ToLower(strings.TrimSpace(p.getOr("group.remote.assignor", "uniform")))
	switch assignor {
	case "uniform", "range":
	case "":
		assignor = "uniform"
	default:
		return false, "", fmt.Errorf("group.remote.assignor %q is not uniform or range", assignor)
	}
	return true, assignor, nil
}

// consumerOpts maps consumer properties to kgo options.
func consumerOpts(p *props, group string) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	switch lvl := p.getOr("isolation.level", "read_uncommitted"); lvl {
	case "read_uncommitted":
	case "read_committed":
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	default:
		return nil, fmt.Errorf("isolation level %q is not read_uncommitted or read_committed", lvl)
	}
	more, err := intOpts(p, map[string]func(int64) kgo.Opt{
		"fetch.min.bytes":           func(n int64) kgo.Opt { return kgo.FetchMinBytes(int32(n)) },
		"fetch.max.bytes":           func(n int64) kgo.Opt { return kgo.FetchMaxBytes(int32(n)) },
		"fetch.max.wait.ms":         func(n int64) kgo.Opt { return kgo.FetchMaxWait(time.Duration(n) * time.Millisecond) },
		"max.partition.fetch.bytes": func(n int64) kgo.Opt { return kgo.FetchMaxPartitionBytes(int32(n)) },
	})
	if err != nil {
		return nil, err
	}
	opts = append(opts, more...)
	if group == "" {
		return opts, nil
	}
	opts = append(opts, kgo.ConsumerGroup(group))
	consumerProto, assignor, err := groupProtocol(p)
	if err != nil {
		return nil, err
	}
	if consumerProto {
		// KIP-848: franz-go heartbeats with ConsumerGroupHeartbeat and
		// names the server assignor after its first balancer: sticky is
		// uniform, range is range.
		b := kgo.StickyBalancer()
		if assignor == "range" {
			b = kgo.RangeBalancer()
		}
		opts = append(opts, kgo.ServerSideBalancer(), kgo.Balancers(b))
	}
	more, err = intOpts(p, map[string]func(int64) kgo.Opt{
		"session.timeout.ms":      func(n int64) kgo.Opt { return kgo.SessionTimeout(time.Duration(n) * time.Millisecond) },
		"heartbeat.interval.ms":   func(n int64) kgo.Opt { return kgo.HeartbeatInterval(time.Duration(n) * time.Millisecond) },
		"auto.commit.interval.ms": func(n int64) kgo.Opt { return kgo.AutoCommitInterval(time.Duration(n) * time.Millisecond) },
	})
	if err != nil {
		return nil, err
	}
	opts = append(opts, more...)
	if id, ok := p.get("group.instance.id"); ok && id != "" {
		opts = append(opts, kgo.InstanceID(id))
	}
	if s, ok := p.get("partition.assignment.strategy"); ok {
		var bs []kgo.GroupBalancer
		for _, name := range strings.Split(s, ",") {
			b, err := groupBalancer(name)
			if err != nil {
				return nil, fmt.Errorf("partition.assignment.strategy: %w", err)
			}
			bs = append(bs, b)
		}
		opts = append(opts, kgo.Balancers(bs...))
	}
	autoCommit, err := p.bool("enable.auto.commit", true)
	if err != nil {
		return nil, err
	}
	if !autoCommit {
		opts = append(opts, kgo.DisableAutoCommit())
	}
	return opts, nil
}

// groupBalancer maps a Kafka assignor class name (or a short name:
// range, roundrobin, sticky, cooperative-sticky) onto a franz-go balancer.
func groupBalancer(name string) (kgo.GroupBalancer, error) {
	short := strings.ToLower(strings.TrimSpace(name))
	short = short[strings.LastIndexByte(short, '.')+1:]
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
