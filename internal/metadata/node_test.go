package metadata

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// registerBrokers registers brokers and unfences them with a caught-up
// heartbeat each, as their own processes would.
func registerBrokers(t *testing.T, n *Node, ids ...int32) {
	t.Helper()
	for _, id := range ids {
		if err := registerUnfenced(ctxT(t), n, id); err != nil {
			t.Fatal(err)
		}
	}
}

func registerUnfenced(ctx context.Context, n *Node, id int32) error {
	epoch, err := n.RegisterBroker(ctx, BrokerRegistration{ID: id, IncarnationID: [16]byte{byte(id), 1}, Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "localhost", Port: 9092 + id}}})
	if err != nil {
		return err
	}
	resp, err := n.BrokerHeartbeat(ctx, HeartbeatRequest{ID: id, Epoch: epoch, MetadataOffset: n.Image().Offset})
	if err != nil {
		return err
	}
	if resp.IsFenced || !resp.IsCaughtUp {
		return fmt.Errorf("broker %d after its first heartbeat: %+v", id, resp)
	}
	return nil
}

func createOne(t *testing.T, n *Node, spec TopicSpec) TopicResult {
	t.Helper()
	return n.CreateTopics(ctxT(t), []TopicSpec{spec}, false)[0]
}

func TestSingleNodeStart(t *testing.T) {
	checkLeaks(t)
	start := time.Now()
	n := openReady(t, testConfig(t, t.TempDir(), 0))
	t.Logf("ready after %v", time.Since(start))
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("single node took %v to be ready", d)
	}
	if !n.IsController() || n.ControllerID() != 0 {
		t.Fatalf("controller %v %d", n.IsController(), n.ControllerID())
	}
	im := n.Image()
	if len(im.ClusterID) != 22 {
		t.Fatalf("cluster id %q", im.ClusterID)
	}
	eventually(t, 2*time.Second, "controller id in image", func() bool { return n.Image().ControllerID == 0 })
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal("second close:", err)
	}
}

