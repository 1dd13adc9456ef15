package cli

import (
	"regexp"
	"strings"
	"testing"
)

// describeLine matches the topic line of --describe.
var describeLine = regexp.MustCompile(`^Topic: (\S+)\tTopicId: (\S+)\tPartitionCount: (\d+)\tReplicationFactor: (\d+)\tConfigs: (.*)$`)

// partitionLine matches a partition line of --describe.
var partitionLine = regexp.MustCompile(`^\tTopic: (\S+)\tPartition: (\d+)\tLeader: (\S+)\tReplicas: ([\d,]*)\tIsr: ([\d,]*)\tElr: (.*)\tLastKnownElr: (.*)$`)

func TestTopicsLifecycle(t *testing.T) {
	t.Parallel()
	_, bs := cliBroker(t)
	args := func(a ...string) []string { return append(append([]string{}, bs...), a...) }

	out := cliOK(t, "topics", args("--create", "--topic", "events", "--partitions", "3",
		"--config", "retention.ms=3600000", "--config", "cleanup.policy=delete")...)
	if out != "Created topic events.\n" {
		t.Fatalf("create output %q", out)
	}
	cliOK(t, "kafka-topics.sh", args("--create", "--topic", "pinned", "--replica-assignment", "1,1")...)
	out = cliOK(t, "topics", args("--create", "--topic", "my_topic")...)
	if !strings.HasPrefix(out, "WARNING: Due to limitations in metric names") {
		t.Fatalf("no collision warning for my_topic: %q", out)
	}

	// Describe in Kafka's format.
	out = cliOK(t, "topics", args("--describe", "--topic", "events")...)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("describe gave %d lines:\n%s", len(lines), out)
	}
	m := describeLine.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("topic line %q", lines[0])
	}
	if m[1] != "events" || m[3] != "3" || m[4] != "1" || len(m[2]) != 22 {
		t.Fatalf("topic line fields %q", m)
	}
	if !strings.Contains(m[5], "retention.ms=3600000") || !strings.Contains(m[5], "cleanup.policy=delete") {
		t.Fatalf("configs %q", m[5])
	}
	for i, l := range lines[1:] {
		pm := partitionLine.FindStringSubmatch(l)
		if pm == nil {
			t.Fatalf("partition line %q", l)
		}
		if pm[1] != "events" || pm[2] != itoa32(int32(i)) || pm[3] != "1" || pm[4] != "1" || pm[5] != "1" {
			t.Fatalf("partition line fields %q", pm)
		}
	}

	// --topic is a regular expression; several topics are described.
	out = cliOK(t, "topics", args("--describe", "--topic", "ev.*|pinned")...)
	if n := strings.Count(out, "PartitionCount:"); n != 2 {
		t.Fatalf("regex describe matched %d topics:\n%s", n, out)
	}
	// No partition is under-replicated or unavailable on one broker.
	if out := cliOK(t, "topics", args("--describe", "--under-replicated-partitions")...); out != "" {
		t.Fatalf("under-replicated: %q", out)
	}
	if out := cliOK(t, "topics", args("--describe", "--unavailable-partitions")...); out != "" {
		t.Fatalf("unavailable: %q", out)
	}
	out = cliOK(t, "topics", args("--describe", "--topics-with-overrides")...)
	if !strings.HasPrefix(out, "Topic: events\t") || strings.Contains(out, "Partition:") {
		t.Fatalf("topics-with-overrides: %q", out)
	}

	if out := cliOK(t, "topics", args("--list")...); out != "events\nmy_topic\npinned\n" {
		t.Fatalf("list %q", out)
	}
	if out := cliOK(t, "topics", args("--list", "--topic", "p.*")...); out != "pinned\n" {
		t.Fatalf("list with regex %q", out)
	}

	// Existing topic: an error, unless --if-not-exists.
	wantOneLineErr(t, cliRun(t, "topics", args("--create", "--topic", "events")...), "topic 'events' already exists")
	cliOK(t, "topics", args("--create", "--topic", "events", "--if-not-exists")...)

	// Alter the partition count.
	cliOK(t, "topics", args("--alter", "--topic", "events", "--partitions", "5")...)
	out = cliOK(t, "topics", args("--describe", "--topic", "events")...)
	if !strings.Contains(out, "PartitionCount: 5\t") {
		t.Fatalf("after alter: %s", out)
	}
	wantOneLineErr(t, cliRun(t, "topics", args("--alter", "--topic", "events", "--partitions", "2")...), "altering topic events")

	// Delete; a missing topic is one clear error unless --if-exists.
	cliOK(t, "topics", args("--delete", "--topic", "events")...)
	wantOneLineErr(t, cliRun(t, "topics", args("--describe", "--topic", "events")...), "topic 'events' does not exist as expected")
	cliOK(t, "topics", args("--describe", "--topic", "events", "--if-exists")...)
	wantOneLineErr(t, cliRun(t, "topics", args("--delete", "--topic", "nope")...), "does not exist")
}

func TestTopicsUsageErrors(t *testing.T) {
	wantOneLineErr(t, cliRun(t, "topics", "--list", "--describe"), "exactly one action")
	wantOneLineErr(t, cliRun(t, "topics", "--create"), "--topic is required")
	wantOneLineErr(t, cliRun(t, "topics", "--list", "--bogus"), "unknown option --bogus")
	wantOneLineErr(t, cliRun(t, "topics", "--create", "--topic", "x", "--partitions", "three"), "option --partitions: not a number")
	wantOneLineErr(t, cliRun(t, "topics", "--alter", "--topic", "x", "--config", "a=b"), "--config is only supported with --create")
	wantOneLineErr(t, cliRun(t, "topics", "--list", "--under-replicated-partitions"), "option --under-replicated-partitions can only be used with --describe")
	wantOneLineErr(t, cliRun(t, "topics", "--describe", "--topics-with-overrides", "--at-min-isr-partitions"), "option --at-min-isr-partitions can't be used with --topics-with-overrides")
	wantOneLineErr(t, cliRun(t, "topics", "--delete", "--topic", "x", "--topics-with-overrides"), "option --topics-with-overrides can only be used with --describe")
	r := cliRun(t, "topics", "--help")
	if r.runErr != nil || !strings.Contains(r.out, "Examples:") || !strings.Contains(r.out, "--replica-assignment") {
		t.Fatalf("help: %v %q", r.runErr, r.out)
	}
}

func TestParseReplicaAssignment(t *testing.T) {
	got, err := parseReplicaAssignment("0:1, 1:2,2:0")
	if err != nil || len(got) != 3 || got[1][0] != 1 || got[1][1] != 2 {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"0:0", "0:1,2", "a:b", ""} {
		if _, err := parseReplicaAssignment(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestTopicFilter(t *testing.T) {
	re, err := topicFilter(`"events\..*,audit"`)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"events.a": true, "audit": true, "eventsXa": false, "xaudit": false, "audit2": false} {
		if re.MatchString(name) != want {
			t.Errorf("%s: match %v", name, !want)
		}
	}
	if _, err := topicFilter("("); err == nil {
		t.Fatal("bad regex accepted")
	}
}

func TestParseTopicConfigs(t *testing.T) {
	got, err := parseTopicConfigs([]string{"a=1", " b = x "})
	if err != nil || got[0] != [2]string{"a", "1"} || got[1] != [2]string{"b", "x"} {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := parseTopicConfigs([]string{"novalue"}); err == nil {
		t.Fatal("accepted")
	}
}
