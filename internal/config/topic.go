package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Dynamic holds the broker configs altered at runtime (IncrementalAlterConfigs
// on a BROKER resource), as the metadata stores them.
type Dynamic struct {
	// Cluster holds the cluster-wide defaults (BROKER resource name "").
	Cluster map[string]string
	// Broker holds this broker's values (BROKER resource name "<node.id>").
	Broker map[string]string
}

// BrokerResourceName returns the DescribeConfigs / AlterConfigs resource
// name of a broker's dynamic configs ("" is the cluster default).
func BrokerResourceName(nodeID int32) string { return strconv.FormatInt(int64(nodeID), 10) }

// level is one place a broker config's value can come from.
type level struct {
	values map[string]string
	source kmsg.ConfigSource
}

// levels returns the broker levels in precedence order: dynamic per-broker,
// dynamic cluster default, static (server.properties and overrides). The
// default is not a level; callers take it from the Def.
func (b *Broker) levels(dyn Dynamic) []level {
	return []level{
		{dyn.Broker, kmsg.ConfigSourceDynamicBrokerConfig},
		{dyn.Cluster, kmsg.ConfigSourceDynamicDefaultBrokerConfig},
		{b.explicit, kmsg.ConfigSourceStaticBrokerConfig},
	}
}

// allows reports whether a value of d at the given level counts: read-only
// configs ignore dynamic values, per-broker ones the cluster default.
func allows(d *Def, src kmsg.ConfigSource) bool {
	switch src {
	case kmsg.ConfigSourceDynamicBrokerConfig:
		return d.Scope != ReadOnly
	case kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return d.Scope == ClusterWide
	}
	return true
}

// Lookup returns the effective value of a broker config and where it comes
// from: dynamic per-broker, then dynamic cluster default (for configs whose
// scope allows it), then static, then the default (nil when null). It
// panics for an undeclared name.
func (b *Broker) Lookup(dyn Dynamic, name string) (*string, kmsg.ConfigSource) {
	d := b.def(name)
	for _, l := range b.levels(dyn) {
		if v, ok := l.values[name]; ok && allows(d, l.source) {
			v = normalize(d.Type, v)
			return &v, l.source
		}
	}
	return d.Default, kmsg.ConfigSourceDefaultConfig
}

// ValidateTopicConfig checks one topic config as CreateTopics and
// AlterConfigs receive it; value nil means "remove the override" and is
// valid for every declared name.
func ValidateTopicConfig(name string, value *string) error {
	d, ok := topicDefs[name]
	if !ok {
		return unknown(name, "", topicDefs)
	}
	if value == nil {
		return nil
	}
	if m := d.violation(*value); m != "" {
		return invalid(name, *value, m, "")
	}
	return nil
}

// ValidateBrokerDynamic checks a config altered for one broker (resource
// name "<node.id>"): only per-broker and cluster-wide configs may be;
// read-only ones fail with ErrReadOnlyConfig. value nil (delete) is valid
// for every dynamic config.
func ValidateBrokerDynamic(name string, value *string) error {
	return validateDynamic(name, value, false)
}

// ValidateClusterDynamic checks a config altered as the cluster default
// (resource name ""): only cluster-wide configs may be; read-only and
// per-broker ones fail with ErrReadOnlyConfig.
func ValidateClusterDynamic(name string, value *string) error {
	return validateDynamic(name, value, true)
}

func validateDynamic(name string, value *string, cluster bool) error {
	d, ok := brokerDefs[name]
	if !ok {
		return unknown(name, "", brokerDefs)
	}
	switch {
	case d.Scope == ReadOnly:
		return fmt.Errorf("%w %q: it can be set only in server.properties", ErrReadOnlyConfig, name)
	case cluster && d.Scope == PerBroker:
		return fmt.Errorf("%w %q at the cluster level: it is per-broker, alter it for one broker id", ErrReadOnlyConfig, name)
	}
	if value == nil {
		return nil
	}
	if m := d.violation(*value); m != "" {
		return invalid(name, displayValue(d, *value), m, "")
	}
	return nil
}

// Topic is the effective, typed config of one topic.
type Topic struct {
	CleanupPolicy          []string
	Compact, Delete        bool // CleanupPolicy contains compact / delete
	CompressionType        string
	CompressionGzipLevel   int32
	CompressionLz4Level    int32
	CompressionZstdLevel   int32
	DeleteRetentionMs      int64
	FileDeleteDelayMs      int64
	FlushMessages          int64
	FlushMs                int64
	IndexIntervalBytes     int32
	MaxCompactionLagMs     int64
	MaxMessageBytes        int32
	MessageTimestampType   string // "CreateTime" or "LogAppendTime"
	TimestampBeforeMaxMs   int64
	TimestampAfterMaxMs    int64
	MinCleanableDirtyRatio float64
	MinCompactionLagMs     int64
	MinInsyncReplicas      int32
	Preallocate            bool
	RetentionBytes         int64 // -1: no limit
	RetentionMs            int64 // -1: no limit
	SegmentBytes           int64
	SegmentIndexBytes      int32
	SegmentJitterMs        int64
	SegmentMs              int64
	UncleanLeaderElection  bool
	// LeaderThrottledReplicas and FollowerThrottledReplicas are the
	// throttled replicas lists ("partition:broker" or "*").
	LeaderThrottledReplicas   []string
	FollowerThrottledReplicas []string
}

// ResolveTopic computes the effective config of a topic. For each topic
// config the value comes from, in order:
//
//  1. the topic's override (topicOverrides, the topic's configs in metadata);
//  2. a broker synonym set dynamically for this broker (dyn.Broker);
//  3. a broker synonym set dynamically as cluster default (dyn.Cluster);
//  4. a broker synonym set statically (server.properties, --override);
//  5. the first broker synonym with a default, else the topic default.
//
// Within one level the synonyms go in their declared order (log.retention.ms,
// then .minutes, then .hours) and are converted to the topic config's unit.
// Unknown names in the maps are ignored (they may come from a newer
// version); a value that does not validate is an error naming it and its
// source, and so is a min.compaction.lag.ms above max.compaction.lag.ms.
// CreateTopics and AlterConfigs should check each value with
// ValidateTopicConfig and then the resulting set with ResolveTopic, which
// catches the conflicts between configs.
func ResolveTopic(b *Broker, dyn Dynamic, topicOverrides map[string]string) (*Topic, error) {
	vals := map[string]string{}
	var errs []error
	for _, d := range topicSorted {
		r := resolveTopicConfig(b, dyn, topicOverrides, d)
		if r.value == nil {
			errs = append(errs, fmt.Errorf("%w %q: no value", ErrInvalidConfig, d.Name))
			continue
		}
		if m := d.violation(*r.value); m != "" {
			errs = append(errs, invalid(r.from, *r.raw, m, sourceName(r.source)))
			continue
		}
		vals[d.Name] = normalize(d.Type, *r.value)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	i64 := func(n string) int64 { v, _ := strconv.ParseInt(vals[n], 10, 64); return v }
	i32 := func(n string) int32 { return int32(i64(n)) }
	bl := func(n string) bool { return strings.EqualFold(vals[n], "true") }
	t := &Topic{
		CleanupPolicy:         splitList(vals["cleanup.policy"]),
		CompressionType:       vals["compression.type"],
		CompressionGzipLevel:  i32("compression.gzip.level"),
		CompressionLz4Level:   i32("compression.lz4.level"),
		CompressionZstdLevel:  i32("compression.zstd.level"),
		DeleteRetentionMs:     i64("delete.retention.ms"),
		FileDeleteDelayMs:     i64("file.delete.delay.ms"),
		FlushMessages:         i64("flush.messages"),
		FlushMs:               i64("flush.ms"),
		IndexIntervalBytes:    i32("index.interval.bytes"),
		MaxCompactionLagMs:    i64("max.compaction.lag.ms"),
		MaxMessageBytes:       i32("max.message.bytes"),
		MessageTimestampType:  vals["message.timestamp.type"],
		TimestampBeforeMaxMs:  i64("message.timestamp.before.max.ms"),
		TimestampAfterMaxMs:   i64("message.timestamp.after.max.ms"),
		MinCompactionLagMs:    i64("min.compaction.lag.ms"),
		MinInsyncReplicas:     i32("min.insync.replicas"),
		Preallocate:           bl("preallocate"),
		RetentionBytes:        i64("retention.bytes"),
		RetentionMs:           i64("retention.ms"),
		SegmentBytes:          i64("segment.bytes"),
		SegmentIndexBytes:     i32("segment.index.bytes"),
		SegmentJitterMs:       i64("segment.jitter.ms"),
		SegmentMs:             i64("segment.ms"),
		UncleanLeaderElection: bl("unclean.leader.election.enable"),
	}
	t.LeaderThrottledReplicas = splitList(vals["leader.replication.throttled.replicas"])
	t.FollowerThrottledReplicas = splitList(vals["follower.replication.throttled.replicas"])
	t.MinCleanableDirtyRatio, _ = strconv.ParseFloat(vals["min.cleanable.dirty.ratio"], 64)
	for _, p := range t.CleanupPolicy {
		t.Compact = t.Compact || p == "compact"
		t.Delete = t.Delete || p == "delete"
	}
	if t.MinCompactionLagMs > t.MaxCompactionLagMs {
		return nil, fmt.Errorf("%w: min.compaction.lag.ms %d is greater than max.compaction.lag.ms %d", ErrInvalidConfig, t.MinCompactionLagMs, t.MaxCompactionLagMs)
	}
	return t, nil
}

// resolved is the effective value of one topic config.
type resolved struct {
	value    *string           // in the topic config's unit
	raw      *string           // as set, in the unit of from
	from     string            // the config name that gave it
	source   kmsg.ConfigSource //
	synonyms []Synonym         // every value, highest precedence first
}

func resolveTopicConfig(b *Broker, dyn Dynamic, overrides map[string]string, d *Def) resolved {
	var syns []Synonym
	if v, ok := overrides[d.Name]; ok {
		syns = append(syns, Synonym{Name: d.Name, Value: &v, Source: kmsg.ConfigSourceDynamicTopicConfig})
	}
	for _, l := range b.levels(dyn) {
		for _, s := range d.Synonyms {
			bd := brokerDefs[s]
			if v, ok := l.values[s]; ok && allows(bd, l.source) {
				syns = append(syns, Synonym{Name: s, Value: &v, Source: l.source})
			}
		}
	}
	for _, s := range d.Synonyms {
		if bd := brokerDefs[s]; bd.Default != nil {
			syns = append(syns, Synonym{Name: s, Value: bd.Default, Source: kmsg.ConfigSourceDefaultConfig})
		}
	}
	if len(syns) == 0 {
		return resolved{value: d.Default, raw: d.Default, from: d.Name, source: kmsg.ConfigSourceDefaultConfig}
	}
	top := syns[0]
	r := resolved{value: top.Value, raw: top.Value, from: top.Name, source: top.Source, synonyms: syns}
	if top.Source != kmsg.ConfigSourceDynamicTopicConfig {
		for i, s := range d.Synonyms {
			if s == top.Name && i < len(d.factors) && d.factors[i] > 1 {
				v := scale(*top.Value, d.factors[i])
				r.value = &v
			}
		}
	}
	return r
}

// scale converts a value in a coarser unit (hours, minutes) to
// milliseconds; negative means unlimited (-1), overflow saturates.
func scale(v string, factor int64) string {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	switch {
	case err != nil:
		return v // reported by validation of the raw value
	case n < 0:
		n = -1
	case n > math.MaxInt64/factor:
		n = math.MaxInt64
	default:
		n *= factor
	}
	return strconv.FormatInt(n, 10)
}

func sourceName(s kmsg.ConfigSource) string {
	switch s {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return "the topic's config"
	case kmsg.ConfigSourceDynamicBrokerConfig:
		return "the broker's dynamic config"
	case kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return "the cluster's dynamic config"
	case kmsg.ConfigSourceStaticBrokerConfig:
		return "the static broker config"
	}
	return "the default"
}
