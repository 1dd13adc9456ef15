package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The exactly-once part of TestClusterChaos: while the faults run, two
// consume-transform-produce workers (franz-go's GroupTransactSession, each
// with its own transactional id, in one consumer group) copy every record
// of the chaos topic to chaos-out, each copy naming the input record and
// its partition and offset, committing the group's offsets in the same
// transaction. Leaders, the transaction coordinators and the group
// coordinator are among what the faults kill, pause and cut off. When the
// producers have stopped, the workers are given time to copy everything
// (the group's committed offsets reach the input's end), then stop
// between transactions. Violations:
//
//   - a record of the final input log copied twice or never (read
//     read_committed: aborted copies must not be seen, and the offsets
//     committed with a transaction must be exactly those it copied);
//   - a copy naming an input record that is not at that offset of the
//     final input log;
//   - a hanging transaction: the output's last stable offset does not
//     reach its high watermark once the workers stopped.
//
// SAMSA_CLUSTER_CHAOS_TV=2 finalizes transaction.version 2 first, so the
// workers use KIP-890 part 2.

const (
	ccOutTopic   = "chaos-out"
	ccEOSGroup   = "chaos-eos"
	ccEOSWorkers = 2
)

// ccEOS is the state of the exactly-once workers.
type ccEOS struct {
	stop      chan struct{}
	wg        sync.WaitGroup
	committed atomic.Int64 // transactions committed
	aborted   atomic.Int64 // ended with an abort (an error in them)
	restarts  atomic.Int64 // sessions replaced after a failed End
	mu        sync.Mutex
	errs      map[string]int // by text
}

func (e *ccEOS) fail(err error) {
	msg := err.Error()
	if len(msg) > 100 {
		msg = msg[:100]
	}
	e.mu.Lock()
	e.errs[msg]++
	e.mu.Unlock()
}

// eosConfigs are the nodes' settings for the transaction coordinator: its
// log replicated like the data, few partitions so they load fast.
var eosConfigs = []string{
	"transaction.state.log.replication.factor=3",
	"transaction.state.log.min.isr=2",
	"transaction.state.log.num.partitions=4",
}

func (r *chaosRun) createEOSTopic() {
	ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
	defer cancel()
	// SAMSA_CLUSTER_CHAOS_TV=2 runs the workers with KIP-890 part 2
	// (transaction.version 2 finalized; franz-go opts in).
	if tv := os.Getenv("SAMSA_CLUSTER_CHAOS_TV"); tv != "" {
		level, err := strconv.Atoi(tv)
		if err != nil {
			r.t.Fatalf("SAMSA_CLUSTER_CHAOS_TV=%q: %v", tv, err)
		}
		req := kmsg.NewPtrUpdateFeaturesRequest()
		fu := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
		fu.Feature, fu.MaxVersionLevel, fu.UpgradeType = "transaction.version", int16(level), 1
		req.FeatureUpdates = append(req.FeatureUpdates, fu)
		resp, err := req.RequestWith(ctx, r.admCl)
		if err != nil || resp.ErrorCode != 0 {
			r.t.Fatalf("finalizing transaction.version %d: %v %+v", level, err, resp)
		}
		r.event("transaction.version %d finalized", level)
	}
	res, err := r.adm.CreateTopic(ctx, 3, 3, nil, ccOutTopic)
	if err != nil || res.Err != nil {
		r.t.Fatalf("creating %s: %v %v", ccOutTopic, err, res.Err)
	}
}

func (r *chaosRun) startEOS(seeds []string) {
	r.eos = &ccEOS{stop: make(chan struct{}), errs: map[string]int{}}
	for i := range ccEOSWorkers {
		r.eos.wg.Add(1)
		go func() {
			defer r.eos.wg.Done()
			r.eosWorker(i, seeds)
		}()
	}
}

