package broker

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
)

func TestCreateTopicValidation(t *testing.T) {
	tb := startBroker(t)
	adm := tb.admin()
	ctx := testCtx(t)
	createTopic(t, tb, "a.b", 1, nil)
	for _, tc := range []struct {
		name       string
		partitions int32
		rf         int16
		configs    map[string]*string
		want       *kerr.Error
	}{
		{"", 1, 1, nil, kerr.InvalidTopicException},
		{".", 1, 1, nil, kerr.InvalidTopicException},
		{"..", 1, 1, nil, kerr.InvalidTopicException},
		{strings.Repeat("x", 250), 1, 1, nil, kerr.InvalidTopicException},
		{"has space", 1, 1, nil, kerr.InvalidTopicException},
		{"a_b", 1, 1, nil, kerr.InvalidTopicException}, // collides with a.b
		{"a.b", 1, 1, nil, kerr.TopicAlreadyExists},
		{"__consumer_offsets", 1, 1, nil, kerr.InvalidTopicException},
		{"zero-partitions", 0, 1, nil, kerr.InvalidPartitions},
		{"rf-too-big", 1, 3, nil, kerr.InvalidReplicationFactor},
		{"bad-config", 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("soon")}, kerr.InvalidConfig},
		{"unknown-config", 1, 1, map[string]*string{"no.such.config": kadm.StringPtr("1")}, kerr.InvalidConfig},
	} {
		resp, err := adm.CreateTopic(ctx, tc.partitions, tc.rf, tc.configs, tc.name)
		if err == nil {
			err = resp.Err
		}
		if !errorsIs(err, tc.want) {
			t.Errorf("create %q: got %v, want %v", tc.name, err, tc.want)
		}
	}
	// validate_only creates nothing
	req := kmsg.NewPtrCreateTopicsRequest()
	req.ValidateOnly = true
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "dry-run", 2, 1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, tb.client())
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("validate only: %v %+v", err, resp)
	}
	if td, _ := adm.ListTopics(ctx, "dry-run"); td.Has("dry-run") && td["dry-run"].Err == nil {
		t.Fatal("validate_only created the topic")
	}
}

func errorsIs(err error, want *kerr.Error) bool {
	if want == nil {
		return err == nil
	}
	ke, ok := err.(*kerr.Error)
	if !ok {
		return false
	}
	return ke.Code == want.Code
}

