package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/testbroker"
)

func TestConfigs(t *testing.T) {
	t.Parallel()
	_, bs := cliBroker(t)
	args := func(a ...string) []string { return append(append([]string{}, bs...), a...) }
	cliOK(t, "topics", args("--create", "--topic", "c1")...)

	out := cliOK(t, "configs", args("--describe", "--entity-type", "topics", "--entity-name", "c1")...)
	if out != "Dynamic configs for topic c1 are:\n" {
		t.Fatalf("no dynamic configs yet: %q", out)
	}
	out = cliOK(t, "configs", args("--alter", "--entity-type", "topics", "--entity-name", "c1",
		"--add-config", "retention.ms=86400000,cleanup.policy=[compact,delete]")...)
	if out != "Completed updating config for topic c1.\n" {
		t.Fatalf("alter: %q", out)
	}
	out = cliOK(t, "kafka-configs", args("--describe", "--topic", "c1")...)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || lines[0] != "Dynamic configs for topic c1 are:" {
		t.Fatalf("describe: %q", out)
	}
	entry := regexp.MustCompile(`^  (\S+)=(\S*) sensitive=(true|false) synonyms=\{(.*)\}$`)
	m := entry.FindStringSubmatch(lines[1])
	if m == nil || m[1] != "cleanup.policy" || m[2] != "compact,delete" || m[3] != "false" ||
		!strings.HasPrefix(m[4], "DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete") {
		t.Fatalf("line %q", lines[1])
	}
	m = entry.FindStringSubmatch(lines[2])
	if m == nil || m[1] != "retention.ms" || m[2] != "86400000" || !strings.Contains(m[4], "DEFAULT_CONFIG:log.retention") && !strings.Contains(m[4], "DEFAULT_CONFIG:retention.ms") {
		t.Fatalf("line %q", lines[2])
	}

	// --all lists every config with its source.
	out = cliOK(t, "configs", args("--describe", "--topic", "c1", "--all")...)
	if !strings.HasPrefix(out, "All configs for topic c1 are:\n") || !strings.Contains(out, "  segment.bytes=") || !strings.Contains(out, "  retention.ms=86400000 ") {
		t.Fatalf("--all: %s", out)
	}
	// The topic's describe shows the overrides too.
	if out := cliOK(t, "topics", args("--describe", "--topic", "c1")...); !strings.Contains(out, "Configs: cleanup.policy=compact,delete,retention.ms=86400000") {
		t.Fatalf("topic describe: %s", out)
	}

	// Delete one; deleting an unset config is refused as Kafka does.
	cliOK(t, "configs", args("--alter", "--topic", "c1", "--delete-config", "retention.ms")...)
	out = cliOK(t, "configs", args("--describe", "--topic", "c1")...)
	if strings.Contains(out, "retention.ms") || !strings.Contains(out, "cleanup.policy") {
		t.Fatalf("after delete: %s", out)
	}
	wantOneLineErr(t, cliRun(t, "configs", args("--alter", "--topic", "c1", "--delete-config", "retention.ms")...), "invalid config(s): retention.ms")
	wantOneLineErr(t, cliRun(t, "configs", args("--alter", "--topic", "c1", "--add-config", "retention.ms=banana")...), "altering configs of topic c1")
	wantOneLineErr(t, cliRun(t, "configs", args("--describe", "--topic", "nope")...), "nope")

	// Brokers: a dynamic config on the cluster default.
	out = cliOK(t, "configs", args("--describe", "--entity-type", "brokers", "--entity-name", "1", "--all")...)
	if !strings.HasPrefix(out, "All configs for broker 1 are:\n") || !strings.Contains(out, "log.retention.ms=") && !strings.Contains(out, "log.retention.hours=") {
		t.Fatalf("broker --all: %s", out)
	}
	r := cliRun(t, "configs", args("--alter", "--entity-type", "brokers", "--entity-default", "--add-config", "log.retention.ms=1234567")...)
	if r.runErr == nil {
		if r.out != "Completed updating default config for brokers in the cluster.\n" {
			t.Fatalf("broker default alter: %q", r.out)
		}
		out = cliOK(t, "configs", args("--describe", "--broker-defaults")...)
		if !strings.HasPrefix(out, "Default configs for brokers in the cluster are:\n") || !strings.Contains(out, "log.retention.ms=1234567 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=1234567") {
			t.Fatalf("broker defaults: %s", out)
		}
	} else {
		t.Logf("the broker refuses dynamic broker configs: %v", r.runErr)
	}

	wantOneLineErr(t, cliRun(t, "configs", args("--describe")...), "--entity-type is required")
	wantOneLineErr(t, cliRun(t, "configs", args("--describe", "--entity-type", "users")...), "not supported")
	wantOneLineErr(t, cliRun(t, "configs", args("--alter", "--topic", "c1")...), "--add-config")
}