// eosSession is a worker's client: a new one takes over its
// transactional id (fencing the old one and aborting what it left open).
func (r *chaosRun) eosSession(i int, seeds []string) *kgo.GroupTransactSession {
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(seeds...),
		kgo.TransactionalID(fmt.Sprintf("chaos-eos-%d", i)), kgo.TransactionTimeout(15*time.Second),
		kgo.ConsumerGroup(ccEOSGroup), kgo.ConsumeTopics(ccTopic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DefaultProduceTopic(ccOutTopic),
		kgo.FetchMaxWait(300*time.Millisecond), kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond), kgo.DialTimeout(3*time.Second),
		kgo.RecordDeliveryTimeout(time.Minute), kgo.RetryTimeout(time.Minute))
	if err != nil {
		r.t.Error(err)
		return nil
	}
	return sess
}

// eosWorker copies polled records in transactions until stopped; it
// stops between transactions only. A failed End or Begin leaves the
// session unusable (franz-go: no End error is retriable; Begin fails once
// the producer is fenced): the worker closes it and starts a new one with
// the same transactional id, as an application restarts.
func (r *chaosRun) eosWorker(i int, seeds []string) {
	e := r.eos
	pollCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-e.stop
		cancel()
	}()
	sess := r.eosSession(i, seeds)
	if sess == nil {
		return
	}
	defer func() { sess.Close() }()
	for {
		fs := sess.PollRecords(pollCtx, 500)
		select {
		case <-e.stop:
			return
		default:
		}
		fs.EachError(func(_ string, _ int32, err error) { e.fail(fmt.Errorf("poll: %w", err)) })
		if fs.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			// A fatal producer state (fenced: its transaction ran past
			// transaction.timeout.ms while the cluster was down, and the
			// coordinator aborted it with a new epoch): an application
			// starts over with a new client.
			e.fail(fmt.Errorf("begin (session replaced): %w", err))
			e.restarts.Add(1)
			sess.Close()
			time.Sleep(100 * time.Millisecond)
			if sess = r.eosSession(i, seeds); sess == nil {
				return
			}
			continue
		}
		ctx, cancelTxn := context.WithTimeout(context.Background(), 2*time.Minute)
		promise := kgo.AbortingFirstErrPromise(sess.Client())
		fs.EachRecord(func(rec *kgo.Record) {
			v := fmt.Sprintf("%s@%d:%d", recID(rec.Value), rec.Partition, rec.Offset)
			sess.Produce(ctx, &kgo.Record{Value: []byte(v)}, promise.Promise())
		})
		perr := promise.Err()
		if perr != nil {
			e.fail(fmt.Errorf("produce: %w", perr))
		}
		committed, err := sess.End(ctx, kgo.TransactionEndTry(perr == nil))
		cancelTxn()
		switch {
		case err != nil:
			e.fail(fmt.Errorf("end (session replaced): %w", err))
			e.aborted.Add(1)
			e.restarts.Add(1)
			sess.Close()
			if sess = r.eosSession(i, seeds); sess == nil {
				return
			}
		case committed:
			e.committed.Add(1)
		default:
			e.aborted.Add(1)
		}
	}
}

// finishEOS waits until the workers copied the whole input (the group's
// committed offsets at the input's end), then stops them.
func (r *chaosRun) finishEOS(timeout time.Duration) {
	e := r.eos
	deadline := time.Now().Add(timeout)
	caughtUp := false
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ends, err1 := r.adm.ListEndOffsets(ctx, ccTopic)
		offs, err2 := r.adm.FetchOffsets(ctx, ccEOSGroup)
		cancel()
		if err1 == nil && err2 == nil && ends.Error() == nil && offs.Error() == nil {
			behind := 0
			ends.Each(func(o kadm.ListedOffset) {
				c, ok := offs.Lookup(ccTopic, o.Partition)
				if !ok || c.At < o.Offset {
					behind++
				}
			})
			if behind == 0 {
				caughtUp = true
				break
			}
		}
		time.Sleep(time.Second)
	}
	close(e.stop)
	e.wg.Wait()
	e.mu.Lock()
	var errs []string
	for msg, n := range e.errs {
		errs = append(errs, fmt.Sprintf("%d× %s", n, msg))
	}
	e.mu.Unlock()
	sort.Strings(errs)
	r.event("exactly-once workers stopped (caught up: %v): %d transactions committed, %d aborted, %d sessions replaced; errors: %s",
		caughtUp, e.committed.Load(), e.aborted.Load(), e.restarts.Load(), strings.Join(errs, "; "))
	if !caughtUp {
		r.violate("exactly-once: no progress", "the workers did not copy the whole input within %v", timeout)
	}
}

