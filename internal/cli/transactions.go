package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// samsa transactions is kafka-transactions.sh (KIP-664): list and
// describe transactional ids on their coordinators, describe the
// producers a partition tracks, find hanging transactions (open on a
// partition while their coordinator no longer counts the partition in
// them) and abort one by writing its ABORT marker, as Kafka's admin client
// does, and force-terminate a transactional id's transaction.

func init() {
	Register(&Command{
		Name:    "transactions",
		Summary: "list, describe, find hanging and abort transactions (kafka-transactions.sh)",
		Kafka:   "kafka-transactions.sh",
		Run:     runTransactions,
	})
}

const transactionsSynopsis = `  samsa transactions --bootstrap-server HOST:PORT COMMAND [options]
  COMMAND is one of:
    list [--state S,...] [--producer-id ID,...] [--duration-filter MS] [--transactional-id-pattern REGEX]
        the transactional ids of every coordinator
    describe --transactional-id ID
        the state, producer, timeout, start time and partitions of one id
    describe-producers --topic T --partition P [--broker-id B]
        the producers a partition's leader (or replica B) tracks
    find-hanging (--broker-id B | --topic T [--partition P]) [--max-transaction-timeout MIN]
        open transactions older than MIN minutes (default 15) whose
        coordinator no longer has the partition in an ongoing transaction
    abort --topic T --partition P (--start-offset O | --producer-id ID --producer-epoch E --coordinator-epoch C)
        write an ABORT marker for an open (hanging) transaction
    force-terminate --transactional-id ID
        abort the id's ongoing transaction and fence its producer
        (InitProducerId; two-phase commit, KIP-939, is not supported)
  Tables are Kafka's: tab-separated columns with Kafka's headers.`

const transactionsExamples = `  samsa transactions --bootstrap-server 127.0.0.1:9092 list
  samsa transactions list --state Ongoing --duration-filter 60000
  samsa transactions describe --transactional-id payments-1
  samsa transactions describe-producers --topic events --partition 0
  samsa transactions find-hanging --broker-id 1
  samsa transactions abort --topic events --partition 0 --start-offset 42
  samsa transactions force-terminate --transactional-id payments-1`

// txnCommandFlags are the options each command takes (beyond the
// connection's).
var txnCommandFlags = map[string][]string{
	"list":               {"state", "producer-id", "duration-filter", "transactional-id-pattern"},
	"describe":           {"transactional-id"},
	"describe-producers": {"topic", "partition", "broker-id"},
	"find-hanging":       {"broker-id", "max-transaction-timeout", "topic", "partition"},
	"abort":              {"topic", "partition", "start-offset", "producer-id", "producer-epoch", "coordinator-epoch"},
	"force-terminate":    {"transactional-id"},
}

type txnOpts struct {
	conn
	states, producerIDs       []string
	durationFilter            int64
	pattern, transactionalID  string
	topic                     string
	partition, brokerID       int
	maxTimeout                int
	startOffset               int64
	producerEpoch, coordEpoch int
}

