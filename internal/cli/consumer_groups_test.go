package cli

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupRow finds the offsets-view row of a topic partition.
func groupRow(t *testing.T, out, topic string, partition int) []string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 9 && f[1] == topic && f[2] == fmt.Sprint(partition) {
			return f
		}
	}
	t.Fatalf("no row for %s-%d in:\n%s", topic, partition, out)
	return nil
}

// TestConsumerGroups runs the group tools against the broker once it
// serves consumer groups; until then it skips itself.
func TestConsumerGroups(t *testing.T) {
	t.Parallel()
	// Few __consumer_offsets partitions and no initial rebalance delay
	// keep the test fast.
	b, bs := cliBroker(t, "offsets.topic.num.partitions=3", "group.initial.rebalance.delay.ms=0")
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if ok, err := apiSupported(ctx, b.Admin(), int16(kmsg.JoinGroup)); err != nil {
		t.Fatal(err)
	} else if !ok {
		t.Skip("the broker does not serve consumer groups (JoinGroup) yet")
	}
	args := func(a ...string) []string { return append(append([]string{}, bs...), a...) }
	cliOK(t, "topics", args("--create", "--topic", "g1", "--partitions", "2")...)
	for p := range 2 {
		if r := cliProduce(t, "a\nb\nc\nd\ne\n", args("--topic", "g1", "--partition", fmt.Sprint(p))...); r.runErr != nil {
			t.Fatal(r.runErr)
		}
	}

	// Consume everything in a group: the offsets are committed on exit.
	c := cliConsume(t, args("--topic", "g1", "--group", "grp", "--from-beginning", "--max-messages", "10")...)
	if c.runErr != nil || strings.Count(c.out, "\n") != 10 {
		t.Fatalf("group consume: %v %q %q", c.runErr, c.out, c.err)
	}
	if out := cliOK(t, "consumer-groups", args("--list")...); !strings.Contains(out, "grp\n") {
		t.Fatalf("list: %q", out)
	}
	out := cliOK(t, "consumer-groups", args("--list", "--state")...)
	if !regexp.MustCompile(`(?m)^GROUP\s+STATE\s*$`).MatchString(out) || !regexp.MustCompile(`(?m)^grp\s+Empty\s*$`).MatchString(out) {
		t.Fatalf("list --state: %q", out)
	}
	if out := cliOK(t, "consumer-groups", args("--list", "--state", "stable")...); strings.Contains(out, "grp") {
		t.Fatalf("list --state stable: %q", out)
	}

	// Describe: committed 5 of 5 on each partition, no members.
	r := cliRun(t, "consumer-groups", args("--describe", "--group", "grp")...)
	if r.runErr != nil {
		t.Fatal(r.runErr)
	}
	if !strings.Contains(r.err, "Consumer group 'grp' has no active members.") {
		t.Fatalf("stderr %q", r.err)
	}
	if !regexp.MustCompile(`(?m)^GROUP\s+TOPIC\s+PARTITION\s+CURRENT-OFFSET\s+LOG-END-OFFSET\s+LAG\s+CONSUMER-ID\s+HOST\s+CLIENT-ID$`).MatchString(r.out) {
		t.Fatalf("header:\n%s", r.out)
	}
	if f := groupRow(t, r.out, "g1", 0); f[3] != "5" || f[4] != "5" || f[5] != "0" || f[6] != "-" {
		t.Fatalf("row %q", f)
	}
	// Lag moves with new records.
	if r := cliProduce(t, "f\ng\nh\n", args("--topic", "g1", "--partition", "0")...); r.runErr != nil {
		t.Fatal(r.runErr)
	}
	out = cliOK(t, "consumer-groups", args("--describe", "--group", "grp")...)
	if f := groupRow(t, out, "g1", 0); f[3] != "5" || f[4] != "8" || f[5] != "3" {
		t.Fatalf("row after produce %q", f)
	}
	out = cliOK(t, "consumer-groups", args("--describe", "--group", "grp", "--state")...)
	if !regexp.MustCompile(`(?m)^grp\s+127\.0\.0\.1:\d+  \(1\)\s+\S+\s+Empty\s+0$`).MatchString(out) {
		t.Fatalf("state view:\n%s", out)
	}

	// Reset: a dry run changes nothing; --execute does.
	out = cliOK(t, "consumer-groups", args("--reset-offsets", "--group", "grp", "--topic", "g1", "--to-earliest", "--dry-run")...)
	if !regexp.MustCompile(`(?m)^GROUP\s+TOPIC\s+PARTITION\s+NEW-OFFSET$`).MatchString(out) || !regexp.MustCompile(`(?m)^grp\s+g1\s+0\s+0$`).MatchString(out) {
		t.Fatalf("dry run:\n%s", out)
	}
	if f := groupRow(t, cliOK(t, "consumer-groups", args("--describe", "--group", "grp")...), "g1", 0); f[3] != "5" {
		t.Fatalf("dry run changed the offset: %q", f)
	}
	cliOK(t, "consumer-groups", args("--reset-offsets", "--group", "grp", "--topic", "g1:0", "--to-earliest", "--execute")...)
	out = cliOK(t, "consumer-groups", args("--describe", "--group", "grp")...)
	if f := groupRow(t, out, "g1", 0); f[3] != "0" || f[5] != "8" {
		t.Fatalf("after reset to earliest: %q", f)
	}
	if f := groupRow(t, out, "g1", 1); f[3] != "5" {
		t.Fatalf("partition 1 was not in scope: %q", f)
	}
	cliOK(t, "consumer-groups", args("--reset-offsets", "--group", "grp", "--topic", "g1:0", "--shift-by", "2", "--execute")...)
	if f := groupRow(t, cliOK(t, "consumer-groups", args("--describe", "--group", "grp")...), "g1", 0); f[3] != "2" {
		t.Fatalf("after shift-by: %q", f)
	}
	r = cliRun(t, "consumer-groups", args("--reset-offsets", "--group", "grp", "--all-topics", "--to-offset", "100", "--dry-run")...)
	if r.runErr != nil || !strings.Contains(r.err, "New offset (100) is higher than latest offset for topic partition g1-0. Value will be set to 8") {
		t.Fatalf("clamp: %v %q", r.runErr, r.err)
	}
	out = cliOK(t, "consumer-groups", args("--reset-offsets", "--group", "grp", "--all-topics", "--by-duration", "P1D", "--export")...)
	if out != "g1,0,0\ng1,1,0\n" {
		t.Fatalf("by-duration export %q", out)
	}
	out = cliOK(t, "consumer-groups", args("--reset-offsets", "--group", "grp", "--all-topics", "--to-datetime", "2999-01-01T00:00:00.000Z", "--export")...)
	if out != "g1,0,8\ng1,1,5\n" {
		t.Fatalf("to-datetime export %q", out)
	}

	// Delete one partition's offset, then the group.
	out = cliOK(t, "consumer-groups", args("--delete-offsets", "--group", "grp", "--topic", "g1:1")...)
	if !strings.HasPrefix(out, "Request succeed for deleting offsets from group grp.") || !regexp.MustCompile(`(?m)^g1\s+1\s+Successful$`).MatchString(out) {
		t.Fatalf("delete-offsets:\n%s", out)
	}
	out = cliOK(t, "consumer-groups", args("--describe", "--group", "grp")...)
	if strings.Contains(out, "g1              1 ") {
		t.Fatalf("partition 1 still has an offset:\n%s", out)
	}

	// An active member: shown by --members, and offsets cannot be reset.
	live := b.Client(kgo.ConsumerGroup("live"), kgo.ConsumeTopics("g1"), kgo.ClientID("live-client"))
	deadline := time.Now().Add(15 * time.Second)
	for {
		pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		live.PollFetches(pctx)
		pcancel()
		ds, err := kadm.NewClient(b.Client()).DescribeGroups(ctx, "live")
		if err == nil && ds["live"].State == "Stable" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group live never became stable: %v %+v", err, ds)
		}
	}
	out = cliOK(t, "consumer-groups", args("--describe", "--group", "live", "--members", "--verbose")...)
	if !regexp.MustCompile(`(?m)^live\s+\S+\s+/?127\.0\.0\.1\s+live-client\s+2\s+-\s+g1:0,1\s+-\s+-$`).MatchString(out) {
		t.Fatalf("members:\n%s", out)
	}
	wantOneLineErr(t, cliRun(t, "consumer-groups", args("--reset-offsets", "--group", "live", "--all-topics", "--to-latest", "--execute")...),
		"assignments can only be reset if the group 'live' is inactive, but the current state is Stable")

	out = cliOK(t, "consumer-groups", args("--delete", "--group", "grp")...)
	if out != "Deletion of requested consumer groups ('grp') was successful.\n" {
		t.Fatalf("delete: %q", out)
	}
	wantOneLineErr(t, cliRun(t, "consumer-groups", args("--describe", "--group", "grp")...), "consumer group 'grp' does not exist")
}