func TestCreateTopics(t *testing.T) {
	checkLeaks(t)
	n := openReady(t, testConfig(t, t.TempDir(), 0))
	var calls []string
	n.Subscribe(func(prev, next *Image, _ *Delta) {
		for name := range next.Topics {
			if prev == nil || prev.Topics[name] == nil {
				calls = append(calls, name)
			}
		}
	})

	// No brokers registered yet: nothing can be placed.
	if r := createOne(t, n, TopicSpec{Name: "early", NumPartitions: 1, ReplicationFactor: 1}); !errors.Is(r.Err, ErrInvalidReplicationFactor) {
		t.Fatalf("no brokers: %v", r.Err)
	}
	registerBrokers(t, n, 0)

	res := n.CreateTopics(ctxT(t), []TopicSpec{
		{Name: "t1", NumPartitions: 3, ReplicationFactor: 1, Configs: map[string]*string{"cleanup.policy": strp("compact")}},
		{Name: "t.x", NumPartitions: -1, ReplicationFactor: -1},
		{Name: "t_x", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "dup", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "dup", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "rf2", NumPartitions: 1, ReplicationFactor: 2},
		{Name: "p0", NumPartitions: 0, ReplicationFactor: 1},
		{Name: "bad name", NumPartitions: 1, ReplicationFactor: 1},
		{Name: ConsumerOffsetsTopic, NumPartitions: 1, ReplicationFactor: 1},
		{Name: TransactionStateTopic, NumPartitions: 2, ReplicationFactor: 1, Internal: true},
		{Name: "badcfg", NumPartitions: 1, ReplicationFactor: 1, Configs: map[string]*string{"retention.ms": strp("soon")}},
		{Name: "nullcfg", NumPartitions: 1, ReplicationFactor: 1, Configs: map[string]*string{"retention.ms": nil}},
		{Name: "assigned", Assignment: map[int32][]int32{0: {0}, 1: {0}}, NumPartitions: -1, ReplicationFactor: -1},
		{Name: "assigned-unknown", Assignment: map[int32][]int32{0: {0}, 1: {7}}},
		{Name: "assigned-and-count", Assignment: map[int32][]int32{0: {0}}, NumPartitions: 1},
	}, false)
	want := []error{nil, nil, ErrTopicCollision, ErrInvalidRequest, ErrInvalidRequest, ErrInvalidReplicationFactor,
		ErrInvalidPartitions, ErrInvalidTopic, ErrInvalidTopic, nil, ErrInvalidConfig, ErrInvalidConfig, nil,
		ErrInvalidReplicaAssignment, ErrInvalidRequest}
	for i, r := range res {
		if want[i] == nil && r.Err != nil || want[i] != nil && !errors.Is(r.Err, want[i]) {
			t.Errorf("%s: got %v, want %v", r.Name, r.Err, want[i])
		}
		if (r.Err == nil) == (r.ID == [16]byte{}) {
			t.Errorf("%s: id %v with error %v", r.Name, r.ID, r.Err)
		}
	}
	if res[1].NumPartitions != 1 || res[1].ReplicationFactor != 1 || res[0].NumPartitions != 3 || res[12].NumPartitions != 2 {
		t.Errorf("resolved counts: %+v %+v %+v", res[0], res[1], res[12])
	}
	if !strings.Contains(res[2].Err.Error(), `"t.x"`) {
		t.Errorf("collision message %q does not name t.x", res[2].Err)
	}
	if !strings.Contains(res[10].Err.Error(), "soon") {
		t.Errorf("validator message lost: %q", res[10].Err)
	}

	im := n.Image()
	t1 := im.Topic("t1")
	if t1 == nil || t1.ID != res[0].ID || len(t1.Partitions) != 3 || t1.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("t1: %+v", t1)
	}
	for _, p := range t1.Partitions {
		if p.Leader != 0 || !slices.Equal(p.Replicas, []int32{0}) || !slices.Equal(p.ISR, []int32{0}) || p.LeaderEpoch != 0 {
			t.Fatalf("t1 partition %+v", p)
		}
	}
	if len(im.Topic("t.x").Partitions) != 1 || len(im.Topic("assigned").Partitions) != 2 || len(im.Topic(TransactionStateTopic).Partitions) != 2 {
		t.Fatal("partition counts")
	}
	for _, name := range []string{"t_x", "dup", "rf2", "p0", ConsumerOffsetsTopic, "badcfg", "assigned-unknown"} {
		if im.Topic(name) != nil {
			t.Errorf("%s was created", name)
		}
	}
	slices.Sort(calls)
	if !slices.Equal(calls, []string{TransactionStateTopic, "assigned", "t.x", "t1"}) {
		t.Errorf("subscriber saw %v", calls)
	}

	// Existing and validate-only.
	if r := createOne(t, n, TopicSpec{Name: "t1", NumPartitions: 1, ReplicationFactor: 1}); !errors.Is(r.Err, ErrTopicExists) {
		t.Fatalf("exists: %v", r.Err)
	}
	if r := n.CreateTopics(ctxT(t), []TopicSpec{{Name: "v", NumPartitions: -1, ReplicationFactor: 1}}, true)[0]; r.Err != nil || n.Image().Topic("v") != nil || r.NumPartitions != 1 || r.ID != ([16]byte{}) {
		t.Fatalf("validate only: %v", r.Err)
	}
	if r := n.CreateTopics(ctxT(t), []TopicSpec{{Name: "v", NumPartitions: 1, ReplicationFactor: 3}}, true)[0]; !errors.Is(r.Err, ErrInvalidReplicationFactor) {
		t.Fatalf("validate only, bad rf: %v", r.Err)
	}
}

