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

const verifiableProducerHelp = `
Usage: samsa verifiable-producer --bootstrap-server HOST:PORT --topic TOPIC [flags]

Produces the values 0, 1, 2 ... (or PREFIX.0, PREFIX.1 ... with
--value-prefix) and prints Kafka's JSON events on stdout, one per line:
startup_complete, producer_send_success {topic, partition, offset, key,
value} or producer_send_error {exception, message, topic, key, value} per
record, then shutdown_complete and tool_data {sent, acked,
target_throughput, avg_throughput}. Stops after --max-messages, or on
SIGINT/SIGTERM.

Examples:
  samsa verifiable-producer --bootstrap-server localhost:9092 --topic t --max-messages 1000
  samsa verifiable-producer --bootstrap-server localhost:9092 --topic t --throughput 100 --repeating-keys 5 --acks 1
`

func runVerifiableProducer(args []string, stdout, stderr io.Writer) error {
	fs := newToolFlags("verifiable-producer", verifiableProducerHelp)
	bootstrap := fs.String("bootstrap-server", "", "brokers to connect to, host:port[,host:port...]")
	brokerList := fs.String("broker-list", "", "deprecated synonym of --bootstrap-server")
	topic := fs.String("topic", "", "topic to produce to (required)")
	maxMessages := fs.Int64("max-messages", -1, "records to produce; -1 produces until killed")
	throughput := fs.Int64("throughput", -1, "cap in records/s; -1 for no cap")
	acks := fs.String("acks", "-1", "acks: -1 (all), 0 or 1")
	config := fs.String("producer.config", "", "producer properties file")
	fs.StringVar(config, "command-config", "", "synonym of --producer.config")
	createTime := fs.Int64("message-create-time", -1, "CreateTime (ms) of the first record; later ones add the time elapsed; -1 uses the current time")
	valuePrefix := fs.Int64("value-prefix", -1, "prefix values with this number and a dot")
	repeatingKeys := fs.Int64("repeating-keys", -1, "use keys 0..N-1 in turn; default: no keys")
	if done, err := fs.parse(args, stdout); done || err != nil {
		return err
	}
	if *topic == "" {
		return errors.New("verifiable-producer: --topic is required (see --help)")
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
	props["acks"] = *acks
	opts, err := propsProducerOpts(props, *bootstrap, stderr)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(*topic))...)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ev := newEventWriter(stdout)
	p := &verifiableProducer{ev: ev, topic: *topic}
	ev.emit("startup_complete", nil)
	start := time.Now()
	th := newRateThrottle(float64(*throughput))
	keyCounter := int64(0)
	for i := int64(0); *maxMessages < 0 || i < *maxMessages; i++ {
		if ctx.Err() != nil {
			break
		}
		th.wait()
		r := &kgo.Record{Topic: *topic}
		if *repeatingKeys > 0 {
			r.Key = []byte(strconv.FormatInt(keyCounter, 10))
			keyCounter = (keyCounter + 1) % *repeatingKeys
		}
		v := strconv.FormatInt(i, 10)
		if *valuePrefix >= 0 {
			v = strconv.FormatInt(*valuePrefix, 10) + "." + v
		}
		r.Value = []byte(v)
		if *createTime >= 0 {
			r.Timestamp = time.UnixMilli(*createTime + time.Since(start).Milliseconds())
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
		Sent: p.sent.Load(), Acked: acked, TargetThroughput: *throughput, AvgThroughput: avg,
	})
	if err != nil {
		return err
	}
	return nil
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
