package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kgo"
)

// runProduce is W1/W2: produce N records of a size as fast as the broker
// takes them; figures: records/s, MB/s, p50/p99 produce latency (send to
// ack).
func runProduce(args []string) error {
	f := newLoadFlags("produce")
	f.fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var (
		lat     = newLatencies(f.records)
		elapsed time.Duration
		err     error
	)
	if f.kind == "nats" {
		elapsed, err = natsProduce(ctx, f, lat, 0, nil)
	} else {
		elapsed, err = kafkaProduce(ctx, f, lat, 0, nil)
	}
	if err != nil {
		return err
	}
	secs := elapsed.Seconds()
	emit(result{Workload: f.workload, Broker: f.broker, Metrics: map[string]float64{
		"records/s":   float64(f.records) / secs,
		"MB/s":        float64(f.records) * float64(f.size) / secs / 1e6,
		"p50 ms":      lat.ms(0.5),
		"p99 ms":      lat.ms(0.99),
		"records":     float64(f.records),
		"elapsed sec": secs,
	}})
	return nil
}

// kafkaProduce produces f.records records; rate > 0 paces them; stamp,
// when set, fills each record's value (the e2e workload stamps the send
// time).
func kafkaProduce(ctx context.Context, f *loadFlags, lat *latencies, rate float64, stamp func([]byte)) (time.Duration, error) {
	cl, err := kafkaClient(f.addr, kgo.DefaultProduceTopic(f.topic), kgo.ProducerLinger(f.linger))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	if err := createTopicFlags(ctx, cl, f); err != nil {
		return 0, err
	}
	payload := randomPayload(f.size)
	var (
		failed atomic.Int64
		first  atomic.Value
	)
	start := time.Now()
	p := pacer{start: start, rate: rate}
	for i := int64(0); i < f.records; i++ {
		p.wait(i)
		v := payload
		if stamp != nil {
			v = append([]byte(nil), payload...)
			stamp(v)
		}
		// The send time is the record's timestamp too, so kgo does not
		// read the clock a second time for it (W2 reads it 5M times).
		sent := time.Now()
		cl.Produce(ctx, &kgo.Record{Value: v, Timestamp: sent}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				first.CompareAndSwap(nil, err)
				return
			}
			lat.add(time.Since(sent))
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		return 0, fmt.Errorf("%d records failed, first: %v", n, first.Load())
	}
	return elapsed, nil
}

// natsStream creates (or reuses) a file-backed stream for the topic with
// one subject per "partition".
func natsStream(ctx context.Context, addr, topic string) (*nats.Conn, jetstream.JetStream, jetstream.Stream, error) {
	nc, err := nats.Connect("nats://"+addr, nats.MaxReconnects(-1))
	if err != nil {
		return nil, nil, nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: topic, Subjects: []string{topic + ".>"}, Storage: jetstream.FileStorage, Replicas: 1,
	})
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	return nc, js, st, nil
}

// natsProduce is kafkaProduce for JetStream: async publishes (up to 8192
// outstanding), latency from publish to its PubAck.
func natsProduce(ctx context.Context, f *loadFlags, lat *latencies, rate float64, stamp func([]byte)) (time.Duration, error) {
	nc, js, _, err := natsStream(ctx, f.addr, f.topic)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	subjects := make([]string, f.partitions)
	for i := range subjects {
		subjects[i] = f.topic + "." + strconv.Itoa(i)
	}
	payload := randomPayload(f.size)
	type pending struct {
		fut  jetstream.PubAckFuture
		sent time.Time
	}
	futs := make(chan pending, 16384)
	var (
		wg     sync.WaitGroup
		failed int64
		first  error
	)
	wg.Add(1)
	go func() { // acks arrive in order: wait for each in turn
		defer wg.Done()
		for p := range futs {
			select {
			case <-p.fut.Ok():
				lat.add(time.Since(p.sent))
			case err := <-p.fut.Err():
				failed++
				if first == nil {
					first = err
				}
			}
		}
	}()
	start := time.Now()
	pc := pacer{start: start, rate: rate}
	for i := int64(0); i < f.records; i++ {
		pc.wait(i)
		v := payload
		if stamp != nil {
			v = append([]byte(nil), payload...)
			stamp(v)
		}
		sent := time.Now()
		for {
			fut, err := js.PublishAsync(subjects[i%int64(len(subjects))], v)
			if err == nil {
				futs <- pending{fut, sent}
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				close(futs)
				wg.Wait()
				return 0, err
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	close(futs)
	wg.Wait()
	elapsed := time.Since(start)
	if failed > 0 {
		return 0, fmt.Errorf("%d publishes failed, first: %v", failed, first)
	}
	return elapsed, nil
}

// runConsume is W3: read N records of the topic from its start; MB/s.
func runConsume(args []string) error {
	f := newLoadFlags("consume")
	f.fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var (
		n, bytes int64
		elapsed  time.Duration
		err      error
	)
	if f.kind == "nats" {
		n, bytes, elapsed, err = natsConsume(ctx, f, nil)
	} else {
		n, bytes, elapsed, err = kafkaConsume(ctx, f, nil)
	}
	if err != nil {
		return err
	}
	secs := elapsed.Seconds()
	emit(result{Workload: f.workload, Broker: f.broker, Metrics: map[string]float64{
		"MB/s":        float64(bytes) / secs / 1e6,
		"records/s":   float64(n) / secs,
		"records":     float64(n),
		"elapsed sec": secs,
	}})
	return nil
}

// kafkaConsume reads f.records records from the start of every partition
// (direct assignment, no group); each, when set, sees every value.
func kafkaConsume(ctx context.Context, f *loadFlags, each func([]byte), extra ...kgo.Opt) (int64, int64, time.Duration, error) {
	cl, err := kafkaClient(f.addr, append([]kgo.Opt{kgo.ConsumeTopics(f.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100 * time.Millisecond)}, extra...)...)
	if err != nil {
		return 0, 0, 0, err
	}
	defer cl.Close()
	var n, bytes int64
	start := time.Now()
	for n < f.records {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return n, bytes, 0, fmt.Errorf("consumed %d of %d: %w", n, f.records, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("fetch %s-%d: %w", t, p, err) })
		if ferr != nil {
			return n, bytes, 0, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			bytes += int64(len(r.Value))
			if each != nil {
				each(r.Value)
			}
		})
	}
	return n, bytes, time.Since(start), nil
}

// natsConsume reads f.records messages from the start of the stream with
// a pull consumer (no acks, like a Kafka consumer without commits).
func natsConsume(ctx context.Context, f *loadFlags, each func([]byte)) (int64, int64, time.Duration, error) {
	nc, _, st, err := natsStream(ctx, f.addr, f.topic)
	if err != nil {
		return 0, 0, 0, err
	}
	defer nc.Close()
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return 0, 0, 0, err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(4096))
	if err != nil {
		return 0, 0, 0, err
	}
	defer it.Stop()
	var n, bytes int64
	start := time.Now()
	for n < f.records {
		msg, err := it.Next()
		if err != nil {
			return n, bytes, 0, fmt.Errorf("consumed %d of %d: %w", n, f.records, err)
		}
		n++
		bytes += int64(len(msg.Data()))
		if each != nil {
			each(msg.Data())
		}
	}
	return n, bytes, time.Since(start), nil
}

