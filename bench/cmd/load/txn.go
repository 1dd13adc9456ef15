package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// runTxn is W9: transactional produce next to idempotent produce, and the
// end-to-end latency of read_committed consumption.
//
//	-mode idempotent   the baseline: W1's producer (acks=all, idempotent)
//	-mode txn-time     a transaction committed every -every (100 ms)
//	-mode txn-count    a transaction committed every -every-records (1000)
//	-mode e2e          -mbps paced, 100 ms transactions (-every), and a
//	                   read_committed consumer: send-to-receipt latency
//
// A transaction ends with Flush and EndTransaction (commit), as every
// client does: its records are acknowledged first, then the commit's
// markers are written.
func runTxn(args []string) error {
	f := newLoadFlags("txn")
	mode := f.fs.String("mode", "txn-time", "idempotent, txn-time, txn-count or e2e")
	every := f.fs.Duration("every", 100*time.Millisecond, "transaction length (txn-time, e2e)")
	everyRecords := f.fs.Int64("every-records", 1000, "records per transaction (txn-count)")
	mbps := f.fs.Float64("mbps", 50, "produce rate in MB/s (e2e)")
	f.fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	switch *mode {
	case "idempotent":
		lat := newLatencies(f.records)
		elapsed, err := kafkaProduce(ctx, f, lat, 0, nil)
		if err != nil {
			return err
		}
		emitTxn(f, *mode, elapsed, 0)
		return nil
	case "txn-time", "txn-count":
		var boundary func(i int64, txnStart time.Time) bool
		if *mode == "txn-time" {
			boundary = func(_ int64, start time.Time) bool { return time.Since(start) >= *every }
		} else {
			boundary = func(i int64, _ time.Time) bool { return i%*everyRecords == 0 }
		}
		elapsed, txns, err := txnProduce(ctx, f, 0, boundary, nil)
		if err != nil {
			return err
		}
		emitTxn(f, *mode, elapsed, txns)
		return nil
	case "e2e":
		return txnE2E(ctx, f, *every, *mbps)
	}
	return fmt.Errorf("unknown mode %q", *mode)
}

// txnSuffix names each mode's workload in the results (W9-idem ...).
var txnSuffix = map[string]string{"idempotent": "-idem", "txn-time": "-100ms", "txn-count": "-1000", "e2e": "-e2e"}

func emitTxn(f *loadFlags, mode string, elapsed time.Duration, txns int64) {
	secs := elapsed.Seconds()
	m := map[string]float64{
		"records/s":   float64(f.records) / secs,
		"MB/s":        float64(f.records) * float64(f.size) / secs / 1e6,
		"elapsed sec": secs,
	}
	if txns > 0 {
		m["transactions/s"] = float64(txns) / secs
	}
	emit(result{Workload: f.workload + txnSuffix[mode], Broker: f.broker, Metrics: m})
}

// txnProduce produces f.records records in transactions, ending one
// whenever boundary says so (before the record it is asked about); rate >
// 0 paces the records. It returns the time taken and the number of
// transactions.
func txnProduce(ctx context.Context, f *loadFlags, rate float64, boundary func(i int64, txnStart time.Time) bool, stamp func([]byte)) (time.Duration, int64, error) {
	cl, err := kafkaClient(f.addr, kgo.DefaultProduceTopic(f.topic), kgo.ProducerLinger(f.linger),
		kgo.TransactionalID(fmt.Sprintf("bench-%s-%d", f.topic, time.Now().UnixNano())),
		kgo.TransactionTimeout(time.Minute))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	if err := createTopicFlags(ctx, cl, f); err != nil {
		return 0, 0, err
	}
	payload := randomPayload(f.size)
	var (
		failed atomic.Int64
		first  atomic.Value
		txns   int64
	)
	end := func() error {
		if err := cl.Flush(ctx); err != nil {
			return err
		}
		if n := failed.Load(); n > 0 {
			return fmt.Errorf("%d records failed, first: %v", n, first.Load())
		}
		txns++
		return cl.EndTransaction(ctx, kgo.TryCommit)
	}
	start := time.Now()
	p := pacer{start: start, rate: rate}
	txnStart := start
	if err := cl.BeginTransaction(); err != nil {
		return 0, 0, err
	}
	for i := int64(0); i < f.records; i++ {
		if i > 0 && boundary(i, txnStart) {
			if err := end(); err != nil {
				return 0, 0, err
			}
			if err := cl.BeginTransaction(); err != nil {
				return 0, 0, err
			}
			txnStart = time.Now()
		}
		p.wait(i)
		v := payload
		if stamp != nil {
			v = append([]byte(nil), payload...)
			stamp(v)
		}
		cl.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				first.CompareAndSwap(nil, err)
			}
		})
	}
	if err := end(); err != nil {
		return 0, 0, err
	}
	return time.Since(start), txns, nil
}

// txnE2E paces transactional produce at mbps with transactions of every
// and measures, in a read_committed consumer, the time from send to
// receipt (which includes the wait for the commit).
func txnE2E(ctx context.Context, f *loadFlags, every time.Duration, mbps float64) error {
	rate := mbps * 1e6 / float64(f.size)
	stamp := func(v []byte) { binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano())) }
	e2e := newLatencies(f.records)
	cl, err := kafkaClient(f.addr)
	if err != nil {
		return err
	}
	err = createTopicFlags(ctx, cl, f)
	cl.Close()
	if err != nil {
		return err
	}
	var consumeErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _, _, consumeErr = kafkaConsume(ctx, f, func(v []byte) {
			if len(v) >= 8 {
				e2e.add(time.Duration(time.Now().UnixNano() - int64(binary.BigEndian.Uint64(v))))
			}
		}, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}()
	time.Sleep(time.Second) // let the consumer reach the log end
	elapsed, txns, err := txnProduce(ctx, f, rate, func(_ int64, start time.Time) bool { return time.Since(start) >= every }, stamp)
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
	emit(result{Workload: f.workload + txnSuffix["e2e"], Broker: f.broker, Metrics: map[string]float64{
		"p50 ms":         e2e.ms(0.5),
		"p99 ms":         e2e.ms(0.99),
		"p99.9 ms":       e2e.ms(0.999),
		"achieved MB/s":  float64(f.records) * float64(f.size) / elapsed.Seconds() / 1e6,
		"transactions/s": float64(txns) / elapsed.Seconds(),
	}})
	return nil
}
