package cli

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/testbroker"
)

// quorumVoter matches one voter of metadata-quorum --status.
var quorumVoter = regexp.MustCompile(`\{"id": (\d+), "directoryId": null, "endpoints": \["CONTROLLER://127\.0\.0\.1:\d+"\]\}`)

// describedPartition is a partition line of topics --describe.
type describedPartition struct {
	topic, partition, leader string
	replicas, isr            []string
}

func parsePartitionLines(t *testing.T, out string) []describedPartition {
	t.Helper()
	var ps []describedPartition
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" || strings.HasPrefix(l, "Topic: ") {
			continue
		}
		m := partitionLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("partition line %q", l)
		}
		if m[6] != "" || m[7] != "" {
			t.Fatalf("Elr/LastKnownElr not empty in %q", l)
		}
		ps = append(ps, describedPartition{m[1], m[2], m[3], strings.Split(m[4], ","), strings.Split(m[5], ",")})
	}
	return ps
}

// partitionNames lists topic-partition names of describe lines, sorted.
func partitionNames(ps []describedPartition) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.topic+"-"+p.partition)
	}
	slices.Sort(out)
	return out
}

// TestClusterTools runs topics --describe with its partition reports and
// metadata-quorum against three combined nodes, before and after one of
// them stops.
func TestClusterTools(t *testing.T) {
	c := testbroker.StartCluster(t, 3)
	ctl := c.Controller()
	if ctl == nil {
		t.Fatal("no active controller")
	}
	var other *testbroker.Node // a node that is not the controller
	for _, nd := range c.Nodes() {
		if nd != ctl {
			other = nd
		}
	}
	all := []string{"--bootstrap-server", strings.Join(c.Addrs(), ",")}
	args := func(a ...string) []string { return append(slices.Clone(all), a...) }

	cliOK(t, "topics", args("--create", "--topic", "rep", "--partitions", "3", "--replication-factor", "3",
		"--config", "min.insync.replicas=2")...)
	cliOK(t, "topics", args("--create", "--topic", "strict", "--partitions", "2", "--replication-factor", "3",
		"--config", "min.insync.replicas=3")...)
	cliOK(t, "topics", args("--create", "--topic", "single", "--replica-assignment", strconv.Itoa(int(other.ID)))...)
	c.WaitSynced()

	// Every partition has 3 replicas on 3 brokers and its whole ISR.
	out := cliOK(t, "topics", args("--describe", "--topic", "rep|strict")...)
	ps := parsePartitionLines(t, out)
	if len(ps) != 5 {
		t.Fatalf("described %d partitions:\n%s", len(ps), out)
	}
	for _, p := range ps {
		reps, isr := slices.Sorted(slices.Values(p.replicas)), slices.Sorted(slices.Values(p.isr))
		if !slices.Equal(reps, []string{"1", "2", "3"}) || !slices.Equal(isr, reps) || !slices.Contains(reps, p.leader) {
			t.Fatalf("partition %+v", p)
		}
	}
	for _, report := range []string{"--under-replicated-partitions", "--unavailable-partitions", "--under-min-isr-partitions"} {
		if out := cliOK(t, "topics", args("--describe", "--exclude-internal", report)...); out != "" {
			t.Fatalf("%s on a whole cluster:\n%s", report, out)
		}
	}
	// strict's ISR (3) is its min.insync.replicas; single's (1) the default.
	out = cliOK(t, "topics", args("--describe", "--exclude-internal", "--at-min-isr-partitions")...)
	if got := partitionNames(parsePartitionLines(t, out)); !slices.Equal(got, []string{"single-0", "strict-0", "strict-1"}) {
		t.Fatalf("--at-min-isr-partitions: %v\n%s", got, out)
	}

	// The quorum, bootstrapped from the controller or from another broker
	// (the client sends DescribeQuorum to the controller; the broker tests
	// cover the forwarding).
	for _, via := range []*testbroker.Node{ctl, other} {
		out = cliOK(t, "metadata-quorum", "--bootstrap-server", via.Addr(), "describe", "--status")
		if !strings.Contains(out, "LeaderId:               "+strconv.Itoa(int(ctl.ID))+"\n") {
			t.Fatalf("status via node %d:\n%s", via.ID, out)
		}
		voters := quorumVoter.FindAllStringSubmatch(out, -1)
		if len(voters) != 3 || voters[0][1] != "1" || voters[1][1] != "2" || voters[2][1] != "3" {
			t.Fatalf("status via node %d: voters %q\n%s", via.ID, voters, out)
		}
		if !strings.Contains(out, "CurrentObservers:       []\n") {
			t.Fatalf("observers in:\n%s", out)
		}
	}
	// Each voter has a log end offset once it has heartbeated.
	rows := replicationRows(t, all, func(rows map[string][]string) bool {
		for _, r := range rows {
			if r[2] == "-1" {
				return false
			}
		}
		return len(rows) == 3
	})
	if rows[strconv.Itoa(int(ctl.ID))][6] != "Leader" {
		t.Fatalf("rows %q", rows)
	}

	// One node stops (not the controller, so that the test needs no
	// election): its partitions are under-replicated but all have a leader.
	// Each broker answers Metadata from its own image: wait until both
	// running ones have the change.
	other.Stop()
	c.WaitSynced()
	out = cliOK(t, "topics", args("--describe", "--exclude-internal", "--under-replicated-partitions")...)
	under := parsePartitionLines(t, out)
	if got := partitionNames(under); !slices.Equal(got, []string{"rep-0", "rep-1", "rep-2", "strict-0", "strict-1"}) {
		t.Fatalf("--under-replicated-partitions after node %d stopped: %v\n%s", other.ID, got, out)
	}
	for _, p := range under {
		if len(p.replicas) != 3 || len(p.isr) != 2 || slices.Contains(p.isr, strconv.Itoa(int(other.ID))) {
			t.Fatalf("under-replicated partition %+v", p)
		}
	}
	// single's only replica is gone: it is the one unavailable partition.
	out = cliOK(t, "topics", args("--describe", "--exclude-internal", "--unavailable-partitions")...)
	if got := parsePartitionLines(t, out); len(got) != 1 || got[0].topic != "single" || got[0].leader != "none" {
		t.Fatalf("--unavailable-partitions:\n%s", out)
	}
	out = cliOK(t, "topics", args("--describe", "--topic", "rep|strict", "--unavailable-partitions")...)
	if out != "" {
		t.Fatalf("RF=3 partitions unavailable:\n%s", out)
	}
	out = cliOK(t, "topics", args("--describe", "--topic", "rep|strict", "--under-min-isr-partitions")...)
	if got := partitionNames(parsePartitionLines(t, out)); !slices.Equal(got, []string{"strict-0", "strict-1"}) {
		t.Fatalf("--under-min-isr-partitions: %v\n%s", got, out)
	}
	out = cliOK(t, "topics", args("--describe", "--topic", "rep|strict", "--at-min-isr-partitions")...)
	if got := partitionNames(parsePartitionLines(t, out)); !slices.Equal(got, []string{"rep-0", "rep-1", "rep-2"}) {
		t.Fatalf("--at-min-isr-partitions: %v\n%s", got, out)
	}
	// Reports combine: a partition matching any is printed.
	out = cliOK(t, "topics", args("--describe", "--topic", "rep|strict", "--under-min-isr-partitions", "--at-min-isr-partitions")...)
	if n := len(parsePartitionLines(t, out)); n != 5 {
		t.Fatalf("two reports gave %d partitions:\n%s", n, out)
	}

	// The stopped voter is still a voter, with no known progress now.
	running := []string{"--bootstrap-server", ctl.Addr()}
	rows = replicationRows(t, running, func(rows map[string][]string) bool {
		r := rows[strconv.Itoa(int(other.ID))]
		return len(rows) == 3 && r != nil && r[2] == "-1"
	})
	for id, r := range rows {
		if id != strconv.Itoa(int(other.ID)) && r[2] == "-1" {
			t.Fatalf("voter %s has no log end offset: %q", id, rows)
		}
	}
	out = cliOK(t, "metadata-quorum", append(running, "describe", "--status")...)
	if len(quorumVoter.FindAllString(out, -1)) != 3 {
		t.Fatalf("status after a stop:\n%s", out)
	}
}

