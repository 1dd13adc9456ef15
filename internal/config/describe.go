package config

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Entry is one config as DescribeConfigs returns it.
type Entry struct {
	Name string
	// Value is nil for null and for sensitive configs.
	Value     *string
	Source    kmsg.ConfigSource
	ReadOnly  bool
	Sensitive bool
	// IsDefault is Source == DEFAULT_CONFIG (the v0 field).
	IsDefault bool
	Type      kmsg.ConfigType
	Doc       string
	// Synonyms lists every place the value could come from that has a
	// value, highest precedence first; the first is the effective one.
	Synonyms []Synonym
}

// Synonym is one candidate value of a config.
type Synonym struct {
	Name   string
	Value  *string
	Source kmsg.ConfigSource
}

// DescribeTopic returns every topic config of a topic, sorted by name.
// Value and Source are those of the effective value (see ResolveTopic);
// Synonyms are the topic override, then the broker synonyms by level
// (dynamic per-broker, dynamic cluster default, static, default), each
// level in synonym order: Kafka's order. A broker synonym in a coarser unit
// keeps its own value in Synonyms (log.retention.hours=168) while the entry
// carries the converted one (retention.ms=604800000).
func DescribeTopic(b *Broker, dyn Dynamic, topicOverrides map[string]string) []Entry {
	out := make([]Entry, 0, len(topicSorted))
	for _, d := range topicSorted {
		r := resolveTopicConfig(b, dyn, topicOverrides, d)
		var v *string
		if r.value != nil {
			s := normalize(d.Type, *r.value)
			v = &s
		}
		out = append(out, Entry{
			Name:      d.Name,
			Value:     v,
			Source:    r.source,
			IsDefault: r.source == kmsg.ConfigSourceDefaultConfig,
			Type:      d.Type.Kmsg(),
			Doc:       d.Doc,
			Synonyms:  r.synonyms,
		})
	}
	return out
}

// DescribeBroker returns every broker config of this broker, sorted by
// name. Value and Source are the config's own effective value (see
// Lookup). Synonyms list, level by level (dynamic per-broker, dynamic
// cluster default, static, default), the values of the config and of the
// configs of its synonym group (log.retention.ms/minutes/hours, ...), Kafka's
// way: entries before the first one of the config itself are dropped.
// Sensitive values are nil, in the entry and its synonyms.
func DescribeBroker(b *Broker, dyn Dynamic) []Entry {
	out := make([]Entry, 0, len(brokerSorted))
	for _, d := range brokerSorted {
		v, src := b.Lookup(dyn, d.Name)
		group := d.Synonyms
		if group == nil {
			group = []string{d.Name}
		}
		var syns []Synonym
		for _, l := range b.levels(dyn) {
			for _, s := range group {
				if sv, ok := l.values[s]; ok && allows(brokerDefs[s], l.source) {
					sv = normalize(brokerDefs[s].Type, sv)
					syns = append(syns, Synonym{Name: s, Value: &sv, Source: l.source})
				}
			}
		}
		for _, s := range group {
			if dv := brokerDefs[s].Default; dv != nil {
				syns = append(syns, Synonym{Name: s, Value: dv, Source: kmsg.ConfigSourceDefaultConfig})
			}
		}
		for len(syns) > 0 && syns[0].Name != d.Name {
			syns = syns[1:]
		}
		if d.Sensitive {
			v = nil
			for i := range syns {
				syns[i].Value = nil
			}
		}
		out = append(out, Entry{
			Name:      d.Name,
			Value:     v,
			Source:    src,
			ReadOnly:  d.Scope == ReadOnly,
			Sensitive: d.Sensitive,
			IsDefault: src == kmsg.ConfigSourceDefaultConfig,
			Type:      d.Type.Kmsg(),
			Doc:       d.Doc,
			Synonyms:  syns,
		})
	}
	return out
}

// DescribeClusterDefault returns the configs set as the cluster-wide
// dynamic default (the BROKER resource named ""), sorted by name: Kafka
// describes that resource with only the values set at that level. Values
// of names not declared, or not cluster-wide, are left out; sensitive
// values are nil.
func DescribeClusterDefault(dyn Dynamic) []Entry {
	var out []Entry
	for _, d := range brokerSorted {
		v, ok := dyn.Cluster[d.Name]
		if !ok || !allows(d, kmsg.ConfigSourceDynamicDefaultBrokerConfig) {
			continue
		}
		v = normalize(d.Type, v)
		value := &v
		if d.Sensitive {
			value = nil
		}
		src := kmsg.ConfigSourceDynamicDefaultBrokerConfig
		out = append(out, Entry{
			Name:      d.Name,
			Value:     value,
			Source:    src,
			Sensitive: d.Sensitive,
			Type:      d.Type.Kmsg(),
			Doc:       d.Doc,
			Synonyms:  []Synonym{{Name: d.Name, Value: value, Source: src}},
		})
	}
	return out
}
