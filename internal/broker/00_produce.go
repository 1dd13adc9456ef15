package broker

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/replica"
	"github.com/samsa-streaming/samsa/internal/storage"
)

// Produce v3-v12.
//
// v3 carries only magic v2 batches and the transactional id; v5 adds the log
// start offset to the answer; v8 per-record errors and an error message;
// v9 is flexible; v10-v11 add the current leader tag (KIP-951); v12 lets
// transactional producers skip AddPartitionsToTxn (KIP-890 part 2), which
// they do only with transaction.version 2 finalized, which it cannot be
// yet. A transactional batch is verified with its coordinator first
// (txn_verify.go, KIP-890 part 1). v13 (topic ids) is Kafka 4.1 and not served.
//
// Each partition's record set is validated (package records) and appended
// by the log, which assigns offsets and checks idempotence. acks=-1 answers
// once the high watermark covers the append; acks=0 answers nothing, and
// closes the connection on an error, as Kafka does, since that is the only
// way such a producer can learn of it.
func init() { register(kmsg.Produce, 3, 12, handleProduce) }

func handleProduce(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	now := s.now()

	var reqErr error
	switch {
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		reqErr = kerr.InvalidRequiredAcks
	}

	// One job per partition, in request order; the appends run in
	// parallel when the request is large (see runProduceJobs).
	var jobs []produceJob
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			jobs = append(jobs, produceJob{topic: rt.Topic, part: rp.Partition, set: rp.Records, sp: sp, err: reqErr})
		}
	}
	if reqErr == nil {
		if req.TransactionID != nil {
			s.verifyProduce(req.Version, *req.TransactionID, jobs)
		}
		s.runProduceJobs(req.Version, req.Acks, now, jobs)
	}

	var waits []replica.CommitWait
	failed := false
	leaders := newLeaderHints(s)
	j := 0
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		for range rt.Partitions {
			job := &jobs[j]
			j++
			if job.wait != nil {
				waits = append(waits, *job.wait)
			}
			if err := job.err; err != nil {
				failed = true
				s.setProduceError(req.Version, &job.sp, err, leaders)
				s.logger.Debug("produce failed", "topic", rt.Topic, "partition", job.part, "err", err)
			}
			st.Partitions = append(st.Partitions, job.sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Version >= 10 {
		resp.Brokers = leaders.produceBrokers(r.c.listener)
	}

	if req.Acks == 0 {
		if failed {
			r.c.close()
		}
		r.done(nil)
		return nil
	}
	if len(waits) == 0 {
		return resp
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.waitCommitted(waits, timeout)
		// Each waiting partition gets its own outcome.
		j := 0
		for i := range resp.Topics {
			for k := range resp.Topics[i].Partitions {
				job := &jobs[j]
				j++
				if job.wait == nil {
					continue
				}
				if err := s.commitOutcome(*job.wait); err != nil {
					sp := &resp.Topics[i].Partitions[k]
					s.setProduceError(req.Version, sp, err, leaders)
				}
			}
		}
		if req.Version >= 10 {
			resp.Brokers = leaders.produceBrokers(r.c.listener)
		}
		r.done(resp)
	}()
	return nil
}

// setProduceError fills a partition's answer for err: the code, from v8
// the message and the failing record, from v10 the current leader on
// NOT_LEADER_OR_FOLLOWER (KIP-951).
func (s *Server) setProduceError(version int16, sp *kmsg.ProduceResponseTopicPartition, err error, leaders *leaderHints) {
	sp.ErrorCode = errCode(err)
	if version >= 8 {
		sp.ErrorMessage = errMessage(err)
		var re *records.RecordError
		if errors.As(err, &re) {
			er := kmsg.NewProduceResponseTopicPartitionErrorRecord()
			er.RelativeOffset = int32(re.Index)
			er.ErrorMessage = &re.Message
			sp.ErrorRecords = append(sp.ErrorRecords, er)
		}
	}
	if version >= 10 {
		if id, epoch, ok := leaders.hint(err); ok {
			sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = id, epoch
		}
	}
}

// produceJob is one partition of a produce request: its input, and what
// produceTo made of it.
type produceJob struct {
	topic string
	part  int32
	set   []byte
	sp    kmsg.ProduceResponseTopicPartition
	// opts are the append's checks: transaction verification
	// (txn_verify.go).
	opts storage.AppendOptions
	wait *replica.CommitWait
	err  error
}

// parallelProduceBytes is the size of a produce request from which its
// partitions are validated and appended by several goroutines. An
// idempotent producer has one request in flight per broker, so the time
// the broker spends on a request (CRC-32C and the copy into the page
// cache, about 0.5 ms per MiB) is time the producer waits: spread over the
// CPUs, a request of 8 partitions x 1 MiB is answered about twice as fast
// on 2 CPUs. Below this size a goroutine costs more than it saves.
const parallelProduceBytes = 256 << 10

// runProduceJobs runs produceTo for every job, on up to GOMAXPROCS
// goroutines when the request is large enough. Each job touches only its
// own partition's log, which has its own lock. A panic in a worker is
// carried back to this goroutine, where the connection's dispatch
// recovers it as for any handler.
func (s *Server) runProduceJobs(version, acks int16, now time.Time, jobs []produceJob) {
	run := func(j *produceJob) {
		if j.err != nil {
			return // failed verification
		}
		j.wait, j.err = s.produceTo(version, j.topic, j.part, j.set, acks, j.opts, now, &j.sp)
	}
	total := 0
	for i := range jobs {
		total += len(jobs[i].set)
	}
	workers := min(runtime.GOMAXPROCS(0), len(jobs))
	if workers < 2 || total < parallelProduceBytes || repeatsPartition(jobs) {
		for i := range jobs {
			run(&jobs[i])
		}
		return
	}
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		panicked atomic.Value
	)
	work := func() {
		defer func() {
			if p := recover(); p != nil {
				panicked.CompareAndSwap(nil, fmt.Sprintf("produce worker: %v\n%s", p, debug.Stack()))
			}
		}()
		for {
			i := int(next.Add(1) - 1)
			if i >= len(jobs) {
				return
			}
			run(&jobs[i])
		}
	}
	for range workers - 1 {
		wg.Add(1)
		go func() { defer wg.Done(); work() }()
	}
	work()
	wg.Wait()
	if p := panicked.Load(); p != nil {
		panic(p)
	}
}