func TestDeleteTopicAndPartitions(t *testing.T) {
	tb := startBroker(t)
	adm := tb.admin()
	ctx := testCtx(t)
	createTopic(t, tb, "grow", 1, nil)
	if _, err := adm.CreatePartitions(ctx, 2, "grow"); err != nil {
		t.Fatal(err)
	}
	td, _ := adm.ListTopics(ctx, "grow")
	if n := len(td["grow"].Partitions); n != 3 {
		t.Fatalf("after adding 2 partitions: %d", n)
	}
	produceN(t, tb.client(), "grow", 30)
	resps, err := adm.DeleteTopics(ctx, "grow")
	if err != nil || resps["grow"].Err != nil {
		t.Fatalf("delete: %v %v", err, resps["grow"].Err)
	}
	td, _ = adm.ListTopics(ctx)
	if td.Has("grow") {
		t.Fatal("deleted topic still listed")
	}
	if tb.srv.replicas.Get("grow", 0) != nil {
		t.Fatal("deleted topic's partition still hosted")
	}
	// recreate: empty, offsets from 0
	createTopic(t, tb, "grow", 1, nil)
	recs := produceN(t, tb.client(), "grow", 1)
	if recs[0].Offset != 0 {
		t.Fatalf("recreated topic starts at offset %d", recs[0].Offset)
	}
	if r, _ := adm.DeleteTopics(ctx, "missing"); !errorsIs(r["missing"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("delete missing topic: %v", r["missing"].Err)
	}
}

func TestListOffsetsAndDeleteRecords(t *testing.T) {
	tb := startBroker(t)
	adm := tb.admin()
	ctx := testCtx(t)
	createTopic(t, tb, "lo", 1, nil)
	cl := tb.client()
	base := int64(1_700_000_000_000)
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Topic: "lo", Value: []byte{byte(i)}, Timestamp: timeMs(base + int64(i)*1000)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	start, _ := adm.ListStartOffsets(ctx, "lo")
	end, _ := adm.ListEndOffsets(ctx, "lo")
	if o, _ := start.Lookup("lo", 0); o.Offset != 0 {
		t.Fatalf("start offset %d", o.Offset)
	}
	if o, _ := end.Lookup("lo", 0); o.Offset != 10 {
		t.Fatalf("end offset %d", o.Offset)
	}
	byTime, err := adm.ListOffsetsAfterMilli(ctx, base+4500, "lo")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := byTime.Lookup("lo", 0); o.Offset != 5 {
		t.Fatalf("offset for timestamp: %d, want 5", o.Offset)
	}
	// max timestamp (-3)
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 7
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "lo"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -3
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	lresp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if p := lresp.Topics[0].Partitions[0]; p.Offset != 9 || p.Timestamp != base+9000 {
		t.Fatalf("max timestamp: offset %d ts %d", p.Offset, p.Timestamp)
	}

	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "lo", Partition: 0, At: 4})
	dr, err := adm.DeleteRecords(ctx, offs)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup("lo", 0); r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("delete records: %v low watermark %d", r.Err, r.LowWatermark)
	}
	start, _ = adm.ListStartOffsets(ctx, "lo")
	if o, _ := start.Lookup("lo", 0); o.Offset != 4 {
		t.Fatalf("start offset after delete records: %d", o.Offset)
	}
	offs = kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "lo", Partition: 0, At: 50})
	dr, _ = adm.DeleteRecords(ctx, offs)
	if r, _ := dr.Lookup("lo", 0); !errorsIs(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete records past the high watermark: %v", r.Err)
	}
	tb.restart()
	start, _ = tb.admin().ListStartOffsets(testCtx(t), "lo")
	if o, _ := start.Lookup("lo", 0); o.Offset != 4 {
		t.Fatalf("start offset after restart: %d", o.Offset)
	}
}

func TestConfigsDescribeAndAlter(t *testing.T) {
	tb := startBroker(t)
	adm := tb.admin()
	ctx := testCtx(t)
	createTopic(t, tb, "cfg", 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")})
	rc, err := adm.DescribeTopicConfigs(ctx, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	c, err := rc.On("cfg", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*kadm.Config{}
	for i := range c.Configs {
		kv := &c.Configs[i]
		got[kv.Key] = kv
	}
	if v := got["retention.ms"]; v.MaybeValue() != "3600000" || v.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms: %q source %v", v.MaybeValue(), v.Source)
	}
	if v := got["segment.bytes"]; v.MaybeValue() != "1073741824" || v.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("segment.bytes: %q source %v", v.MaybeValue(), v.Source)
	}

	_, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	rc, _ = adm.DescribeTopicConfigs(ctx, "cfg")
	c, _ = rc.On("cfg", nil)
	for i := range c.Configs {
		kv := &c.Configs[i]
		got[kv.Key] = kv
	}
	if got["cleanup.policy"].MaybeValue() != "compact" || got["retention.ms"].Source == kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("after alter: cleanup.policy %q, retention.ms source %v", got["cleanup.policy"].MaybeValue(), got["retention.ms"].Source)
	}
	// a compacted topic refuses key-less records
	cl := tb.client(kgo.RecordRetries(0), kgo.DisableIdempotentWrite())
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "cfg", Value: []byte("no key")}).FirstErr()
	if !errorsIs(err, kerr.InvalidRecord) {
		t.Fatalf("key-less record on a compacted topic: %v, want INVALID_RECORD", err)
	}

	alt, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("-5")}}, "cfg")
	if err == nil {
		if r, _ := alt.On("cfg", nil); r.Err == nil {
			t.Fatal("invalid retention.ms accepted")
		}
	}

	// broker configs: dynamic ones change, read-only ones do not
	bc, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(bc) != 1 || len(bc[0].Configs) < 20 {
		t.Fatalf("broker configs: %+v", bc)
	}
	ar, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: kadm.StringPtr("7200000")}}, 1)
	if err != nil || ar[0].Err != nil {
		t.Fatalf("alter dynamic broker config: %v %v", err, ar)
	}
	ar, _ = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "node.id", Value: kadm.StringPtr("7")}}, 1)
	if len(ar) != 1 || ar[0].Err == nil {
		t.Fatal("read-only broker config node.id accepted")
	}
}