// replicationRows runs metadata-quorum --replication until ok accepts its
// rows (by node id: the cells, trimmed) or 10 s have passed.
func replicationRows(t *testing.T, bs []string, ok func(map[string][]string) bool) map[string][]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := cliOK(t, "metadata-quorum", append(slices.Clone(bs), "describe", "--replication")...)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if !strings.HasPrefix(lines[0], "NodeId\tDirectoryId           \tLogEndOffset\tLag") {
			t.Fatalf("replication header:\n%s", out)
		}
		rows := map[string][]string{}
		for _, l := range lines[1:] {
			cells := strings.Split(strings.TrimSuffix(l, "\t"), "\t")
			if len(cells) != 7 {
				t.Fatalf("replication row %q", l)
			}
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			if cells[1] != "AAAAAAAAAAAAAAAAAAAAAA" {
				t.Fatalf("directory id in %q", l)
			}
			rows[cells[0]] = cells
		}
		if ok(rows) {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("replication rows not as expected:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestQuorumAddRemoveController grows the controller quorum of three
// combined nodes by a fourth, controller-only node and shrinks it again,
// with metadata-quorum add-controller and remove-controller.
func TestQuorumAddRemoveController(t *testing.T) {
	c := testbroker.StartCluster(t, 3)
	boot := "--bootstrap-server=" + strings.Join(c.Addrs(), ",")
	extra := c.NewExtra(4, "controller", 60*time.Second)
	started := make(chan error, 1)
	go func() { started <- extra.TryStart() }()
	// The new controller waits to be added; its CONTROLLER listener is up
	// once its metadata node opened.
	waitFor(t, 30*time.Second, "add-controller to succeed", func() bool {
		r := cliRun(t, "metadata-quorum", boot, "add-controller", "--controller-id", "4", "--controller-endpoint", "127.0.0.1:"+strconv.Itoa(extra.CPort))
		if r.runErr != nil {
			time.Sleep(200 * time.Millisecond)
		}
		return r.runErr == nil && strings.HasPrefix(r.out, "Added controller 4 ")
	})
	if err := <-started; err != nil {
		t.Fatalf("the new controller did not start: %v", err)
	}
	voters := func() []string {
		out := cliOK(t, "metadata-quorum", boot, "describe", "--status")
		var ids []string
		for _, m := range quorumVoter.FindAllStringSubmatch(out, -1) {
			ids = append(ids, m[1])
		}
		return ids
	}
	waitFor(t, 10*time.Second, "four voters", func() bool { return slices.Equal(voters(), []string{"1", "2", "3", "4"}) })
	if r := cliRun(t, "metadata-quorum", boot, "add-controller", "--controller-id", "4", "--controller-endpoint", "127.0.0.1:1"); r.runErr == nil || !strings.Contains(r.runErr.Error(), "DUPLICATE_VOTER") {
		t.Fatalf("adding a voter twice: %v", r.runErr)
	}
	out := cliOK(t, "metadata-quorum", boot, "remove-controller", "--controller-id", "4")
	if out != "Removed KRaft controller 4 with directory id AAAAAAAAAAAAAAAAAAAAAA\n" {
		t.Fatalf("remove-controller: %q", out)
	}
	waitFor(t, 10*time.Second, "three voters", func() bool { return slices.Equal(voters(), []string{"1", "2", "3"}) })
	if r := cliRun(t, "metadata-quorum", boot, "remove-controller", "--controller-id", "4"); r.runErr == nil || !strings.Contains(r.runErr.Error(), "VOTER_NOT_FOUND") {
		t.Fatalf("removing a non-voter: %v", r.runErr)
	}
	extra.Stop()
}
