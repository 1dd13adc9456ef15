package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/testbroker"
)

// preferredLed counts the partitions of a topic led by their first
// replica, as the active controller's image has it.
func preferredLed(c *testbroker.Cluster, topic string) (led, total int) {
	ctl := c.Controller()
	if ctl == nil {
		return -1, -1
	}
	t := ctl.Srv.Metadata().Image().Topic(topic)
	if t == nil {
		return -1, -1
	}
	for _, p := range t.Partitions {
		total++
		if p.Leader == p.Replicas[0] {
			led++
		}
	}
	return led, total
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLeaderElection runs leader-election against three nodes: after a
// node's restart its partitions are led elsewhere; a preferred election of
// all partitions puts leadership back on the first replicas and says so
// in Kafka's words; asked again for one partition, it says a valid
// replica is already elected; bad option combinations are refused.
func TestLeaderElection(t *testing.T) {
	c := testbroker.StartCluster(t, 3, "auto.leader.rebalance.enable=false")
	boot := "--bootstrap-server=" + strings.Join(c.Addrs(), ",")
	cliOK(t, "topics", boot, "--create", "--topic", "el", "--partitions", "6", "--replication-factor", "3")
	c.WaitSynced()
	if led, total := preferredLed(c, "el"); led != total {
		t.Fatalf("%d of %d partitions led by their preferred replica at creation", led, total)
	}
	c.Node(2).Stop()
	c.Node(2).Start()
	c.WaitSynced()
	if led, total := preferredLed(c, "el"); led == total {
		t.Fatalf("restart of node 2 left every partition with its preferred leader")
	}
	// Node 2 must be back in the ISRs for the election to choose it.
	waitFor(t, 20*time.Second, "full ISRs", func() bool {
		ctl := c.Controller()
		if ctl == nil {
			return false
		}
		for _, p := range ctl.Srv.Metadata().Image().Topic("el").Partitions {
			if len(p.ISR) != 3 {
				return false
			}
		}
		return true
	})
	out := cliOK(t, "leader-election", boot, "--election-type", "preferred", "--all-topic-partitions")
	if !strings.HasPrefix(out, "Successfully completed leader election (PREFERRED) for partitions el-") {
		t.Fatalf("preferred election output:\n%s", out)
	}
	if led, total := preferredLed(c, "el"); led != total {
		t.Fatalf("after the election %d of %d partitions led by their preferred replica", led, total)
	}
	out = cliOK(t, "leader-election", boot, "--election-type", "PREFERRED", "--topic", "el", "--partition", "0")
	if out != "Valid replica already elected for partitions el-0\n" {
		t.Fatalf("second election output: %q", out)
	}
	file := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(file, []byte(`{"partitions":[{"topic":"el","partition":1},{"topic":"nope","partition":0}]}`), 0o644)
	r := cliRun(t, "leader-election", boot, "--election-type", "preferred", "--path-to-json-file", file)
	if r.runErr == nil || !strings.Contains(r.out, "Valid replica already elected for partitions el-1") ||
		!strings.Contains(r.out, "Error completing leader election (PREFERRED) for partition: nope-0: UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("json file election: %v\n%s", r.runErr, r.out)
	}
	for _, bad := range [][]string{
		{"--election-type", "preferred"},
		{"--election-type", "preferred", "--topic", "el"},
		{"--election-type", "preferred", "--all-topic-partitions", "--topic", "el", "--partition", "0"},
		{"--election-type", "sideways", "--all-topic-partitions"},
		{"--all-topic-partitions"},
	} {
		if r := cliRun(t, "leader-election", append([]string{boot}, bad...)...); r.runErr == nil {
			t.Errorf("leader-election %v succeeded", bad)
		}
	}
}

// TestAutoLeaderRebalance checks auto.leader.rebalance.enable: after a
// node's restart the controller moves leadership back to the preferred
// replicas on its own, within the check interval.
func TestAutoLeaderRebalance(t *testing.T) {
	c := testbroker.StartCluster(t, 3, "auto.leader.rebalance.enable=true", "leader.imbalance.check.interval.seconds=1")
	boot := "--bootstrap-server=" + strings.Join(c.Addrs(), ",")
	cliOK(t, "topics", boot, "--create", "--topic", "bal", "--partitions", "6", "--replication-factor", "3")
	c.WaitSynced()
	c.Node(3).Stop()
	c.Node(3).Start()
	waitFor(t, 30*time.Second, "leadership back on the preferred replicas", func() bool {
		led, total := preferredLed(c, "bal")
		return total > 0 && led == total
	})
}
