package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func entry(t *testing.T, es []Entry, name string) Entry {
	t.Helper()
	i := slices.IndexFunc(es, func(e Entry) bool { return e.Name == name })
	if i < 0 {
		t.Fatalf("no entry %s", name)
	}
	return es[i]
}

func str(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}

// syns renders synonyms as "SOURCE:name=value ...".
func syns(ss []Synonym) string {
	var parts []string
	for _, s := range ss {
		parts = append(parts, fmt.Sprintf("%s:%s=%s", s.Source, s.Name, str(s.Value)))
	}
	return strings.Join(parts, " ")
}

func TestDescribeTopic(t *testing.T) {
	b := mustLoad(t, "log.retention.hours=24\nlog.retention.ms=5000\nlog.roll.hours=2\ncompression.type=lz4")
	dyn := Dynamic{
		Cluster: map[string]string{"log.retention.ms": "10", "log.retention.minutes": "11", "compression.type": "zstd", "log.roll.hours": "9"},
		Broker:  map[string]string{"log.retention.ms": "7000"},
	}
	es := DescribeTopic(b, dyn, map[string]string{"compression.type": "gzip", "min.insync.replicas": "2"})
	if len(es) != len(topicDefs) || !slices.IsSortedFunc(es, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatalf("%d entries, sorted %v", len(es), es)
	}
	for _, tc := range []struct {
		name, value string
		source      kmsg.ConfigSource
		synonyms    string
	}{
		{"retention.ms", "7000", kmsg.ConfigSourceDynamicBrokerConfig,
			"DYNAMIC_BROKER_CONFIG:log.retention.ms=7000 DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=10 " +
				"STATIC_BROKER_CONFIG:log.retention.ms=5000 STATIC_BROKER_CONFIG:log.retention.hours=24 DEFAULT_CONFIG:log.retention.hours=168"},
		{"compression.type", "gzip", kmsg.ConfigSourceDynamicTopicConfig,
			"DYNAMIC_TOPIC_CONFIG:compression.type=gzip DYNAMIC_DEFAULT_BROKER_CONFIG:compression.type=zstd " +
				"STATIC_BROKER_CONFIG:compression.type=lz4 DEFAULT_CONFIG:compression.type=producer"},
		// log.roll.hours and log.retention.minutes are read-only: their
		// dynamic values do not count.
		{"segment.ms", "7200000", kmsg.ConfigSourceStaticBrokerConfig,
			"STATIC_BROKER_CONFIG:log.roll.hours=2 DEFAULT_CONFIG:log.roll.hours=168"},
		{"min.insync.replicas", "2", kmsg.ConfigSourceDynamicTopicConfig,
			"DYNAMIC_TOPIC_CONFIG:min.insync.replicas=2 DEFAULT_CONFIG:min.insync.replicas=1"},
		{"flush.ms", "9223372036854775807", kmsg.ConfigSourceDefaultConfig,
			"DEFAULT_CONFIG:log.flush.scheduler.interval.ms=9223372036854775807"},
	} {
		e := entry(t, es, tc.name)
		if str(e.Value) != tc.value || e.Source != tc.source || e.IsDefault != (tc.source == kmsg.ConfigSourceDefaultConfig) || e.ReadOnly || e.Sensitive {
			t.Errorf("%s: %s %v default=%v", tc.name, str(e.Value), e.Source, e.IsDefault)
		}
		if got := syns(e.Synonyms); got != tc.synonyms {
			t.Errorf("%s synonyms:\n got %s\nwant %s", tc.name, got, tc.synonyms)
		}
	}
	e := entry(t, es, "retention.ms")
	if e.Type != kmsg.ConfigTypeLong || e.Doc == "" {
		t.Errorf("type %v doc %q", e.Type, e.Doc)
	}

	// The effective values agree with ResolveTopic.
	top, err := ResolveTopic(b, dyn, map[string]string{"compression.type": "gzip", "min.insync.replicas": "2"})
	if err != nil || top.RetentionMs != 7000 || top.CompressionType != "gzip" || top.SegmentMs != 7200000 || top.MinInsyncReplicas != 2 {
		t.Errorf("%+v %v", top, err)
	}
}

