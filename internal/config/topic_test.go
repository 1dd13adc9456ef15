package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestResolveTopicDefaults(t *testing.T) {
	tc, err := ResolveTopic(mustLoad(t, ""), Dynamic{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Topic{
		CleanupPolicy: []string{"delete"}, Delete: true, CompressionType: "producer",
		CompressionGzipLevel: -1, CompressionLz4Level: 9, CompressionZstdLevel: 3,
		DeleteRetentionMs: 86400000, FileDeleteDelayMs: 60000, FlushMessages: 1<<63 - 1, FlushMs: 1<<63 - 1,
		IndexIntervalBytes: 4096, MaxCompactionLagMs: 1<<63 - 1, MaxMessageBytes: 1048588,
		MessageTimestampType: "CreateTime", TimestampBeforeMaxMs: 1<<63 - 1, TimestampAfterMaxMs: 3600000,
		MinCleanableDirtyRatio: 0.5, MinInsyncReplicas: 1, RetentionBytes: -1, RetentionMs: 604800000,
		SegmentBytes: 1 << 30, SegmentIndexBytes: 10485760, SegmentMs: 604800000,
	}
	if !equalTopic(*tc, want) {
		t.Errorf("got %+v\nwant %+v", *tc, want)
	}
}

func equalTopic(a, b Topic) bool {
	return reflect.DeepEqual(a, b)
}

func TestResolveTopicPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name      string
		static    string
		dyn       Dynamic
		overrides map[string]string
		get       func(*Topic) int64
		want      int64
	}{
		{"default hours", "", Dynamic{}, nil, retention, 168 * hourMs},
		{"static hours", "log.retention.hours=1", Dynamic{}, nil, retention, hourMs},
		{"static minutes beat hours", "log.retention.hours=1\nlog.retention.minutes=5", Dynamic{}, nil, retention, 5 * minuteMs},
		{"static ms beats minutes and hours", "log.retention.hours=1\nlog.retention.minutes=5\nlog.retention.ms=42", Dynamic{}, nil, retention, 42},
		{"negative hours is unlimited", "log.retention.hours=-1", Dynamic{}, nil, retention, -1},
		{"dynamic cluster beats static", "log.retention.ms=42", Dynamic{Cluster: map[string]string{"log.retention.ms": "43"}}, nil, retention, 43},
		{"dynamic broker beats cluster", "log.retention.ms=42",
			Dynamic{Cluster: map[string]string{"log.retention.ms": "43"}, Broker: map[string]string{"log.retention.ms": "44"}}, nil, retention, 44},
		{"topic beats everything", "log.retention.ms=42",
			Dynamic{Cluster: map[string]string{"log.retention.ms": "43"}, Broker: map[string]string{"log.retention.ms": "44"}},
			map[string]string{"retention.ms": "45"}, retention, 45},
		{"dynamic read-only synonym ignored", "log.retention.ms=42", Dynamic{Broker: map[string]string{"log.retention.hours": "1"}}, nil, retention, 42},
		{"roll hours", "log.roll.hours=2", Dynamic{}, nil, segmentMs, 2 * hourMs},
		{"roll ms beats hours", "log.roll.hours=2\nlog.roll.ms=1000", Dynamic{}, nil, segmentMs, 1000},
		{"jitter hours", "log.roll.jitter.hours=1", Dynamic{}, nil, func(t *Topic) int64 { return t.SegmentJitterMs }, hourMs},
		{"flush.ms falls back to the scheduler interval", "log.flush.scheduler.interval.ms=500", Dynamic{}, nil, func(t *Topic) int64 { return t.FlushMs }, 500},
		{"flush interval beats scheduler", "log.flush.scheduler.interval.ms=500\nlog.flush.interval.ms=7", Dynamic{}, nil, func(t *Topic) int64 { return t.FlushMs }, 7},
		{"message.max.bytes", "message.max.bytes=100", Dynamic{}, nil, func(t *Topic) int64 { return int64(t.MaxMessageBytes) }, 100},
		{"max.message.bytes override", "message.max.bytes=100", Dynamic{}, map[string]string{"max.message.bytes": "200"}, func(t *Topic) int64 { return int64(t.MaxMessageBytes) }, 200},
		{"unknown override ignored", "", Dynamic{}, map[string]string{"future.config": "x"}, retention, 168 * hourMs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top, err := ResolveTopic(mustLoad(t, tc.static), tc.dyn, tc.overrides)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.get(top); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func retention(t *Topic) int64 { return t.RetentionMs }
func segmentMs(t *Topic) int64 { return t.SegmentMs }

func TestResolveTopicCleanupPolicy(t *testing.T) {
	top, err := ResolveTopic(mustLoad(t, ""), Dynamic{}, map[string]string{"cleanup.policy": "compact, delete"})
	if err != nil || !top.Compact || !top.Delete {
		t.Errorf("%+v %v", top, err)
	}
	top, _ = ResolveTopic(mustLoad(t, "log.cleanup.policy=compact"), Dynamic{}, nil)
	if !top.Compact || top.Delete {
		t.Errorf("%+v", top)
	}
}

func TestResolveTopicErrors(t *testing.T) {
	b := mustLoad(t, "")
	_, err := ResolveTopic(b, Dynamic{}, map[string]string{"retention.ms": "soon"})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), `"retention.ms" = "soon" in the topic's config`) {
		t.Errorf("got %v", err)
	}
	_, err = ResolveTopic(b, Dynamic{Cluster: map[string]string{"log.retention.ms": "x"}}, nil)
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), `"log.retention.ms" = "x" in the cluster's dynamic config`) {
		t.Errorf("got %v", err)
	}
	_, err = ResolveTopic(b, Dynamic{}, map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("got %v", err)
	}
}

