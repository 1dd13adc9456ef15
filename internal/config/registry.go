package config

import (
	"fmt"
	"slices"
	"strings"
)

// The registries, built once from the declarations in broker_defs.go and
// topic_defs.go and never changed afterwards.
var (
	brokerDefs = map[string]*Def{}
	topicDefs  = map[string]*Def{}

	brokerSorted []*Def
	topicSorted  []*Def
)

func init() {
	brokerSorted = register(brokerDefs, brokerDeclarations)
	topicSorted = register(topicDefs, topicDeclarations)
	linkSynonyms()
}

// register finalizes the declarations (Validate from type and rule) and
// checks them; a bad declaration is a programming error and panics at
// start, so every test run proves the registry consistent.
func register(into map[string]*Def, defs []*Def) []*Def {
	for _, d := range defs {
		if _, dup := into[d.Name]; dup {
			panic("config: declared twice: " + d.Name)
		}
		if d.Type == 0 || d.Doc == "" || d.Importance == "" {
			panic("config: incomplete declaration: " + d.Name)
		}
		d.ValidValues = d.rule.desc
		d.Validate = d.validate
		if d.Default != nil {
			if m := d.violation(*d.Default); m != "" {
				panic(fmt.Sprintf("config: default of %s: %s", d.Name, m))
			}
		}
		into[d.Name] = d
	}
	sorted := slices.Clone(defs)
	slices.SortFunc(sorted, func(a, b *Def) int { return strings.Compare(a.Name, b.Name) })
	return sorted
}

// linkSynonyms checks that every broker synonym of a topic config is
// declared with the same kind of type, and gives the broker configs their
// synonym groups (Kafka lists a group for the configs with more than one
// name: log.roll.*, log.roll.jitter.*, log.retention.*, log.flush.interval.ms).
func linkSynonyms() {
	for _, t := range topicSorted {
		if len(t.Synonyms) == 0 && !t.Standalone {
			panic("config: topic config without broker synonym: " + t.Name)
		}
		for i, s := range t.Synonyms {
			b, ok := brokerDefs[s]
			if !ok {
				panic("config: synonym " + s + " of " + t.Name + " is not a broker config")
			}
			if numeric(b.Type) != numeric(t.Type) {
				panic("config: synonym " + s + " of " + t.Name + " has another type")
			}
			if i == 0 && b.Scope != ClusterWide {
				panic("config: " + s + " gives the default of topic config " + t.Name + " and must be cluster-wide dynamic")
			}
			if len(t.Synonyms) > 1 {
				b.Synonyms = t.Synonyms
			}
		}
		if len(t.factors) != 0 && len(t.factors) != len(t.Synonyms) {
			panic("config: factors of " + t.Name)
		}
	}
}

func numeric(t Type) bool {
	return t == Int || t == Short || t == Long
}

// BrokerDef returns the declaration of a broker config.
func BrokerDef(name string) (*Def, bool) {
	d, ok := brokerDefs[name]
	return d, ok
}

// TopicDef returns the declaration of a topic config.
func TopicDef(name string) (*Def, bool) {
	d, ok := topicDefs[name]
	return d, ok
}

// BrokerDefs returns every broker config, sorted by name. The slice is a
// copy; the Defs are shared and must not be modified.
func BrokerDefs() []*Def { return slices.Clone(brokerSorted) }

// TopicDefs returns every topic config, sorted by name. The slice is a
// copy; the Defs are shared and must not be modified.
func TopicDefs() []*Def { return slices.Clone(topicSorted) }