// checkEOS reads chaos-out read_committed and checks it against the
// final input log.
func (r *chaosRun) checkEOS(seeds []string, input map[int32]*ccLog) {
	t := r.t
	rd, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(ccOutTopic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	adm := kadm.NewClient(rd)

	// No transaction left open: the last stable offset reaches the high
	// watermark (a transaction the coordinator lost would hold it).
	var lso, hw kadm.ListedOffsets
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		lso, err = adm.ListCommittedOffsets(ctx, ccOutTopic)
		if err == nil {
			err = lso.Error()
		}
		var err2 error
		hw, err2 = adm.ListEndOffsets(ctx, ccOutTopic)
		if err2 == nil {
			err2 = hw.Error()
		}
		cancel()
		open := ""
		if err == nil && err2 == nil {
			hw.Each(func(o kadm.ListedOffset) {
				if l, _ := lso.Lookup(ccOutTopic, o.Partition); l.Offset != o.Offset {
					open += fmt.Sprintf(" partition %d: LSO %d, HW %d;", o.Partition, l.Offset, o.Offset)
				}
			})
		} else {
			open = fmt.Sprintf(" %v %v", err, err2)
		}
		if open == "" {
			break
		}
		if time.Now().After(deadline) {
			r.violate("exactly-once: hanging transaction", "%s:%s", ccOutTopic, open)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Read everything committed: every transaction has ended (checked
	// above), so once the reader is idle for a few seconds it has it all.
	// (The partitions end with markers, which a reader never sees, so
	// their end offsets are no record's.)
	type src struct {
		part int32
		off  int64
	}
	copies := map[src]int{}
	var records int64
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	idleSince := time.Now()
	for time.Since(idleSince) < 5*time.Second {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := rd.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			r.violate("exactly-once: output unreadable", "read %d records of %s before the timeout", records, ccOutTopic)
			return
		}
		if fs.NumRecords() > 0 {
			idleSince = time.Now()
		}
		fs.EachRecord(func(rec *kgo.Record) {
			records++
			id, where, ok := strings.Cut(string(rec.Value), "@")
			ps, os, ok2 := strings.Cut(where, ":")
			p, err1 := strconv.ParseInt(ps, 10, 32)
			o, err2 := strconv.ParseInt(os, 10, 64)
			if !ok || !ok2 || err1 != nil || err2 != nil {
				r.violate("exactly-once: bad copy", "%s partition %d offset %d: %q", ccOutTopic, rec.Partition, rec.Offset, rec.Value)
				return
			}
			s := src{int32(p), o}
			copies[s]++
			l := input[s.part]
			if l == nil || o < l.start || o-l.start >= int64(len(l.ids)) || l.ids[o-l.start] != id {
				r.violate("exactly-once: copy of no input record", "%s partition %d offset %d names %s at %d:%d, not in the input log", ccOutTopic, rec.Partition, rec.Offset, id, p, o)
			}
			if l, _ := lso.Lookup(ccOutTopic, rec.Partition); rec.Offset >= l.Offset {
				r.violate("exactly-once: read past the LSO", "%s partition %d offset %d at or past the last stable offset %d", ccOutTopic, rec.Partition, rec.Offset, l.Offset)
			}
		})
	}
	for s, n := range copies {
		if n > 1 {
			r.violate("exactly-once: copied twice", "input partition %d offset %d copied %d times", s.part, s.off, n)
		}
	}
	missing := 0
	var first []string
	for p, l := range input {
		for i, id := range l.ids {
			if id == "" {
				continue
			}
			if copies[src{p, l.start + int64(i)}] == 0 {
				missing++
				if len(first) < 10 {
					first = append(first, fmt.Sprintf("%d:%d (%s)", p, l.start+int64(i), id))
				}
			}
		}
	}
	if missing > 0 {
		r.violate("exactly-once: never copied", "%d input records have no committed copy, e.g. %s", missing, strings.Join(first, ", "))
	}
	r.event("exactly-once: %d committed copies read of %d input records", records, len(copies))
}
