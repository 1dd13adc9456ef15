package txn

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/scripttest"
)

// TestScripts runs the scenarios of testdata/*.txt against a Shard. The
// harness plays the broker: it appends the records of each call to a log
// and completes the call's effects at once (successfully, or with
// err=<Kafka error name>), or holds them with the flag hold until a
// complete command; it keeps the markers the shard sends and reports
// them written when told. Time is t=<duration since the start>, kept
// until a command moves it. Producer ids come from a counter at 1000.
//
// Commands:
//
//	config [max-timeout=] [expiration=] [abort-interval=] [expire-interval=] [tv=] [epoch=]
//	                             a new empty shard (LoadComplete at t)
//	init id= [timeout=60000] [pid= epoch=] [v=4]           InitProducerId
//	add id= pid= epoch= tps=a-0,b-1 [v=3] [verify]         AddPartitionsToTxn
//	                             (v4+ batched form when v>=4)
//	offsets id= pid= epoch= group= [v=3]                   AddOffsetsToTxn
//	end id= pid= epoch= commit|abort [v=3]                 EndTxn
//	written id= [tps=]           markers written (default: every outstanding one)
//	complete [err=]              completes the oldest held call
//	tick                         Tick
//	describe id=  |  list [states=] [pids=] [duration=] [pattern=] [v=]
//	state                        every id's metadata
//	restart [epoch=]             a new shard replaying the log; prints the markers it resumes
//	pids fail=<error>|ok         the producer id source fails or works
//	log                          the log, decoded
//
// Every call prints the records it appends ("append ..."), "held" if it
// is held, then what its completion produced: replies and markers.
func TestScripts(t *testing.T) {
	scripttest.RunFiles(t, "testdata/*.txt", func(t *testing.T, path string) {
		h := &harness{nextPID: 1000, now: time.UnixMilli(0)}
		scripttest.Run(t, path, h.run)
	})
}

type harness struct {
	s       *Shard
	cfg     Config
	epoch   int32
	now     time.Time
	nextPID int64
	pidErr  error
	log     []Record
	held    []Effects
	// outstanding markers, by transactional id.
	markers map[string]Marker
	out     *strings.Builder
}

// newShard starts a shard with the settings of a config command, or the
// defaults when c is nil.
func (h *harness) newShard(c *scripttest.Case) {
	h.cfg = DefaultConfig()
	h.epoch = 1
	if c != nil {
		h.configure(c)
	}
	h.cfg.ProducerIDs = func() (int64, error) {
		if h.pidErr != nil {
			return -1, h.pidErr
		}
		h.nextPID++
		return h.nextPID - 1, nil
	}
	h.cfg.OffsetsPartition = func(g string) int32 { return PartitionFor(g, 50) }
	h.cfg.PartitionExists = func(topic string, _ int32) bool { return topic != "unknown" }
	h.s = NewShard(h.cfg, h.epoch)
	h.markers = map[string]Marker{}
	h.printMarkers(h.s.LoadComplete(h.now))
}

func (h *harness) configure(c *scripttest.Case) {
	h.cfg.MaxTimeout = c.DurationOr("max-timeout", h.cfg.MaxTimeout)
	h.cfg.IDExpiration = c.DurationOr("expiration", h.cfg.IDExpiration)
	h.cfg.AbortTimedOutInterval = c.DurationOr("abort-interval", h.cfg.AbortTimedOutInterval)
	h.cfg.RemoveExpiredInterval = c.DurationOr("expire-interval", h.cfg.RemoveExpiredInterval)
	h.cfg.TransactionVersion = int16(c.IntOr("tv", 0))
	h.epoch = int32(c.IntOr("epoch", 1))
}

