package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-streaming/samsa/internal/group"
	"github.com/samsa-streaming/samsa/internal/metadata"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/storage"
)

// tocBroker is a broker for the tests that drive TxnOffsetCommit with
// producer ids of their own, which no transaction coordinator knows: the
// KIP-890 verification, which would refuse them, is off
// (TestTxnOffsetCommitVerified tests it).
func tocBroker(t *testing.T) *testBroker {
	return groupBroker(t, "transaction.partition.verification.enable=false")
}

// tocCoordinatorRetriable are the codes a test retries while the group's
// coordinator loads.
func tocCoordinatorRetriable(code int16) bool {
	return code == kerr.CoordinatorLoadInProgress.Code || code == kerr.NotCoordinator.Code || code == kerr.CoordinatorNotAvailable.Code
}

// tocCommit sends a TxnOffsetCommit for producer pid at epoch and returns
// each partition's code, keyed "topic/partition"; mod changes the request.
func tocCommit(t *testing.T, cl *kgo.Client, groupID string, pid int64, epoch int16, offsets map[string]map[int32]int64, mod ...func(*kmsg.TxnOffsetCommitRequest)) map[string]int16 {
	t.Helper()
	codes, err := tocCommitErr(cl, groupID, pid, epoch, offsets, mod...)
	if err != nil {
		t.Fatalf("TxnOffsetCommit: %v", err)
	}
	return codes
}

