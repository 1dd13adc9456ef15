// Package config declares every broker and topic config Samsa knows, once,
// and derives everything else from the declarations: parsing of
// server.properties and --override, validation, the typed values the
// broker reads, the DescribeConfigs view with sources and synonyms, and the
// reference tables in docs/CONFIG.md.
//
// # Declarations
//
// A Def (broker_defs.go, topic_defs.go) holds a config's Kafka name, type,
// default (nil for Kafka's null), rule (bounds or allowed values), doc,
// importance, whether it is sensitive, whether Samsa acts on it yet, and,
// for a broker config, its update mode (Scope: read-only, per-broker or
// cluster-wide, Kafka's DynamicBrokerConfig modes). A topic config lists its
// broker synonyms, the broker configs that give its default, in precedence
// order and with their unit (retention.ms: log.retention.ms,
// log.retention.minutes x 60000, log.retention.hours x 3600000). The
// registry is checked when the package initializes: every default must
// pass its own rule, every synonym must be declared, and the first synonym
// of a topic config must be cluster-wide dynamic, so a declaration mistake
// fails every test.
//
// # Precedence
//
// Static broker config: an --override beats server.properties, which
// beats the default. Among synonyms the finer one wins (log.roll.ms over
// log.roll.hours; log.retention.ms over .minutes over .hours; log.dirs over
// log.dir).
//
// The effective value of a topic config comes from the first of: the
// topic's own override; a broker synonym set dynamically for this broker
// (Dynamic.Broker); one set dynamically as the cluster default
// (Dynamic.Cluster); one set statically; the first synonym's default. Inside
// one level the synonyms go in order. This is level-major: a dynamic
// log.retention.hours beats a static log.retention.ms. Kafka resolves the
// synonyms on the merged levels instead (name-major), which makes the
// first synonym DescribeConfigs lists differ from the value in effect in
// that corner; here the first synonym is always the value in effect.
//
// Dynamic broker values only count for configs whose scope allows them at
// that level (a cluster-default value of a per-broker config, or any
// dynamic value of a read-only config, is ignored); ValidateBrokerDynamic
// and ValidateClusterDynamic refuse to store them in the first place.
//
// # Docs
//
// Markdown renders the declarations as the tables of docs/CONFIG.md;
// TestConfigDoc fails when the file differs. After changing a declaration,
// regenerate with
//
//	go test ./internal/config -run TestConfigDoc -update
//
// # Samsa defaults
//
// A few defaults differ from Kafka's so that one node starts with no
// setup: node.id=1, process.roles=broker,controller, listeners on
// 127.0.0.1 with a CONTROLLER listener, controller.listener.names=CONTROLLER,
// log.dir=./samsa-data, replication factors of the internal topics 1, and
// controller.quorum.voters derived from node.id and the controller listener
// when no quorum is configured. Each such Def says so in its Note, which the
// docs print.
package config