func TestClusterViews(t *testing.T) {
	tb := startBroker(t)
	adm := tb.admin()
	ctx := testCtx(t)
	createTopic(t, tb, "views", 2, nil)
	produceN(t, tb.client(), "views", 10)
	dreq := kmsg.NewPtrDescribeClusterRequest()
	dreq.Version = 1
	dreq.EndpointType = 1
	cl, err := dreq.RequestWith(ctx, tb.client())
	if err != nil {
		t.Fatal(err)
	}
	if cl.ErrorCode != 0 || cl.ControllerID != 1 || len(cl.Brokers) != 1 || cl.ClusterID == "" || cl.Brokers[0].Port == 0 {
		t.Fatalf("describe cluster: %+v", cl)
	}
	dirs, err := adm.DescribeBrokerLogDirs(ctx, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	p0, ok := dirs.LookupPartition("views", 0)
	p1, _ := dirs.LookupPartition("views", 1)
	if !ok || p0.Size+p1.Size == 0 {
		t.Fatal("log dirs report no bytes for a topic with records")
	}
	prods, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"views": {0: {}, 1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	prods.EachProducer(func(kadm.DescribedProducer) { n++ })
	if n == 0 {
		t.Fatal("no active idempotent producer described")
	}
}

// TestListOffsetsByTimestampInsideBatch looks up a timestamp that falls
// inside one batch of many records: the answer is the record, not the
// batch's first offset.
func TestListOffsetsByTimestampInsideBatch(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "inbatch", 1, nil)
	cl := tb.client(kgo.ProducerLinger(time.Second), kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	base := int64(1_700_000_000_000)
	var recs []*kgo.Record
	for i := 0; i < 10; i++ {
		recs = append(recs, &kgo.Record{Topic: "inbatch", Value: []byte{byte(i)}, Timestamp: timeMs(base + int64(i)*1000)})
	}
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if recs[9].Offset-recs[0].Offset != 9 {
		t.Fatal("records not contiguous")
	}
	got, err := tb.admin().ListOffsetsAfterMilli(testCtx(t), base+6500, "inbatch")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := got.Lookup("inbatch", 0); o.Offset != 7 || o.Timestamp != base+7000 {
		t.Fatalf("offset for timestamp inside a batch: %d at %d, want 7 at %d", o.Offset, o.Timestamp, base+7000)
	}
}

// TestRetentionOnlyUnderDelete: retention settings reach the log only when
// cleanup.policy includes delete, as in Kafka.
func TestRetentionOnlyUnderDelete(t *testing.T) {
	cfg, err := config.LoadBroker("", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		policy string
		want   int64
	}{{"delete", 3600000}, {"compact", -1}, {"compact,delete", 3600000}} {
		tc2, err := config.ResolveTopic(cfg, config.Dynamic{}, map[string]string{"cleanup.policy": tc.policy, "retention.ms": "3600000", "retention.bytes": "1000"})
		if err != nil {
			t.Fatal(err)
		}
		lc := logConfig(tc2)
		if lc.RetentionMs != tc.want || (tc.want == -1) != (lc.RetentionBytes == -1) {
			t.Errorf("cleanup.policy=%s: retention.ms %d bytes %d", tc.policy, lc.RetentionMs, lc.RetentionBytes)
		}
	}
}

func TestProduceToInternalTopicRefused(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	// FindCoordinator creates __consumer_offsets
	if err := tb.admin().FindGroupCoordinators(ctx, "g").Error(); err != nil {
		t.Fatal(err)
	}
	cl := tb.client(kgo.RecordRetries(0), kgo.DisableIdempotentWrite())
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: "__consumer_offsets", Value: []byte("x")}).FirstErr()
	if !errorsIs(err, kerr.InvalidTopicException) {
		t.Fatalf("produce to __consumer_offsets: %v, want INVALID_TOPIC_EXCEPTION", err)
	}
}