// topicValues holds a valid and an invalid value of every topic config.
var topicValues = map[string][2]string{
	"cleanup.policy":                          {"compact,delete", "archive"},
	"compression.type":                        {"zstd", "brotli"},
	"compression.gzip.level":                  {"-1", "10"},
	"compression.lz4.level":                   {"17", "0"},
	"compression.zstd.level":                  {"-5", "23"},
	"delete.retention.ms":                     {"0", "-1"},
	"file.delete.delay.ms":                    {"1000", "-5"},
	"flush.messages":                          {"1", "0"},
	"flush.ms":                                {"0", "x"},
	"index.interval.bytes":                    {"0", "-1"},
	"max.compaction.lag.ms":                   {"1", "0"},
	"max.message.bytes":                       {"2097152", "2147483648"},
	"message.timestamp.type":                  {"LogAppendTime", "createtime"},
	"message.timestamp.before.max.ms":         {"0", "-1"},
	"message.timestamp.after.max.ms":          {"9223372036854775807", "9223372036854775808"},
	"min.cleanable.dirty.ratio":               {"0.01", "1.01"},
	"min.compaction.lag.ms":                   {"0", "-1"},
	"min.insync.replicas":                     {"2", "0"},
	"preallocate":                             {"TRUE", "1"},
	"retention.bytes":                         {"-1", "1.5"},
	"retention.ms":                            {"-1", "-2"},
	"segment.bytes":                           {"1048576", "1048575"},
	"segment.index.bytes":                     {"4", "3"},
	"segment.jitter.ms":                       {"0", "-1"},
	"segment.ms":                              {"1", "0"},
	"unclean.leader.election.enable":          {"false", "no"},
	"leader.replication.throttled.replicas":   {"0:1,1:2", "0-1"},
	"follower.replication.throttled.replicas": {"*", "a:1"},
}

