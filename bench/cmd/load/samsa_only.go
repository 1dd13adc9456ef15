package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// runMany is W5: create a topic with many partitions (time until every
// partition has a leader), produce to every partition, and read the
// broker's RSS.
func runMany(args []string) error {
	f := newLoadFlags("many")
	perPartition := f.fs.Int("records-per-partition", 10, "records produced to each partition")
	pid := f.fs.Int("pid", 0, "broker process id, for its RSS")
	extraNote := f.fs.String("note", "", "a note to carry into the result")
	f.fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rssBefore := rssMiB(*pid)
	cl, err := kafkaClient(f.addr, kgo.DefaultProduceTopic(f.topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	start := time.Now()
	if err := createTopic(ctx, cl, f.topic, f.partitions); err != nil {
		return err
	}
	create := time.Since(start)
	rssCreated := rssMiB(*pid)
	payload := randomPayload(f.size)
	n := int64(f.partitions) * int64(*perPartition)
	var failed error
	start = time.Now()
	for i := int64(0); i < n; i++ {
		cl.Produce(ctx, &kgo.Record{Value: payload}, func(_ *kgo.Record, err error) {
			if err != nil && failed == nil {
				failed = err
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	elapsed := time.Since(start)
	if failed != nil {
		emit(result{Workload: f.workload, Broker: f.broker, Note: fmt.Sprintf("%s; produce failed: %v", *extraNote, failed),
			Metrics: map[string]float64{"partitions": float64(f.partitions), "create sec": create.Seconds(),
				"RSS idle MiB": rssBefore, "RSS created MiB": rssCreated, "RSS after prod. MiB": rssMiB(*pid)}})
		return nil
	}
	// Every partition got its records.
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, f.topic)
	if err != nil {
		return err
	}
	short := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset < int64(*perPartition) {
			short++
		}
	})
	note := *extraNote
	if short > 0 {
		note = strings.TrimPrefix(note+"; ", "; ") + fmt.Sprintf("%d partitions short of records", short)
	}
	emit(result{Workload: f.workload, Broker: f.broker, Note: note, Metrics: map[string]float64{
		"partitions":          float64(f.partitions),
		"create sec":          create.Seconds(),
		"RSS idle MiB":        rssBefore,
		"RSS created MiB":     rssCreated,
		"RSS after prod. MiB": rssMiB(*pid),
		"produce records/s":   float64(n) / elapsed.Seconds(),
	}})
	return nil
}

// runFill is the first half of W6: write B bytes to the topic.
func runFill(args []string) error {
	f := newLoadFlags("fill")
	total := f.fs.Int64("bytes", 1<<30, "bytes to write")
	f.fs.Parse(args)
	f.records = max(1, *total/int64(f.size))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	elapsed, err := kafkaProduce(ctx, f, newLatencies(f.records), 0, nil)
	if err != nil {
		return err
	}
	emit(result{Workload: f.workload, Broker: f.broker, Metrics: map[string]float64{
		"filled GB":   float64(f.records) * float64(f.size) / 1e9,
		"fill MB/s":   float64(f.records) * float64(f.size) / elapsed.Seconds() / 1e6,
		"fill record": float64(f.records),
	}})
	return nil
}

// runReady is the second half of W6: from the restart time (-since, unix
// ns), poll until a produce to the topic is acknowledged; then check the
// records written before the kill are all there.
func runReady(args []string) error {
	f := newLoadFlags("ready")
	since := f.fs.Int64("since", 0, "restart time, unix nanoseconds")
	expect := f.fs.Int64("expect", 0, "records the topic held before the kill")
	f.fs.Parse(args)
	start := time.Unix(0, *since)
	deadline := time.Now().Add(10 * time.Minute)
	for {
		err := tryProduce(f.addr, f.topic)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not serving after 10 minutes: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ready := time.Since(start)
	cl, err := kafkaClient(f.addr)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, f.topic)
	if err != nil {
		return err
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	note := ""
	if total-1 < *expect {
		note = fmt.Sprintf("lost %d records", *expect-(total-1))
	}
	emit(result{Workload: f.workload, Broker: f.broker, Note: note, Metrics: map[string]float64{
		"recovery sec":    ready.Seconds(),
		"records kept":    float64(total - 1),
		"records written": float64(*expect),
	}})
	return nil
}

// tryProduce makes one short-lived client and produces one record.
func tryProduce(addr, topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cl, err := kafkaClient(addr, kgo.DialTimeout(500*time.Millisecond), kgo.RetryTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	r := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("ready?")})
	if err := r.FirstErr(); err != nil {
		return err
	}
	if len(r) == 0 {
		return errors.New("no result")
	}
	return nil
}
