package broker

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
	"github.com/samsa-streaming/samsa/internal/txn"
)

// txnDo runs one call on the transactional id's shard, retrying while the
// shard loads (or the topic is not applied yet).
func txnDo(t *testing.T, tb *testBroker, id string, fn func(now time.Time, sm *txn.Shard) txn.Effects) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := tb.srv.txns.do(id, fn)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction coordinator for %q: %v", id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// txnInit runs InitProducerID for id until it is not answered
// COORDINATOR_LOAD_IN_PROGRESS (no producer id block at hand yet).
func txnInit(t *testing.T, tb *testBroker, id string) (int64, int16) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.SetVersion(4)
		req.TransactionalID = &id
		req.TransactionTimeoutMillis = 60000
		req.ProducerID, req.ProducerEpoch = -1, -1
		var resp *kmsg.InitProducerIDResponse
		txnDo(t, tb, id, func(now time.Time, sm *txn.Shard) txn.Effects {
			return sm.InitProducerID(now, req, func(r *kmsg.InitProducerIDResponse) { resp = r })
		})
		if resp == nil {
			t.Fatal("InitProducerID not answered with the append")
		}
		if resp.ErrorCode == 0 {
			return resp.ProducerID, resp.ProducerEpoch
		}
		if resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code || time.Now().After(deadline) {
			t.Fatalf("InitProducerID: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func txnDescribe(t *testing.T, tb *testBroker, id string) kmsg.DescribeTransactionsResponseTransactionState {
	t.Helper()
	var st kmsg.DescribeTransactionsResponseTransactionState
	txnDo(t, tb, id, func(_ time.Time, sm *txn.Shard) txn.Effects {
		st = sm.Describe(id)
		return txn.Effects{}
	})
	return st
}

// TestTxnCoordinatorRuntime drives a transaction coordinator shard through
// the runtime (clients cannot reach it yet): its records reach
// __transaction_state, the marker sender commits the transaction on the
// data partition, and a restart reloads the id.
func TestTxnCoordinatorRuntime(t *testing.T) {
	tb := startBroker(t, "transaction.state.log.num.partitions=2")
	createTopic(t, tb, "tcr", 1, nil)
	p := wtmLeader(t, tb, "tcr", 0)
	if err := tb.srv.txns.ensureTxnTopic(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := tb.srv.txns.ensureTxnTopic(testCtx(t)); err != nil {
		t.Fatalf("second ensureTxnTopic: %v", err)
	}
	const id = "tcr-producer"

	pid, epoch := txnInit(t, tb, id)
	if pid < 0 || epoch != 0 {
		t.Fatalf("first InitProducerID: id %d epoch %d, want a new id at epoch 0", pid, epoch)
	}
	pid2, epoch2 := txnInit(t, tb, id)
	if pid2 != pid || epoch2 != 1 {
		t.Fatalf("second InitProducerID: id %d epoch %d, want id %d epoch 1", pid2, epoch2, pid)
	}
	part := txn.PartitionFor(id, 2)
	tsp := wtmLeader(t, tb, metadata.TransactionStateTopic, part)
	afterInit := tsp.Log.LogEndOffset()
	if afterInit < 2 {
		t.Fatalf("__transaction_state-%d log end %d after two InitProducerID, want >= 2", part, afterInit)
	}

	// The producer's transactional batch, then the partition joins the
	// transaction.
	wtmTxnBatch(t, p, pid, epoch2, 0, "t1", "t2")
	at := kmsg.NewAddPartitionsToTxnRequestTransaction()
	at.TransactionalID, at.ProducerID, at.ProducerEpoch = id, pid, epoch2
	rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	rt.Topic, rt.Partitions = "tcr", []int32{0}
	at.Topics = append(at.Topics, rt)
	var added *kmsg.AddPartitionsToTxnResponseTransaction
	txnDo(t, tb, id, func(now time.Time, sm *txn.Shard) txn.Effects {
		return sm.AddPartitions(now, 3, &at, func(r kmsg.AddPartitionsToTxnResponseTransaction) { added = &r })
	})
	if added == nil || len(added.Topics) != 1 || len(added.Topics[0].Partitions) != 1 || added.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("AddPartitions: %+v", added)
	}
	if lso := p.Log.LastStableOffset(); lso != 0 {
		t.Fatalf("LSO %d with the transaction open, want 0", lso)
	}

	end := kmsg.NewPtrEndTxnRequest()
	end.SetVersion(3)
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, pid, epoch2, true
	var ended *kmsg.EndTxnResponse
	txnDo(t, tb, id, func(now time.Time, sm *txn.Shard) txn.Effects {
		return sm.EndTxn(now, end, func(r *kmsg.EndTxnResponse) { ended = r })
	})
	if ended == nil || ended.ErrorCode != 0 {
		t.Fatalf("EndTxn: %+v", ended)
	}

	// The marker sender writes the COMMIT marker; its report completes
	// the transaction in the shard.
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := txnDescribe(t, tb, id)
		if st.State == "CompleteCommit" && p.Log.LastStableOffset() == p.Log.LogEndOffset() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction state %q, data LSO %d LEO %d: the commit did not complete", st.State, p.Log.LastStableOffset(), p.Log.LogEndOffset())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if leo := p.Log.LogEndOffset(); leo != 3 {
		t.Errorf("tcr-0 log end %d, want 3 (2 records, the marker)", leo)
	}
	got := wtmPoll(t, tb, "tcr", 2, 10*time.Second)
	if !slices.Equal(got, []string{"t1", "t2"}) {
		t.Fatalf("read_committed read %v, want t1 t2", got)
	}
	// AddPartitions, PrepareCommit and CompleteCommit were appended.
	if leo := tsp.Log.LogEndOffset(); leo < afterInit+3 {
		t.Errorf("__transaction_state-%d log end %d, want >= %d", part, leo, afterInit+3)
	}

	// A restart replays __transaction_state: the id is back with its
	// producer id and epoch.
	tb.restart()
	st := txnDescribe(t, tb, id)
	if st.ErrorCode != 0 || st.ProducerID != pid || st.ProducerEpoch != epoch2 || st.State != "CompleteCommit" {
		t.Fatalf("after restart: %+v, want id %d epoch %d CompleteCommit", st, pid, epoch2)
	}
	// The next InitProducerID continues from the reloaded epoch.
	if pid3, epoch3 := txnInit(t, tb, id); pid3 != pid || epoch3 != 2 {
		t.Fatalf("InitProducerID after restart: id %d epoch %d, want id %d epoch 2", pid3, epoch3, pid)
	}
}