func TestCreatePartitionsAndDelete(t *testing.T) {
	checkLeaks(t)
	n := openReady(t, testConfig(t, t.TempDir(), 0))
	registerBrokers(t, n, 0)
	t1 := createOne(t, n, TopicSpec{Name: "t1", NumPartitions: 2, ReplicationFactor: 1})
	t2 := createOne(t, n, TopicSpec{Name: "t2", NumPartitions: 1, ReplicationFactor: 1})
	t3 := createOne(t, n, TopicSpec{Name: "t3", NumPartitions: 1, ReplicationFactor: 1})
	if t1.Err != nil || t2.Err != nil || t3.Err != nil {
		t.Fatal(t1.Err, t2.Err, t3.Err)
	}
	ctx := ctxT(t)
	for _, tc := range []struct {
		topic  string
		count  int32
		assign [][]int32
		want   error
	}{
		{"t1", 2, nil, ErrInvalidPartitions},
		{"t1", 1, nil, ErrInvalidPartitions},
		{"nope", 3, nil, ErrUnknownTopic},
		{"t1", 4, [][]int32{{0}}, ErrInvalidReplicaAssignment},
		{"t1", 3, [][]int32{{0, 0}}, ErrInvalidReplicaAssignment},
		{"t1", 3, [][]int32{{5}}, ErrInvalidReplicaAssignment},
	} {
		if err := n.CreatePartitions(ctx, tc.topic, tc.count, tc.assign, false); !errors.Is(err, tc.want) {
			t.Errorf("%s -> %d %v: %v, want %v", tc.topic, tc.count, tc.assign, err, tc.want)
		}
	}
	if err := n.CreatePartitions(ctx, "t1", 5, nil, true); err != nil || len(n.Image().Topic("t1").Partitions) != 2 {
		t.Fatalf("validate only: %v", err)
	}
	if err := n.CreatePartitions(ctx, "t1", 4, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := n.CreatePartitions(ctx, "t1", 5, [][]int32{{0}}, false); err != nil {
		t.Fatal(err)
	}
	tp := n.Image().Topic("t1")
	if len(tp.Partitions) != 5 || tp.ID != t1.ID {
		t.Fatalf("t1 after create partitions: %+v", tp)
	}
	for i, p := range tp.Partitions {
		if p.Partition != int32(i) || p.Leader != 0 {
			t.Fatalf("partition %d: %+v", i, p)
		}
	}

	// Delete by name and by id, with unknowns and duplicates.
	res := n.DeleteTopics(ctx, []string{"t1", "nope", "t3"}, [][16]byte{t2.ID, {9}, {}, t3.ID})
	want := []error{nil, ErrUnknownTopic, ErrInvalidRequest, nil, ErrUnknownTopicID, ErrInvalidRequest, ErrInvalidRequest}
	for i, r := range res {
		if want[i] == nil && r.Err != nil || want[i] != nil && !errors.Is(r.Err, want[i]) {
			t.Errorf("delete %d (%s): got %v, want %v", i, r.Name, r.Err, want[i])
		}
	}
	if res[3].Name != "t2" || res[0].ID != t1.ID {
		t.Errorf("results do not resolve names and ids: %+v", res)
	}
	im := n.Image()
	if im.Topic("t1") != nil || im.Topic("t2") != nil || im.Topic("t3") == nil {
		t.Fatalf("topics after delete: %v", im.Topics)
	}
	// The name can be reused, with a new id.
	again := createOne(t, n, TopicSpec{Name: "t1", NumPartitions: 1, ReplicationFactor: 1})
	if again.Err != nil || again.ID == t1.ID {
		t.Fatalf("recreate: %+v", again)
	}
}

func TestAlterConfigs(t *testing.T) {
	checkLeaks(t)
	n := openReady(t, testConfig(t, t.TempDir(), 0))
	registerBrokers(t, n, 0)
	if r := createOne(t, n, TopicSpec{Name: "t", NumPartitions: 1, ReplicationFactor: 1, Configs: map[string]*string{"retention.ms": strp("10")}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	ctx := ctxT(t)
	topic := ConfigResource{Type: ConfigResourceTopic, Name: "t"}
	cfgs := func() map[string]string { return n.Image().ConfigsFor(topic) }
	alter := func(replace bool, ops ...ConfigOp) error { return n.AlterConfigs(ctx, topic, ops, replace, false) }

	// APPEND to an unset list starts from the default.
	if err := alter(false, ConfigOp{Name: "cleanup.policy", Value: strp("compact"), Op: ConfigOpAppend}); err != nil {
		t.Fatal(err)
	}
	if got := cfgs()["cleanup.policy"]; got != "delete,compact" {
		t.Fatalf("append: %q", got)
	}
	if err := alter(false, ConfigOp{Name: "cleanup.policy", Value: strp("delete"), Op: ConfigOpSubtract},
		ConfigOp{Name: "retention.ms", Value: strp("20"), Op: ConfigOpSet}); err != nil {
		t.Fatal(err)
	}
	if got := cfgs(); got["cleanup.policy"] != "compact" || got["retention.ms"] != "20" {
		t.Fatalf("subtract+set: %v", got)
	}
	if err := alter(false, ConfigOp{Name: "retention.ms", Op: ConfigOpDelete}); err != nil {
		t.Fatal(err)
	}
	if _, ok := cfgs()["retention.ms"]; ok {
		t.Fatal("delete left retention.ms")
	}
	// Errors: validator, non-list append, duplicates, null set, unknown op.
	for name, tc := range map[string]struct {
		ops  []ConfigOp
		want error
	}{
		"invalid value": {[]ConfigOp{{Name: "retention.ms", Value: strp("x")}}, ErrInvalidConfig},
		"unknown name":  {[]ConfigOp{{Name: "nope", Value: strp("1")}}, ErrInvalidConfig},
		"append scalar": {[]ConfigOp{{Name: "retention.ms", Value: strp("1"), Op: ConfigOpAppend}}, ErrInvalidConfig},
		"bad list item": {[]ConfigOp{{Name: "cleanup.policy", Value: strp("forever"), Op: ConfigOpAppend}}, ErrInvalidConfig},
		"duplicate":     {[]ConfigOp{{Name: "retention.ms", Value: strp("1")}, {Name: "retention.ms", Op: ConfigOpDelete}}, ErrInvalidRequest},
		"null set":      {[]ConfigOp{{Name: "retention.ms"}}, ErrInvalidConfig},
		"unknown op":    {[]ConfigOp{{Name: "retention.ms", Value: strp("1"), Op: 9}}, ErrInvalidRequest},
	} {
		if err := alter(false, tc.ops...); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if got := cfgs(); len(got) != 1 || got["cleanup.policy"] != "compact" {
		t.Fatalf("failed alters changed configs: %v", got)
	}
	// Validate only changes nothing.
	if err := n.AlterConfigs(ctx, topic, []ConfigOp{{Name: "retention.ms", Value: strp("5")}}, false, true); err != nil || cfgs()["retention.ms"] != "" {
		t.Fatalf("validate only: %v %v", err, cfgs())
	}
	// Legacy replace: the listed set becomes the whole set.
	if err := alter(true, ConfigOp{Name: "retention.ms", Value: strp("7")}); err != nil {
		t.Fatal(err)
	}
	if got := cfgs(); len(got) != 1 || got["retention.ms"] != "7" {
		t.Fatalf("replace: %v", got)
	}

	// Broker resources: cluster default and one broker.
	def := ConfigResource{Type: ConfigResourceBroker}
	if err := n.AlterConfigs(ctx, def, []ConfigOp{{Name: "log.retention.ms", Value: strp("100")}}, false, false); err != nil {
		t.Fatal(err)
	}
	if err := n.AlterConfigs(ctx, ConfigResource{Type: ConfigResourceBroker, Name: "0"}, []ConfigOp{{Name: "log.retention.ms", Value: strp("200")}}, false, false); err != nil {
		t.Fatal(err)
	}
	im := n.Image()
	if im.ConfigsFor(def)["log.retention.ms"] != "100" || im.ConfigsFor(ConfigResource{Type: ConfigResourceBroker, Name: "0"})["log.retention.ms"] != "200" {
		t.Fatalf("broker configs %v", im.Configs)
	}
	for name, tc := range map[string]struct {
		res  ConfigResource
		want error
	}{
		"unknown topic":     {ConfigResource{Type: ConfigResourceTopic, Name: "nope"}, ErrUnknownTopic},
		"bad broker name":   {ConfigResource{Type: ConfigResourceBroker, Name: "x"}, ErrInvalidRequest},
		"unsupported type":  {ConfigResource{Type: 8, Name: "x"}, ErrInvalidRequest},
		"negative broker":   {ConfigResource{Type: ConfigResourceBroker, Name: "-1"}, ErrInvalidRequest},
		"broker validation": {ConfigResource{Type: ConfigResourceBroker}, ErrInvalidConfig},
	} {
		ops := []ConfigOp{{Name: "retention.ms", Value: strp("1")}}
		if name == "broker validation" {
			ops = []ConfigOp{{Name: "nope", Value: strp("1")}}
		}
		if err := n.AlterConfigs(ctx, tc.res, ops, false, false); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestRegisterBrokerValidation(t *testing.T) {
	checkLeaks(t)
	n := openReady(t, testConfig(t, t.TempDir(), 0))
	ctx := ctxT(t)
	for name, b := range map[string]BrokerRegistration{
		"negative id":    {ID: -1},
		"empty listener": {ID: 1, Endpoints: []Endpoint{{Name: ""}}},
		"same listener":  {ID: 1, Endpoints: []Endpoint{{Name: "A", Port: 1}, {Name: "A", Port: 2}}},
		"bad port":       {ID: 1, Endpoints: []Endpoint{{Name: "A", Port: 70000}}},
	} {
		if _, err := n.RegisterBroker(ctx, b); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := n.RegisterBroker(ctx, BrokerRegistration{ID: 4, ClusterID: "another-cluster"}); !errors.Is(err, ErrInconsistentClusterID) {
		t.Errorf("another cluster's id: %v", err)
	}
	rack := "r"
	inc := [16]byte{4}
	epoch, err := n.RegisterBroker(ctx, BrokerRegistration{ID: 4, IncarnationID: inc, ClusterID: n.Image().ClusterID, Rack: &rack, Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "h", Port: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	b := n.Image().Brokers[4]
	if b == nil || !b.Fenced || *b.Rack != "r" || b.Epoch != epoch || b.Epoch <= 0 || b.Endpoints[0].Host != "h" || b.IncarnationID != inc {
		t.Fatalf("broker 4: %+v", b)
	}
	// A fenced broker does not count for the replication factor.
	if r := createOne(t, n, TopicSpec{Name: "x", NumPartitions: 1, ReplicationFactor: 1}); !errors.Is(r.Err, ErrInvalidReplicationFactor) {
		t.Fatalf("fenced only: %v", r.Err)
	}
	// Another process with the same id, while the first one's session
	// lives: refused.
	if _, err := n.RegisterBroker(ctx, BrokerRegistration{ID: 4, IncarnationID: [16]byte{5}}); !errors.Is(err, ErrDuplicateBrokerRegistration) {
		t.Fatalf("duplicate registration: %v", err)
	}
	// Heartbeats: a stale epoch is refused; one behind the metadata keeps
	// the broker fenced; a caught-up one unfences it.
	if _, err := n.BrokerHeartbeat(ctx, HeartbeatRequest{ID: 4, Epoch: epoch - 1}); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Fatalf("stale heartbeat: %v", err)
	}
	if _, err := n.BrokerHeartbeat(ctx, HeartbeatRequest{ID: 9, Epoch: 1}); !errors.Is(err, ErrBrokerNotRegistered) {
		t.Fatalf("unknown broker heartbeat: %v", err)
	}
	if resp, err := n.BrokerHeartbeat(ctx, HeartbeatRequest{ID: 4, Epoch: epoch, MetadataOffset: uint64(epoch) - 1}); err != nil || !resp.IsFenced || resp.IsCaughtUp {
		t.Fatalf("behind: %+v %v", resp, err)
	}
	if resp, err := n.BrokerHeartbeat(ctx, HeartbeatRequest{ID: 4, Epoch: epoch, MetadataOffset: uint64(epoch)}); err != nil || resp.IsFenced || !resp.IsCaughtUp {
		t.Fatalf("caught up: %+v %v", resp, err)
	}
	if b := n.Image().Brokers[4]; b.Fenced {
		t.Fatalf("broker 4 still fenced: %+v", b)
	}
	// The same incarnation registering again (a retry) gets a new epoch
	// and starts fenced again.
	epoch2, err := n.RegisterBroker(ctx, BrokerRegistration{ID: 4, IncarnationID: inc, Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "h", Port: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if b := n.Image().Brokers[4]; !b.Fenced || b.Epoch != epoch2 || epoch2 <= epoch {
		t.Fatalf("re-registered broker 4: %+v", b)
	}
}