func runTransactions(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var o txnOpts
		o.durationFilter = -1
		o.maxTimeout = 15
		fs := newFlagSet("transactions", transactionsSynopsis, transactionsExamples)
		o.addConnFlags(fs, "timeout", "command-config")
		fs.Strings(&o.states, "state", "state[,state]", "list: only transactions in these states (Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort, PrepareEpochFence)")
		fs.Strings(&o.producerIDs, "producer-id", "id", "list: only these producer ids (comma-separated, repeatable); abort: the producer of the transaction")
		fs.Int64(&o.durationFilter, "duration-filter", "ms", "list: only transactions running longer than this many milliseconds (< 0: all)")
		fs.String(&o.pattern, "transactional-id-pattern", "regex", "list: only transactional ids matching this regular expression (ListTransactions v2, Kafka 4.1)")
		fs.String(&o.transactionalID, "transactional-id", "id", "describe, force-terminate: the transactional id")
		fs.String(&o.topic, "topic", "topic", "describe-producers, abort: the topic; find-hanging: limit the search to this topic")
		fs.Int(&o.partition, "partition", "n", "describe-producers, abort: the partition; find-hanging: limit the search to this partition of --topic")
		fs.Int(&o.brokerID, "broker-id", "id", "describe-producers: ask this replica instead of the leader; find-hanging: search the partitions this broker hosts")
		fs.Int(&o.maxTimeout, "max-transaction-timeout", "minutes", "find-hanging: only transactions open longer than this (default 15, transaction.max.timeout.ms's default)")
		fs.Int64(&o.startOffset, "start-offset", "offset", "abort: the first offset of the transaction to abort")
		fs.Int(&o.producerEpoch, "producer-epoch", "epoch", "abort: the producer epoch of the transaction")
		fs.Int(&o.coordEpoch, "coordinator-epoch", "epoch", "abort: the coordinator epoch of the transaction (< 0 counts as 0)")
		if err := fs.parse(args, stdout); err != nil {
			return err
		}
		if len(fs.args) != 1 {
			return errors.New("give one command: list, describe, describe-producers, find-hanging, abort or force-terminate (see samsa transactions --help)")
		}
		cmd := fs.args[0]
		allowed, ok := txnCommandFlags[cmd]
		if !ok {
			return fmt.Errorf("unknown command %s: give list, describe, describe-producers, find-hanging, abort or force-terminate", cmd)
		}
		for _, names := range txnCommandFlags {
			for _, n := range names {
				if fs.Has(n) && !slices.Contains(allowed, n) {
					return fmt.Errorf("option --%s does not go with %s (see samsa transactions --help)", n, cmd)
				}
			}
		}
		if err := o.check(cmd, fs); err != nil {
			return err
		}
		adm, ctx, done, err := o.adminSession(stderr)
		if err != nil {
			return err
		}
		defer done()
		switch cmd {
		case "list":
			return o.runList(ctx, stdout)
		case "describe":
			return o.runDescribe(ctx, adm, stdout)
		case "describe-producers":
			return o.runDescribeProducers(ctx, adm, fs.Has("broker-id"), stdout)
		case "find-hanging":
			return o.runFindHanging(ctx, adm, fs, stdout, stderr)
		case "abort":
			return o.runAbort(ctx, adm, fs, stdout)
		default:
			return o.runForceTerminate(ctx, adm, stdout, stderr)
		}
	})
}

// check validates a command's options before connecting, with Kafka's
// messages where Kafka's tool has one.
func (o *txnOpts) check(cmd string, fs *flagSet) error {
	need := func(names ...string) error {
		for _, n := range names {
			if !fs.Has(n) {
				return fmt.Errorf("%s: option --%s is required", cmd, n)
			}
		}
		return nil
	}
	switch cmd {
	case "list":
		if _, err := o.listStates(); err != nil {
			return err
		}
		if _, err := o.listProducerIDs(); err != nil {
			return err
		}
	case "describe", "force-terminate":
		return need("transactional-id")
	case "describe-producers":
		return need("topic", "partition")
	case "find-hanging":
		if !fs.Has("topic") && !fs.Has("broker-id") {
			return errors.New("the `find-hanging` command requires either --topic or --broker-id to limit the scope of the search")
		}
		if fs.Has("partition") && !fs.Has("topic") {
			return errors.New("the --partition argument requires --topic to be provided")
		}
		if o.maxTimeout < 0 {
			return errors.New("--max-transaction-timeout must not be negative")
		}
	case "abort":
		if err := need("topic", "partition"); err != nil {
			return err
		}
		switch {
		case fs.Has("start-offset") && fs.Has("producer-id"):
			return errors.New("give either --start-offset or --producer-id with --producer-epoch and --coordinator-epoch, not both")
		case fs.Has("start-offset"):
		case !fs.Has("producer-id"):
			return errors.New("the transaction to abort must be identified either with --start-offset (for brokers on 3.0 or above) or with --producer-id, --producer-epoch, and --coordinator-epoch (for older brokers)")
		case !fs.Has("producer-epoch"):
			return errors.New("missing required argument --producer-epoch")
		case !fs.Has("coordinator-epoch"):
			return errors.New("missing required argument --coordinator-epoch")
		default:
			if ids, err := o.listProducerIDs(); err != nil {
				return err
			} else if len(ids) != 1 {
				return errors.New("abort takes one --producer-id")
			}
			if o.producerEpoch < 0 || o.producerEpoch > 32767 {
				return fmt.Errorf("--producer-epoch %d is not a producer epoch", o.producerEpoch)
			}
		}
	}
	return nil
}