func TestValidateTopicConfig(t *testing.T) {
	for _, d := range TopicDefs() {
		vals, ok := topicValues[d.Name]
		if !ok {
			t.Errorf("no test values for %s", d.Name)
			continue
		}
		if err := ValidateTopicConfig(d.Name, &vals[0]); err != nil {
			t.Errorf("%s=%q: %v", d.Name, vals[0], err)
		}
		err := ValidateTopicConfig(d.Name, &vals[1])
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), d.Name) || !strings.Contains(err.Error(), vals[1]) {
			t.Errorf("%s=%q: got %v", d.Name, vals[1], err)
		}
		if err := ValidateTopicConfig(d.Name, nil); err != nil {
			t.Errorf("%s=null: %v", d.Name, err)
		}
	}
	err := ValidateTopicConfig("retention.mss", ptr("1"))
	if !errors.Is(err, ErrUnknownConfig) || !strings.Contains(err.Error(), `"retention.mss"`) {
		t.Errorf("got %v", err)
	}
	if err := ValidateTopicConfig("log.retention.ms", ptr("1")); !errors.Is(err, ErrUnknownConfig) {
		t.Errorf("a broker config is not a topic config: %v", err)
	}
}

func TestValidateBrokerDynamic(t *testing.T) {
	for _, tc := range []struct {
		name    string
		value   *string
		broker  error // ValidateBrokerDynamic
		cluster error // ValidateClusterDynamic
	}{
		{"log.retention.ms", ptr("1000"), nil, nil},
		{"log.retention.ms", nil, nil, nil},
		{"log.retention.ms", ptr("-2"), ErrInvalidConfig, ErrInvalidConfig},
		{"message.max.bytes", ptr("2000000"), nil, nil},
		{"log.retention.hours", ptr("1"), ErrReadOnlyConfig, ErrReadOnlyConfig},
		{"node.id", ptr("2"), ErrReadOnlyConfig, ErrReadOnlyConfig},
		{"log.dirs", nil, ErrReadOnlyConfig, ErrReadOnlyConfig},
		{"listeners", ptr("PLAINTEXT://:9092"), nil, ErrReadOnlyConfig},
		{"listeners", ptr("nonsense"), ErrInvalidConfig, ErrReadOnlyConfig},
		{"ssl.keystore.password", ptr("x"), nil, ErrReadOnlyConfig},
		{"no.such.config", ptr("1"), ErrUnknownConfig, ErrUnknownConfig},
	} {
		if err := ValidateBrokerDynamic(tc.name, tc.value); !errors.Is(err, tc.broker) || (tc.broker == nil) != (err == nil) {
			t.Errorf("broker %s: got %v, want %v", tc.name, err, tc.broker)
		} else if err != nil && !strings.Contains(err.Error(), tc.name) {
			t.Errorf("broker %s: %v does not name it", tc.name, err)
		}
		if err := ValidateClusterDynamic(tc.name, tc.value); !errors.Is(err, tc.cluster) || (tc.cluster == nil) != (err == nil) {
			t.Errorf("cluster %s: got %v, want %v", tc.name, err, tc.cluster)
		}
	}
}

func TestLookup(t *testing.T) {
	b := mustLoad(t, "message.max.bytes=100\nnum.partitions=3")
	dyn := Dynamic{
		Cluster: map[string]string{"message.max.bytes": "200", "listeners": "X://:1", "num.partitions": "9"},
		Broker:  map[string]string{"log.segment.bytes": " 2097152 "},
	}
	for _, tc := range []struct {
		name string
		want string
		src  kmsg.ConfigSource
	}{
		{"message.max.bytes", "200", kmsg.ConfigSourceDynamicDefaultBrokerConfig},
		{"log.segment.bytes", "2097152", kmsg.ConfigSourceDynamicBrokerConfig},
		{"num.partitions", "3", kmsg.ConfigSourceStaticBrokerConfig},                                            // read-only: dynamic ignored
		{"listeners", "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093", kmsg.ConfigSourceDefaultConfig}, // per-broker: cluster value ignored
	} {
		v, src := b.Lookup(dyn, tc.name)
		if v == nil || *v != tc.want || src != tc.src {
			t.Errorf("%s: got %v %v, want %s %v", tc.name, v, src, tc.want, tc.src)
		}
	}
	if v, src := b.Lookup(dyn, "log.retention.ms"); v != nil || src != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("null default: %v %v", v, src)
	}
	if BrokerResourceName(7) != "7" {
		t.Error("resource name")
	}
}
