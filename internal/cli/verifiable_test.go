package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/testbroker"
)

func TestVerifiableEventEncoding(t *testing.T) {
	var buf bytes.Buffer
	ev := newEventWriter(&buf)
	ev.now = func() time.Time { return time.UnixMilli(1700000000123) }
	ev.emit("startup_complete", nil)
	ev.emit("producer_send_success", producerSendSuccess{Key: nil, Value: "7.1", Topic: "t", Partition: 2, Offset: 41})
	ev.emit("records_consumed", recordsConsumed{Count: 3, Partitions: []recordSetSummary{{Topic: "t", Partition: 0, Count: 3, MinOffset: 5, MaxOffset: 7}}})
	ev.emit("offsets_committed", offsetsCommitted{Offsets: []commitData{{Topic: "t", Partition: 0, Offset: 8}}, Success: true})
	ev.emit("offsets_committed", offsetsCommitted{Offsets: []commitData{}, Error: "boom", Success: false})
	ev.emit("partitions_assigned", partitionsEvent{Partitions: vcPartitionList(map[string][]int32{"b": {1, 0}, "a": {3}})})
	ev.emit("tool_data", producerToolData{Sent: 10, Acked: 9, TargetThroughput: -1, AvgThroughput: 4.5})
	want := `{"timestamp":1700000000123,"name":"startup_complete"}
{"timestamp":1700000000123,"name":"producer_send_success","key":null,"value":"7.1","topic":"t","partition":2,"offset":41}
{"timestamp":1700000000123,"name":"records_consumed","count":3,"partitions":[{"topic":"t","partition":0,"count":3,"minOffset":5,"maxOffset":7}]}
{"timestamp":1700000000123,"name":"offsets_committed","offsets":[{"topic":"t","partition":0,"offset":8}],"success":true}
{"timestamp":1700000000123,"name":"offsets_committed","offsets":[],"error":"boom","success":false}
{"timestamp":1700000000123,"name":"partitions_assigned","partitions":[{"topic":"a","partition":3},{"topic":"b","partition":0},{"topic":"b","partition":1}]}
{"timestamp":1700000000123,"name":"tool_data","sent":10,"acked":9,"target_throughput":-1,"avg_throughput":4.5}
`
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
	for _, name := range []string{"RangeAssignor", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor", "roundrobin", "sticky"} {
		if _, err := groupBalancer(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := groupBalancer("Nope"); err == nil {
		t.Error("unknown assignor accepted")
	}
}

// events parses JSON event lines.
func events(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if _, ok := m["timestamp"].(float64); !ok {
			t.Fatalf("line without timestamp: %s", l)
		}
		evs = append(evs, m)
	}
	return evs
}

func TestVerifiableProducer(t *testing.T) {
	b := testbroker.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.Admin().CreateTopic(ctx, 3, 1, nil, "vp"); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := execTool(t, "verifiable-producer", "--bootstrap-server", b.Addr(), "--topic", "vp",
		"--max-messages", "200", "--repeating-keys", "4", "--value-prefix", "7", "--throughput", "5000")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	evs := events(t, out)
	if evs[0]["name"] != "startup_complete" {
		t.Fatalf("first event %v", evs[0])
	}
	n := len(evs)
	if evs[n-2]["name"] != "shutdown_complete" || evs[n-1]["name"] != "tool_data" {
		t.Fatalf("last events %v %v", evs[n-2], evs[n-1])
	}
	if td := evs[n-1]; td["sent"] != 200.0 || td["acked"] != 200.0 || td["target_throughput"] != 5000.0 {
		t.Fatalf("tool_data %v", td)
	}
	// Offsets per partition are 0..count-1, each once; values are the
	// sequence with the prefix and keys cycle through 0..3.
	seen := map[int32]map[int64]bool{}
	values := map[string]bool{}
	for _, e := range evs[1 : n-2] {
		if e["name"] != "producer_send_success" || e["topic"] != "vp" {
			t.Fatalf("unexpected event %v", e)
		}
		p, off := int32(e["partition"].(float64)), int64(e["offset"].(float64))
		if seen[p] == nil {
			seen[p] = map[int64]bool{}
		}
		if seen[p][off] {
			t.Fatalf("offset %d of partition %d acked twice", off, p)
		}
		seen[p][off] = true
		v := e["value"].(string)
		values[v] = true
		var i int
		fmt.Sscanf(v, "7.%d", &i)
		if k := e["key"].(string); k != fmt.Sprint(i%4) {
			t.Fatalf("value %s has key %s", v, k)
		}
	}
	if len(values) != 200 {
		t.Fatalf("%d distinct values acked", len(values))
	}
	ends, err := b.Admin().ListEndOffsets(ctx, "vp")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if int64(len(seen[o.Partition])) != o.Offset {
			t.Errorf("partition %d: %d acks, end offset %d", o.Partition, len(seen[o.Partition]), o.Offset)
		}
		for off := int64(0); off < o.Offset; off++ {
			if !seen[o.Partition][off] {
				t.Errorf("partition %d: offset %d not acked", o.Partition, off)
			}
		}
	})
}