func TestConsumerGroupsUsage(t *testing.T) {
	wantOneLineErr(t, cliRun(t, "consumer-groups", "--describe"), "--group")
	wantOneLineErr(t, cliRun(t, "consumer-groups", "--list", "--delete"), "exactly one action")
	wantOneLineErr(t, cliRun(t, "consumer-groups", "--reset-offsets", "--group", "g", "--to-earliest"), "needs a scope")
	wantOneLineErr(t, cliRun(t, "consumer-groups", "--reset-offsets", "--group", "g", "--all-topics"), "exactly one of --to-earliest")
	wantOneLineErr(t, cliRun(t, "consumer-groups", "--reset-offsets", "--group", "g", "--all-topics", "--to-latest", "--dry-run", "--execute"), "cannot be used together")
	wantOneLineErr(t, cliRun(t, "consumer-groups", "--delete-offsets", "--group", "g"), "--topic")
}

func TestParseTopicArgs(t *testing.T) {
	got, err := parseTopicArgs([]string{"a", "b:0,2", "b:3", "c:1-2"})
	if err != nil {
		t.Fatal(err)
	}
	if got["a"] != nil || fmt.Sprint(got["b"]) != "[0 2 3]" || fmt.Sprint(got["c"]) != "[1 2]" {
		t.Fatalf("%v", got)
	}
	for _, bad := range []string{":1", "a:", "a:x"} {
		if _, err := parseTopicArgs([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseISODuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"PT1H":        time.Hour,
		"P1DT2H30M":   26*time.Hour + 30*time.Minute,
		"PT0.5S":      500 * time.Millisecond,
		"pt15m":       15 * time.Minute,
		"-PT10S":      -10 * time.Second,
		"P2D":         48 * time.Hour,
		"PT1H2M3.25S": time.Hour + 2*time.Minute + 3250*time.Millisecond,
	} {
		got, err := parseISODuration(in)
		if err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "P", "PT", "1H", "P1Y", "PT1X"} {
		if _, err := parseISODuration(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseDateTime(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	for in, want := range map[string]time.Time{
		"2026-01-02T03:04:05.678Z":      time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC),
		"2026-01-02T03:04:05.678+02:00": time.Date(2026, 1, 2, 1, 4, 5, 678e6, time.UTC),
		"2026-01-02T03:04:05.678":       time.Date(2026, 1, 2, 2, 4, 5, 678e6, time.UTC),
		"2026-01-02T03:04:05":           time.Date(2026, 1, 2, 2, 4, 5, 0, time.UTC),
	} {
		got, err := parseDateTime(in, loc)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	if _, err := parseDateTime("yesterday", loc); err == nil {
		t.Error("accepted")
	}
}

func TestParseResetCSV(t *testing.T) {
	got, err := parseResetCSV(strings.NewReader("t,0,5\nt,1,7\n"))
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := got[""].Lookup("t", 1); !ok || o.At != 7 {
		t.Fatalf("%v", got)
	}
	got, err = parseResetCSV(strings.NewReader("g1,t,0,5\ng2,t,0,6\n"))
	if err != nil || len(got) != 2 {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := parseResetCSV(strings.NewReader("t,x,5\n")); err == nil {
		t.Fatal("accepted")
	}
}

func TestOffsetRowsTable(t *testing.T) {
	members := []groupMember{
		{id: "m-2", clientID: "c-2", host: "/10.0.0.2"},
		{id: "m-1", clientID: "c-1", host: "/10.0.0.1", parts: []topicPartition{{"orders", 0}, {"orders", 1}}},
	}
	committed := kadm.OffsetResponses{}
	committed.Add(kadm.OffsetResponse{Offset: kadm.Offset{Topic: "orders", Partition: 0, At: 3, LeaderEpoch: -1}})
	committed.Add(kadm.OffsetResponse{Offset: kadm.Offset{Topic: "audit", Partition: 0, At: 9, LeaderEpoch: -1}})
	ends := kadm.ListedOffsets{
		"orders": {0: {Topic: "orders", Partition: 0, Offset: 10}, 1: {Topic: "orders", Partition: 1, Offset: 4}},
		"audit":  {0: {Topic: "audit", Partition: 0, Offset: 9}},
	}
	rows := buildOffsetRows("billing", members, committed, ends)
	var b bytes.Buffer
	writeOffsetRows(&b, rows, false)
	want := "\n" +
		"GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID\n" +
		"billing         orders          0          3               10              7               m-1             /10.0.0.1       c-1\n" +
		"billing         orders          1          -               4               -               m-1             /10.0.0.1       c-1\n" +
		"billing         audit           0          9               9               0               -               -               -\n"
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if s := assignmentString(groupMember{parts: []topicPartition{{"a", 0}, {"a", 2}, {"b", 1}}}); s != "a:0,2;b:1" {
		t.Fatalf("assignment %q", s)
	}
}

// TestConsumerGroupsKIP848 runs the group tools on a consumer-protocol
// (KIP-848) group: listed with its type, described with
// ConsumerGroupDescribe, and protected while it has members.
func TestConsumerGroupsKIP848(t *testing.T) {
	t.Parallel()
	b, bs := cliBroker(t, "offsets.topic.num.partitions=3", "group.initial.rebalance.delay.ms=0")
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if ok, err := apiSupported(ctx, b.Admin(), int16(kmsg.ConsumerGroupHeartbeat)); err != nil {
		t.Fatal(err)
	} else if !ok {
		t.Skip("the broker does not serve the consumer group protocol (ConsumerGroupHeartbeat) yet")
	}
	args := func(a ...string) []string { return append(append([]string{}, bs...), a...) }
	cliOK(t, "topics", args("--create", "--topic", "k1", "--partitions", "2")...)
	for p := range 2 {
		if r := cliProduce(t, "a\nb\nc\nd\ne\n", args("--topic", "k1", "--partition", fmt.Sprint(p))...); r.runErr != nil {
			t.Fatal(r.runErr)
		}
	}
	adm := b.Admin()
	// A classic group holding only offsets, to tell the types apart.
	classic := make(kadm.Offsets)
	classic.Add(kadm.Offset{Topic: "k1", Partition: 0, At: 1, LeaderEpoch: -1})
	if resps, err := adm.CommitOffsets(ctx, "cgrp", classic); err != nil || resps.Error() != nil {
		t.Fatalf("commit classic: %v %v", err, resps.Error())
	}

	// A KIP-848 member consumes everything and commits 3 of 5 on
	// partition 0 and 5 of 5 on partition 1.
	live := b.Client(kgo.ConsumerGroup("kgrp"), kgo.ConsumeTopics("k1"), kgo.ClientID("k-client"),
		kgo.ServerSideBalancer(), kgo.Balancers(kgo.StickyBalancer()), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	deadline := time.Now().Add(20 * time.Second)
	for consumed := 0; consumed < 10; {
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		consumed += live.PollFetches(pctx).NumRecords()
		pcancel()
		if time.Now().After(deadline) {
			t.Fatalf("consumed only %d records", consumed)
		}
	}
	var commitErr error
	live.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{"k1": {0: {Epoch: -1, Offset: 3}, 1: {Epoch: -1, Offset: 5}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				commitErr = err
				return
			}
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if e := kerr.ErrorForCode(rp.ErrorCode); e != nil {
						commitErr = e
					}
				}
			}
		})
	if commitErr != nil {
		t.Fatal(commitErr)
	}
	var member string
	for {
		ds, err := adm.DescribeConsumerGroups(ctx, "kgrp")
		d := ds["kgrp"]
		if err == nil && d.State == "Stable" && len(d.Members) == 1 && len(d.Members[0].Assignment["k1"]) == 2 {
			member = d.Members[0].MemberID
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group kgrp never became stable with both partitions: %v %+v", err, ds)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Listing: the type column, and the type filter.
	out := cliOK(t, "consumer-groups", args("--list")...)
	if !strings.Contains(out, "kgrp\n") || !strings.Contains(out, "cgrp\n") {
		t.Fatalf("list: %q", out)
	}
	out = cliOK(t, "consumer-groups", args("--list", "--type")...)
	if !regexp.MustCompile(`(?m)^GROUP\s+TYPE\s*$`).MatchString(out) || !regexp.MustCompile(`(?m)^kgrp\s+Consumer\s*$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^cgrp\s+Classic\s*$`).MatchString(out) {
		t.Fatalf("list --type:\n%s", out)
	}
	out = cliOK(t, "consumer-groups", args("--list", "--type", "consumer")...)
	if !regexp.MustCompile(`(?m)^kgrp\s+Consumer\s*$`).MatchString(out) || strings.Contains(out, "cgrp") {
		t.Fatalf("list --type consumer:\n%s", out)
	}
	out = cliOK(t, "consumer-groups", args("--list", "--type", "classic")...)
	if strings.Contains(out, "kgrp") || !strings.Contains(out, "cgrp") {
		t.Fatalf("list --type classic:\n%s", out)
	}
	out = cliOK(t, "consumer-groups", args("--list", "--type", "consumer", "--state")...)
	if !regexp.MustCompile(`(?m)^GROUP\s+TYPE\s+STATE\s*$`).MatchString(out) || !regexp.MustCompile(`(?m)^kgrp\s+Consumer\s+Stable\s*$`).MatchString(out) {
		t.Fatalf("list --type consumer --state:\n%s", out)
	}
	if out := cliOK(t, "consumer-groups", args("--list", "--state", "empty")...); strings.Contains(out, "kgrp") || !strings.Contains(out, "cgrp") {
		t.Fatalf("list --state empty:\n%s", out)
	}

	// Describe: offsets and lag with the owning member.
	r := cliRun(t, "consumer-groups", args("--describe", "--group", "kgrp")...)
	if r.runErr != nil {
		t.Fatal(r.runErr)
	}
	if f := groupRow(t, r.out, "k1", 0); f[3] != "3" || f[4] != "5" || f[5] != "2" || f[6] != member || f[8] != "k-client" {
		t.Fatalf("row 0 %q (member %s)\n%s", f, member, r.out)
	}
	if f := groupRow(t, r.out, "k1", 1); f[3] != "5" || f[4] != "5" || f[5] != "0" || f[6] != member {
		t.Fatalf("row 1 %q", f)
	}
	if strings.Contains(r.err, "no active members") {
		t.Fatalf("stderr %q", r.err)
	}
	out = cliOK(t, "consumer-groups", args("--describe", "--group", "kgrp", "--members")...)
	if !regexp.MustCompile(`(?m)^kgrp\s+` + regexp.QuoteMeta(member) + `\s+/?127\.0\.0\.1\s+k-client\s+2$`).MatchString(out) {
		t.Fatalf("members:\n%s", out)
	}
	out = cliOK(t, "consumer-groups", args("--describe", "--group", "kgrp", "--members", "--verbose")...)
	if !regexp.MustCompile(`(?m)^GROUP\s+CONSUMER-ID\s+HOST\s+CLIENT-ID\s+#PARTITIONS\s+CURRENT-EPOCH\s+CURRENT-ASSIGNMENT\s+TARGET-EPOCH\s+TARGET-ASSIGNMENT$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^kgrp\s+\S+\s+/?127\.0\.0\.1\s+k-client\s+2\s+[1-9]\d*\s+k1:0,1\s+[1-9]\d*\s+k1:0,1$`).MatchString(out) {
		t.Fatalf("members --verbose:\n%s", out)
	}
	out = cliOK(t, "consumer-groups", args("--describe", "--group", "kgrp", "--state")...)
	if !regexp.MustCompile(`(?m)^kgrp\s+127\.0\.0\.1:\d+  \(1\)\s+uniform\s+Stable\s+1$`).MatchString(out) {
		t.Fatalf("state view:\n%s", out)
	}
	out = cliOK(t, "consumer-groups", args("--describe", "--group", "kgrp", "--state", "--verbose")...)
	if !regexp.MustCompile(`(?m)^GROUP\s+COORDINATOR \(ID\)\s+ASSIGNMENT-STRATEGY\s+STATE\s+GROUP-EPOCH\s+TARGET-ASSIGNMENT-EPOCH\s+#MEMBERS$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^kgrp\s+127\.0\.0\.1:\d+  \(1\)\s+uniform\s+Stable\s+[1-9]\d*\s+[1-9]\d*\s+1$`).MatchString(out) {
		t.Fatalf("state --verbose view:\n%s", out)
	}
	// --all-groups covers both types.
	out = cliOK(t, "consumer-groups", args("--describe", "--all-groups", "--state")...)
	if !regexp.MustCompile(`(?m)^kgrp\s`).MatchString(out) || !regexp.MustCompile(`(?m)^cgrp\s`).MatchString(out) {
		t.Fatalf("all groups state:\n%s", out)
	}

	// An active consumer group: no reset, no delete, no deleting the
	// offsets of a topic it is subscribed to.
	wantOneLineErr(t, cliRun(t, "consumer-groups", args("--reset-offsets", "--group", "kgrp", "--all-topics", "--to-earliest", "--execute")...),
		"assignments can only be reset if the group 'kgrp' is inactive, but the current state is Stable")
	wantOneLineErr(t, cliRun(t, "consumer-groups", args("--delete", "--group", "kgrp")...), "'kgrp' (the group is not empty)")
	r = cliRun(t, "consumer-groups", args("--delete-offsets", "--group", "kgrp", "--topic", "k1:0")...)
	if r.runErr == nil || !regexp.MustCompile(`(?m)^k1\s+0\s+Error: GROUP_SUBSCRIBED_TO_TOPIC`).MatchString(r.out) {
		t.Fatalf("delete-offsets of an active group: %v\n%s", r.runErr, r.out)
	}
	if f := groupRow(t, cliOK(t, "consumer-groups", args("--describe", "--group", "kgrp")...), "k1", 0); f[3] != "3" {
		t.Fatalf("offsets changed: %q", f)
	}

	// Once the member leaves the group is Empty: reset and delete work.
	live.Close()
	for {
		ds, err := adm.DescribeConsumerGroups(ctx, "kgrp")
		if err == nil && ds["kgrp"].State == "Empty" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group kgrp never became empty: %v %+v", err, ds)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r = cliRun(t, "consumer-groups", args("--describe", "--group", "kgrp")...)
	if r.runErr != nil || !strings.Contains(r.err, "Consumer group 'kgrp' has no active members.") {
		t.Fatalf("describe empty: %v %q", r.runErr, r.err)
	}
	if f := groupRow(t, r.out, "k1", 0); f[3] != "3" || f[5] != "2" || f[6] != "-" {
		t.Fatalf("row after leave %q", f)
	}
	cliOK(t, "consumer-groups", args("--reset-offsets", "--group", "kgrp", "--topic", "k1:0", "--to-earliest", "--execute")...)
	if f := groupRow(t, cliOK(t, "consumer-groups", args("--describe", "--group", "kgrp")...), "k1", 0); f[3] != "0" || f[5] != "5" {
		t.Fatalf("after reset: %q", f)
	}
	out = cliOK(t, "consumer-groups", args("--delete", "--group", "kgrp")...)
	if out != "Deletion of requested consumer groups ('kgrp') was successful.\n" {
		t.Fatalf("delete: %q", out)
	}
	wantOneLineErr(t, cliRun(t, "consumer-groups", args("--describe", "--group", "kgrp")...), "consumer group 'kgrp' does not exist")

	// The console consumer joins a consumer-protocol group with
	// group.protocol=consumer and commits what it printed.
	c := cliConsume(t, args("--topic", "k1", "--group", "kcons", "--from-beginning", "--max-messages", "10",
		"--consumer-property", "group.protocol=consumer")...)
	if c.runErr != nil || strings.Count(c.out, "\n") != 10 {
		t.Fatalf("group consume: %v %q %q", c.runErr, c.out, c.err)
	}
	if out := cliOK(t, "consumer-groups", args("--list", "--type", "consumer")...); !regexp.MustCompile(`(?m)^kcons\s+Consumer\s*$`).MatchString(out) {
		t.Fatalf("list --type consumer:\n%s", out)
	}
	out = cliOK(t, "consumer-groups", args("--describe", "--group", "kcons")...)
	if f := groupRow(t, out, "k1", 0); f[3] != "5" || f[5] != "0" {
		t.Fatalf("console consumer offsets: %q", f)
	}
}

func TestListTypesUsage(t *testing.T) {
	wantOneLineErr(t, cliRun(t, "consumer-groups", "--bootstrap-server", "127.0.0.1:1", "--list", "--type", "share"), "invalid types list 'share'")
	if got, err := parseTypes("Consumer, classic"); err != nil || fmt.Sprint(got) != "[consumer classic]" {
		t.Fatalf("%v %v", got, err)
	}
}
