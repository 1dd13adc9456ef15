package metadata

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// UpdateFeatures (Kafka's FeatureControlManager, KIP-584 and KIP-778):
// changes finalized feature levels. A request is atomic: the first update
// that fails fails them all and nothing is written. An update is refused
// (ErrInvalidFeatureUpdate) when its level is outside what this
// controller or any registered broker supports, when it goes down without
// a downgrade type or up with one, when it downgrades metadata.version
// past a level that changed Kafka's metadata records (unsafe downgrades
// are not supported, as in Kafka), when it downgrades kraft.version, or
// when a level another one requires would be missing. Level 0 removes a
// feature, except metadata.version.

// Upgrade types (Kafka's FeatureUpdate.UpgradeType).
const (
	FeatureUpgrade         int8 = 1
	FeatureSafeDowngrade   int8 = 2
	FeatureUnsafeDowngrade int8 = 3
)

// FeatureUpdate is one feature's update.
type FeatureUpdate struct {
	Name  string
	Level int16
	Type  int8
}

// UpdateFeatures applies the updates (or, with validateOnly, only checks
// them) on the active controller.
func (n *Node) UpdateFeatures(ctx context.Context, updates []FeatureUpdate, validateOnly bool) error {
	var opErr error
	err := n.run(ctx, func(img *Image) result {
		recs, err := updateFeatures(img, updates)
		if err != nil || validateOnly || len(recs) == 0 {
			opErr = err
			return result{}
		}
		n.log.Info("updating finalized features", "updates", fmt.Sprint(updates))
		return result{batches: [][]Record{recs}, done: func(errs []error) { opErr = errs[0] }}
	})
	return cmp.Or(err, opErr)
}

// updateFeatures decides an UpdateFeatures request: the records to write
// (none when every level is already finalized) or the first refusal.
func updateFeatures(img *Image, updates []FeatureUpdate) ([]Record, error) {
	proposed, _ := img.FinalizedFeatures()
	seen := map[string]bool{}
	for _, u := range updates {
		if seen[u.Name] {
			return nil, fmt.Errorf("%w: feature %s is updated twice", ErrInvalidRequest, u.Name)
		}
		seen[u.Name] = true
		if u.Level == 0 {
			delete(proposed, u.Name)
		} else {
			proposed[u.Name] = u.Level
		}
	}
	var recs []Record
	for _, u := range updates {
		if err := checkFeatureUpdate(img, u, proposed); err != nil {
			return nil, fmt.Errorf("%w %d for feature %s: %s", ErrInvalidFeatureUpdate, u.Level, u.Name, err.Error())
		}
		if u.Level != img.FeatureLevel(u.Name) {
			recs = append(recs, &FeatureLevelRecord{Name: u.Name, FeatureLevel: u.Level})
		}
	}
	if len(recs) > 0 && !img.FeaturesFinalized() {
		// The first change on a log without feature records: the
		// untouched defaults are written with it.
		for _, r := range BootstrapFeatureRecords() {
			if !seen[r.(*FeatureLevelRecord).Name] {
				recs = append(recs, r)
			}
		}
	}
	return recs, nil
}

// checkFeatureUpdate says why one update is refused, nil if it is not.
// proposed are the levels once every update of the request is applied.
func checkFeatureUpdate(img *Image, u FeatureUpdate, proposed map[string]int16) error {
	if u.Type < FeatureUpgrade || u.Type > FeatureUnsafeDowngrade {
		return fmt.Errorf("upgrade type %d is not one of 1 (upgrade), 2 (safe downgrade), 3 (unsafe downgrade)", u.Type)
	}
	if u.Level < 0 {
		return fmt.Errorf("a feature level cannot be negative")
	}
	spec := LookupFeature(u.Name)
	switch {
	case spec == nil && u.Level != 0:
		return fmt.Errorf("the controller does not support this feature")
	case spec != nil && (u.Level < spec.Min || u.Level > spec.Max) && !(u.Level == 0 && u.Name != FeatureMetadataVersion):
		return fmt.Errorf("the controller supports levels %s to %s", FeatureLevelString(u.Name, spec.Min), FeatureLevelString(u.Name, spec.Max))
	}
	for _, id := range img.BrokerIDs() {
		b := img.Brokers[id]
		if b.Features == nil {
			continue // registered before brokers reported features: this build's
		}
		r := b.Features[u.Name] // absent: only level 0
		if u.Level < r.Min || u.Level > r.Max {
			return fmt.Errorf("broker %d supports levels %s to %s", id, FeatureLevelString(u.Name, r.Min), FeatureLevelString(u.Name, r.Max))
		}
	}
	cur := img.FeatureLevel(u.Name)
	switch {
	case u.Level < cur && u.Type == FeatureUpgrade:
		return fmt.Errorf("the level is below the finalized %s: a downgrade needs the safe or unsafe downgrade type", FeatureLevelString(u.Name, cur))
	case u.Level > cur && u.Type != FeatureUpgrade:
		return fmt.Errorf("the level is above the finalized %s: a downgrade cannot raise it", FeatureLevelString(u.Name, cur))
	}
	if u.Level < cur && spec != nil {
		if spec.NoDowngrade != "" {
			return fmt.Errorf("downgrading %s is not supported: %s", u.Name, spec.NoDowngrade)
		}
		if u.Name == FeatureMetadataVersion && metadataChanged(spec, u.Level, cur) {
			if u.Type == FeatureUnsafeDowngrade {
				return fmt.Errorf("unsafe metadata.version downgrades are not supported")
			}
			return fmt.Errorf("refusing to downgrade metadata.version from %s because it might delete metadata information", FeatureLevelString(u.Name, cur))
		}
	}
	// Every proposed level's requirement must hold in the proposed set
	// (a change of metadata.version may break another's).
	for _, name := range sortedKeys(proposed) {
		s := LookupFeature(name)
		if s == nil {
			continue
		}
		if l := s.level(proposed[name]); l != nil && l.Requires != nil {
			if proposed[l.Requires.Name] < l.Requires.Level {
				return fmt.Errorf("%s %s requires %s at least %s", name, FeatureLevelString(name, proposed[name]),
					l.Requires.Name, FeatureLevelString(l.Requires.Name, l.Requires.Level))
			}
		}
	}
	return nil
}

// metadataChanged reports whether Kafka's metadata records changed at a
// level above low up to high (Kafka's checkIfMetadataChanged).
func metadataChanged(spec *FeatureSpec, low, high int16) bool {
	for l := high; l > low; l-- {
		if lv := spec.level(l); lv == nil || lv.MetadataChanged {
			return true
		}
	}
	return false
}

// unsupportedFinalized says which finalized level a node with the given
// supported ranges does not support, nil if it supports them all (a nil
// map: unknown, taken as supported).
func unsupportedFinalized(img *Image, supported map[string]FeatureRange) error {
	if supported == nil {
		return nil
	}
	levels, _ := img.FinalizedFeatures()
	for _, name := range sortedKeys(levels) {
		l := levels[name]
		r := supported[name]
		if l < r.Min || l > r.Max {
			return fmt.Errorf("%w: the cluster finalized %s at %s, the broker supports %s to %s", ErrUnsupportedFeatures,
				name, FeatureLevelString(name, l), FeatureLevelString(name, r.Min), FeatureLevelString(name, r.Max))
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