// repeatsPartition reports whether a partition appears twice in the
// request: Kafka appends such sets in request order, which parallel jobs
// would not keep (an idempotent producer's second batch could land first).
func repeatsPartition(jobs []produceJob) bool {
	type tp struct {
		t string
		p int32
	}
	seen := make(map[tp]struct{}, len(jobs))
	for i := range jobs {
		k := tp{jobs[i].topic, jobs[i].part}
		if _, ok := seen[k]; ok {
			return true
		}
		seen[k] = struct{}{}
	}
	return false
}

// produceTo validates and appends one partition's record set and fills sp.
// It returns a wait when the append is not yet covered by the high
// watermark and acks=-1 asked for that.
func (s *Server) produceTo(version int16, topic string, part int32, set []byte, acks int16, opts storage.AppendOptions, now time.Time, sp *kmsg.ProduceResponseTopicPartition) (*replica.CommitWait, error) {
	if isInternalTopic(topic) {
		// Only the coordinators write their internal topics.
		return nil, fmt.Errorf("%w: cannot append to internal topic %s", kerr.InvalidTopicException, topic)
	}
	p := s.replicas.Get(topic, part)
	if p == nil {
		if err := s.maybeAutoCreate(topic); err != nil {
			return nil, err
		}
		if p = s.replicas.Get(topic, part); p == nil {
			return nil, s.absentPartitionError(topic, part)
		}
	}
	if err := p.CheckLeader(-1); err != nil {
		return nil, err
	}
	st := p.State()
	vr, err := records.ValidateProduce(set, produceOptions(st.Config, now, int(s.cfg.Int("socket.request.max.bytes"))))
	if err != nil {
		return nil, err
	}
	if version < 7 && batchCodec(vr.Set) == records.CodecZstd {
		// zstd arrived with Produce v7 (KIP-110); older clients can't read it back.
		return nil, fmt.Errorf("%w: zstd needs Produce v7 or later", records.ErrUnsupportedCompression)
	}
	res, err := p.AppendAsLeaderOpts(vr.Set, acks, -1, now, opts)
	if err != nil {
		return nil, err
	}
	if !res.Duplicate {
		s.metrics.bytesIn.WithLabelValues(topic).Add(float64(len(vr.Set)))
		s.metrics.messagesIn.WithLabelValues(topic).Add(float64(vr.Records))
	}
	sp.BaseOffset = res.BaseOffset
	sp.LogStartOffset = res.LogStartOffset
	if st.Config.MessageTimestampType == "LogAppendTime" {
		sp.LogAppendTime = res.LogAppendTime
		if sp.LogAppendTime < 0 {
			sp.LogAppendTime = now.UnixMilli()
		}
	}
	if acks == -1 {
		w := &replica.CommitWait{P: p, Offset: res.LastOffset + 1, LeaderEpoch: res.LeaderEpoch}
		if err := p.CommitError(w.Offset, w.LeaderEpoch); replica.IsPending(err) {
			return w, nil
		} else if err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// batchCodec is the codec of the first batch of a validated set.
func batchCodec(set []byte) records.Codec {
	h, err := records.ParseHeader(set)
	if err != nil {
		return records.CodecNone
	}
	return h.Codec()
}

func produceOptions(cfg *config.Topic, now time.Time, maxRequest int) records.ProduceOptions {
	o := records.ProduceOptions{
		MaxBatchBytes:        int(cfg.MaxMessageBytes),
		RequireKeys:          cfg.Compact,
		LogAppendTime:        cfg.MessageTimestampType == "LogAppendTime",
		Now:                  now.UnixMilli(),
		TimestampBeforeMaxMs: cfg.TimestampBeforeMaxMs,
		TimestampAfterMaxMs:  cfg.TimestampAfterMaxMs,
		MaxDecompressedBytes: 2 * maxRequest,
	}
	if cfg.CompressionType != "producer" {
		if c, ok := records.ParseCodec(cfg.CompressionType); ok {
			o.TargetCodec, o.Recompress = c, true
		}
	}
	return o
}

// waitCommitted blocks until every acks=all append is committed or
// failed, the timeout passes, or the broker shuts down.
func (s *Server) waitCommitted(waits []replica.CommitWait, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	_ = replica.WaitCommitted(ctx, waits)
}

// commitOutcome is an acks=all append's answer once the wait is over:
// still pending means REQUEST_TIMED_OUT (or the broker is stopping).
func (s *Server) commitOutcome(w replica.CommitWait) error {
	err := w.P.CommitError(w.Offset, w.LeaderEpoch)
	if replica.IsPending(err) {
		if s.ctx.Err() != nil {
			return errShuttingDown
		}
		return fmt.Errorf("%w: the replicas did not acknowledge in time", context.DeadlineExceeded)
	}
	return err
}

// absentPartitionError tells why a partition is not hosted here: unknown
// topic or partition, or known but led elsewhere.
func (s *Server) absentPartitionError(topic string, part int32) error {
	t := s.meta.Image().Topics[topic]
	if t == nil || part < 0 || int(part) >= len(t.Partitions) {
		return errUnknownTopicOrPartition
	}
	return errNotLeader
}

// maybeAutoCreate creates a missing topic with the broker defaults when
// auto.create.topics.enable is on. It is not an error if the topic exists.
func (s *Server) maybeAutoCreate(topic string) error {
	if s.meta.Image().Topics[topic] != nil {
		return nil
	}
	if !s.cfg.Bool("auto.create.topics.enable") {
		return errUnknownTopicOrPartition
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	err := s.createTopic(ctx, topic, int32(s.cfg.Int("num.partitions")), int16(s.cfg.Int("default.replication.factor")), nil)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return err
	}
	s.logger.Info("auto-created topic", "topic", topic)
	return nil
}