// txnStates are Kafka's transaction state names (TransactionState).
var txnStates = []string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "PrepareEpochFence", "Dead"}

// listStates parses --state: Kafka's names, in any case, with or without
// underscores (ONGOING, prepare_abort).
func (o *txnOpts) listStates() ([]string, error) {
	var out []string
	for _, v := range o.states {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			norm := strings.ReplaceAll(s, "_", "")
			i := slices.IndexFunc(txnStates, func(n string) bool { return strings.EqualFold(n, norm) })
			if i < 0 {
				return nil, fmt.Errorf("invalid transaction state '%s'. Valid states are: %s", s, strings.Join(txnStates, ", "))
			}
			out = append(out, txnStates[i])
		}
	}
	return out, nil
}

func (o *txnOpts) listProducerIDs() ([]int64, error) {
	var out []int64
	for _, v := range o.producerIDs {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("--producer-id: not a producer id: %q", s)
			}
			out = append(out, n)
		}
	}
	return out, nil
}

// writeTxnTable prints rows as Kafka's ToolsUtils.prettyPrintTable does:
// every cell, the last too, padded to its column's width and followed by
// a tab.
func writeTxnTable(w io.Writer, header []string, rows [][]string) {
	widths := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, r := range append([][]string{header}, rows...) {
		var b strings.Builder
		for i, c := range r {
			fmt.Fprintf(&b, "%-*s\t", widths[i], c)
		}
		fmt.Fprintln(w, b.String())
	}
}

// retriableTxnErr is whether an error in an answer is worth asking again
// for: the coordinator is loading or moved, a leader changed.
// An unknown partition is not retried: it is most likely a typing error.
func retriableTxnErr(err error) bool {
	return err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) &&
		(kerr.IsRetriable(err) || errors.Is(err, kerr.ConcurrentTransactions))
}

// retry runs fn until it returns an error that is not retriable (or
// nil), or ctx ends, backing off between tries.
func retry(ctx context.Context, fn func() error) error {
	backoff := 50 * time.Millisecond
	for {
		err := fn()
		if !retriableTxnErr(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

func tpString(topic string, partition int32) string { return topic + "-" + itoa32(partition) }

func optionalMs(ms int64) string {
	if ms < 0 {
		return "None"
	}
	return strconv.FormatInt(ms, 10)
}

// --- list ---------------------------------------------------------------

func (o *txnOpts) runList(ctx context.Context, stdout io.Writer) error {
	states, _ := o.listStates()
	pids, _ := o.listProducerIDs()
	type row struct {
		coordinator int32
		l           kmsg.ListTransactionsResponseTransactionState
	}
	var rows []row
	err := retry(ctx, func() error {
		rows = rows[:0]
		req := kmsg.NewPtrListTransactionsRequest()
		req.StateFilters, req.ProducerIDFilters = states, pids
		req.DurationFilterMillis = o.durationFilter
		if o.pattern != "" {
			req.TransactionalIDPattern = &o.pattern
		}
		for _, sh := range o.cl.RequestSharded(ctx, req) {
			if sh.Err != nil {
				return sh.Err
			}
			resp := sh.Resp.(*kmsg.ListTransactionsResponse)
			if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
				return err
			}
			for _, t := range resp.TransactionStates {
				rows = append(rows, row{sh.Meta.NodeID, t})
			}
		}
		return nil
	})
	if err != nil {
		return o.describeErr("Failed to list transactions", err)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].coordinator != rows[j].coordinator {
			return rows[i].coordinator < rows[j].coordinator
		}
		return rows[i].l.TransactionalID < rows[j].l.TransactionalID
	})
	var out [][]string
	for _, r := range rows {
		out = append(out, []string{r.l.TransactionalID, itoa32(r.coordinator), strconv.FormatInt(r.l.ProducerID, 10), r.l.TransactionState})
	}
	writeTxnTable(stdout, []string{"TransactionalId", "Coordinator", "ProducerId", "TransactionState"}, out)
	return nil
}

