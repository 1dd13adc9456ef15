package cli

// samsa verifiable-producer (kafka-verifiable-producer.sh): produces
// sequential values and prints a JSON event per acknowledged or failed
// record, for test harnesses that check every acked record is consumed.

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	Register(&Command{
		Name:    "verifiable-producer",
		Summary: "produce sequential values, printing JSON events (kafka-verifiable-producer.sh)",
		Kafka:   "kafka-verifiable-producer.sh",
		Run:     runVerifiableProducer,
	})
}

const verifiableProducerSynopsis = `  samsa verifiable-producer --bootstrap-server HOST:PORT --topic TOPIC [options]
  Produces the values 0, 1, 2 ... (or PREFIX.0, PREFIX.1 ... with
  --value-prefix) and prints Kafka's JSON events on stdout, one per line:
  startup_complete, producer_send_success {topic, partition, offset, key,
  value} or producer_send_error {exception, message, topic, key, value} per
  record, then shutdown_complete and tool_data {sent, acked,
  target_throughput, avg_throughput}. Stops after --max-messages, or on
  SIGINT/SIGTERM.`

const verifiableProducerExamples = `  samsa verifiable-producer --bootstrap-server localhost:9092 --topic t --max-messages 1000
  samsa verifiable-producer --bootstrap-server localhost:9092 --topic t --throughput 100 --repeating-keys 5 --acks 1`

func runVerifiableProducer(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var (
			c                       conn
			topic                   string
			acks                          = "-1"
			maxMessages, throughput int64 = -1, -1
			createTime, valuePrefix int64 = -1, -1
			repeatingKeys           int64 = -1
		)
		fs := newFlagSet("verifiable-producer", verifiableProducerSynopsis, verifiableProducerExamples)
		c.addConnFlags(fs, "", "producer.config", "command-config")
		c.addBrokerListFlag(fs)
		fs.String(&topic, "topic", "topic", "REQUIRED: the topic to produce to")
		fs.Int64(&maxMessages, "max-messages", "n", "records to produce; -1 (the default) produces until killed")
		fs.Int64(&throughput, "throughput", "n", "cap in records/s; -1 (the default) for no cap")
		fs.String(&acks, "acks", "acks", "acks: -1 (all, the default), 0 or 1")
		fs.Int64(&createTime, "message-create-time", "ms", "CreateTime (ms) of the first record; later ones add the time elapsed; -1 (the default) uses the current time")
		fs.Int64(&valuePrefix, "value-prefix", "n", "prefix values with this number and a dot")
		fs.Int64(&repeatingKeys, "repeating-keys", "n", "use keys 0..N-1 in turn; default: no keys")
		if err := fs.parseNoArgs(args, stdout); err != nil {
			return err
		}
		if topic == "" {
			return errors.New("option --topic is required")
		}
		err := c.loadClientProps(stderr, knownProducerProps, func(p *props) error {
			p.set("acks", acks) // --acks wins over the config file, as in Kafka
			return nil
		})
		if err != nil {
			return err
		}
		cl, err := c.newProducer(topic)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()

		ev := newEventWriter(stdout)
		p := &verifiableProducer{ev: ev, topic: topic}
		ev.emit("startup_complete", nil)
		start := time.Now()
		th := newRateThrottle(float64(throughput))
		keyCounter := int64(0)
		for i := int64(0); maxMessages < 0 || i < maxMessages; i++ {
			if ctx.Err() != nil {
				break
			}
			th.wait()
			r := &kgo.Record{Topic: topic}
			if repeatingKeys > 0 {
				r.Key = []byte(strconv.FormatInt(keyCounter, 10))
				keyCounter = (keyCounter + 1) % repeatingKeys
			}
			v := strconv.FormatInt(i, 10)
			if valuePrefix >= 0 {
				v = strconv.FormatInt(valuePrefix, 10) + "." + v
			}
			r.Value = []byte(v)
			if createTime >= 0 {
				r.Timestamp = time.UnixMilli(createTime + time.Since(start).Milliseconds())
			}
			p.sent.Add(1)
			cl.Produce(ctx, r, p.onDone)
		}
		flushCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = cl.Flush(flushCtx)
		cancel()
		cl.Close()
		ev.emit("shutdown_complete", nil)
		elapsed := time.Since(start).Seconds()
		acked := p.acked.Load()
		avg := 0.0
		if elapsed > 0 {
			avg = float64(acked) / elapsed
		}
		ev.emit("tool_data", producerToolData{
			Sent: p.sent.Load(), Acked: acked, TargetThroughput: throughput, AvgThroughput: avg,
		})
		return err
	})
}

type verifiableProducer struct {
	ev    *eventWriter
	topic string
	sent  atomic.Int64
	acked atomic.Int64
}

func (p *verifiableProducer) onDone(r *kgo.Record, err error) {
	if err != nil {
		p.ev.emit("producer_send_error", producerSendError{
			Exception: exceptionName(err), Message: err.Error(), Topic: r.Topic,
			Key: jsonOptString(r.Key), Value: string(r.Value),
		})
		return
	}
	p.acked.Add(1)
	p.ev.emit("producer_send_success", producerSendSuccess{
		Key: jsonOptString(r.Key), Value: string(r.Value), Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
	})
}