func TestDescribeBroker(t *testing.T) {
	b := mustLoad(t, "log.retention.hours=24\nssl.keystore.password=secret\nnum.partitions=3")
	dyn := Dynamic{
		Cluster: map[string]string{"log.retention.ms": "1000", "message.max.bytes": "2000"},
		Broker:  map[string]string{"ssl.keystore.password": "secret2", "message.max.bytes": "3000"},
	}
	es := DescribeBroker(b, dyn)
	if len(es) != len(brokerDefs) {
		t.Fatalf("%d entries", len(es))
	}
	for _, tc := range []struct {
		name, value string
		source      kmsg.ConfigSource
		readOnly    bool
		synonyms    string
	}{
		{"message.max.bytes", "3000", kmsg.ConfigSourceDynamicBrokerConfig, false,
			"DYNAMIC_BROKER_CONFIG:message.max.bytes=3000 DYNAMIC_DEFAULT_BROKER_CONFIG:message.max.bytes=2000 DEFAULT_CONFIG:message.max.bytes=1048588"},
		{"log.retention.ms", "1000", kmsg.ConfigSourceDynamicDefaultBrokerConfig, false,
			"DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=1000 STATIC_BROKER_CONFIG:log.retention.hours=24 DEFAULT_CONFIG:log.retention.hours=168"},
		// Kafka drops the synonyms before the first one of the config itself.
		{"log.retention.hours", "24", kmsg.ConfigSourceStaticBrokerConfig, true,
			"STATIC_BROKER_CONFIG:log.retention.hours=24 DEFAULT_CONFIG:log.retention.hours=168"},
		{"num.partitions", "3", kmsg.ConfigSourceStaticBrokerConfig, true,
			"STATIC_BROKER_CONFIG:num.partitions=3 DEFAULT_CONFIG:num.partitions=1"},
		{"ssl.keystore.password", "null", kmsg.ConfigSourceDynamicBrokerConfig, false,
			"DYNAMIC_BROKER_CONFIG:ssl.keystore.password=null STATIC_BROKER_CONFIG:ssl.keystore.password=null"},
		{"broker.rack", "null", kmsg.ConfigSourceDefaultConfig, true, ""},
	} {
		e := entry(t, es, tc.name)
		if str(e.Value) != tc.value || e.Source != tc.source || e.ReadOnly != tc.readOnly {
			t.Errorf("%s: %s %v read-only=%v", tc.name, str(e.Value), e.Source, e.ReadOnly)
		}
		if got := syns(e.Synonyms); got != tc.synonyms {
			t.Errorf("%s synonyms:\n got %s\nwant %s", tc.name, got, tc.synonyms)
		}
	}
	if e := entry(t, es, "ssl.keystore.password"); !e.Sensitive || e.Type != kmsg.ConfigTypePassword {
		t.Errorf("%+v", e)
	}
}

// TestRegistry checks properties of the declarations the other code relies on.
func TestRegistry(t *testing.T) {
	for _, d := range append(BrokerDefs(), TopicDefs()...) {
		if d.Validate == nil || d.Importance == "" || !strings.HasSuffix(d.Doc, ".") {
			t.Errorf("%s: incomplete declaration", d.Name)
		}
		if d.Sensitive != (d.Type == Password) {
			t.Errorf("%s: passwords and only they are sensitive", d.Name)
		}
		if d.Type.Kmsg() == kmsg.ConfigTypeUnknown || d.Type.String() == "unknown" {
			t.Errorf("%s: type", d.Name)
		}
	}
	// A topic config's own default equals what its broker synonyms' defaults give.
	for _, d := range TopicDefs() {
		for i, s := range d.Synonyms {
			bd, _ := BrokerDef(s)
			if bd.Default == nil {
				continue
			}
			v := *bd.Default
			if i < len(d.factors) && d.factors[i] > 1 {
				v = scale(v, d.factors[i])
			}
			if v != d.DefaultString() {
				t.Errorf("%s default %s differs from its synonym %s default %s", d.Name, d.DefaultString(), s, v)
			}
			break
		}
	}
	if d, ok := BrokerDef("log.retention.hours"); !ok || strings.Join(d.Synonyms, ",") != "log.retention.ms,log.retention.minutes,log.retention.hours" {
		t.Errorf("broker synonym group: %v", d)
	}
	if _, ok := TopicDef("retention.ms"); !ok {
		t.Error("TopicDef")
	}
	if _, ok := BrokerDef("retention.ms"); ok {
		t.Error("BrokerDef of a topic config")
	}
	for ty := Boolean; ty <= Password; ty++ {
		if ty.Kmsg() == kmsg.ConfigTypeUnknown || ty.String() == "unknown" || ty.Kmsg().String() != strings.ToUpper(ty.String()) {
			t.Errorf("type %d: %s %s", ty, ty, ty.Kmsg())
		}
	}
	if Type(0).Kmsg() != kmsg.ConfigTypeUnknown || Type(0).String() != "unknown" {
		t.Error("type 0")
	}
	if ReadOnly.String() != "read-only" || PerBroker.String() != "per-broker" || ClusterWide.String() != "cluster-wide" {
		t.Error("scope names")
	}
}

func TestDescribeClusterDefault(t *testing.T) {
	es := DescribeClusterDefault(Dynamic{Cluster: map[string]string{
		"message.max.bytes": " 2000", "log.retention.ms": "1", "listeners": "X://:1", "unknown.thing": "1", "num.partitions": "4",
	}})
	var got []string
	for _, e := range es {
		got = append(got, fmt.Sprintf("%s=%s/%s", e.Name, str(e.Value), e.Source))
	}
	if want := "log.retention.ms=1/DYNAMIC_DEFAULT_BROKER_CONFIG message.max.bytes=2000/DYNAMIC_DEFAULT_BROKER_CONFIG"; strings.Join(got, " ") != want {
		t.Errorf("got %s", got)
	}
}