func TestParseAddConfigs(t *testing.T) {
	got, err := parseAddConfigs([]string{"a=1,b=[x,y,z]", " c = 3 ", "d=[p]"})
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"a", "1"}, {"b", "x,y,z"}, {"c", "3"}, {"d", "p"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%v", got)
	}
	for _, bad := range []string{"a", "=1", "a=1=2"} {
		if _, err := parseAddConfigs([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestGetOffsetsAndDeleteRecords(t *testing.T) {
	t.Parallel()
	_, bs := cliBroker(t)
	args := func(a ...string) []string { return append(append([]string{}, bs...), a...) }
	cliOK(t, "topics", args("--create", "--topic", "d1", "--partitions", "2")...)
	cliOK(t, "topics", args("--create", "--topic", "d2")...)
	var lines strings.Builder
	for i := range 20 {
		fmt.Fprintf(&lines, "v%d\n", i)
	}
	if r := cliProduce(t, lines.String(), args("--topic", "d1", "--partition", "0")...); r.runErr != nil {
		t.Fatal(r.runErr)
	}
	if r := cliProduce(t, "x\ny\n", args("--topic", "d1", "--partition", "1")...); r.runErr != nil {
		t.Fatal(r.runErr)
	}

	if out := cliOK(t, "get-offsets", args("--topic", "d1")...); out != "d1:0:20\nd1:1:2\n" {
		t.Fatalf("latest: %q", out)
	}
	if out := cliOK(t, "kafka-get-offsets.sh", args("--topic", "d.*", "--time", "-2")...); out != "d1:0:0\nd1:1:0\nd2:0:0\n" {
		t.Fatalf("earliest: %q", out)
	}
	if out := cliOK(t, "get-offsets", args("--topic-partitions", "d1:1,d2", "--time", "latest")...); out != "d1:1:2\nd2:0:0\n" {
		t.Fatalf("topic-partitions: %q", out)
	}
	if out := cliOK(t, "get-offsets", args("--topic", "d1", "--partitions", "0", "--time", "0")...); out != "d1:0:0\n" {
		t.Fatalf("by time: %q", out)
	}
	if out := cliOK(t, "get-offsets", args("--topic", "d1", "--partitions", "0", "--time", "max-timestamp")...); !strings.HasPrefix(out, "d1:0:") {
		t.Fatalf("max-timestamp: %q", out)
	}
	wantOneLineErr(t, cliRun(t, "get-offsets", args("--topic", "nope")...), "could not match any topic-partitions")
	wantOneLineErr(t, cliRun(t, "get-offsets", args("--topic", "d1", "--time", "yesterday")...), "option --time")

	// Delete records up to offset 10 of d1-0 and everything of d1-1.
	f := filepath.Join(t.TempDir(), "offsets.json")
	doc := `{"partitions":[{"topic":"d1","partition":0,"offset":10},{"topic":"d1","partition":1,"offset":-1}],"version":1}`
	if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	out := cliOK(t, "delete-records", args("--offset-json-file", f)...)
	want := "Executing records delete operation\nRecords delete operation completed:\n" +
		"partition: d1-0\tlow_watermark: 10\npartition: d1-1\tlow_watermark: 2\n"
	if out != want {
		t.Fatalf("delete-records output %q", out)
	}
	if out := cliOK(t, "get-offsets", args("--topic", "d1", "--time", "earliest")...); out != "d1:0:10\nd1:1:2\n" {
		t.Fatalf("earliest after delete: %q", out)
	}
	c := cliConsume(t, args("--topic", "d1", "--partition", "0", "--offset", "earliest", "--max-messages", "1")...)
	if c.out != "v10\n" {
		t.Fatalf("first record after delete: %q", c.out)
	}

	// A partition that does not exist: the error on its line, exit non-zero.
	if err := os.WriteFile(f, []byte(`{"partitions":[{"topic":"d1","partition":0,"offset":11},{"topic":"d9","partition":0,"offset":1}],"version":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := cliRun(t, "delete-records", args("--offset-json-file", f)...)
	wantOneLineErr(t, r, "deleting records failed for 1 of 2 partitions")
	if !strings.Contains(r.out, "partition: d1-0\tlow_watermark: 11\n") || !strings.Contains(r.out, "partition: d9-0\terror: ") {
		t.Fatalf("partial failure output %q", r.out)
	}
}

func TestParseDeleteRecordsJSON(t *testing.T) {
	os, err := parseDeleteRecordsJSON([]byte(`{"partitions":[{"topic":"t","partition":0,"offset":10},{"topic":"t","partition":1,"offset":-1}],"version":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := os.Lookup("t", 1); !ok || o.At != -1 {
		t.Fatalf("%v", os)
	}
	for _, bad := range []string{
		`{"partitions":[{"topic":"t","partition":0,"offset":1},{"topic":"t","partition":0,"offset":2}]}`,
		`{"partitions":[{"topic":"t","offset":1}]}`,
		`{"version":2,"partitions":[]}`,
		`[1,2]`,
		`{}`,
	} {
		if _, err := parseDeleteRecordsJSON([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestParsePartitionsSpec(t *testing.T) {
	f, err := parsePartitionsSpec("0,2-3,7-")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]bool{0: true, 1: false, 2: true, 3: true, 4: false, 7: true, 100: true} {
		if f(p) != want {
			t.Errorf("partition %d: %v", p, !want)
		}
	}
	if f, _ := parsePartitionsSpec("-1"); !f(0) || !f(1) || f(2) {
		t.Error("-1 is 'up to 1'")
	}
	for _, bad := range []string{"x", "3-1", "1-x"} {
		if _, err := parsePartitionsSpec(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, s := range []string{"-1", "latest", "-2", "earliest", "-3", "max-timestamp", "1700000000000"} {
		if _, err := parseOffsetTime(s); err != nil {
			t.Errorf("--time %s: %v", s, err)
		}
	}
}

func TestClusterViews(t *testing.T) {
	t.Parallel()
	b, bs := cliBroker(t)
	args := func(a ...string) []string { return append(append([]string{}, bs...), a...) }
	cliOK(t, "topics", args("--create", "--topic", "l1", "--partitions", "2")...)
	if r := cliProduce(t, "hello\n", args("--topic", "l1", "--partition", "1")...); r.runErr != nil {
		t.Fatal(r.runErr)
	}

	out := cliOK(t, "broker-api-versions", args()...)
	head := regexp.MustCompile(`^127\.0\.0\.1:\d+ \(id: 1 rack: null isFenced: false\) -> \($`)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if !head.MatchString(lines[0]) || lines[len(lines)-1] != ")" {
		t.Fatalf("api versions:\n%s", out)
	}
	if !regexp.MustCompile(`\n\tProduce\(0\): \d+ to \d+ \[usable: \d+\],\n`).MatchString(out) ||
		!regexp.MustCompile(`\n\tApiVersions\(18\): 0 to 4 \[usable: 4\],?\n`).MatchString(out) {
		t.Fatalf("api version lines:\n%s", out)
	}

	out = cliOK(t, "log-dirs", args("--describe", "--topic-list", "l1")...)
	lines = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || lines[0] != "Querying brokers for log directories information" || lines[1] != "Received log directory information from brokers 1" {
		t.Fatalf("log-dirs:\n%s", out)
	}
	var doc logDirsJSON
	if err := json.Unmarshal([]byte(lines[2]), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != 1 || len(doc.Brokers) != 1 || doc.Brokers[0].Broker != 1 || len(doc.Brokers[0].LogDirs) != 1 {
		t.Fatalf("%+v", doc)
	}
	d := doc.Brokers[0].LogDirs[0]
	if d.LogDir != b.Dir || d.Error != nil || len(d.Partitions) != 2 || d.Partitions[1].Partition != "l1-1" || d.Partitions[1].Size == 0 {
		t.Fatalf("%+v", d)
	}
	wantOneLineErr(t, cliRun(t, "log-dirs", args("--describe", "--broker-list", "7")...), "the given brokers do not exist from --broker-list: 7")

	out = cliOK(t, "cluster", args("cluster-id")...)
	if !regexp.MustCompile(`^Cluster ID: \S+\n$`).MatchString(out) {
		t.Fatalf("cluster-id %q", out)
	}
	out = cliOK(t, "kafka-cluster.sh", args("describe")...)
	if !regexp.MustCompile(`^Cluster ID: \S+\nController: 1\nBrokers:\n\t127\.0\.0\.1:\d+ \(id: 1 rack: null isFenced: false\)\n$`).MatchString(out) {
		t.Fatalf("cluster describe %q", out)
	}
	wantOneLineErr(t, cliRun(t, "cluster", args("explode")...), "unknown subcommand")
}

// TestUnreachableBroker checks that every tool fails fast with one line
// when nothing listens at the bootstrap address.
func TestUnreachableBroker(t *testing.T) {
	t.Parallel()
	addr := fmt.Sprintf("127.0.0.1:%d", testbroker.FreePort(t))
	bs := []string{"--bootstrap-server", addr}
	cases := map[string][]string{
		"topics":              {"--list", "--timeout", "2000"},
		"configs":             {"--describe", "--topic", "x", "--timeout", "2s"},
		"get-offsets":         {"--timeout", "2s"},
		"broker-api-versions": {"--timeout", "2s"},
		"log-dirs":            {"--describe", "--timeout", "2s"},
		"cluster":             {"cluster-id", "--timeout", "2s"},
		"consumer-groups":     {"--list", "--timeout", "2s"},
		"metadata-quorum":     {"describe", "--status", "--timeout", "2s"},
	}
	for name, a := range cases {
		wantOneLineErr(t, cliRun(t, name, append(bs, a...)...), "cannot connect to the cluster at "+addr)
	}
	wantOneLineErr(t, cliProduce(t, "x\n", append(bs, "--topic", "x", "--max-block-ms", "2000")...), "cannot connect to the cluster")
	wantOneLineErr(t, cliConsume(t, append(bs, "--topic", "x", "--connect-timeout", "2s")...), "cannot connect to the cluster")
}

// myCommands are the tools of this file set (other files of the package
// hold other tools with their own tests).
var myCommands = []string{"topics", "console-producer", "console-consumer", "configs", "consumer-groups",
	"delete-records", "get-offsets", "broker-api-versions", "log-dirs", "cluster", "metadata-quorum"}

// TestEveryCommandHasHelp checks --help and a bad flag of each command.
func TestEveryCommandHasHelp(t *testing.T) {
	for _, name := range myCommands {
		c, ok := Lookup(name)
		if !ok {
			t.Fatalf("%s not registered", name)
		}
		var out, errb strings.Builder
		if err := c.Run([]string{"--help"}, &out, &errb); err != nil {
			t.Errorf("%s --help: %v", c.Name, err)
		}
		if !strings.HasPrefix(out.String(), "Usage:\n") || !strings.Contains(out.String(), "Examples:\n") || !strings.Contains(out.String(), "--bootstrap-server") {
			t.Errorf("%s --help:\n%s", c.Name, out.String())
		}
		if err := c.Run([]string{"--no-such-flag"}, &out, &errb); err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "unknown option --no-such-flag") {
			t.Errorf("%s with a bad flag: %v", c.Name, err)
		}
	}
}

func TestMetadataQuorum(t *testing.T) {
	t.Parallel()
	b, bs := cliBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	served, err := apiSupported(ctx, b.Admin(), int16(kmsg.DescribeQuorum))
	if err != nil || !served {
		t.Fatalf("DescribeQuorum served: %v %v", served, err)
	}
	// A single node is the quorum's only voter and its leader.
	r := cliRun(t, "metadata-quorum", append(bs, "describe", "--status")...)
	if r.runErr != nil || !strings.HasPrefix(r.out, "ClusterId:              ") ||
		!strings.Contains(r.out, "\nLeaderId:               1\n") ||
		!strings.Contains(r.out, "\nMaxFollowerLag:         0\n") ||
		!regexp.MustCompile(`\nCurrentVoters:          \[\{"id": 1, "directoryId": null, "endpoints": \["CONTROLLER://[^"]+"\]\}\]\n`).MatchString(r.out) {
		t.Fatalf("status: %v %q", r.runErr, r.out)
	}
	r = cliRun(t, "metadata-quorum", append(bs, "describe", "--replication", "--human-readable")...)
	if lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n"); r.runErr != nil || len(lines) != 2 ||
		!regexp.MustCompile(`^1     \tAAAAAAAAAAAAAAAAAAAAAA\t\d+ +\t0  \t\d+ ms ago +\t\d+ ms ago +\tLeader\t$`).MatchString(lines[1]) {
		t.Fatalf("replication: %v %q", r.runErr, r.out)
	}
	wantOneLineErr(t, cliRun(t, "metadata-quorum", append(bs, "describe")...), "one of --status or --replication")
	wantOneLineErr(t, cliRun(t, "metadata-quorum", append(bs, "--status")...), "describe, add-controller or remove-controller subcommand")
}

func TestQuorumFormats(t *testing.T) {
	q := &quorumInfo{nodes: map[int32][]string{3000: {"CONTROLLER://c0:9093"}, 3001: {"CONTROLLER://c1:9093"}}}
	q.LeaderID, q.LeaderEpoch, q.HighWatermark = 3000, 2, 10
	voter := func(id int32, leo, fetch, caught int64, dir byte) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
		v := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		v.ReplicaID, v.LogEndOffset, v.LastFetchTimestamp, v.LastCaughtUpTimestamp = id, leo, fetch, caught
		v.ReplicaDirectoryID[15] = dir
		return v
	}
	q.CurrentVoters = append(q.CurrentVoters, voter(3000, 10, -1, 5000, 1), voter(3001, 7, 4900, 4000, 0))
	q.Observers = append(q.Observers, voter(1, 9, 4990, 4950, 0))
	var b strings.Builder
	if err := writeQuorumStatus(&b, "cid", q); err != nil {
		t.Fatal(err)
	}
	want := "ClusterId:              cid\n" +
		"LeaderId:               3000\n" +
		"LeaderEpoch:            2\n" +
		"HighWatermark:          10\n" +
		"MaxFollowerLag:         3\n" +
		"MaxFollowerLagTimeMs:   1000\n" +
		`CurrentVoters:          [{"id": 3000, "directoryId": "AAAAAAAAAAAAAAAAAAAAAQ", "endpoints": ["CONTROLLER://c0:9093"]}, {"id": 3001, "directoryId": null, "endpoints": ["CONTROLLER://c1:9093"]}]` + "\n" +
		`CurrentObservers:       [{"id": 1, "directoryId": null}]` + "\n"
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	writeQuorumReplication(&b, q, true, time.UnixMilli(5000))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NodeId\tDirectoryId           \tLogEndOffset\tLag\t") {
		t.Fatalf("replication:\n%s", b.String())
	}
	f := strings.Split(lines[2], "\t")
	if strings.TrimSpace(f[0]) != "3001" || strings.TrimSpace(f[3]) != "3" || strings.TrimSpace(f[4]) != "100 ms ago" || strings.TrimSpace(f[6]) != "Follower" {
		t.Fatalf("follower row %q", f)
	}
	if f := strings.Split(lines[1], "\t"); strings.TrimSpace(f[4]) != "-1" || strings.TrimSpace(f[6]) != "Leader" {
		t.Fatalf("leader row %q", f)
	}
}