// --- describe -----------------------------------------------------------

// describeTxns describes transactional ids on their coordinators,
// retrying while a coordinator loads or moves. An id the coordinator does
// not know has kerr.TransactionalIDNotFound as its Err.
func (o *txnOpts) describeTxns(ctx context.Context, adm *kadm.Client, ids ...string) (kadm.DescribedTransactions, error) {
	var ds kadm.DescribedTransactions
	err := retry(ctx, func() error {
		var err error
		ds, err = adm.DescribeTransactions(ctx, ids...)
		if err != nil {
			var se *kadm.ShardErrors
			if errors.As(err, &se) && len(se.Errs) > 0 {
				return se.Errs[0].Err
			}
			return err
		}
		for _, id := range ids {
			d, ok := ds[id]
			if !ok {
				return kerr.CoordinatorNotAvailable
			}
			if retriableTxnErr(d.Err) {
				return d.Err
			}
		}
		return nil
	})
	return ds, err
}

func sortedTxnPartitions(s kadm.TopicsSet) []string {
	var out []string
	for _, tp := range s.Sorted() {
		for _, p := range tp.Partitions {
			out = append(out, tpString(tp.Topic, p))
		}
	}
	return out
}

func (o *txnOpts) runDescribe(ctx context.Context, adm *kadm.Client, stdout io.Writer) error {
	id := o.transactionalID
	what := "Failed to describe transaction state of transactional-id `" + id + "`"
	ds, err := o.describeTxns(ctx, adm, id)
	if err != nil {
		return o.describeErr(what, err)
	}
	d := ds[id]
	if d.Err != nil {
		return fmt.Errorf("%s: %s", what, kafkaErr(d.Err, ""))
	}
	start, duration := "None", "None"
	if d.StartTimestamp >= 0 {
		start = strconv.FormatInt(d.StartTimestamp, 10)
		duration = strconv.FormatInt(time.Now().UnixMilli()-d.StartTimestamp, 10)
	}
	parts := sortedTxnPartitions(d.Topics)
	sort.Strings(parts)
	writeTxnTable(stdout, []string{"CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch", "TransactionState",
		"TransactionTimeoutMs", "CurrentTransactionStartTimeMs", "TransactionDurationMs", "TopicPartitions"},
		[][]string{{itoa32(d.Coordinator), id, strconv.FormatInt(d.ProducerID, 10), strconv.Itoa(int(d.ProducerEpoch)), d.State,
			itoa32(d.TimeoutMillis), start, duration, strings.Join(parts, ",")}})
	return nil
}

// --- describe-producers -------------------------------------------------

// partitionProducers is one partition's DescribeProducers answer.
type partitionProducers struct {
	producers []kadm.DescribedProducer // by producer id
	err       error
	errMsg    string
}

