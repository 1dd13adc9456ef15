package metadata

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Feature versions (KIP-584, KRaft's finalized features). A feature is a
// name with a level; this build supports a range of levels per feature
// (SupportedFeatures, the one declaration), and the cluster finalizes one
// level per feature in the metadata log (FeatureLevelRecord), which
// clients read from ApiVersions v3+ and change with UpdateFeatures.
// Nothing is advertised that would make a client use what Samsa does not
// implement: eligible.leader.replicas.version supports only level 0.

// The feature names Kafka 4.x knows.
const (
	FeatureMetadataVersion    = "metadata.version"
	FeatureKRaftVersion       = "kraft.version"
	FeatureGroupVersion       = "group.version"
	FeatureTransactionVersion = "transaction.version"
	FeatureELRVersion         = "eligible.leader.replicas.version"
)

// FeatureSpec is one feature this build supports.
type FeatureSpec struct {
	Name     string
	Min, Max int16 // the levels this build supports
	// Default is the level a new cluster finalizes (0: not finalized).
	Default int16
	// NoDowngrade, when set, says why a lower level is refused.
	NoDowngrade string
	// Levels say what each level from Min to Max means.
	Levels []FeatureLevel
}

// FeatureLevel is one level of a feature.
type FeatureLevel struct {
	Level int16
	// Name is Kafka's name of a metadata.version level ("4.0-IV3"), ""
	// for the other features.
	Name string
	// MetadataChanged (metadata.version): Kafka's metadata records
	// changed at this level, so a downgrade past it may lose metadata and
	// is refused (Kafka's didMetadataChange).
	MetadataChanged bool
	// Requires is a level of another feature this level needs.
	Requires *FeatureRef
	// Meaning says what the level switches on, in Kafka and here.
	Meaning string
}

// FeatureRef names a level of a feature.
type FeatureRef struct {
	Name  string
	Level int16
}

// FeatureRange is a range of levels a node supports.
type FeatureRange struct {
	Min, Max int16
}

// supportedFeatures is the table. metadata.version is Kafka 4.0's range:
// its levels name Kafka's metadata-log formats, which Samsa's own log
// replaces, and no client gates on them; the features that do change
// what clients do have their own names below.
var supportedFeatures = []FeatureSpec{
	{
		Name: FeatureELRVersion, Min: 0, Max: 0,
		Levels: []FeatureLevel{
			{Level: 0, Meaning: "no Eligible Leader Replicas (KIP-966 is not implemented; level 1 is not supported)"},
		},
	},
	{
		Name: FeatureGroupVersion, Min: 0, Max: 1, Default: 1,
		Levels: []FeatureLevel{
			{Level: 0, Meaning: "classic group protocol only: ConsumerGroupHeartbeat and ConsumerGroupDescribe answer UNSUPPORTED_VERSION"},
			{Level: 1, Meaning: "the consumer group protocol (KIP-848) is served"},
		},
	},
	{
		Name: FeatureKRaftVersion, Min: 0, Max: 1, Default: 1,
		NoDowngrade: "the metadata quorum always allows voter changes (AddRaftVoter, RemoveRaftVoter); a static quorum cannot be restored",
		Levels: []FeatureLevel{
			{Level: 0, Meaning: "static quorum (Kafka's KRaft before KIP-853)"},
			{Level: 1, Requires: &FeatureRef{FeatureMetadataVersion, 21}, Meaning: "dynamic quorum (KIP-853): voters are added and removed with AddRaftVoter and RemoveRaftVoter"},
		},
	},
	{
		Name: FeatureMetadataVersion, Min: 7, Max: 25, Default: 25,
		Levels: []FeatureLevel{
			{Level: 7, Name: "3.3-IV3", MetadataChanged: true, Meaning: "InControlledShutdown in broker registrations (KIP-841)"},
			{Level: 8, Name: "3.4-IV0", MetadataChanged: true, Meaning: "ZooKeeper migration records (KIP-866; Samsa never migrates)"},
			{Level: 9, Name: "3.5-IV0", Meaning: "tiered storage may be configured (KIP-405; not in Samsa)"},
			{Level: 10, Name: "3.5-IV1", Meaning: "replica epoch in Fetch (KIP-903)"},
			{Level: 11, Name: "3.5-IV2", MetadataChanged: true, Meaning: "SCRAM credentials in the metadata log"},
			{Level: 12, Name: "3.6-IV0", Meaning: "no leader epoch bump when the controller shrinks an ISR"},
			{Level: 13, Name: "3.6-IV1", MetadataChanged: true, Meaning: "metadata transactions"},
			{Level: 14, Name: "3.6-IV2", MetadataChanged: true, Meaning: "delegation tokens in the metadata log"},
			{Level: 15, Name: "3.7-IV0", MetadataChanged: true, Meaning: "controller registration (KIP-919)"},
			{Level: 16, Name: "3.7-IV1", Meaning: "reserved"},
			{Level: 17, Name: "3.7-IV2", MetadataChanged: true, Meaning: "JBOD log directory assignment"},
			{Level: 18, Name: "3.7-IV3", Meaning: "reserved"},
			{Level: 19, Name: "3.7-IV4", Meaning: "Fetch and Produce leader hints (KIP-951)"},
			{Level: 20, Name: "3.8-IV0", Meaning: "Kafka 3.8"},
			{Level: 21, Name: "3.9-IV0", Meaning: "ListOffsets v9 (KIP-1005); kraft.version 1 may be finalized"},
			{Level: 22, Name: "4.0-IV0", Meaning: "group.version 1 may be finalized (KIP-848)"},
			{Level: 23, Name: "4.0-IV1", MetadataChanged: true, Meaning: "ELR records may be written (KIP-966; off here: eligible.leader.replicas.version supports only 0)"},
			{Level: 24, Name: "4.0-IV2", Meaning: "transaction.version 1 and 2 may be finalized (KIP-890)"},
			{Level: 25, Name: "4.0-IV3", Meaning: "ListOffsets v10, asynchronous remote offsets (KIP-1075)"},
		},
	},
	{
		Name: FeatureTransactionVersion, Min: 0, Max: 2,
		Levels: []FeatureLevel{
			{Level: 0, Meaning: "KIP-98 transactions, with KIP-890 part 1 (the partition leaders verify transactional writes; no client change)"},
			{Level: 1, Requires: &FeatureRef{FeatureMetadataVersion, 24}, Meaning: "the coordinator writes flexible transaction state records (TransactionLogValue v1); clients keep the original protocol"},
			{Level: 2, Requires: &FeatureRef{FeatureMetadataVersion, 24}, Meaning: "KIP-890 part 2: EndTxn v5 bumps the producer epoch of every transaction, a partition joins a transaction with its first produce (v12) and the group with its TxnOffsetCommit (v5); Kafka 4.x clients and franz-go use it"},
		},
	},
}

// SupportedFeatures returns the features this build supports, by name.
func SupportedFeatures() []FeatureSpec { return slices.Clone(supportedFeatures) }

// SupportedFeatureRanges returns this build's supported levels by feature
// name (what a broker registers).
func SupportedFeatureRanges() map[string]FeatureRange {
	m := make(map[string]FeatureRange, len(supportedFeatures))
	for _, f := range supportedFeatures {
		m[f.Name] = FeatureRange{Min: f.Min, Max: f.Max}
	}
	return m
}

// LookupFeature returns the spec of a feature this build knows, or nil.
func LookupFeature(name string) *FeatureSpec {
	for i := range supportedFeatures {
		if supportedFeatures[i].Name == name {
			return &supportedFeatures[i]
		}
	}
	return nil
}

// level returns the spec of one level, or nil.
func (f *FeatureSpec) level(l int16) *FeatureLevel {
	for i := range f.Levels {
		if f.Levels[i].Level == l {
			return &f.Levels[i]
		}
	}
	return nil
}

// FeatureLevelString renders a level as Kafka's tools do: metadata.version
// by its name ("4.0-IV3"), the others as the number.
func FeatureLevelString(name string, level int16) string {
	if name == FeatureMetadataVersion {
		if l := LookupFeature(name).level(level); l != nil {
			return l.Name
		}
		return fmt.Sprintf("UNKNOWN %d", level)
	}
	return fmt.Sprint(level)
}

// ParseMetadataVersion returns the metadata.version level of a Kafka name
// ("4.0-IV3"), or of a release ("4.0": its latest level).
func ParseMetadataVersion(s string) (int16, error) {
	spec := LookupFeature(FeatureMetadataVersion)
	var found int16 = -1
	for _, l := range spec.Levels {
		if l.Name == s || strings.HasPrefix(l.Name, s+"-IV") {
			found = l.Level
		}
	}
	if found < 0 {
		var names []string
		for _, l := range spec.Levels {
			names = append(names, l.Name)
		}
		return 0, fmt.Errorf("unknown metadata.version %s; the supported ones are %s", s, strings.Join(names, ", "))
	}
	return found, nil
}

// BootstrapFeatureRecords are the records a new cluster finalizes its
// features with: each feature at its default level.
func BootstrapFeatureRecords() []Record {
	var recs []Record
	for _, f := range supportedFeatures {
		if f.Default > 0 {
			recs = append(recs, &FeatureLevelRecord{Name: f.Name, FeatureLevel: f.Default})
		}
	}
	return recs
}

// defaultFeatureLevels are the levels BootstrapFeatureRecords finalizes.
func defaultFeatureLevels() map[string]int16 {
	m := map[string]int16{}
	for _, f := range supportedFeatures {
		if f.Default > 0 {
			m[f.Name] = f.Default
		}
	}
	return m
}

// FeaturesFinalized reports whether the image has its features in the
// log (a cluster formed before feature versions existed has none until
// its controller writes them).
func (im *Image) FeaturesFinalized() bool {
	_, ok := im.Features[FeatureMetadataVersion]
	return ok
}

// FinalizedFeatures returns the finalized level of every feature (levels
// above 0 only) and the epoch of that set: the metadata offset of the
// last change, -1 when the log has none yet (the defaults are returned
// then, as the controller is about to write them).
func (im *Image) FinalizedFeatures() (map[string]int16, int64) {
	if !im.FeaturesFinalized() {
		return defaultFeatureLevels(), -1
	}
	return maps.Clone(im.Features), int64(im.FeaturesOffset)
}

// FeatureLevel returns the finalized level of a feature (0: not
// finalized).
func (im *Image) FeatureLevel(name string) int16 {
	if !im.FeaturesFinalized() {
		return defaultFeatureLevels()[name]
	}
	return im.Features[name]
}
