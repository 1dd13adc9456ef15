package txn

import (
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func testShard(tv int16) (*Shard, *int64) {
	next := int64(1000)
	cfg := DefaultConfig()
	cfg.TransactionVersion = tv
	cfg.ProducerIDs = func() (int64, error) { next++; return next - 1, nil }
	s := NewShard(cfg, 1)
	s.LoadComplete(time.UnixMilli(0))
	return s, &next
}

func initTxn(t *testing.T, s *Shard, id string, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	req.TransactionalID = &id
	req.TransactionTimeoutMillis = 60000
	req.ProducerID, req.ProducerEpoch = pid, epoch
	var resp *kmsg.InitProducerIDResponse
	e := s.InitProducerID(time.UnixMilli(0), req, func(r *kmsg.InitProducerIDResponse) { resp = r })
	e.Complete(nil)
	return resp
}

// TestEpochExhaustion: at Short.MAX_VALUE - 1 InitProducerId rolls to a
// new producer id at epoch 0, keeping the old id as the previous one, so
// that a KIP-360 retry of the exhausted producer is recognised.
func TestEpochExhaustion(t *testing.T) {
	s, _ := testShard(0)
	initTxn(t, s, "t", -1, -1)
	s.txns["t"].epoch = math.MaxInt16 - 1
	r := initTxn(t, s, "t", -1, -1)
	if r.ErrorCode != 0 || r.ProducerID != 1001 || r.ProducerEpoch != 0 {
		t.Fatalf("roll: %+v", r)
	}
	if m := s.txns["t"]; m.prevProducerID != 1000 || m.lastEpoch != -1 {
		t.Fatalf("after roll: %v", m)
	}
	// KIP-360 form: the exhausted producer asks with its id and epoch.
	s.txns["t"].epoch = math.MaxInt16 - 1
	r = initTxn(t, s, "t", 1001, math.MaxInt16-1)
	if r.ErrorCode != 0 || r.ProducerID != 1002 || r.ProducerEpoch != 0 {
		t.Fatalf("KIP-360 roll: %+v", r)
	}
	if m := s.txns["t"]; m.prevProducerID != 1001 || m.lastEpoch != math.MaxInt16-1 {
		t.Fatalf("after KIP-360 roll: %v", m)
	}
	// Its retry (the answer was lost) names the previous id: accepted,
	// and answered with a bump of the current one.
	r = initTxn(t, s, "t", 1001, math.MaxInt16-1)
	if r.ErrorCode != 0 || r.ProducerID != 1002 {
		t.Fatalf("KIP-360 retry: %+v", r)
	}
}

// TestEndTxnV2Overflow: with transaction version 2, an EndTxn at an
// exhausted epoch takes the next producer id, which becomes the id once
// the transaction completes; a retry with the old id still succeeds.
func TestEndTxnV2Overflow(t *testing.T) {
	s, _ := testShard(2)
	initTxn(t, s, "t", -1, -1)
	m := s.txns["t"]
	m.epoch = math.MaxInt16 - 1
	add := kmsg.NewAddPartitionsToTxnRequestTransaction()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = "t", 1000, m.epoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "a", Partitions: []int32{0}}}
	e := s.AddPartitions(time.UnixMilli(0), 5, &add, func(kmsg.AddPartitionsToTxnResponseTransaction) {})
	e.Complete(nil)
	end := kmsg.NewPtrEndTxnRequest()
	end.Version, end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = 5, "t", 1000, math.MaxInt16-1, true
	var resp *kmsg.EndTxnResponse
	e = s.EndTxn(time.UnixMilli(0), end, func(r *kmsg.EndTxnResponse) { resp = r })
	markers := e.Complete(nil)
	if resp.ErrorCode != 0 || resp.ProducerEpoch != math.MaxInt16 || len(markers) != 1 || markers[0].ProducerEpoch != math.MaxInt16 {
		t.Fatalf("EndTxn: %+v, markers %+v", resp, markers)
	}
	if m.nextProducerID != 1001 {
		t.Fatalf("next producer id: %v", m)
	}
	e = s.MarkerWritten(time.UnixMilli(0), "t", 1000, math.MaxInt16, TopicPartition{"a", 0})
	e.Complete(nil)
	if m.producerID != 1001 || m.epoch != 0 || m.prevProducerID != 1000 || m.state != CompleteCommit {
		t.Fatalf("after completion: %v", m)
	}
	e = s.EndTxn(time.UnixMilli(0), end, func(r *kmsg.EndTxnResponse) { resp = r })
	e.Complete(nil)
	if resp.ErrorCode != 0 || resp.ProducerID != 1001 || resp.ProducerEpoch != 0 {
		t.Fatalf("retry: %+v", resp)
	}
}