// describeProducers asks the partitions' leaders (broker < 0) or one
// broker for the producers they track, in requests of at most 500
// partitions (as Kafka's tool does), retrying retriable errors of the
// whole request. Partition errors are in the answer.
func (o *txnOpts) describeProducers(ctx context.Context, adm *kadm.Client, tps []topicPartition, broker int32) (map[topicPartition]partitionProducers, error) {
	out := map[topicPartition]partitionProducers{}
	for start := 0; start < len(tps); start += 500 {
		batch := tps[start:min(start+500, len(tps))]
		err := retry(ctx, func() error {
			if broker < 0 {
				return o.producersAtLeaders(ctx, adm, batch, out)
			}
			return o.producersAt(ctx, broker, batch, out)
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func sortedProducers(ps kadm.DescribedProducers) []kadm.DescribedProducer {
	out := ps.Sorted()
	sort.SliceStable(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}

func (o *txnOpts) producersAtLeaders(ctx context.Context, adm *kadm.Client, tps []topicPartition, out map[topicPartition]partitionProducers) error {
	s := kadm.TopicsSet{}
	for _, tp := range tps {
		s.Add(tp.topic, tp.partition)
	}
	ts, err := adm.DescribeProducers(ctx, s)
	var se *kadm.ShardErrors
	if err != nil && !errors.As(err, &se) {
		return err
	}
	if se != nil && len(se.Errs) > 0 && len(ts) == 0 {
		return se.Errs[0].Err
	}
	for _, tp := range tps {
		p, ok := ts[tp.topic].Partitions[tp.partition]
		if !ok {
			if se != nil && len(se.Errs) > 0 {
				return se.Errs[0].Err
			}
			out[tp] = partitionProducers{err: kerr.UnknownTopicOrPartition}
			continue
		}
		if retriableTxnErr(p.Err) {
			return p.Err
		}
		out[tp] = partitionProducers{producers: sortedProducers(p.ActiveProducers), err: p.Err, errMsg: p.ErrMessage}
	}
	return nil
}

// producersAt asks one broker (DescribeProducersOptions.brokerId).
func (o *txnOpts) producersAt(ctx context.Context, broker int32, tps []topicPartition, out map[topicPartition]partitionProducers) error {
	req := kmsg.NewPtrDescribeProducersRequest()
	for _, tp := range tps {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != tp.topic {
			rt := kmsg.NewDescribeProducersRequestTopic()
			rt.Topic = tp.topic
			req.Topics = append(req.Topics, rt)
		}
		rt := &req.Topics[len(req.Topics)-1]
		rt.Partitions = append(rt.Partitions, tp.partition)
	}
	kr, err := o.cl.Broker(int(broker)).Request(ctx, req)
	if err != nil {
		return err
	}
	resp := kr.(*kmsg.DescribeProducersResponse)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			pp := partitionProducers{err: kerr.ErrorForCode(rp.ErrorCode)}
			if rp.ErrorMessage != nil {
				pp.errMsg = *rp.ErrorMessage
			}
			for _, a := range rp.ActiveProducers {
				pp.producers = append(pp.producers, kadm.DescribedProducer{
					Leader: broker, Topic: rt.Topic, Partition: rp.Partition,
					ProducerID: a.ProducerID, ProducerEpoch: int16(a.ProducerEpoch), LastSequence: a.LastSequence,
					LastTimestamp: a.LastTimestamp, CoordinatorEpoch: a.CoordinatorEpoch, CurrentTxnStartOffset: a.CurrentTxnStartOffset,
				})
			}
			sort.Slice(pp.producers, func(i, j int) bool { return pp.producers[i].ProducerID < pp.producers[j].ProducerID })
			out[topicPartition{rt.Topic, rp.Partition}] = pp
		}
	}
	return nil
}

func (o *txnOpts) runDescribeProducers(ctx context.Context, adm *kadm.Client, onBroker bool, stdout io.Writer) error {
	tp := topicPartition{o.topic, int32(o.partition)}
	broker, where := int32(-1), "leader"
	if onBroker {
		broker, where = int32(o.brokerID), "broker "+strconv.Itoa(o.brokerID)
	}
	what := "Failed to describe producers for partition " + tpString(tp.topic, tp.partition) + " on " + where
	res, err := o.describeProducers(ctx, adm, []topicPartition{tp}, broker)
	if err != nil {
		return o.describeErr(what, err)
	}
	pp, ok := res[tp]
	if !ok {
		return fmt.Errorf("%s: no answer for the partition", what)
	}
	if pp.err != nil {
		return fmt.Errorf("%s: %s", what, kafkaErr(pp.err, pp.errMsg))
	}
	var rows [][]string
	for _, p := range pp.producers {
		start := "None"
		if p.CurrentTxnStartOffset >= 0 {
			start = strconv.FormatInt(p.CurrentTxnStartOffset, 10)
		}
		rows = append(rows, []string{strconv.FormatInt(p.ProducerID, 10), strconv.Itoa(int(p.ProducerEpoch)), itoa32(p.CoordinatorEpoch),
			itoa32(p.LastSequence), strconv.FormatInt(p.LastTimestamp, 10), start})
	}
	writeTxnTable(stdout, []string{"ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence", "LastTimestamp", "CurrentTransactionStartOffset"}, rows)
	return nil
}

// --- find-hanging -------------------------------------------------------

// openTxn is a producer's open transaction on a partition.
type openTxn struct {
	tp topicPartition
	p  kadm.DescribedProducer
}

// runFindHanging is Kafka's search: the partitions in scope (every topic's,
// internal ones included, or --topic's, hosted by --broker-id when given),
// their producers with an open transaction whose last write is older than
// the maximum transaction timeout, and of those the ones whose
// transactional id (found with ListTransactions by producer id) is not
// known to its coordinator, or is known without this partition among those
// of its ongoing transaction (or, while its markers go out, among those
// still to be written).
func (o *txnOpts) runFindHanging(ctx context.Context, adm *kadm.Client, fs *flagSet, stdout, stderr io.Writer) error {
	broker := int32(-1)
	if fs.Has("broker-id") {
		broker = int32(o.brokerID)
	}
	var tps []topicPartition
	if fs.Has("partition") {
		tps = []topicPartition{{o.topic, int32(o.partition)}}
	} else {
		var topics []string
		if o.topic != "" {
			topics = []string{o.topic}
		}
		md, err := adm.Metadata(ctx, topics...)
		if err != nil {
			return o.describeErr("Failed to describe topics", err)
		}
		for _, t := range md.Topics.Sorted() {
			if t.Err != nil {
				return fmt.Errorf("Failed to describe topic %s: %s", t.Topic, kafkaErr(t.Err, ""))
			}
			for _, p := range t.Partitions.Sorted() {
				if broker < 0 || slices.Contains(p.Replicas, broker) {
					tps = append(tps, topicPartition{t.Topic, p.Partition})
				}
			}
		}
	}
	res, err := o.describeProducers(ctx, adm, tps, broker)
	if err != nil {
		return o.describeErr(fmt.Sprintf("Failed to describe producers for %d partitions on broker %s", len(tps), brokerClause(broker)), err)
	}
	// A Samsa broker only describes the producers of partitions it leads
	// (Kafka's followers answer too): ask the leaders of the others.
	var followed []topicPartition
	for _, tp := range tps {
		if broker >= 0 && errors.Is(res[tp].err, kerr.NotLeaderForPartition) {
			followed = append(followed, tp)
		}
	}
	if len(followed) > 0 {
		fmt.Fprintf(stderr, "Broker %d does not describe the producers of %d partitions it follows; their leaders were asked.\n", broker, len(followed))
		lres, err := o.describeProducers(ctx, adm, followed, -1)
		if err != nil {
			return o.describeErr(fmt.Sprintf("Failed to describe producers for %d partitions", len(followed)), err)
		}
		for tp, pp := range lres {
			res[tp] = pp
		}
	}
	now := time.Now().UnixMilli()
	maxMs := int64(o.maxTimeout) * 60_000
	var candidates []openTxn
	for _, tp := range tps {
		pp := res[tp]
		if pp.err != nil {
			return fmt.Errorf("Failed to describe producers for partition %s: %s", tpString(tp.topic, tp.partition), kafkaErr(pp.err, pp.errMsg))
		}
		for _, p := range pp.producers {
			if p.CurrentTxnStartOffset >= 0 && now-p.LastTimestamp > maxMs {
				candidates = append(candidates, openTxn{tp, p})
			}
		}
	}
	var hanging []openTxn
	if len(candidates) > 0 {
		if hanging, err = o.filterHanging(ctx, adm, candidates); err != nil {
			return err
		}
	}
	var rows [][]string
	for _, h := range hanging {
		rows = append(rows, []string{h.tp.topic, itoa32(h.tp.partition), strconv.FormatInt(h.p.ProducerID, 10), strconv.Itoa(int(h.p.ProducerEpoch)),
			itoa32(h.p.CoordinatorEpoch), strconv.FormatInt(h.p.CurrentTxnStartOffset, 10), strconv.FormatInt(h.p.LastTimestamp, 10),
			strconv.FormatInt((now-h.p.LastTimestamp)/60_000, 10)})
	}
	writeTxnTable(stdout, []string{"Topic", "Partition", "ProducerId", "ProducerEpoch", "CoordinatorEpoch", "StartOffset", "LastTimestamp", "Duration(min)"}, rows)
	return nil
}

func brokerClause(b int32) string {
	if b < 0 {
		return "leaders"
	}
	return itoa32(b)
}

// filterHanging keeps the candidates their coordinator does not expect to
// end.
func (o *txnOpts) filterHanging(ctx context.Context, adm *kadm.Client, candidates []openTxn) ([]openTxn, error) {
	var pids []int64
	for _, c := range candidates {
		if !slices.Contains(pids, c.p.ProducerID) {
			pids = append(pids, c.p.ProducerID)
		}
	}
	var listed kadm.ListedTransactions
	err := retry(ctx, func() error {
		var err error
		listed, err = adm.ListTransactions(ctx, pids, nil)
		var se *kadm.ShardErrors
		if errors.As(err, &se) && len(se.Errs) > 0 {
			return se.Errs[0].Err
		}
		return err
	})
	if err != nil {
		return nil, o.describeErr(fmt.Sprintf("Failed to list transactions for %d producers", len(pids)), err)
	}
	idOf := map[int64]string{}
	var ids []string
	for _, l := range listed.Sorted() {
		if slices.Contains(pids, l.ProducerID) {
			idOf[l.ProducerID] = l.TxnID
			ids = append(ids, l.TxnID)
		}
	}
	var descs kadm.DescribedTransactions
	if len(ids) > 0 {
		if descs, err = o.describeTxns(ctx, adm, ids...); err != nil {
			return nil, o.describeErr(fmt.Sprintf("Failed to describe %d transactions", len(ids)), err)
		}
	}
	var hanging []openTxn
	for _, c := range candidates {
		id, ok := idOf[c.p.ProducerID]
		if !ok {
			hanging = append(hanging, c) // no transactional id has this producer
			continue
		}
		d := descs[id]
		switch {
		case errors.Is(d.Err, kerr.TransactionalIDNotFound):
			hanging = append(hanging, c)
		case d.Err != nil:
			return nil, fmt.Errorf("Failed to describe transactional id %s: %s", id, kafkaErr(d.Err, ""))
		case !d.Topics.Lookup(c.tp.topic, c.tp.partition):
			hanging = append(hanging, c)
		}
	}
	sort.Slice(hanging, func(i, j int) bool {
		a, b := hanging[i], hanging[j]
		if a.tp != b.tp {
			if a.tp.topic != b.tp.topic {
				return a.tp.topic < b.tp.topic
			}
			return a.tp.partition < b.tp.partition
		}
		return a.p.ProducerID < b.p.ProducerID
	})
	return hanging, nil
}

// --- abort --------------------------------------------------------------

// runAbort writes an ABORT marker for a producer's open transaction on a
// partition (Kafka's Admin.abortTransaction: WriteTxnMarkers to the
// partition's leader). With --start-offset the producer is the one whose
// open transaction starts there (DescribeProducers).
func (o *txnOpts) runAbort(ctx context.Context, adm *kadm.Client, fs *flagSet, stdout io.Writer) error {
	tp := topicPartition{o.topic, int32(o.partition)}
	name := tpString(tp.topic, tp.partition)
	var pid int64
	var epoch int16
	var coordEpoch int32
	if fs.Has("start-offset") {
		res, err := o.describeProducers(ctx, adm, []topicPartition{tp}, -1)
		what := "Failed to validate producer state for partition " + name
		if err != nil {
			return o.describeErr(what, err)
		}
		pp := res[tp]
		if pp.err != nil {
			return fmt.Errorf("%s: %s", what, kafkaErr(pp.err, pp.errMsg))
		}
		i := slices.IndexFunc(pp.producers, func(p kadm.DescribedProducer) bool { return p.CurrentTxnStartOffset == o.startOffset })
		if o.startOffset < 0 || i < 0 {
			return fmt.Errorf("could not find any open transactions starting at offset %d on partition %s", o.startOffset, name)
		}
		p := pp.producers[i]
		pid, epoch, coordEpoch = p.ProducerID, p.ProducerEpoch, p.CoordinatorEpoch
	} else {
		ids, _ := o.listProducerIDs()
		pid, epoch, coordEpoch = ids[0], int16(o.producerEpoch), int32(o.coordEpoch)
	}
	// A transaction started by a new producer id that was never ended
	// has no coordinator epoch (-1): 0 is at most any coordinator's.
	coordEpoch = max(coordEpoch, 0)
	spec := fmt.Sprintf("AbortTransactionSpec(topicPartition=%s, producerId=%d, producerEpoch=%d, coordinatorEpoch=%d)", name, pid, epoch, coordEpoch)
	m := kadm.TxnMarkers{ProducerID: pid, ProducerEpoch: epoch, Commit: false, CoordinatorEpoch: coordEpoch, Topics: kadm.TopicsSet{}}
	m.Topics.Add(tp.topic, tp.partition)
	err := retry(ctx, func() error {
		rs, err := adm.WriteTxnMarkers(ctx, m)
		var se *kadm.ShardErrors
		if errors.As(err, &se) && len(se.Errs) > 0 {
			return se.Errs[0].Err
		}
		if err != nil {
			return err
		}
		r, ok := rs[pid].Topics[tp.topic].Partitions[tp.partition]
		if !ok {
			return kerr.UnknownServerError
		}
		return r.Err
	})
	if err != nil {
		return o.describeErr("Failed to abort transaction "+spec, err)
	}
	fmt.Fprintf(stdout, "Aborted the transaction of producer %d (epoch %d) on partition %s.\n", pid, epoch, name)
	return nil
}

// --- force-terminate ----------------------------------------------------

// runForceTerminate ends a transactional id's transaction the way a new
// producer instance would: InitProducerId for the id, which bumps the
// producer epoch (fencing the running producer) and aborts an ongoing
// transaction (the coordinator answers CONCURRENT_TRANSACTIONS until the
// abort's markers are written; it is asked again). Kafka 4.x's
// force-terminate sends InitProducerId v6 with keepPreparedTxn false, for
// two-phase commit (KIP-939) transactions left prepared; Samsa has no
// two-phase commit (InitProducerId v0-v5), and the client library does
// not speak v6, so a transaction prepared with 2PC on a Kafka broker is
// not terminated by this command.
func (o *txnOpts) runForceTerminate(ctx context.Context, adm *kadm.Client, stdout, stderr io.Writer) error {
	id := o.transactionalID
	what := "Failed to force-terminate transactional-id `" + id + "`"
	ds, err := o.describeTxns(ctx, adm, id)
	if err != nil {
		return o.describeErr(what, err)
	}
	before := ds[id]
	if before.Err != nil {
		return fmt.Errorf("%s: %s", what, kafkaErr(before.Err, ""))
	}
	timeout := before.TimeoutMillis
	if timeout <= 0 {
		timeout = 60_000
	}
	var resp *kmsg.InitProducerIDResponse
	err = retry(ctx, func() error {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = &id
		req.TransactionTimeoutMillis = timeout
		var err error
		if resp, err = req.RequestWith(ctx, o.cl); err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.ErrorCode)
	})
	if err != nil {
		return o.describeErr(what, err)
	}
	fmt.Fprintln(stderr, "Note: two-phase commit (KIP-939) is not supported: force-terminate sent InitProducerId without keepPreparedTxn, which aborts an ongoing transaction and fences its producer.")
	fmt.Fprintf(stdout, "Terminated transactional-id `%s` (was %s, producer %d epoch %d): producer %d is now at epoch %d; its running producer is fenced.\n",
		id, before.State, before.ProducerID, before.ProducerEpoch, resp.ProducerID, resp.ProducerEpoch)
	return nil
}