// runE2E is W4: produce at a fixed rate while a consumer reads; the
// latency of a record is its arrival time minus the send time stamped in
// its first 8 bytes.
func runE2E(args []string) error {
	f := newLoadFlags("e2e")
	mbps := f.fs.Float64("mbps", 50, "produce rate in MB/s (1e6 bytes)")
	timeline := f.fs.Bool("timeline", false, "print the worst latency of each second of arrivals to stderr (to correlate stalls with broker events)")
	f.fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	rate := *mbps * 1e6 / float64(f.size)
	stamp := func(v []byte) { binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano())) }
	e2e := newLatencies(f.records)
	var (
		tlMu    sync.Mutex
		tlWorst = map[int64]time.Duration{} // unix second of arrival -> worst latency
	)
	each := func(v []byte) {
		if len(v) >= 8 {
			now := time.Now().UnixNano()
			d := time.Duration(now - int64(binary.BigEndian.Uint64(v)))
			e2e.add(d)
			if *timeline {
				tlMu.Lock()
				sec := now / 1e9
				tlWorst[sec] = max(tlWorst[sec], d)
				tlMu.Unlock()
			}
		}
	}
	if *timeline {
		defer func() {
			tlMu.Lock()
			defer tlMu.Unlock()
			secs := make([]int64, 0, len(tlWorst))
			for s := range tlWorst {
				secs = append(secs, s)
			}
			slices.Sort(secs)
			for _, s := range secs {
				fmt.Fprintf(os.Stderr, "timeline %s worst %.2f ms\n", time.Unix(s, 0).UTC().Format("15:04:05"), float64(tlWorst[s])/1e6)
			}
		}()
	}
	// Create the topic first, then start the consumer, then produce.
	prodLat := newLatencies(f.records)
	var consumeErr error
	done := make(chan struct{})
	consumeF := *f
	if f.kind == "nats" {
		nc, _, _, err := natsStream(ctx, f.addr, f.topic)
		if err != nil {
			return err
		}
		nc.Close()
		go func() { defer close(done); _, _, _, consumeErr = natsConsume(ctx, &consumeF, each) }()
	} else {
		cl, err := kafkaClient(f.addr)
		if err != nil {
			return err
		}
		err = createTopicFlags(ctx, cl, f)
		cl.Close()
		if err != nil {
			return err
		}
		go func() { defer close(done); _, _, _, consumeErr = kafkaConsume(ctx, &consumeF, each) }()
	}
	time.Sleep(time.Second) // let the consumer reach the log end
	var (
		elapsed time.Duration
		err     error
	)
	if f.kind == "nats" {
		elapsed, err = natsProduce(ctx, f, prodLat, rate, stamp)
	} else {
		elapsed, err = kafkaProduce(ctx, f, prodLat, rate, stamp)
	}
	if err != nil {
		return err
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		return errors.New("consumer did not receive every record within 60 s")
	}
	if consumeErr != nil {
		return consumeErr
	}
	emit(result{Workload: f.workload, Broker: f.broker, Metrics: map[string]float64{
		"p50 ms":        e2e.ms(0.5),
		"p99 ms":        e2e.ms(0.99),
		"p99.9 ms":      e2e.ms(0.999),
		"achieved MB/s": float64(f.records) * float64(f.size) / elapsed.Seconds() / 1e6,
	}})
	return nil
}
