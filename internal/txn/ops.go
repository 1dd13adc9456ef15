package txn

import (
	"math"
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// fencedFor maps PRODUCER_FENCED to INVALID_PRODUCER_EPOCH for request
// versions below the one that introduced it (clients before it know only
// the latter), as Kafka's handlers do.
func fencedFor(code int16, version, since int16) int16 {
	if code == kerr.ProducerFenced.Code && version < since {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}

// InitProducerID serves InitProducerId for a transactional id (the
// broker serves a nil one from its producer id blocks). A new id gets a
// producer id and epoch 0; an existing one gets its epoch bumped, or a
// new producer id once the epoch is exhausted. With a producer id and
// epoch (v3+, KIP-360) the producer asks to continue after an error: it
// must be the current one (or its retry), else PRODUCER_FENCED. An
// ongoing transaction is first aborted with a bumped epoch (fencing the
// old producer) and the answer is CONCURRENT_TRANSACTIONS: the client
// retries, and its retry bumps the epoch again once the abort completed.
func (s *Shard) InitProducerID(now time.Time, req *kmsg.InitProducerIDRequest, reply func(*kmsg.InitProducerIDResponse)) Effects {
	var e Effects
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	answer := func(code int16) {
		if code != 0 {
			resp.ProducerID, resp.ProducerEpoch = -1, -1
		}
		resp.ErrorCode = fencedFor(code, req.Version, 4)
		reply(resp)
	}
	fail := func(code int16) Effects {
		e.reply(func(error) []Marker { answer(code); return nil })
		return e
	}
	if req.TransactionalID == nil || *req.TransactionalID == "" {
		return fail(kerr.InvalidRequest.Code)
	}
	id := *req.TransactionalID
	if (req.ProducerID < 0) != (req.ProducerEpoch < 0) {
		return fail(kerr.InvalidRequest.Code)
	}
	if req.TransactionTimeoutMillis <= 0 || int64(req.TransactionTimeoutMillis) > s.cfg.MaxTimeout.Milliseconds() {
		return fail(kerr.InvalidTransactionTimeout.Code)
	}
	expected := req.ProducerID >= 0
	nowMs := now.UnixMilli()
	m := s.txns[id]
	if m == nil {
		pid, err := s.cfg.ProducerIDs()
		if err != nil {
			return fail(errCode(err))
		}
		m = &txnMeta{id: id, producerID: pid, prevProducerID: -1, nextProducerID: -1, epoch: -1, lastEpoch: -1,
			timeoutMs: req.TransactionTimeoutMillis, state: Empty, partitions: map[TopicPartition]bool{},
			startMs: -1, updateMs: nowMs, pending: noPending}
		s.txns[id] = m
	}
	if m.pending != noPending {
		return fail(kerr.ConcurrentTransactions.Code)
	}
	if expected && m.epoch != -1 && req.ProducerID != m.producerID &&
		(req.ProducerID != m.prevProducerID || !epochExhausted(req.ProducerEpoch)) {
		return fail(kerr.ProducerFenced.Code)
	}
	switch m.state {
	case PrepareCommit, PrepareAbort:
		return fail(kerr.ConcurrentTransactions.Code)
	case Ongoing:
		e.merge(s.fenceAndAbort(now, m, func(code int16, _ int64, _ int16) {
			if code == 0 {
				code = kerr.ConcurrentTransactions.Code
			}
			answer(code)
		}))
		return e
	case Empty, CompleteCommit, CompleteAbort:
	default:
		return fail(kerr.UnknownServerError.Code)
	}
	t := m.next(Empty, nowMs)
	t.TimeoutMs = req.TransactionTimeoutMillis
	t.Partitions, t.StartMs = nil, -1
	if epochExhausted(m.epoch) && (!expected || req.ProducerEpoch == m.epoch) {
		pid, err := s.cfg.ProducerIDs()
		if err != nil {
			return fail(errCode(err))
		}
		t.ProducerID, t.ProducerEpoch, t.lastEpoch = pid, 0, -1
		if expected {
			t.lastEpoch = m.epoch
		}
	} else {
		t.ProducerEpoch, t.lastEpoch = m.epoch+1, -1
		if expected {
			switch {
			case m.epoch == -1 || req.ProducerEpoch == m.epoch:
				t.lastEpoch = m.epoch
			case req.ProducerEpoch == m.lastEpoch:
				// A retry of a bump that succeeded: the same answer.
				t.ProducerEpoch, t.lastEpoch = m.epoch, m.lastEpoch
			default:
				return fail(kerr.ProducerFenced.Code)
			}
		}
	}
	if err := s.begin(m, t, &e); err != nil {
		return fail(kerr.UnknownServerError.Code)
	}
	e.reply(func(err error) []Marker {
		if !s.current(m) {
			answer(kerr.NotCoordinator.Code)
			return nil
		}
		if err != nil {
			m.pending = noPending
			answer(errCode(err))
			return nil
		}
		m.apply(t)
		resp.ProducerID, resp.ProducerEpoch = t.ProducerID, t.ProducerEpoch
		answer(0)
		return nil
	})
	return e
}

// fenceAndAbort aborts m's ongoing transaction with a bumped epoch,
// which fences its producer (Kafka's PrepareEpochFence): the bumped
// epoch is set at once, so the old producer's requests fail from now
// on, and it is never handed out, so a failed write keeps it for the
// next attempt. done gets EndTxn's outcome.
func (s *Shard) fenceAndAbort(now time.Time, m *txnMeta, done func(code int16, pid int64, epoch int16)) Effects {
	if m.epoch == math.MaxInt16 {
		var e Effects
		e.reply(func(error) []Marker { done(kerr.UnknownServerError.Code, -1, -1); return nil })
		return e
	}
	if !m.failedFence {
		m.epoch++
	}
	m.lastEpoch = -1
	return s.prepareEnd(now, m, false, s.cfg.TransactionVersion, true, done)
}

// EndTxn serves EndTxn: an ongoing transaction goes to PrepareCommit or
// PrepareAbort; once that is written the client is answered and the
// markers go out (returned by Complete). A retry of a finished EndTxn
// with the same outcome succeeds, one while its markers are being
// written gets CONCURRENT_TRANSACTIONS, the opposite outcome
// INVALID_TXN_STATE. With transaction version 2 (EndTxn v5+ and
// transaction.version 2 finalized) every EndTxn bumps the epoch and the
// response carries the new producer id and epoch.
func (s *Shard) EndTxn(now time.Time, req *kmsg.EndTxnRequest, reply func(*kmsg.EndTxnResponse)) Effects {
	var e Effects
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	answer := func(code int16, pid int64, epoch int16) {
		resp.ErrorCode = fencedFor(code, req.Version, 2)
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
		if code != 0 {
			resp.ProducerID, resp.ProducerEpoch = -1, -1
		}
		reply(resp)
	}
	fail := func(code int16) Effects {
		e.reply(func(error) []Marker { answer(code, -1, -1); return nil })
		return e
	}
	if req.TransactionalID == "" {
		return fail(kerr.InvalidRequest.Code)
	}
	m := s.txns[req.TransactionalID]
	if m == nil {
		return fail(kerr.InvalidProducerIDMapping.Code)
	}
	clientTV := int16(0)
	if req.Version >= 5 && s.cfg.TransactionVersion >= 2 {
		clientTV = 2
	}
	v2 := m.clientTV >= 2
	retryOnOverflow := v2 && m.prevProducerID == req.ProducerID && req.ProducerEpoch == math.MaxInt16-1 && m.epoch == 0
	retryOnBump := v2 && m.epoch == req.ProducerEpoch+1
	validEpoch := req.ProducerEpoch == m.epoch
	if v2 {
		switch m.state {
		case PrepareCommit, PrepareAbort:
			// A retry of the EndTxn (the old epoch), or the producer's
			// next EndTxn at the bumped epoch before the markers are
			// written (CONCURRENT_TRANSACTIONS below: it retries).
			validEpoch = retryOnBump || validEpoch
		case CompleteCommit, CompleteAbort:
			// A retry, or (this request at version 2) a new abort.
			validEpoch = retryOnBump || retryOnOverflow || (clientTV >= 2 && validEpoch)
		}
	}
	// KIP-890 part 2: an abort with no transaction ongoing (after a
	// commit or an abort, or none yet) is allowed and bumps the epoch
	// like any EndTxn, with nothing to write to the partitions; franz-go
	// sends one when its produces failed before any reached a partition,
	// to clear what they may have added.
	emptyAbort := clientTV >= 2 && !req.Commit && !(v2 && (retryOnBump || retryOnOverflow) && m.state == CompleteAbort)
	switch {
	case m.producerID != req.ProducerID && !retryOnOverflow:
		return fail(kerr.InvalidProducerIDMapping.Code)
	case !validEpoch:
		return fail(kerr.ProducerFenced.Code)
	case m.pending != noPending:
		return fail(kerr.ConcurrentTransactions.Code)
	}
	switch m.state {
	case Ongoing:
		e.merge(s.prepareEnd(now, m, req.Commit, clientTV, false, answer))
		return e
	case Empty, CompleteCommit, CompleteAbort:
		if emptyAbort && req.ProducerEpoch == m.epoch {
			e.merge(s.prepareEnd(now, m, false, clientTV, false, answer))
			return e
		}
		if m.state == Empty {
			break
		}
		if req.Commit == (m.state == CompleteCommit) {
			pid, epoch := m.producerID, m.epoch
			e.reply(func(error) []Marker { answer(0, pid, epoch); return nil })
			return e
		}
	case PrepareCommit, PrepareAbort:
		if req.Commit == (m.state == PrepareCommit) {
			return fail(kerr.ConcurrentTransactions.Code)
		}
	}
	return fail(kerr.InvalidTxnState.Code)
}

// prepareEnd writes PrepareCommit or PrepareAbort for m's ongoing
// transaction; once written, done is answered and the markers returned.
func (s *Shard) prepareEnd(now time.Time, m *txnMeta, commit bool, clientTV int16, fence bool, done func(code int16, pid int64, epoch int16)) Effects {
	var e Effects
	to := PrepareAbort
	if commit {
		to = PrepareCommit
	}
	t := m.next(to, now.UnixMilli())
	t.ClientTransactionVersion = clientTV
	if clientTV >= 2 && m.epoch < math.MaxInt16 {
		t.ProducerEpoch, t.lastEpoch = m.epoch+1, m.epoch
		if !fence && epochExhausted(m.epoch) {
			pid, err := s.cfg.ProducerIDs()
			if err != nil {
				code := errCode(err)
				e.reply(func(error) []Marker { done(code, -1, -1); return nil })
				return e
			}
			t.NextProducerID = pid
		}
	}
	if err := s.begin(m, t, &e); err != nil {
		e.reply(func(error) []Marker { done(kerr.UnknownServerError.Code, -1, -1); return nil })
		return e
	}
	e.reply(func(err error) []Marker {
		if !s.current(m) {
			done(kerr.NotCoordinator.Code, -1, -1)
			return nil
		}
		if err != nil {
			m.pending = noPending
			if fence {
				m.failedFence = true
			}
			done(errCode(err), -1, -1)
			return nil
		}
		m.apply(t)
		done(0, m.producerID, m.epoch)
		if mk, ok := s.startMarkers(m); ok {
			return []Marker{mk}
		}
		return nil
	})
	return e
}

// AddPartitions serves one transaction of AddPartitionsToTxn: the
// client's form (v0-v3, see ClientTransaction) and the brokers' batched
// form (v4+, one call per transaction). A transaction marked VerifyOnly
// is KIP-890 part 1's check by a partition leader before it takes a
// transactional produce: is the transaction ongoing with the partition?
// Otherwise the partitions are added (written to the log) and the
// transaction becomes Ongoing. Every partition of the transaction gets
// the same error, except for unknown partitions (UNKNOWN_TOPIC_OR_PARTITION,
// the others OPERATION_NOT_ATTEMPTED) and, when verifying, partitions
// not in the transaction.
func (s *Shard) AddPartitions(now time.Time, version int16, t *kmsg.AddPartitionsToTxnRequestTransaction, reply func(kmsg.AddPartitionsToTxnResponseTransaction)) Effects {
	var e Effects
	res := kmsg.NewAddPartitionsToTxnResponseTransaction()
	res.TransactionalID = t.TransactionalID
	var tps []TopicPartition
	for _, rt := range t.Topics {
		st := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
			sp.Partition = p
			st.Partitions = append(st.Partitions, sp)
			tps = append(tps, TopicPartition{rt.Topic, p})
		}
		res.Topics = append(res.Topics, st)
	}
	each := func(code func(tp TopicPartition) int16) {
		for i := range res.Topics {
			for j := range res.Topics[i].Partitions {
				c := code(TopicPartition{res.Topics[i].Topic, res.Topics[i].Partitions[j].Partition})
				res.Topics[i].Partitions[j].ErrorCode = fencedFor(c, version, 2)
			}
		}
	}
	finish := func(code func(tp TopicPartition) int16) Effects {
		e.reply(func(error) []Marker { each(code); reply(res); return nil })
		return e
	}
	all := func(code int16) func(TopicPartition) int16 { return func(TopicPartition) int16 { return code } }
	if t.TransactionalID == "" {
		return finish(all(kerr.InvalidRequest.Code))
	}
	if s.cfg.PartitionExists != nil {
		unknown := map[TopicPartition]bool{}
		for _, tp := range tps {
			if !s.cfg.PartitionExists(tp.Topic, tp.Partition) {
				unknown[tp] = true
			}
		}
		if len(unknown) > 0 {
			return finish(func(tp TopicPartition) int16 {
				if unknown[tp] {
					return kerr.UnknownTopicOrPartition.Code
				}
				return kerr.OperationNotAttempted.Code
			})
		}
	}
	m := s.txns[t.TransactionalID]
	if t.VerifyOnly && version >= 4 {
		return finish(s.verify(m, t.ProducerID, t.ProducerEpoch, version))
	}
	e.merge(s.addPartitions(now, m, t.ProducerID, t.ProducerEpoch, tps, func(code int16) { each(all(code)); reply(res) }))
	return e
}

// verify is KIP-890 part 1's check; the pending state is not looked at,
// as in Kafka (partitions count once written, and until their marker is).
func (s *Shard) verify(m *txnMeta, pid int64, epoch int16, version int16) func(TopicPartition) int16 {
	code := int16(0)
	switch {
	case m == nil || m.producerID != pid:
		code = kerr.InvalidProducerIDMapping.Code
	case m.epoch != epoch:
		code = kerr.ProducerFenced.Code
	case m.state.preparing():
		code = kerr.ConcurrentTransactions.Code
	}
	// Not in the transaction: v5 has TRANSACTION_ABORTABLE; v4's
	// callers know only INVALID_TXN_STATE.
	missing := kerr.TransactionAbortable.Code
	if version < 5 {
		missing = kerr.InvalidTxnState.Code
	}
	return func(tp TopicPartition) int16 {
		if code != 0 {
			return code
		}
		if !m.partitions[tp] {
			return missing
		}
		return 0
	}
}

// addPartitions is the common part of AddPartitionsToTxn and
// AddOffsetsToTxn.
func (s *Shard) addPartitions(now time.Time, m *txnMeta, pid int64, epoch int16, tps []TopicPartition, done func(code int16)) Effects {
	var e Effects
	fail := func(code int16) Effects {
		e.reply(func(error) []Marker { done(code); return nil })
		return e
	}
	switch {
	case m == nil || m.producerID != pid:
		return fail(kerr.InvalidProducerIDMapping.Code)
	case m.epoch != epoch:
		return fail(kerr.ProducerFenced.Code)
	case m.pending != noPending, m.state.preparing():
		return fail(kerr.ConcurrentTransactions.Code)
	}
	if m.state == Ongoing {
		added := false
		for _, tp := range tps {
			if !m.partitions[tp] {
				added = true
			}
		}
		if !added {
			return fail(0)
		}
	}
	t := m.next(Ongoing, now.UnixMilli())
	if m.state != Ongoing {
		t.StartMs = t.LastUpdateMs
	}
	t.Partitions = append(t.Partitions, tps...)
	if err := s.begin(m, t, &e); err != nil {
		return fail(kerr.InvalidTxnState.Code)
	}
	e.reply(func(err error) []Marker {
		switch {
		case !s.current(m):
			done(kerr.NotCoordinator.Code)
		case err != nil:
			m.pending = noPending
			done(errCode(err))
		default:
			m.apply(t)
			done(0)
		}
		return nil
	})
	return e
}

// AddOffsets serves AddOffsetsToTxn: the group's __consumer_offsets
// partition joins the transaction, so its offsets commit or abort with
// it.
func (s *Shard) AddOffsets(now time.Time, req *kmsg.AddOffsetsToTxnRequest, reply func(*kmsg.AddOffsetsToTxnResponse)) Effects {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	done := func(code int16) {
		resp.ErrorCode = fencedFor(code, req.Version, 2)
		reply(resp)
	}
	if req.TransactionalID == "" {
		var e Effects
		e.reply(func(error) []Marker { done(kerr.InvalidRequest.Code); return nil })
		return e
	}
	var tp TopicPartition
	tp.Topic = metadata.ConsumerOffsetsTopic
	if s.cfg.OffsetsPartition != nil {
		tp.Partition = s.cfg.OffsetsPartition(req.Group)
	}
	return s.addPartitions(now, s.txns[req.TransactionalID], req.ProducerID, req.ProducerEpoch, []TopicPartition{tp}, done)
}

// ClientTransaction is the transaction of a v0-v3 AddPartitionsToTxn
// request in the v4+ form AddPartitions takes (Kafka's
// normalizeRequest).
func ClientTransaction(req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnRequestTransaction {
	t := kmsg.NewAddPartitionsToTxnRequestTransaction()
	t.TransactionalID, t.ProducerID, t.ProducerEpoch = req.TransactionalID, req.ProducerID, req.ProducerEpoch
	for _, rt := range req.Topics {
		t.Topics = append(t.Topics, kmsg.AddPartitionsToTxnRequestTransactionTopic{Topic: rt.Topic, Partitions: rt.Partitions})
	}
	return &t
}

// ClientTopics is a transaction's result in the v0-v3 response form.
func ClientTopics(res kmsg.AddPartitionsToTxnResponseTransaction) []kmsg.AddPartitionsToTxnResponseTopic {
	var out []kmsg.AddPartitionsToTxnResponseTopic
	for _, rt := range res.Topics {
		st := kmsg.NewAddPartitionsToTxnResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, rp.ErrorCode
			st.Partitions = append(st.Partitions, sp)
		}
		out = append(out, st)
	}
	return out
}

// Describe is DescribeTransactions' view of one id:
// TRANSACTIONAL_ID_NOT_FOUND when the shard does not know it (or is
// expiring it).
func (s *Shard) Describe(transactionalID string) kmsg.DescribeTransactionsResponseTransactionState {
	st := kmsg.NewDescribeTransactionsResponseTransactionState()
	st.TransactionalID = transactionalID
	m := s.txns[transactionalID]
	switch {
	case transactionalID == "":
		st.ErrorCode = kerr.InvalidRequest.Code
		return st
	case m == nil || m.pending == Dead:
		st.ErrorCode = kerr.TransactionalIDNotFound.Code
		return st
	}
	st.State = m.state.String()
	st.TimeoutMillis = m.timeoutMs
	st.StartTimestamp = m.startMs
	st.ProducerID, st.ProducerEpoch = m.producerID, m.epoch
	for _, tp := range m.sortedPartitions() {
		if n := len(st.Topics); n == 0 || st.Topics[n-1].Topic != tp.Topic {
			t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
			t.Topic = tp.Topic
			st.Topics = append(st.Topics, t)
		}
		t := &st.Topics[len(st.Topics)-1]
		t.Partitions = append(t.Partitions, tp.Partition)
	}
	return st
}

// List is ListTransactions' view of the shard: the ids that pass the
// filters (states by Kafka name, producer ids, v1's minimum running
// duration, v2's id pattern, a Go regexp here), in id order, and the
// state filters that name no state. An invalid pattern is
// INVALID_REGULAR_EXPRESSION.
func (s *Shard) List(now time.Time, req *kmsg.ListTransactionsRequest) (states []kmsg.ListTransactionsResponseTransactionState, unknownStates []string, err *kerr.Error) {
	wantStates := map[State]bool{}
	for _, name := range req.StateFilters {
		if st, ok := ParseState(name); ok {
			wantStates[st] = true
		} else {
			unknownStates = append(unknownStates, name)
		}
	}
	wantPIDs := map[int64]bool{}
	for _, p := range req.ProducerIDFilters {
		wantPIDs[p] = true
	}
	var re *regexp.Regexp
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		var cerr error
		if re, cerr = regexp.Compile(*req.TransactionalIDPattern); cerr != nil {
			return nil, nil, kerr.InvalidRegularExpression
		}
	}
	duration := int64(-1)
	if req.Version >= 1 {
		duration = req.DurationFilterMillis
	}
	nowMs := now.UnixMilli()
	for _, id := range s.sortedIDs() {
		m := s.txns[id]
		switch {
		case m.pending == Dead:
		case len(req.ProducerIDFilters) > 0 && !wantPIDs[m.producerID]:
		case len(req.StateFilters) > 0 && !wantStates[m.state]:
		case duration >= 0 && nowMs-m.startMs <= duration:
		case re != nil && !re.MatchString(id):
		default:
			st := kmsg.NewListTransactionsResponseTransactionState()
			st.TransactionalID, st.ProducerID, st.TransactionState = id, m.producerID, m.state.String()
			states = append(states, st)
		}
	}
	return states, unknownStates, nil
}