// tocCommitErr is tocCommit for any goroutine.
func tocCommitErr(cl *kgo.Client, groupID string, pid int64, epoch int16, offsets map[string]map[int32]int64, mod ...func(*kmsg.TxnOffsetCommitRequest)) (map[string]int16, error) {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = "toc-txn", groupID, pid, epoch
	for topic, parts := range offsets {
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = topic
		for p, off := range parts {
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			md := fmt.Sprintf("pid %d", pid)
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p, off, 0, &md
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	for _, m := range mod {
		m(req)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		resp, err := req.RequestWith(ctx, cl)
		cancel()
		if err != nil {
			return nil, err
		}
		codes := map[string]int16{}
		retry := false
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				codes[fmt.Sprintf("%s/%d", rt.Topic, rp.Partition)] = rp.ErrorCode
				retry = retry || tocCoordinatorRetriable(rp.ErrorCode)
			}
		}
		if !retry || time.Now().After(deadline) {
			return codes, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tocOffset is one partition's OffsetFetch answer.
type tocOffset struct {
	Offset int64
	Code   int16
}

// tocFetch fetches the group's offsets of topic's partitions, with
// require_stable or not, retrying while the coordinator loads.
func tocFetch(t *testing.T, cl *kgo.Client, groupID string, stable bool, topic string, parts ...int32) map[int32]tocOffset {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.RequireStable = stable
	// Both forms: v8+ has groups, v7 one group (kgo fills the one its
	// version uses from the other only for some requests, so set both).
	req.Group = groupID
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, parts
	req.Topics = append(req.Topics, rt)
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = groupID
	gt := kmsg.NewOffsetFetchRequestGroupTopic()
	gt.Topic, gt.Partitions = topic, parts
	rg.Topics = append(rg.Topics, gt)
	req.Groups = append(req.Groups, rg)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := req.RequestWith(testCtx(t), cl)
		if err != nil {
			t.Fatalf("OffsetFetch: %v", err)
		}
		out := map[int32]tocOffset{}
		code := resp.ErrorCode
		if len(resp.Groups) > 0 {
			code = resp.Groups[0].ErrorCode
			for _, gt := range resp.Groups[0].Topics {
				for _, p := range gt.Partitions {
					out[p.Partition] = tocOffset{p.Offset, p.ErrorCode}
				}
			}
		} else {
			for _, rt := range resp.Topics {
				for _, p := range rt.Partitions {
					out[p.Partition] = tocOffset{p.Offset, p.ErrorCode}
				}
			}
		}
		if !tocCoordinatorRetriable(code) || time.Now().After(deadline) {
			if code != 0 {
				t.Fatalf("OffsetFetch: %v", kerr.ErrorForCode(code))
			}
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tocOffsetsPartition is the group's __consumer_offsets partition.
func tocOffsetsPartition(t *testing.T, tb *testBroker, groupID string) int32 {
	t.Helper()
	top := tb.srv.meta.Image().Topics[metadata.ConsumerOffsetsTopic]
	if top == nil {
		t.Fatal("no __consumer_offsets")
	}
	return group.PartitionFor(groupID, int32(len(top.Partitions)))
}

// tocMarker writes a COMMIT or ABORT marker of pid to the group's
// __consumer_offsets partition with WriteTxnMarkers, as the transaction
// coordinator would, and checks that it is written.
func tocMarker(t *testing.T, tb *testBroker, groupID string, pid int64, epoch int16, commit bool) {
	t.Helper()
	part := tocOffsetsPartition(t, tb, groupID)
	codes := wtmSend(t, tb.client().Broker(int(tb.srv.nodeID)), wtmMarker(pid, epoch, commit, 0, metadata.ConsumerOffsetsTopic, part))
	if code := codes[wtmKey(pid, metadata.ConsumerOffsetsTopic, part)]; code != 0 {
		t.Fatalf("marker of producer %d on %s-%d: %v", pid, metadata.ConsumerOffsetsTopic, part, kerr.ErrorForCode(code))
	}
}

// tocBatches lists the batches of a __consumer_offsets partition: for each,
// the producer id of a transactional batch, or "marker <pid>", or "plain".
func tocBatches(t *testing.T, tb *testBroker, part int32) []string {
	t.Helper()
	l := tb.srv.logs.Get(storage.TopicPartition{Topic: metadata.ConsumerOffsetsTopic, Partition: part})
	var out []string
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		rr, err := l.Read(off, 1<<20, -1, true)
		if err != nil || len(rr.Records) == 0 {
			t.Fatalf("reading __consumer_offsets-%d at %d: %v", part, off, err)
		}
		err = records.Split(rr.Records, func(_ []byte, h *records.Header) error {
			off = h.NextOffset()
			switch {
			case h.IsControl():
				out = append(out, fmt.Sprintf("marker %d", h.ProducerID))
			case h.IsTransactional():
				out = append(out, fmt.Sprintf("txn %d/%d", h.ProducerID, h.ProducerEpoch))
			default:
				out = append(out, "plain")
			}
			return nil
		})
		if err != nil && !errors.Is(err, records.ErrTruncated) {
			t.Fatal(err)
		}
	}
	return out
}

// TestTxnOffsetCommit: the offsets of a TxnOffsetCommit are written as a
// transactional batch of the producer to the group's __consumer_offsets
// partition and are pending (a fetch does not see them, a stable fetch is
// told UNSTABLE_OFFSET_COMMIT) until a COMMIT marker written there with
// WriteTxnMarkers makes them the group's offsets; an ABORT drops them.
func TestTxnOffsetCommit(t *testing.T) {
	tb := tocBroker(t)
	createTopic(t, tb, "toc", 3, nil)
	cl := tb.client()
	const g = "toc-group"

	codes := tocCommit(t, cl, g, 1000, 0, map[string]map[int32]int64{"toc": {0: 10, 1: 20, 7: 70}, "toc-missing": {0: 1}})
	want := map[string]int16{"toc/0": 0, "toc/1": 0, "toc/7": kerr.UnknownTopicOrPartition.Code, "toc-missing/0": kerr.UnknownTopicOrPartition.Code}
	if !maps.Equal(codes, want) {
		t.Fatalf("TxnOffsetCommit codes %v, want %v", codes, want)
	}
	part := tocOffsetsPartition(t, tb, g)
	if got := tocBatches(t, tb, part); len(got) != 1 || got[0] != "txn 1000/0" {
		t.Fatalf("__consumer_offsets-%d batches %v, want one transactional batch of producer 1000", part, got)
	}
	l := tb.srv.logs.Get(storage.TopicPartition{Topic: metadata.ConsumerOffsetsTopic, Partition: part})
	if lso := l.LastStableOffset(); lso != 0 {
		t.Errorf("LSO of __consumer_offsets-%d with the transaction open: %d, want 0", part, lso)
	}

	pendingWant := map[int32]tocOffset{0: {-1, kerr.UnstableOffsetCommit.Code}, 1: {-1, kerr.UnstableOffsetCommit.Code}, 2: {-1, 0}}
	if got := tocFetch(t, cl, g, false, "toc", 0, 1, 2); !maps.Equal(got, map[int32]tocOffset{0: {-1, 0}, 1: {-1, 0}, 2: {-1, 0}}) {
		t.Fatalf("fetch of pending offsets: %v", got)
	}
	if got := tocFetch(t, cl, g, true, "toc", 0, 1, 2); !maps.Equal(got, pendingWant) {
		t.Fatalf("stable fetch of pending offsets: %v, want %v", got, pendingWant)
	}
	// OffsetFetch v7 (one group per request) and TxnOffsetCommit v3.
	old := tb.client(kgo.MaxVersions(kversion.V2_5_0()))
	if got := tocFetch(t, old, g, true, "toc", 0, 1, 2); !maps.Equal(got, pendingWant) {
		t.Fatalf("stable fetch v7 of pending offsets: %v, want %v", got, pendingWant)
	}

	tocMarker(t, tb, g, 1000, 0, true)
	committed := map[int32]tocOffset{0: {10, 0}, 1: {20, 0}, 2: {-1, 0}}
	if got := tocFetch(t, cl, g, true, "toc", 0, 1, 2); !maps.Equal(got, committed) {
		t.Fatalf("offsets after the COMMIT: %v, want %v", got, committed)
	}
	if lso, leo := l.LastStableOffset(), l.LogEndOffset(); lso != leo {
		t.Errorf("LSO %d after the COMMIT, log end %d", lso, leo)
	}
	fo, err := tb.admin().FetchOffsets(testCtx(t), g)
	if err != nil || fo.Error() != nil {
		t.Fatalf("kadm fetch: %v %v", err, fo.Error())
	}
	if o, ok := fo.Lookup("toc", 1); !ok || o.At != 20 || o.Metadata != "pid 1000" {
		t.Fatalf("kadm fetch of toc/1: %+v %v", o, ok)
	}

	// The producer's next transaction, with TxnOffsetCommit v3 (member
	// fields, no member), is aborted: the committed offsets stay.
	if codes := tocCommit(t, old, g, 1000, 1, map[string]map[int32]int64{"toc": {0: 11, 2: 31}}); codes["toc/0"] != 0 || codes["toc/2"] != 0 {
		t.Fatalf("second transaction's commit: %v", codes)
	}
	if got := tocFetch(t, cl, g, true, "toc", 0, 1, 2); !maps.Equal(got, map[int32]tocOffset{0: {-1, kerr.UnstableOffsetCommit.Code}, 1: {20, 0}, 2: {-1, kerr.UnstableOffsetCommit.Code}}) {
		t.Fatalf("stable fetch with the second transaction open: %v", got)
	}
	tocMarker(t, tb, g, 1000, 1, false)
	if got := tocFetch(t, cl, g, true, "toc", 0, 1, 2); !maps.Equal(got, committed) {
		t.Fatalf("offsets after the ABORT: %v, want %v", got, committed)
	}
	// The log fences the producer's older epoch.
	if codes := tocCommit(t, cl, g, 1000, 0, map[string]map[int32]int64{"toc": {0: 12}}); codes["toc/0"] != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("commit at an older producer epoch: %v", kerr.ErrorForCode(codes["toc/0"]))
	}
	// A generation for a group that does not exist.
	if codes := tocCommit(t, cl, "toc-nobody", 1001, 0, map[string]map[int32]int64{"toc": {0: 1}}, func(r *kmsg.TxnOffsetCommitRequest) {
		r.Generation, r.MemberID = 3, "m"
	}); codes["toc/0"] != kerr.IllegalGeneration.Code {
		t.Fatalf("member commit to an unknown group: %v", kerr.ErrorForCode(codes["toc/0"]))
	}
	if got, want := tocBatches(t, tb, part), []string{"txn 1000/0", "marker 1000", "txn 1000/1", "marker 1000"}; !slices.Equal(got, want) {
		t.Fatalf("__consumer_offsets-%d batches %v, want %v", part, got, want)
	}

	// Advertised with Kafka 4.x's range.
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(testCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == int16(kmsg.TxnOffsetCommit) && (k.MinVersion != 0 || k.MaxVersion != 5) {
			t.Fatalf("TxnOffsetCommit advertised %d-%d, want 0-5", k.MinVersion, k.MaxVersion)
		}
	}
}

// TestTxnOffsetCommitOrderedWithCommits: a plain commit written after a
// transaction's offsets wins over them at the COMMIT, one written before
// loses, as in Kafka (the marker is applied in log order).
func TestTxnOffsetCommitOrderedWithCommits(t *testing.T) {
	tb := tocBroker(t)
	createTopic(t, tb, "toc", 2, nil)
	cl := tb.client()
	adm := tb.admin()
	const g = "toc-order"
	commit := func(p int32, at int64) {
		t.Helper()
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: "toc", Partition: p, At: at, LeaderEpoch: -1})
		resp, err := adm.CommitOffsets(testCtx(t), g, offs)
		if err != nil || resp.Error() != nil {
			t.Fatalf("commit: %v %v", err, resp.Error())
		}
	}
	commit(1, 100) // before the transaction's
	if codes := tocCommit(t, cl, g, 2000, 0, map[string]map[int32]int64{"toc": {0: 10, 1: 11}}); codes["toc/0"] != 0 || codes["toc/1"] != 0 {
		t.Fatalf("TxnOffsetCommit: %v", codes)
	}
	commit(0, 500) // after it
	tocMarker(t, tb, g, 2000, 0, true)
	if got, want := tocFetch(t, cl, g, true, "toc", 0, 1), map[int32]tocOffset{0: {500, 0}, 1: {11, 0}}; !maps.Equal(got, want) {
		t.Fatalf("offsets after the COMMIT: %v, want %v", got, want)
	}
	tb.restart()
	cl = tb.client()
	if got, want := tocFetch(t, cl, g, true, "toc", 0, 1), map[int32]tocOffset{0: {500, 0}, 1: {11, 0}}; !maps.Equal(got, want) {
		t.Fatalf("offsets after the restart: %v, want %v", got, want)
	}
}

// TestTxnOffsetsReplayedAfterRestart: a broker restart loads the group's
// partition with its transactions: a committed one's offsets are the
// group's, an aborted one's are gone, and an open one's are still pending
// and committed by a marker written after the restart.
func TestTxnOffsetsReplayedAfterRestart(t *testing.T) {
	tb := tocBroker(t)
	createTopic(t, tb, "toc", 3, nil)
	cl := tb.client()
	const g = "toc-replay"
	for _, c := range []struct {
		pid  int64
		part int32
		off  int64
	}{{3000, 0, 30}, {4000, 1, 40}, {5000, 2, 50}} {
		if codes := tocCommit(t, cl, g, c.pid, 0, map[string]map[int32]int64{"toc": {c.part: c.off}}); codes[fmt.Sprintf("toc/%d", c.part)] != 0 {
			t.Fatalf("TxnOffsetCommit of %d: %v", c.pid, codes)
		}
	}
	tocMarker(t, tb, g, 3000, 0, true)
	tocMarker(t, tb, g, 5000, 0, false)
	want := map[int32]tocOffset{0: {30, 0}, 1: {-1, kerr.UnstableOffsetCommit.Code}, 2: {-1, 0}}
	if got := tocFetch(t, cl, g, true, "toc", 0, 1, 2); !maps.Equal(got, want) {
		t.Fatalf("before the restart: %v, want %v", got, want)
	}

	tb.restart()
	cl = tb.client()
	if got := tocFetch(t, cl, g, true, "toc", 0, 1, 2); !maps.Equal(got, want) {
		t.Fatalf("after the restart: %v, want %v", got, want)
	}
	if got := tocFetch(t, cl, g, false, "toc", 1); got[1] != (tocOffset{-1, 0}) {
		t.Fatalf("plain fetch of the open transaction's partition after the restart: %v", got)
	}
	// The open transaction ends after the restart.
	tocMarker(t, tb, g, 4000, 0, true)
	want[1] = tocOffset{40, 0}
	if got := tocFetch(t, cl, g, true, "toc", 0, 1, 2); !maps.Equal(got, want) {
		t.Fatalf("after the COMMIT following the restart: %v, want %v", got, want)
	}
	tb.restart()
	if got := tocFetch(t, tb.client(), g, true, "toc", 0, 1, 2); !maps.Equal(got, want) {
		t.Fatalf("after a second restart: %v, want %v", got, want)
	}
}

// TestTxnOffsetMarkersConcurrentWithCommits: markers, transactional and
// plain commits to one group's partition race; whatever order they reach
// the log in, the offsets the coordinator serves are those a reload of
// that log gives (the marker is applied in log order).
func TestTxnOffsetMarkersConcurrentWithCommits(t *testing.T) {
	tb := tocBroker(t)
	createTopic(t, tb, "toc", 2, nil)
	const g, pid, rounds = "toc-race", 6000, 25
	// Load the shard before the race.
	if codes := tocCommit(t, tb.client(), g, pid, 0, map[string]map[int32]int64{"toc": {0: 1, 1: 1}}); codes["toc/0"] != 0 {
		t.Fatalf("TxnOffsetCommit: %v", codes)
	}
	errs := make(chan error, 3)
	run := func(f func(i int) error) {
		go func() {
			for i := range rounds {
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	txnCl, markerCl, adm := tb.client(), tb.client().Broker(int(tb.srv.nodeID)), tb.admin()
	part := tocOffsetsPartition(t, tb, g)
	ctx := testCtx(t)
	run(func(i int) error { // the producer's commits
		codes, err := tocCommitErr(txnCl, g, pid, 0, map[string]map[int32]int64{"toc": {0: int64(1000 + i), 1: int64(3000 + i)}})
		if err == nil && (codes["toc/0"] != 0 || codes["toc/1"] != 0) {
			err = fmt.Errorf("TxnOffsetCommit %d: %v", i, codes)
		}
		return err
	})
	run(func(i int) error { // its coordinator's markers
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		req.Markers = append(req.Markers, wtmMarker(pid, 0, true, 0, metadata.ConsumerOffsetsTopic, part))
		resp, err := req.RequestWith(ctx, markerCl)
		if err != nil {
			return err
		}
		if code := resp.Markers[0].Topics[0].Partitions[0].ErrorCode; code != 0 {
			return fmt.Errorf("marker %d: %v", i, kerr.ErrorForCode(code))
		}
		return nil
	})
	run(func(i int) error { // a plain committer
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: "toc", Partition: 0, At: int64(2000 + i), LeaderEpoch: -1})
		resp, err := adm.CommitOffsets(ctx, g, offs)
		if err == nil {
			err = resp.Error()
		}
		return err
	})
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The last commits of the producer may still be pending, or not:
	// the reload must find the same, committed and pending.
	cl := tb.client()
	stable, plain := tocFetch(t, cl, g, true, "toc", 0, 1), tocFetch(t, cl, g, false, "toc", 0, 1)
	tb.restart()
	cl = tb.client()
	if got := tocFetch(t, cl, g, true, "toc", 0, 1); !maps.Equal(got, stable) {
		t.Fatalf("reloaded offsets (stable fetch) %v, served before the restart %v", got, stable)
	}
	if got := tocFetch(t, cl, g, false, "toc", 0, 1); !maps.Equal(got, plain) {
		t.Fatalf("reloaded offsets %v, served before the restart %v", got, plain)
	}
	tocMarker(t, tb, g, pid, 0, true) // ends whatever is still pending
	if got := tocFetch(t, cl, g, true, "toc", 0, 1); got[1] != (tocOffset{3000 + rounds - 1, 0}) || got[0].Code != 0 {
		t.Fatalf("offsets after the last COMMIT: %v", got)
	}
	t.Logf("before the restart: stable %v, plain %v", stable, plain)
}

// TestTxnMarkerAppendsUnderGroupShard: a marker for __consumer_offsets is
// appended under the group shard's mutex, like the shard's own records, so
// that no offset commit of the shard lands between its append and its
// effect on the group's offsets.
func TestTxnMarkerAppendsUnderGroupShard(t *testing.T) {
	tb := tocBroker(t)
	createTopic(t, tb, "toc", 1, nil)
	const g, pid = "toc-lock", 7000
	if codes := tocCommit(t, tb.client(), g, pid, 0, map[string]map[int32]int64{"toc": {0: 5}}); codes["toc/0"] != 0 {
		t.Fatalf("TxnOffsetCommit: %v", codes)
	}
	part := tocOffsetsPartition(t, tb, g)
	sh := tb.srv.groups.shard(part)
	l := tb.srv.logs.Get(storage.TopicPartition{Topic: metadata.ConsumerOffsetsTopic, Partition: part})
	leo := l.LogEndOffset()

	sh.mu.Lock()
	done := make(chan map[string]int16, 1)
	cl := tb.client().Broker(int(tb.srv.nodeID))
	go func() {
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		req.Markers = append(req.Markers, wtmMarker(pid, 0, true, 0, metadata.ConsumerOffsetsTopic, part))
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil {
			done <- nil
			return
		}
		done <- map[string]int16{"code": resp.Markers[0].Topics[0].Partitions[0].ErrorCode}
	}()
	time.Sleep(300 * time.Millisecond)
	written := l.LogEndOffset() != leo
	sh.mu.Unlock()
	if written {
		t.Fatal("the marker was appended while the group shard's mutex was held")
	}
	if r := <-done; r == nil || r["code"] != 0 {
		t.Fatalf("marker: %v", r)
	}
	if got := tocFetch(t, tb.client(), g, true, "toc", 0); got[0] != (tocOffset{5, 0}) {
		t.Fatalf("offset after the COMMIT: %v", got)
	}
}

// TestTxnOffsetsExactlyOnceWithKgo: franz-go's GroupTransactSession
// consumes in a group (classic protocol) and produces in transactions
// whose offsets it commits with TxnOffsetCommit (its member and generation
// checked): a committed transaction moves the group's offsets with its
// records, an aborted one moves neither.
func TestTxnOffsetsExactlyOnceWithKgo(t *testing.T) {
	tb := groupBroker(t)
	createTopic(t, tb, "eos-in", 2, nil)
	createTopic(t, tb, "eos-out", 2, nil)
	ctx := testCtx(t)
	const g = "eos-group"
	produceN(t, tb.client(), "eos-in", 20)

	session := func() *kgo.GroupTransactSession {
		t.Helper()
		sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(tb.srv.Addr()),
			kgo.TransactionalID("eos-txn"), kgo.TransactionTimeout(30*time.Second),
			kgo.ConsumerGroup(g), kgo.ConsumeTopics("eos-in"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(),
			kgo.DefaultProduceTopic("eos-out"))
		if err != nil {
			t.Fatal(err)
		}
		return sess
	}
	// One transaction per poll: the records copied, the offsets with them.
	copyRecords := func(sess *kgo.GroupTransactSession, want int, commit bool) {
		t.Helper()
		for got := 0; got < want; {
			fs := sess.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				t.Fatalf("poll: %v", err)
			}
			if fs.NumRecords() == 0 {
				continue
			}
			if err := sess.Begin(); err != nil {
				t.Fatalf("begin: %v", err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				got++
				sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
					// An abort may fail the records still buffered.
					if err != nil && commit {
						t.Errorf("produce: %v", err)
					}
				})
			})
			committed, err := sess.End(ctx, kgo.TransactionEndTry(commit))
			if err != nil || committed != commit {
				t.Fatalf("end (commit %v): committed %v, %v", commit, committed, err)
			}
		}
	}
	sess := session()
	copyRecords(sess, 20, true)
	sess.Close()

	inEnds, err := tb.admin().ListEndOffsets(ctx, "eos-in")
	if err != nil {
		t.Fatal(err)
	}
	checkOffsets := func(when string) {
		t.Helper()
		for p := int32(0); p < 2; p++ {
			end, _ := inEnds.Lookup("eos-in", p)
			if got := tocFetch(t, tb.client(), g, true, "eos-in", p); got[p] != (tocOffset{end.Offset, 0}) {
				t.Fatalf("%s: eos-in/%d committed %v, want %d", when, p, got[p], end.Offset)
			}
		}
	}
	checkOffsets("after the committed transactions")
	if out := wtmPoll(t, tb, "eos-out", 20, 10*time.Second); len(out) != 20 {
		t.Fatalf("read_committed eos-out has %d records, want 20", len(out))
	}

	// An aborted transaction over 5 more records.
	produceN(t, tb.client(), "eos-in", 5)
	sess = session()
	copyRecords(sess, 5, false)
	sess.Close()
	checkOffsets("after the aborted transaction")
	if out := wtmPoll(t, tb, "eos-out", 21, 2*time.Second); len(out) != 20 {
		t.Fatalf("read_committed eos-out has %d records after the abort, want 20", len(out))
	}
}

