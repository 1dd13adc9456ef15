package cli

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestFeaturesTool: describe prints Kafka's lines (metadata.version by
// name, the epoch of the finalized levels); downgrade, upgrade and
// disable change the levels, --dry-run only validates, and a refusal
// prints Kafka's "Could not ..." line and fails.
func TestFeaturesTool(t *testing.T) {
	b, _ := cliBroker(t)
	boot := "--bootstrap-server=" + b.Addr()
	out := cliOK(t, "features", boot, "describe")
	m := regexp.MustCompile(`Epoch: (\d+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("describe has no epoch:\n%s", out)
	}
	epoch := m[1]
	want := strings.ReplaceAll(`Feature: eligible.leader.replicas.version	SupportedMinVersion: 0	SupportedMaxVersion: 0	FinalizedVersionLevel: 0	Epoch: @E@
Feature: group.version	SupportedMinVersion: 0	SupportedMaxVersion: 1	FinalizedVersionLevel: 1	Epoch: @E@
Feature: kraft.version	SupportedMinVersion: 0	SupportedMaxVersion: 1	FinalizedVersionLevel: 1	Epoch: @E@
Feature: metadata.version	SupportedMinVersion: 3.3-IV3	SupportedMaxVersion: 4.0-IV3	FinalizedVersionLevel: 4.0-IV3	Epoch: @E@
Feature: transaction.version	SupportedMinVersion: 0	SupportedMaxVersion: 2	FinalizedVersionLevel: 0	Epoch: @E@
`, "@E@", epoch)
	if out != want {
		t.Fatalf("describe:\n%s\nwant:\n%s", out, want)
	}

	if out := cliOK(t, "features", boot, "downgrade", "--feature", "group.version=0", "--dry-run"); out != "group.version can be downgraded to 0.\n" {
		t.Fatalf("dry run: %q", out)
	}
	if out := cliOK(t, "features", boot, "describe"); !strings.Contains(out, "Feature: group.version\tSupportedMinVersion: 0\tSupportedMaxVersion: 1\tFinalizedVersionLevel: 1\tEpoch: "+epoch+"\n") {
		t.Fatalf("after the dry run:\n%s", out)
	}
	if out := cliOK(t, "features", boot, "disable", "--feature", "group.version"); out != "group.version was disabled.\n" {
		t.Fatalf("disable: %q", out)
	}
	out = cliOK(t, "features", boot, "describe")
	if !strings.Contains(out, "Feature: group.version\tSupportedMinVersion: 0\tSupportedMaxVersion: 1\tFinalizedVersionLevel: 0\tEpoch: ") || strings.Contains(out, "Epoch: "+epoch+"\n") {
		t.Fatalf("after disabling group.version (epoch was %s):\n%s", epoch, out)
	}
	if out := cliOK(t, "features", boot, "upgrade", "--feature", "group.version=1", "--metadata", "4.0-IV3"); out != " `metadata` flag is deprecated and may be removed in a future release.\ngroup.version was upgraded to 1.\nmetadata.version was upgraded to 25.\n" {
		t.Fatalf("upgrade: %q", out)
	}

	// Refused: all or nothing, Kafka's lines, a failing exit.
	r := cliRun(t, "features", boot, "upgrade", "--feature", "transaction.version=3", "--feature", "group.version=1")
	wantOneLineErr(t, r, "2 out of 2 operation(s) failed")
	if !strings.Contains(r.out, "Could not upgrade group.version to 1. The update failed for all features since the following feature had an error: invalid update version 3 for feature transaction.version") ||
		!strings.Contains(r.out, "Could not upgrade transaction.version to 3.") {
		t.Fatalf("refused upgrade output:\n%s", r.out)
	}
	r = cliRun(t, "features", boot, "downgrade", "--metadata", "3.3-IV3", "--dry-run")
	wantOneLineErr(t, r, "1 out of 1 operation(s) failed")
	if !strings.Contains(r.out, "Can not downgrade metadata.version to 7. ") || !strings.Contains(r.out, "might delete metadata information") {
		t.Fatalf("refused downgrade output:\n%s", r.out)
	}
	for _, args := range [][]string{
		{"upgrade"},
		{"upgrade", "--feature", "group.version"},
		{"upgrade", "--feature", "group.version=x"},
		{"upgrade", "--feature", "group.version=1", "--feature", "group.version=1"},
		{"upgrade", "--metadata", "9.9-IV0"},
		{"frobnicate"},
	} {
		if r := cliRun(t, "features", append([]string{boot}, args...)...); r.runErr == nil {
			t.Errorf("features %v succeeded: %s", args, r.out)
		} else if strings.Contains(r.runErr.Error(), "\n") {
			t.Errorf("features %v: error of several lines: %q", args, r.runErr)
		}
	}
	if c, ok := Lookup("kafka-features.sh"); !ok || c.Name != "features" {
		t.Fatal(fmt.Sprint("kafka-features.sh not found: ", ok))
	}
}