// advertises reports whether the broker advertises an API key.
func advertises(t *testing.T, b *testbroker.Broker, key int16) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, b.Client())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == key {
			return true
		}
	}
	return false
}

func TestVerifiableConsumer(t *testing.T) {
	b := testbroker.Start(t)
	if !advertises(t, b, 11) { // JoinGroup
		t.Skip("broker does not advertise JoinGroup (consumer groups not in yet)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := b.Admin().CreateTopic(ctx, 2, 1, nil, "vc"); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := execTool(t, "verifiable-producer", "--bootstrap-server", b.Addr(), "--topic", "vc", "--max-messages", "50"); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	out, stderr, err := execTool(t, "verifiable-consumer", "--bootstrap-server", b.Addr(), "--topic", "vc",
		"--group-id", "vcg", "--max-messages", "50", "--verbose", "--session-timeout", "10000")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	evs := events(t, out)
	if evs[0]["name"] != "startup_complete" || evs[len(evs)-1]["name"] != "shutdown_complete" {
		t.Fatalf("first/last events: %v %v", evs[0], evs[len(evs)-1])
	}
	var consumed, records, commits int
	assigned := false
	for _, e := range evs {
		switch e["name"] {
		case "partitions_assigned":
			assigned = true
		case "records_consumed":
			consumed += int(e["count"].(float64))
		case "record_data":
			records++
		case "offsets_committed":
			if e["success"] != true {
				t.Fatalf("commit failed: %v", e)
			}
			commits++
		}
	}
	if !assigned || consumed != 50 || records != 50 || commits == 0 {
		t.Fatalf("assigned %v consumed %d records %d commits %d\n%s", assigned, consumed, records, commits, out)
	}
	offs, err := b.Admin().FetchOffsets(ctx, "vcg")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 50 {
		t.Fatalf("committed offsets sum to %d, want 50", total)
	}
}

// TestVerifiableConsumerKIP848 is TestVerifiableConsumer with the
// consumer group protocol.
func TestVerifiableConsumerKIP848(t *testing.T) {
	b := testbroker.Start(t)
	if !advertises(t, b, int16(kmsg.ConsumerGroupHeartbeat)) {
		t.Skip("broker does not advertise ConsumerGroupHeartbeat (KIP-848 not in yet)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := b.Admin().CreateTopic(ctx, 2, 1, nil, "vc848"); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := execTool(t, "verifiable-producer", "--bootstrap-server", b.Addr(), "--topic", "vc848", "--max-messages", "40"); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	out, stderr, err := execTool(t, "verifiable-consumer", "--bootstrap-server", b.Addr(), "--topic", "vc848",
		"--group-id", "vcg848", "--max-messages", "40", "--group-protocol", "consumer", "--group-remote-assignor", "range")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	evs := events(t, out)
	if evs[0]["name"] != "startup_complete" || evs[len(evs)-1]["name"] != "shutdown_complete" {
		t.Fatalf("first/last events: %v %v", evs[0], evs[len(evs)-1])
	}
	var consumed, commits int
	assigned := map[string]bool{}
	for _, e := range evs {
		switch e["name"] {
		case "partitions_assigned":
			for _, p := range e["partitions"].([]any) {
				tp := p.(map[string]any)
				assigned[fmt.Sprint(tp["topic"], "-", tp["partition"])] = true
			}
		case "records_consumed":
			consumed += int(e["count"].(float64))
		case "offsets_committed":
			if e["success"] != true {
				t.Fatalf("commit failed: %v", e)
			}
			commits++
		}
	}
	if !assigned["vc848-0"] || !assigned["vc848-1"] || consumed != 40 || commits == 0 {
		t.Fatalf("assigned %v consumed %d commits %d\n%s", assigned, consumed, commits, out)
	}
	offs, err := b.Admin().FetchOffsets(ctx, "vcg848")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 40 {
		t.Fatalf("committed offsets sum to %d, want 40", total)
	}
	// The group is a consumer-protocol group (ConsumerGroupDescribe
	// answers GROUP_ID_NOT_FOUND for a classic one), now empty.
	ds, err := b.Admin().DescribeConsumerGroups(ctx, "vcg848")
	if err != nil || ds["vcg848"].Err != nil || ds["vcg848"].State != "Empty" {
		t.Fatalf("describe: %v %+v", err, ds)
	}

	// group.remote.assignor reaches the broker: a member configured by
	// consumerOpts with range makes the group's assignor range.
	p := newProps()
	if err := p.addKV([]string{"group.protocol=consumer", "group.remote.assignor=range"}); err != nil {
		t.Fatal(err)
	}
	opts, err := consumerOpts(p, "vcg848range")
	if err != nil {
		t.Fatal(err)
	}
	cl := b.Client(append(opts, kgo.ConsumeTopics("vc848"))...)
	deadline := time.Now().Add(20 * time.Second)
	for {
		pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		cl.PollFetches(pctx)
		pcancel()
		ds, err := b.Admin().DescribeConsumerGroups(ctx, "vcg848range")
		if d := ds["vcg848range"]; err == nil && d.Err == nil && len(d.Members) == 1 {
			if d.AssignorName != "range" {
				t.Fatalf("assignor %q, want range", d.AssignorName)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group vcg848range never got its member: %v %+v", err, ds)
		}
	}
}

func TestGroupProtocolProps(t *testing.T) {
	for _, tc := range []struct {
		kv   []string
		want string // error substring; "" for success
	}{
		{nil, ""},
		{[]string{"group.protocol=CONSUMER"}, ""},
		{[]string{"group.protocol=consumer", "group.remote.assignor=range"}, ""},
		{[]string{"group.protocol=consumer", "group.remote.assignor=sticky"}, "not uniform or range"},
		{[]string{"group.protocol=consumer", "partition.assignment.strategy=range"}, "partition.assignment.strategy cannot be set"},
		{[]string{"group.protocol=consumer", "session.timeout.ms=10000"}, "session.timeout.ms cannot be set"},
		{[]string{"group.remote.assignor=uniform"}, "cannot be set when group.protocol=classic"},
		{[]string{"group.protocol=share"}, "not classic or consumer"},
	} {
		p := newProps()
		if err := p.addKV(tc.kv); err != nil {
			t.Fatal(err)
		}
		_, err := consumerOpts(p, "g")
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.kv, err, tc.want)
		}
	}
	wantOneLineErr(t, cliRun(t, "verifiable-consumer", "--topic", "t", "--group-id", "g", "--group-protocol", "share"), "not classic or consumer")
	wantOneLineErr(t, cliRun(t, "verifiable-consumer", "--topic", "t", "--group-id", "g", "--group-remote-assignor", "range"), "needs --group-protocol consumer")
}
