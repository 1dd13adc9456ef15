package metadata

import (
	"bytes"
	"io"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// reopen closes n and opens a node on the same directory with a fresh
// listener.
func reopen(t *testing.T, n *Node, dir string) *Node {
	t.Helper()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	return openReady(t, persistConfig(t, dir))
}

// persistConfig keeps a single log entry after a snapshot, so a restart
// after a snapshot must start from it.
func persistConfig(t *testing.T, dir string) Config {
	cfg := testConfig(t, dir, 0)
	cfg.TrailingLogs = 1
	return cfg
}

func topicIDs(im *Image) map[string][16]byte {
	ids := map[string][16]byte{}
	for name, tp := range im.Topics {
		ids[name] = tp.ID
	}
	return ids
}

func TestPersistence(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	n := openReady(t, persistConfig(t, dir))
	registerBrokers(t, n, 0)
	ctx := ctxT(t)
	for _, name := range []string{"a", "b", "c"} {
		if r := createOne(t, n, TopicSpec{Name: name, NumPartitions: 2, ReplicationFactor: 1, Configs: map[string]*string{"retention.ms": strp("99")}}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if err := n.AlterConfigs(ctx, ConfigResource{Type: ConfigResourceBroker}, []ConfigOp{{Name: "log.retention.ms", Value: strp("5")}}, false, false); err != nil {
		t.Fatal(err)
	}
	first, count, err := n.AllocateProducerIDs(ctx)
	if err != nil || first != 0 || count != ProducerIDBlockSize {
		t.Fatalf("first block %d %d %v", first, count, err)
	}
	before := n.Image()

	check := func(n *Node, want *Image) {
		t.Helper()
		im := n.Image()
		if im.ClusterID != want.ClusterID || im.NextProducerID != want.NextProducerID {
			t.Fatalf("cluster id %q/%q next pid %d/%d", im.ClusterID, want.ClusterID, im.NextProducerID, want.NextProducerID)
		}
		if !reflect.DeepEqual(topicIDs(im), topicIDs(want)) {
			t.Fatalf("topics %v, want %v", topicIDs(im), topicIDs(want))
		}
		for name, tp := range want.Topics {
			got := im.Topic(name)
			if !reflect.DeepEqual(got.Configs, tp.Configs) || len(got.Partitions) != len(tp.Partitions) {
				t.Fatalf("topic %s: %+v, want %+v", name, got, tp)
			}
		}
		if !reflect.DeepEqual(im.Configs, want.Configs) || !reflect.DeepEqual(im.Brokers, want.Brokers) {
			t.Fatalf("configs %v brokers %v", im.Configs, im.Brokers)
		}
	}

	// Restart replays the log.
	n = reopen(t, n, dir)
	check(n, before)
	first, _, err = n.AllocateProducerIDs(ctx)
	if err != nil || first != 1000 {
		t.Fatalf("block after restart: %d %v", first, err)
	}

	// Restart from a snapshot plus the entries after it.
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if r := n.DeleteTopics(ctx, []string{"b"}, nil)[0]; r.Err != nil {
		t.Fatal(r.Err)
	}
	if err := n.CreatePartitions(ctx, "c", 3, nil, false); err != nil {
		t.Fatal(err)
	}
	before = n.Image()
	n = reopen(t, n, dir)
	check(n, before)
	first, _, err = n.AllocateProducerIDs(ctx)
	if err != nil || first != 2000 {
		t.Fatalf("block after snapshot restart: %d %v", first, err)
	}

	// A snapshot as the last thing before a restart.
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if first, err := n.logs.FirstIndex(); err != nil || first < n.Image().Offset {
		t.Fatalf("log not compacted by the snapshot: first index %d, image at %d (%v)", first, n.Image().Offset, err)
	}
	before = n.Image()
	n = reopen(t, n, dir)
	check(n, before)
	if first, _, err = n.AllocateProducerIDs(ctx); err != nil || first != 3000 {
		t.Fatalf("block after second snapshot restart: %d %v", first, err)
	}
}

type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { return nil }

var _ raft.SnapshotSink = (*memSink)(nil)

func TestRestoreFromSnapshot(t *testing.T) {
	im := baseImage(t)
	im = mustApply(t, im, 4, &ConfigRecord{ResourceType: ConfigResourceBroker, Name: "k", Value: strp("v")},
		&ProducerIDsRecord{NextBlockStart: 3000})
	src := &fsm{st: &state{}, log: testLogger()}
	src.st.image.Store(im)
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	dst := &fsm{st: &state{}, log: testLogger()}
	cur := emptyImage()
	cur.ControllerID = 7
	dst.st.image.Store(cur)
	var notified []*Image
	dst.st.subscribe(func(prev, next *Image, _ *Delta) {
		if len(notified) == 0 && (prev != nil || next != cur) {
			t.Errorf("first call (%p, %p), want (nil, %p)", prev, next, cur)
		}
		notified = append(notified, next)
	})
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	got := dst.st.image.Load()
	if !bytes.Equal(mustJSON(t, newSnapshotImage(got)), mustJSON(t, newSnapshotImage(im))) {
		t.Fatalf("restored image differs:\n%s\n%s", mustJSON(t, newSnapshotImage(got)), mustJSON(t, newSnapshotImage(im)))
	}
	if got.TopicByID(idA) != got.Topic("a") || got.ControllerID != 7 || got.Offset != 4 {
		t.Fatalf("restored image: %+v", got)
	}
	if len(notified) != 2 || notified[1] != got {
		t.Fatalf("subscriber calls %d", len(notified))
	}
	// The restored image applies further records like the original.
	if _, _, err := applyBatch(got, 5, []Record{&PartitionChangeRecord{TopicID: idA, Partition: 1, Leader: i32p(0)}}); err != nil {
		t.Fatal(err)
	}
	// Corrupt snapshots fail.
	for _, bad := range []string{"{", `{"Version":99}`, `{"Version":1,"Topics":[{"Name":"x","Partitions":[{"Partition":3}]}]}`} {
		if err := dst.Restore(io.NopCloser(bytes.NewReader([]byte(bad)))); err == nil {
			t.Errorf("restore of %s succeeded", bad)
		}
	}
}

func TestFSMApplyError(t *testing.T) {
	st := &state{}
	st.image.Store(baseImage(t))
	f := &fsm{st: st, log: testLogger()}
	data, err := EncodeBatch([]Record{&TopicRecord{Name: "a", ID: [16]byte{8}}})
	if err != nil {
		t.Fatal(err)
	}
	resp := f.Apply(&raft.Log{Index: 10, Type: raft.LogCommand, Data: data})
	if err, ok := resp.(error); !ok || err == nil {
		t.Fatalf("apply response %v", resp)
	}
	if im := st.image.Load(); im.Offset != 10 || im.Topic("a").ID != idA {
		t.Fatalf("image after failed apply: offset %d", im.Offset)
	}
	if resp := f.Apply(&raft.Log{Index: 11, Type: raft.LogCommand, Data: []byte("garbage")}); resp == nil {
		t.Fatal("garbage applied")
	}
}
