package metadata

import (
	"bytes"
	"io"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// TestFeatureTable checks the declaration: levels cover each range
// exactly once, defaults are supported, metadata.version levels have
// Kafka's names, and nothing beyond level 0 is supported for what Samsa
// does not implement.
func TestFeatureTable(t *testing.T) {
	for _, f := range SupportedFeatures() {
		if f.Min > f.Max || (f.Default != 0 && (f.Default < f.Min || f.Default > f.Max)) {
			t.Errorf("%s: range %d-%d default %d", f.Name, f.Min, f.Max, f.Default)
		}
		if len(f.Levels) != int(f.Max-f.Min+1) {
			t.Errorf("%s: %d levels for %d-%d", f.Name, len(f.Levels), f.Min, f.Max)
		}
		for i, l := range f.Levels {
			if l.Level != f.Min+int16(i) || l.Meaning == "" || (f.Name == FeatureMetadataVersion) != (l.Name != "") {
				t.Errorf("%s level %+v", f.Name, l)
			}
		}
	}
	if f := LookupFeature(FeatureELRVersion); f == nil || f.Max != 0 {
		t.Errorf("%s must be supported at level 0 only: %+v", FeatureELRVersion, f)
	}
	// transaction.version 2 is KIP-890 part 2; it is not finalized on a
	// new cluster, and needs metadata.version 4.0-IV2 as in Kafka.
	if f := LookupFeature(FeatureTransactionVersion); f == nil || f.Max != 2 || f.Default != 0 ||
		f.Levels[2].Requires == nil || f.Levels[2].Requires.Level != 24 {
		t.Errorf("%s: %+v", FeatureTransactionVersion, f)
	}
	for s, want := range map[string]int16{"3.3-IV3": 7, "4.0-IV3": 25, "4.0": 25, "3.7": 19, "3.9-IV0": 21} {
		if got, err := ParseMetadataVersion(s); err != nil || got != want {
			t.Errorf("ParseMetadataVersion(%s) = %d, %v; want %d", s, got, err, want)
		}
	}
	if _, err := ParseMetadataVersion("3.2-IV0"); err == nil {
		t.Error("3.2-IV0 parsed; it is below the supported range")
	}
	if s := FeatureLevelString(FeatureMetadataVersion, 25); s != "4.0-IV3" {
		t.Errorf("level 25: %s", s)
	}
}

// TestFeaturesApplyAndSnapshot: feature records change the image and its
// features epoch; a snapshot keeps both; level 0 removes a feature;
// metadata.version cannot be removed.
func TestFeaturesApplyAndSnapshot(t *testing.T) {
	im := mustApply(t, emptyImage(), 3, BootstrapFeatureRecords()...)
	im = mustApply(t, im, 4, &ProducerIDsRecord{NextBlockStart: 1000})
	if lv, epoch := im.FinalizedFeatures(); epoch != 3 || lv[FeatureMetadataVersion] != 25 || lv[FeatureGroupVersion] != 1 {
		t.Fatalf("finalized %v epoch %d", lv, epoch)
	}
	im = mustApply(t, im, 5, &FeatureLevelRecord{Name: FeatureGroupVersion})
	if _, ok := im.Features[FeatureGroupVersion]; ok || im.FeatureLevel(FeatureGroupVersion) != 0 || im.FeaturesOffset != 5 {
		t.Fatalf("group.version after removal: %v offset %d", im.Features, im.FeaturesOffset)
	}
	if _, _, err := applyBatch(im, 6, []Record{&FeatureLevelRecord{Name: FeatureMetadataVersion}}); err == nil {
		t.Fatal("metadata.version removed")
	}
	src := &fsm{st: &state{}, log: testLogger()}
	src.st.image.Store(im)
	snap, _ := src.Snapshot()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	dst := &fsm{st: &state{}, log: testLogger()}
	dst.st.image.Store(emptyImage())
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	got := dst.st.image.Load()
	if !reflect.DeepEqual(got.Features, im.Features) || got.FeaturesOffset != 5 {
		t.Fatalf("restored features %v offset %d, want %v 5", got.Features, got.FeaturesOffset, im.Features)
	}
	// A snapshot of a log without feature records: the defaults, epoch -1.
	if err := dst.Restore(io.NopCloser(bytes.NewReader([]byte(`{"Version":1,"ClusterID":"c"}`)))); err != nil {
		t.Fatal(err)
	}
	if lv, epoch := dst.st.image.Load().FinalizedFeatures(); epoch != -1 || lv[FeatureMetadataVersion] != 25 {
		t.Fatalf("old snapshot: %v %d", lv, epoch)
	}
	// The first change on such an image writes the other defaults with it.
	recs, err := updateFeatures(dst.st.image.Load(), []FeatureUpdate{{Name: FeatureGroupVersion, Level: 0, Type: FeatureSafeDowngrade}})
	if err != nil {
		t.Fatal(err)
	}
	after := mustApply(t, dst.st.image.Load(), 9, recs...)
	if want := map[string]int16{FeatureMetadataVersion: 25, FeatureKRaftVersion: 1}; !reflect.DeepEqual(after.Features, want) {
		t.Fatalf("features after the first change: %v, want %v", after.Features, want)
	}
}

// TestFeaturesOnNode: a new cluster finalizes its features with its id;
// UpdateFeatures goes through raft, validate-only writes nothing, and the
// levels survive a restart. A data dir written before feature versions
// (its log has no feature records) starts, and its controller finalizes
// the defaults once.
func TestFeaturesOnNode(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	n := openReady(t, persistConfig(t, dir))
	ctx := ctxT(t)
	lv, epoch := n.Image().FinalizedFeatures()
	if epoch <= 0 || lv[FeatureMetadataVersion] != 25 || lv[FeatureKRaftVersion] != 1 || lv[FeatureGroupVersion] != 1 || len(lv) != 3 {
		t.Fatalf("new cluster: %v epoch %d", lv, epoch)
	}
	if err := n.UpdateFeatures(ctx, []FeatureUpdate{{Name: FeatureGroupVersion, Level: 0, Type: FeatureSafeDowngrade}}, true); err != nil {
		t.Fatal(err)
	}
	if n.Image().FeatureLevel(FeatureGroupVersion) != 1 {
		t.Fatal("validate-only changed group.version")
	}
	if err := n.UpdateFeatures(ctx, []FeatureUpdate{{Name: FeatureTransactionVersion, Level: 3, Type: FeatureUpgrade}}, false); err == nil {
		t.Fatal("transaction.version 3 accepted")
	}
	if err := n.UpdateFeatures(ctx, []FeatureUpdate{{Name: FeatureGroupVersion, Level: 0, Type: FeatureSafeDowngrade}}, false); err != nil {
		t.Fatal(err)
	}
	changed := n.Image()
	if changed.FeatureLevel(FeatureGroupVersion) != 0 || int64(changed.FeaturesOffset) <= epoch {
		t.Fatalf("after the downgrade: %v offset %d", changed.Features, changed.FeaturesOffset)
	}
	n = reopen(t, n, dir)
	if im := n.Image(); !reflect.DeepEqual(im.Features, changed.Features) || im.FeaturesOffset != changed.FeaturesOffset {
		t.Fatalf("after restart: %v at %d, want %v at %d", im.Features, im.FeaturesOffset, changed.Features, changed.FeaturesOffset)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	// An old data dir: the log as it was before feature versions.
	dir = t.TempDir()
	n = openReady(t, testConfig(t, dir, 0))
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	clusterIndex := stripFeatureRecords(t, dir)
	n = openReady(t, testConfig(t, dir, 0))
	defer n.Close()
	var im *Image
	eventually(t, 5*time.Second, "the default features finalized", func() bool {
		im = n.Image()
		return im.FeaturesFinalized()
	})
	if im.FeaturesOffset <= clusterIndex || im.FeatureLevel(FeatureMetadataVersion) != 25 || im.FeatureLevel(FeatureGroupVersion) != 1 {
		t.Fatalf("old dir: features %v at %d (cluster id at %d)", im.Features, im.FeaturesOffset, clusterIndex)
	}
}

// stripFeatureRecords rewrites a stopped node's raft log so that the
// batch with the cluster id has no feature records, as a log written
// before feature versions existed. It returns that entry's index.
func stripFeatureRecords(t *testing.T, dir string) uint64 {
	t.Helper()
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"), BoltOptions: &bbolt.Options{Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	first, _ := store.FirstIndex()
	last, _ := store.LastIndex()
	for i := first; i <= last; i++ {
		var l raft.Log
		if err := store.GetLog(i, &l); err != nil || l.Type != raft.LogCommand {
			continue
		}
		recs, err := DecodeBatch(l.Data)
		if err != nil {
			t.Fatal(err)
		}
		var kept []Record
		for _, r := range recs {
			if _, ok := r.(*FeatureLevelRecord); !ok {
				kept = append(kept, r)
			}
		}
		if len(kept) == len(recs) {
			continue
		}
		if l.Data, err = EncodeBatch(kept); err != nil {
			t.Fatal(err)
		}
		if err := store.StoreLog(&l); err != nil {
			t.Fatal(err)
		}
		return i
	}
	t.Fatal("no feature records in the log")
	return 0
}