// TestTxnCoordinatorResendsMarkersOnLoad: a transaction whose COMMIT
// marker cannot be written yet (the data partition wants two in-sync
// replicas on one broker) stays in PrepareCommit across a restart; the
// reload resends its marker, which is written once the partition accepts
// it, and the transaction completes.
func TestTxnCoordinatorResendsMarkersOnLoad(t *testing.T) {
	tb := startBroker(t, "transaction.state.log.num.partitions=1")
	createTopic(t, tb, "tcr-isr", 1, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")})
	p := wtmLeader(t, tb, "tcr-isr", 0)
	if err := tb.srv.txns.ensureTxnTopic(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	const id = "tcr-resend"
	pid, epoch := txnInit(t, tb, id)
	// acks=1: the data batch needs no second replica.
	wtmTxnBatch(t, p, pid, epoch, 0, "r1")
	at := kmsg.NewAddPartitionsToTxnRequestTransaction()
	at.TransactionalID, at.ProducerID, at.ProducerEpoch = id, pid, epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	rt.Topic, rt.Partitions = "tcr-isr", []int32{0}
	at.Topics = append(at.Topics, rt)
	var added *kmsg.AddPartitionsToTxnResponseTransaction
	txnDo(t, tb, id, func(now time.Time, sm *txn.Shard) txn.Effects {
		return sm.AddPartitions(now, 3, &at, func(r kmsg.AddPartitionsToTxnResponseTransaction) { added = &r })
	})
	if added == nil || added.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("AddPartitions: %+v", added)
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.SetVersion(3)
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, pid, epoch, true
	var ended *kmsg.EndTxnResponse
	txnDo(t, tb, id, func(now time.Time, sm *txn.Shard) txn.Effects {
		return sm.EndTxn(now, end, func(r *kmsg.EndTxnResponse) { ended = r })
	})
	if ended == nil || ended.ErrorCode != 0 {
		t.Fatalf("EndTxn: %+v", ended)
	}
	time.Sleep(300 * time.Millisecond)
	if st := txnDescribe(t, tb, id); st.State != "PrepareCommit" {
		t.Fatalf("state %q while the marker cannot be written, want PrepareCommit", st.State)
	}

	tb.restart()
	if st := txnDescribe(t, tb, id); st.State != "PrepareCommit" {
		t.Fatalf("state %q after restart, want PrepareCommit", st.State)
	}
	if _, err := tb.admin().AlterTopicConfigs(testCtx(t), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "min.insync.replicas", Value: kmsg.StringPtr("1")}}, "tcr-isr"); err != nil {
		t.Fatal(err)
	}
	p = wtmLeader(t, tb, "tcr-isr", 0)
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := txnDescribe(t, tb, id)
		if st.State == "CompleteCommit" && p.Log.LastStableOffset() == p.Log.LogEndOffset() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state %q, LSO %d LEO %d: the resent marker did not complete the commit", st.State, p.Log.LastStableOffset(), p.Log.LogEndOffset())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := wtmPoll(t, tb, "tcr-isr", 1, 10*time.Second); !slices.Equal(got, []string{"r1"}) {
		t.Fatalf("read_committed read %v, want r1", got)
	}
}
