package broker_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-streaming/samsa/internal/testbroker"
)

// nodeRequest sends one request to the node at addr (not to whichever
// broker the client picks), at the request's version (kgo would send its
// highest otherwise).
func nodeRequest(t *testing.T, addr string, req kmsg.Request) kmsg.Response {
	t.Helper()
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(req.Key(), req.GetVersion())
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(vs))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Fatalf("%s to %s: %v", kmsg.NameForKey(req.Key()), addr, err)
	}
	return resp
}

// features is one node's ApiVersions view of the feature levels.
type features struct {
	supported string // name=min-max, sorted
	finalized string // name=level, sorted
	epoch     int64
}

func apiVersionsFeatures(t *testing.T, addr string, version int16) features {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(version)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "samsa-test", "1"
	resp := nodeRequest(t, addr, req).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions v%d at %s: %v", version, addr, kerr.ErrorForCode(resp.ErrorCode))
	}
	var f features
	var s []string
	for _, sf := range resp.SupportedFeatures {
		s = append(s, fmt.Sprintf("%s=%d-%d", sf.Name, sf.MinVersion, sf.MaxVersion))
	}
	slices.Sort(s)
	f.supported = strings.Join(s, " ")
	s = nil
	for _, ff := range resp.FinalizedFeatures {
		if ff.MinVersionLevel != ff.MaxVersionLevel {
			t.Errorf("finalized %s: min %d max %d", ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel)
		}
		s = append(s, fmt.Sprintf("%s=%d", ff.Name, ff.MaxVersionLevel))
	}
	slices.Sort(s)
	f.finalized = strings.Join(s, " ")
	f.epoch = resp.FinalizedFeaturesEpoch
	return f
}

func updateFeatures(t *testing.T, addr string, version int16, validateOnly bool, updates ...kmsg.UpdateFeaturesRequestFeatureUpdate) *kmsg.UpdateFeaturesResponse {
	t.Helper()
	req := kmsg.NewPtrUpdateFeaturesRequest()
	req.SetVersion(version)
	req.ValidateOnly = validateOnly
	req.FeatureUpdates = updates
	return nodeRequest(t, addr, req).(*kmsg.UpdateFeaturesResponse)
}

func featureUpdate(name string, level int16, typ int8) kmsg.UpdateFeaturesRequestFeatureUpdate {
	u := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
	u.Feature, u.MaxVersionLevel, u.UpgradeType, u.AllowDowngrade = name, level, typ, typ >= 2
	return u
}

const (
	allSupported = "eligible.leader.replicas.version=0-0 group.version=0-1 kraft.version=0-1 metadata.version=7-25 transaction.version=0-2"
	defaults     = "group.version=1 kraft.version=1 metadata.version=25"
)