// TestTxnOffsetCommitVerified: KIP-890 part 1 for TxnOffsetCommit. The
// offsets of a producer whose transaction does not include the group's
// partition (no AddOffsetsToTxn) are refused, and nothing is appended to
// __consumer_offsets; after AddOffsetsToTxn they are taken.
func TestTxnOffsetCommitVerified(t *testing.T) {
	tb := groupBroker(t)
	createTopic(t, tb, "tocv", 1, nil)
	ctx := testCtx(t)
	cl := tb.client()
	id := "toc-txn" // tocCommit's transactional id
	pid, epoch := initTxnWire(t, ctx, cl, id)
	const g = "tocv-group"
	// Start a transaction with a data partition only.
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = "tocv", []int32{0}
	add.Topics = append(add.Topics, rt)
	if resp, err := add.RequestWith(ctx, cl); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("AddPartitionsToTxn: %v %+v", err, resp)
	}
	// The group's partition exists once its coordinator is found.
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = g
	if _, err := fc.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	offs := map[string]map[int32]int64{"tocv": {0: 5}}
	capped := func(v int16) *kgo.Client {
		vs := kversion.V4_0_0()
		vs.SetMaxKeyVersion(int16(kmsg.TxnOffsetCommit), v)
		return tb.client(kgo.MaxVersions(vs))
	}
	// v4 answers TRANSACTION_ABORTABLE; v3 knows only INVALID_TXN_STATE.
	if codes := tocCommit(t, capped(4), g, pid, epoch, offs); codes["tocv/0"] != kerr.TransactionAbortable.Code {
		t.Fatalf("TxnOffsetCommit v4 without AddOffsetsToTxn: %v", codes)
	}
	if codes := tocCommit(t, capped(3), g, pid, epoch, offs); codes["tocv/0"] != kerr.InvalidTxnState.Code {
		t.Fatalf("TxnOffsetCommit v3 without AddOffsetsToTxn: %v", codes)
	}
	ao := kmsg.NewPtrAddOffsetsToTxnRequest()
	ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = id, pid, epoch, g
	if resp, err := ao.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn: %v %+v", err, resp)
	}
	if codes := tocCommit(t, capped(4), g, pid, epoch, offs); codes["tocv/0"] != 0 {
		t.Fatalf("TxnOffsetCommit after AddOffsetsToTxn: %v", codes)
	}
	// v5 is verified as v4 is below transaction.version 2; at 2
	// (KIP-890 part 2) it adds the group's partition itself: a second
	// transaction, never given AddOffsetsToTxn, takes it.
	id2 := "toc-txn-2"
	pid2, epoch2 := initTxnWire(t, ctx, cl, id2)
	as2 := func(r *kmsg.TxnOffsetCommitRequest) { r.TransactionalID = id2 }
	if codes := tocCommit(t, capped(5), g, pid2, epoch2, offs, as2); codes["tocv/0"] != kerr.TransactionAbortable.Code {
		t.Fatalf("TxnOffsetCommit v5 at transaction.version 0 without AddOffsetsToTxn: %v", codes)
	}
	uf := kmsg.NewPtrUpdateFeaturesRequest()
	fu := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
	fu.Feature, fu.MaxVersionLevel, fu.UpgradeType = "transaction.version", 2, 1
	uf.FeatureUpdates = append(uf.FeatureUpdates, fu)
	if resp, err := uf.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("finalizing transaction.version 2: %v %+v", err, resp)
	}
	for deadline := time.Now().Add(5 * time.Second); tb.srv.txnVersion() != 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("transaction.version 2 not applied")
		}
	}
	codes := tocCommit(t, capped(5), g, pid2, epoch2, offs, as2)
	if codes["tocv/0"] != 0 {
		t.Fatalf("TxnOffsetCommit v5 without AddOffsetsToTxn: %v", codes)
	}
	dt, err := kadm.NewClient(cl).DescribeTransactions(ctx, id2)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := dt.On(id2, nil)
	if d.State != "Ongoing" || len(d.Topics[metadata.ConsumerOffsetsTopic]) != 1 {
		t.Fatalf("transaction after TxnOffsetCommit v5: %+v", d)
	}
	// Another producer id, never initialized: refused.
	if codes := tocCommit(t, cl, g, pid+1000, 0, offs); codes["tocv/0"] != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("TxnOffsetCommit of an unknown producer: %v", codes)
	}
}