func (h *harness) run(c *scripttest.Case) string {
	var out strings.Builder
	h.out = &out
	if d := c.DurationOr("t", -1); d >= 0 {
		h.now = time.UnixMilli(0).Add(d)
	}
	if h.s == nil && c.Cmd != "config" {
		h.newShard(nil)
	}
	pid := func() int64 { return c.IntOr("pid", -1) }
	epoch := func() int16 { return int16(c.IntOr("epoch", -1)) }
	switch c.Cmd {
	case "config":
		h.newShard(c)
	case "init":
		id := c.String("id")
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = int16(c.IntOr("v", 4))
		req.TransactionalID = &id
		req.TransactionTimeoutMillis = int32(c.IntOr("timeout", 60000))
		req.ProducerID, req.ProducerEpoch = pid(), epoch()
		h.call(c, h.s.InitProducerID(h.now, req, func(r *kmsg.InitProducerIDResponse) {
			if r.ErrorCode != 0 {
				fmt.Fprintf(h.out, "InitProducerId: %s\n", codeName(r.ErrorCode))
				return
			}
			fmt.Fprintf(h.out, "InitProducerId: pid=%d epoch=%d\n", r.ProducerID, r.ProducerEpoch)
		}))
	case "add":
		v := int16(c.IntOr("v", 3))
		t := kmsg.NewAddPartitionsToTxnRequestTransaction()
		t.TransactionalID, t.ProducerID, t.ProducerEpoch, t.VerifyOnly = c.String("id"), pid(), epoch(), c.Has("verify")
		tps := parseTPs(c, c.String("tps"))
		for _, tp := range tps {
			if n := len(t.Topics); n == 0 || t.Topics[n-1].Topic != tp.Topic {
				t.Topics = append(t.Topics, kmsg.AddPartitionsToTxnRequestTransactionTopic{Topic: tp.Topic})
			}
			t.Topics[len(t.Topics)-1].Partitions = append(t.Topics[len(t.Topics)-1].Partitions, tp.Partition)
		}
		if v < 4 {
			// Through the client form, as the broker will.
			req := kmsg.NewPtrAddPartitionsToTxnRequest()
			req.Version = v
			req.TransactionalID, req.ProducerID, req.ProducerEpoch = t.TransactionalID, t.ProducerID, t.ProducerEpoch
			for _, rt := range t.Topics {
				req.Topics = append(req.Topics, kmsg.AddPartitionsToTxnRequestTopic{Topic: rt.Topic, Partitions: rt.Partitions})
			}
			t = *ClientTransaction(req)
		}
		name := "AddPartitionsToTxn"
		if t.VerifyOnly {
			name = "Verify"
		}
		h.call(c, h.s.AddPartitions(h.now, v, &t, func(r kmsg.AddPartitionsToTxnResponseTransaction) {
			fmt.Fprintf(h.out, "%s: %s\n", name, partitionCodes(ClientTopics(r)))
		}))
	case "offsets":
		req := kmsg.NewPtrAddOffsetsToTxnRequest()
		req.Version = int16(c.IntOr("v", 3))
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = c.String("id"), pid(), epoch(), c.String("group")
		h.call(c, h.s.AddOffsets(h.now, req, func(r *kmsg.AddOffsetsToTxnResponse) {
			fmt.Fprintf(h.out, "AddOffsetsToTxn: %s\n", codeName(r.ErrorCode))
		}))
	case "end":
		req := kmsg.NewPtrEndTxnRequest()
		req.Version = int16(c.IntOr("v", 3))
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = c.String("id"), pid(), epoch()
		req.Commit = c.Has("commit")
		if !req.Commit && !c.Has("abort") {
			c.Fatalf("end needs commit or abort")
		}
		h.call(c, h.s.EndTxn(h.now, req, func(r *kmsg.EndTxnResponse) {
			fmt.Fprintf(h.out, "EndTxn: %s", codeName(r.ErrorCode))
			if req.Version >= 5 && r.ErrorCode == 0 {
				fmt.Fprintf(h.out, " pid=%d epoch=%d", r.ProducerID, r.ProducerEpoch)
			}
			h.out.WriteString("\n")
		}))
	case "written":
		id := c.String("id")
		mk, ok := h.markers[id]
		if !ok {
			c.Fatalf("no outstanding markers for %s", id)
		}
		tps := mk.Partitions
		if s := c.StringOr("tps", ""); s != "" {
			tps = parseTPs(c, s)
		}
		var e Effects
		for _, tp := range tps {
			e.merge(h.s.MarkerWritten(h.now, id, mk.ProducerID, mk.ProducerEpoch, tp))
		}
		left := mk.Partitions[:0:0]
		for _, tp := range mk.Partitions {
			if !containsTP(tps, tp) {
				left = append(left, tp)
			}
		}
		if mk.Partitions = left; len(left) == 0 {
			delete(h.markers, id)
		} else {
			h.markers[id] = mk
		}
		h.call(c, e)
	case "complete":
		if len(h.held) == 0 {
			c.Fatalf("nothing held")
		}
		e := h.held[0]
		h.held = h.held[1:]
		h.finish(c, e)
	case "tick":
		h.call(c, h.s.Tick(h.now))
	case "describe":
		d := h.s.Describe(c.String("id"))
		if d.ErrorCode != 0 {
			fmt.Fprintf(&out, "%s\n", codeName(d.ErrorCode))
			break
		}
		fmt.Fprintf(&out, "%s %s pid=%d epoch=%d timeout=%d start=%d", d.TransactionalID, d.State, d.ProducerID, d.ProducerEpoch, d.TimeoutMillis, d.StartTimestamp)
		for _, t := range d.Topics {
			fmt.Fprintf(&out, " %s%v", t.Topic, t.Partitions)
		}
		out.WriteString("\n")
	case "list":
		req := kmsg.NewPtrListTransactionsRequest()
		req.Version = int16(c.IntOr("v", 2))
		if s := c.StringOr("states", ""); s != "" {
			req.StateFilters = strings.Split(s, ",")
		}
		for _, p := range c.Int32sOr("pids", nil) {
			req.ProducerIDFilters = append(req.ProducerIDFilters, int64(p))
		}
		req.DurationFilterMillis = c.IntOr("duration", -1)
		if p := c.StringOr("pattern", ""); p != "" {
			req.TransactionalIDPattern = &p
		}
		states, unknown, err := h.s.List(h.now, req)
		if err != nil {
			fmt.Fprintf(&out, "%s\n", err.Message)
			break
		}
		for _, st := range states {
			fmt.Fprintf(&out, "%s %s pid=%d\n", st.TransactionalID, st.TransactionState, st.ProducerID)
		}
		if len(unknown) > 0 {
			fmt.Fprintf(&out, "unknown states %v\n", unknown)
		}
		if len(states) == 0 && len(unknown) == 0 {
			out.WriteString("none\n")
		}
	case "state":
		for _, id := range h.s.sortedIDs() {
			fmt.Fprintf(&out, "%s\n", h.s.txns[id])
		}
	case "restart":
		h.epoch = int32(c.IntOr("epoch", int64(h.epoch)+1))
		h.s = NewShard(h.cfg, h.epoch)
		h.held = nil
		h.markers = map[string]Marker{}
		for _, r := range h.log {
			if err := h.s.Replay(r); err != nil {
				c.Fatalf("replay: %v", err)
			}
		}
		h.printMarkers(h.s.LoadComplete(h.now))
	case "pids":
		h.pidErr = nil
		if name := c.StringOr("fail", ""); name != "" {
			h.pidErr = kafkaError(c, name)
		}
		c.Has("ok")
	case "log":
		for _, r := range h.log {
			fmt.Fprintf(&out, "%s\n", formatRecord(r))
		}
	default:
		c.Fatalf("unknown command %s", c.Cmd)
	}
	if out.Len() == 0 {
		return "ok\n"
	}
	return out.String()
}

