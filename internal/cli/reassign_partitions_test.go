package cli

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/testbroker"
)

// TestReassignPartitions drives reassign-partitions through Kafka's
// workflow on four nodes: --generate proposes an assignment over the
// given brokers, --execute starts it (printing the rollback JSON),
// --verify reports it until it completes, --list and --cancel handle one
// in flight, and bad files are refused.
func TestReassignPartitions(t *testing.T) {
	c := testbroker.StartCluster(t, 4, "auto.leader.rebalance.enable=false")
	boot := "--bootstrap-server=" + strings.Join(c.Addrs(), ",")
	cliOK(t, "topics", boot, "--create", "--topic", "mv", "--partitions", "2", "--replication-factor", "2")
	c.WaitSynced()
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	topics := write("topics.json", `{"version":1,"topics":[{"topic":"mv"}]}`)
	out := cliOK(t, "reassign-partitions", boot, "--generate", "--topics-to-move-json-file", topics, "--broker-list", "3,4")
	if !strings.HasPrefix(out, "Current partition replica assignment\n{\"version\":1,\"partitions\":[{\"topic\":\"mv\",\"partition\":0,") ||
		!strings.Contains(out, "\n\nProposed partition reassignment configuration\n{\"version\":1,\"partitions\":[") {
		t.Fatalf("generate:\n%s", out)
	}
	proposed := strings.TrimSpace(out[strings.Index(out, "Proposed partition reassignment configuration\n")+len("Proposed partition reassignment configuration\n"):])
	for _, want := range []string{`"replicas":[3,4]`, `"replicas":[4,3]`} {
		if !strings.Contains(proposed, want) {
			t.Fatalf("proposal over brokers 3 and 4 lacks %s: %s", want, proposed)
		}
	}
	plan := write("plan.json", proposed)
	out = cliOK(t, "reassign-partitions", boot, "--execute", "--reassignment-json-file", plan)
	if !strings.Contains(out, "Save this to use as the --reassignment-json-file option during rollback\n") ||
		!strings.HasSuffix(out, "Successfully started partition reassignments for mv-0,mv-1\n") {
		t.Fatalf("execute:\n%s", out)
	}
	waitFor(t, 30*time.Second, "verify to report completion", func() bool {
		r := cliRun(t, "reassign-partitions", boot, "--verify", "--reassignment-json-file", plan)
		return r.runErr == nil && strings.HasPrefix(r.out, "Status of partition reassignment:\nReassignment of partition mv-0 is completed.\nReassignment of partition mv-1 is completed.\n")
	})
	if out := cliOK(t, "reassign-partitions", boot, "--list"); out != "No partition reassignments found.\n" {
		t.Fatalf("list after completion: %q", out)
	}

	// One in flight: back to brokers 1 and 2 with broker 1 down, so it
	// cannot complete; --list shows it, --cancel ends it.
	c.Node(1).Stop()
	waitFor(t, 15*time.Second, "broker 1 fenced", func() bool {
		ctl := c.Controller()
		return ctl != nil && ctl.Srv.Metadata().Image().Brokers[1].Fenced
	})
	back := write("back.json", `{"version":1,"partitions":[{"topic":"mv","partition":0,"replicas":[1,2],"log_dirs":["any","any"]}]}`)
	cliOK(t, "reassign-partitions", boot, "--execute", "--reassignment-json-file", back)
	if out := cliOK(t, "reassign-partitions", boot, "--list"); !strings.HasPrefix(out, "Current partition reassignments:\nmv-0: replicas: ") || !strings.Contains(out, "adding: 1,2.") {
		t.Fatalf("list in flight: %q", out)
	}
	r := cliRun(t, "reassign-partitions", boot, "--verify", "--reassignment-json-file", back)
	if r.runErr == nil || !strings.Contains(r.out, "Reassignment of partition mv-0 is still in progress.") {
		t.Fatalf("verify in flight: %v %q", r.runErr, r.out)
	}
	if out := cliOK(t, "reassign-partitions", boot, "--cancel", "--reassignment-json-file", back); out != "Successfully cancelled partition reassignment for: mv-0\n" {
		t.Fatalf("cancel: %q", out)
	}
	if out := cliOK(t, "reassign-partitions", boot, "--cancel", "--reassignment-json-file", back); out != "None of the specified partition reassignments are active.\n" {
		t.Fatalf("cancel again: %q", out)
	}
	ctl := c.Controller()
	if reps := ctl.Srv.Metadata().Image().Partition("mv", 0).Replicas; !slices.Contains(reps, 3) || !slices.Contains(reps, 4) || len(reps) != 2 {
		t.Fatalf("replicas after the cancel: %v", reps)
	}

	for name, data := range map[string]string{
		"dup.json":    `{"version":1,"partitions":[{"topic":"mv","partition":0,"replicas":[3,3]}]}`,
		"empty.json":  `{"version":1,"partitions":[]}`,
		"dirs.json":   `{"version":1,"partitions":[{"topic":"mv","partition":0,"replicas":[3,4],"log_dirs":["/x","any"]}]}`,
		"broken.json": `{"version":1,`,
	} {
		if r := cliRun(t, "reassign-partitions", boot, "--execute", "--reassignment-json-file", write(name, data)); r.runErr == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if r := cliRun(t, "reassign-partitions", boot, "--verify", "--reassignment-json-file", plan, "--throttle", "1000"); r.runErr == nil {
		t.Error("--throttle accepted with --verify")
	}
	if r := cliRun(t, "reassign-partitions", boot, "--execute", "--verify", "--reassignment-json-file", plan); r.runErr == nil {
		t.Error("two actions accepted")
	}
}

// TestReassignPartitionsThrottle checks --throttle: with a throttle far
// below what the catch-up needs, the new replica stays behind (the
// reassignment is still in progress seconds later) while the leader keeps
// serving; raising the rate lets it complete, and --verify then removes
// the throttles from the brokers and the topic.
func TestReassignPartitionsThrottle(t *testing.T) {
	c := testbroker.StartCluster(t, 3, "replica.fetch.max.bytes=16384", "auto.leader.rebalance.enable=false")
	boot := "--bootstrap-server=" + strings.Join(c.Addrs(), ",")
	dir := t.TempDir()
	req := `{"version":1,"partitions":[{"topic":"th","partition":0,"replicas":[1]}]}`
	os.WriteFile(filepath.Join(dir, "start.json"), []byte(req), 0o644)
	cliOK(t, "topics", boot, "--create", "--topic", "th", "--partitions", "1", "--replication-factor", "1")
	c.WaitSynced()
	cliOK(t, "reassign-partitions", boot, "--execute", "--reassignment-json-file", filepath.Join(dir, "start.json"))
	waitFor(t, 20*time.Second, "th-0 on broker 1", func() bool {
		p := c.Controller().Srv.Metadata().Image().Partition("th", 0)
		return len(p.Replicas) == 1 && p.Replicas[0] == 1
	})
	// 400 batches of 1 KB (a fetch always returns at least one whole
	// batch, so the throttle is as fine as the batches).
	prod := c.Client(kgo.DefaultProduceTopic("th"))
	for i := 0; i < 400; i++ {
		if err := prod.ProduceSync(context.Background(), &kgo.Record{Value: []byte(strings.Repeat("x", 1000))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	plan := filepath.Join(dir, "plan.json")
	os.WriteFile(plan, []byte(`{"version":1,"partitions":[{"topic":"th","partition":0,"replicas":[1,2]}]}`), 0o644)
	out := cliOK(t, "reassign-partitions", boot, "--execute", "--reassignment-json-file", plan, "--throttle", "1000")
	if !strings.Contains(out, "Warning: You must run --verify periodically") || !strings.Contains(out, "The inter-broker throttle limit was set to 1000 B/s\n") {
		t.Fatalf("execute with a throttle:\n%s", out)
	}
	// Describe may ask a broker whose metadata has not applied the
	// throttles yet (as in Kafka, any broker answers from its own view).
	var got string
	waitFor(t, 5*time.Second, "the topic throttles described", func() bool {
		got = cliOK(t, "configs", boot, "--describe", "--entity-type", "topics", "--entity-name", "th")
		return strings.Contains(got, "leader.replication.throttled.replicas=0:1") && strings.Contains(got, "follower.replication.throttled.replicas=0:2")
	})
	// 400 KB at 1 KB/s: far from done after three seconds.
	time.Sleep(3 * time.Second)
	if r := cliRun(t, "reassign-partitions", boot, "--verify", "--reassignment-json-file", plan); r.runErr == nil || !strings.Contains(r.out, "is still in progress") {
		t.Fatalf("verify under the throttle: %v %q", r.runErr, r.out)
	}
	if leo := c.Node(2).Srv.Replicas().Get("th", 0).Log.LogEndOffset(); leo >= 400 {
		t.Fatalf("the throttled replica caught up: %d", leo)
	}
	for _, id := range []string{"1", "2"} {
		cliOK(t, "configs", boot, "--alter", "--entity-type", "brokers", "--entity-name", id, "--add-config", "leader.replication.throttled.rate=100000000,follower.replication.throttled.rate=100000000")
	}
	waitFor(t, 30*time.Second, "the reassignment to complete", func() bool {
		r := cliRun(t, "reassign-partitions", boot, "--verify", "--reassignment-json-file", plan)
		return r.runErr == nil
	})
	out = cliOK(t, "reassign-partitions", boot, "--verify", "--reassignment-json-file", plan)
	if !strings.Contains(out, "Clearing broker-level throttles on brokers 1,2,3\n") || !strings.Contains(out, "Clearing topic-level throttles on topic th\n") {
		t.Fatalf("verify when done:\n%s", out)
	}
	c.WaitSynced()
	if got := cliOK(t, "configs", boot, "--describe", "--entity-type", "topics", "--entity-name", "th"); strings.Contains(got, "throttled.replicas=0") {
		t.Fatalf("topic throttles left:\n%s", got)
	}
}