// TestFeatureVersions: every broker of a cluster answers ApiVersions v3+
// with the supported levels, the finalized ones and their epoch;
// UpdateFeatures, sent to any broker, validates (validate-only, levels
// nobody supports, downgrades without the type, metadata.version
// downgrades), changes the levels on every broker, switches the consumer
// group protocol off and on with group.version, and the levels survive a
// restart.
func TestFeatureVersions(t *testing.T) {
	c := testbroker.StartCluster(t, 3)
	c.WaitSynced()
	var epoch int64
	for _, nd := range c.Nodes() {
		f := apiVersionsFeatures(t, nd.Addr(), 4)
		if f.supported != allSupported || f.finalized != defaults || f.epoch <= 0 {
			t.Fatalf("node %d v4: %+v", nd.ID, f)
		}
		if epoch != 0 && f.epoch != epoch {
			t.Fatalf("node %d: epoch %d, another node %d", nd.ID, f.epoch, epoch)
		}
		epoch = f.epoch
		// v3: no feature whose minimum level is 0 (older clients fail on
		// one, KAFKA-17011).
		if f3 := apiVersionsFeatures(t, nd.Addr(), 3); f3.supported != "metadata.version=7-25" || f3.finalized != defaults {
			t.Fatalf("node %d v3: %+v", nd.ID, f3)
		}
	}
	// The request goes to a broker that is not the controller (forwarded).
	var other *testbroker.Node
	for _, nd := range c.Nodes() {
		if nd != c.Controller() {
			other = nd
		}
	}

	// Refusals: the whole request fails with the top-level error, nothing
	// changes.
	for _, tc := range []struct {
		name    string
		updates []kmsg.UpdateFeaturesRequestFeatureUpdate
		want    string
	}{
		{"above the supported range", []kmsg.UpdateFeaturesRequestFeatureUpdate{featureUpdate("metadata.version", 26, 1)}, "supports levels 3.3-IV3 to 4.0-IV3"},
		{"transactions", []kmsg.UpdateFeaturesRequestFeatureUpdate{featureUpdate("transaction.version", 3, 1)}, "supports levels 0 to 2"},
		{"downgrade without the type", []kmsg.UpdateFeaturesRequestFeatureUpdate{featureUpdate("group.version", 0, 1)}, "a downgrade needs"},
		{"metadata downgrade", []kmsg.UpdateFeaturesRequestFeatureUpdate{featureUpdate("metadata.version", 7, 2)}, "might delete metadata"},
		{"unsafe metadata downgrade", []kmsg.UpdateFeaturesRequestFeatureUpdate{featureUpdate("metadata.version", 7, 3)}, "unsafe metadata.version downgrades are not supported"},
		{"one bad of two", []kmsg.UpdateFeaturesRequestFeatureUpdate{featureUpdate("group.version", 0, 2), featureUpdate("eligible.leader.replicas.version", 1, 1)}, "eligible.leader.replicas.version"},
	} {
		resp := updateFeatures(t, other.Addr(), 2, false, tc.updates...)
		if resp.ErrorCode != kerr.InvalidUpdateVersion.Code || resp.ErrorMessage == nil || !strings.Contains(*resp.ErrorMessage, tc.want) || len(resp.Results) != 0 {
			t.Fatalf("%s: code %d message %v results %v", tc.name, resp.ErrorCode, strp(resp.ErrorMessage), resp.Results)
		}
	}
	resp := updateFeatures(t, other.Addr(), 1, true, featureUpdate("group.version", 0, 2))
	if resp.ErrorCode != 0 || len(resp.Results) != 1 || resp.Results[0].Feature != "group.version" || resp.Results[0].ErrorCode != 0 {
		t.Fatalf("validate-only: %+v", resp)
	}
	c.WaitSynced()
	for _, nd := range c.Nodes() {
		if f := apiVersionsFeatures(t, nd.Addr(), 4); f.finalized != defaults || f.epoch != epoch {
			t.Fatalf("node %d after refusals and validate-only: %+v", nd.ID, f)
		}
	}

	// A consumer group member before the change.
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.SetVersion(1)
	hb.Group, hb.MemberID, hb.RebalanceTimeoutMillis, hb.SubscribedTopicNames = "features-g", "m1-features-test-000000", 30000, []string{"t"}
	hbCode := func() int16 {
		return nodeRequest(t, other.Addr(), hb).(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode
	}
	if code := hbCode(); code == kerr.UnsupportedVersion.Code {
		t.Fatalf("ConsumerGroupHeartbeat with group.version 1: %v", kerr.ErrorForCode(code))
	}

	// group.version 0 (v0's AllowDowngrade): on every broker, with a new
	// epoch; the consumer group protocol is off.
	resp = updateFeatures(t, other.Addr(), 0, false, featureUpdate("group.version", 0, 2))
	if resp.ErrorCode != 0 || len(resp.Results) != 1 || resp.Results[0].ErrorCode != 0 {
		t.Fatalf("disable group.version: %+v", resp)
	}
	c.WaitSynced()
	var off int64
	for _, nd := range c.Nodes() {
		f := apiVersionsFeatures(t, nd.Addr(), 4)
		if f.finalized != "kraft.version=1 metadata.version=25" || f.epoch <= epoch {
			t.Fatalf("node %d after disabling group.version: %+v (epoch before %d)", nd.ID, f, epoch)
		}
		off = f.epoch
	}
	if code := hbCode(); code != kerr.UnsupportedVersion.Code {
		t.Fatalf("ConsumerGroupHeartbeat with group.version 0: %v", kerr.ErrorForCode(code))
	}

	// The level survives a restart of a node (its log replayed).
	other.Stop()
	other.Start()
	if f := apiVersionsFeatures(t, other.Addr(), 4); f.finalized != "kraft.version=1 metadata.version=25" || f.epoch != off {
		t.Fatalf("node %d after its restart: %+v", other.ID, f)
	}

	// Upgrade back (v2: no per-feature results); the protocol is on again.
	resp = updateFeatures(t, other.Addr(), 2, false, featureUpdate("group.version", 1, 1))
	if resp.ErrorCode != 0 || len(resp.Results) != 0 {
		t.Fatalf("upgrade group.version: %+v", resp)
	}
	c.WaitSynced()
	for _, nd := range c.Nodes() {
		if f := apiVersionsFeatures(t, nd.Addr(), 4); f.finalized != defaults || f.epoch <= off {
			t.Fatalf("node %d after the upgrade: %+v", nd.ID, f)
		}
	}
	if code := hbCode(); code == kerr.UnsupportedVersion.Code {
		t.Fatal("ConsumerGroupHeartbeat still refused after group.version 1")
	}
}

// TestFeatureVersionsControllerOnly: a dedicated controller answers
// ApiVersions on its CONTROLLER listener with the features too, and a
// broker-only node registers its supported levels.
func TestFeatureVersionsControllerOnly(t *testing.T) {
	c := testbroker.StartClusterRoles(t, []string{"controller", "broker"})
	c.WaitSynced()
	ctl := c.Node(1)
	f := apiVersionsFeatures(t, fmt.Sprintf("127.0.0.1:%d", ctl.CPort), 4)
	if f.supported != allSupported || f.finalized != defaults || f.epoch <= 0 {
		t.Fatalf("controller: %+v", f)
	}
	if b := apiVersionsFeatures(t, c.Node(2).Addr(), 4); b != f {
		t.Fatalf("broker %+v, controller %+v", b, f)
	}
	reg := ctl.Srv.Metadata().Image().Brokers[2]
	if reg == nil || reg.Features["metadata.version"].Max != 25 || reg.Features["transaction.version"].Max != 2 || len(reg.Features) != 5 {
		t.Fatalf("broker 2's registration: %+v", reg)
	}
}

func strp(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