// call prints a call's records and completes its effects, unless held.
func (h *harness) call(c *scripttest.Case, e Effects) {
	for _, r := range e.Records {
		fmt.Fprintf(h.out, "append %s\n", formatRecord(r))
	}
	if c.Has("hold") {
		h.held = append(h.held, e)
		h.out.WriteString("held\n")
		return
	}
	h.finish(c, e)
}

func (h *harness) finish(c *scripttest.Case, e Effects) {
	var err error
	if name := c.StringOr("err", ""); name != "" {
		err = kafkaError(c, name)
	}
	if err == nil {
		h.log = append(h.log, e.Records...)
	}
	h.printMarkers(e.Complete(err))
}

func (h *harness) printMarkers(ms []Marker) {
	for _, m := range ms {
		what := "abort"
		if m.Commit {
			what = "commit"
		}
		fmt.Fprintf(h.out, "markers %s %s pid=%d epoch=%d coordinator-epoch=%d %v\n", m.TransactionalID, what, m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Partitions)
		h.markers[m.TransactionalID] = m
	}
}

func formatRecord(r Record) string {
	id, err := DecodeKey(r.Key)
	if err != nil {
		return fmt.Sprintf("bad key: %v", err)
	}
	if r.Value == nil {
		return id + " tombstone"
	}
	v, err := DecodeValue(r.Value)
	if err != nil {
		return fmt.Sprintf("%s bad value: %v", id, err)
	}
	s := fmt.Sprintf("%s v%d %s pid=%d epoch=%d timeout=%d partitions=%v start=%d update=%d", id, r.Value[1], v.State, v.ProducerID, v.ProducerEpoch, v.TimeoutMs, v.Partitions, v.StartMs, v.LastUpdateMs)
	if r.Value[1] >= 1 {
		s += fmt.Sprintf(" prev-pid=%d next-pid=%d tv=%d", v.PreviousProducerID, v.NextProducerID, v.ClientTransactionVersion)
	}
	return s
}

func partitionCodes(topics []kmsg.AddPartitionsToTxnResponseTopic) string {
	var parts []string
	same, first := true, int16(-2)
	for _, t := range topics {
		for _, p := range t.Partitions {
			parts = append(parts, fmt.Sprintf("%s-%d=%s", t.Topic, p.Partition, codeName(p.ErrorCode)))
			if first == -2 {
				first = p.ErrorCode
			} else if p.ErrorCode != first {
				same = false
			}
		}
	}
	if same && first != -2 {
		return codeName(first)
	}
	return strings.Join(parts, " ")
}

func codeName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	var ke *kerr.Error
	if errors.As(kerr.ErrorForCode(code), &ke) {
		return ke.Message
	}
	return fmt.Sprintf("code %d", code)
}

func kafkaError(c *scripttest.Case, name string) error {
	for code := int16(-1); code < 200; code++ {
		var ke *kerr.Error
		if errors.As(kerr.ErrorForCode(code), &ke) && ke.Message == name {
			return ke
		}
	}
	c.Fatalf("unknown Kafka error %s", name)
	return nil
}

func parseTPs(c *scripttest.Case, s string) []TopicPartition {
	var out []TopicPartition
	for _, f := range strings.Split(strings.Trim(s, "[]"), ",") {
		i := strings.LastIndexByte(f, '-')
		var p int32
		if i <= 0 {
			c.Fatalf("partition %q is not topic-N", f)
		}
		if _, err := fmt.Sscanf(f[i+1:], "%d", &p); err != nil {
			c.Fatalf("partition %q: %v", f, err)
		}
		out = append(out, TopicPartition{f[:i], p})
	}
	return out
}

func containsTP(tps []TopicPartition, tp TopicPartition) bool {
	for _, x := range tps {
		if x == tp {
			return true
		}
	}
	return false
}
