package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/testbroker"
)

// dumpLogSegment produces records to a one-partition topic with a small
// index interval, stops the broker and returns the segment's path prefix.
func dumpLogSegment(t *testing.T) string {
	t.Helper()
	b := testbroker.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	interval := "200"
	if _, err := b.Admin().CreateTopic(ctx, 1, 1, map[string]*string{"index.interval.bytes": &interval}, "dump"); err != nil {
		t.Fatal(err)
	}
	cl := b.Client(kgo.ProducerLinger(0), kgo.DefaultProduceTopic("dump"))
	ts := time.UnixMilli(1700000000000)
	// Batch 0: two records with keys and a header, one at a time after.
	r0 := &kgo.Record{Key: []byte("k1"), Value: []byte("hello"), Timestamp: ts,
		Headers: []kgo.RecordHeader{{Key: "h1", Value: []byte("v")}}}
	if err := cl.ProduceSync(ctx, r0, &kgo.Record{Key: []byte("k2"), Value: []byte("world"), Timestamp: ts}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Value: bytes.Repeat([]byte{'a' + byte(i)}, 100), Timestamp: ts.Add(time.Duration(i+1) * time.Second)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	b.Stop()
	return filepath.Join(b.Dir, "dump-0", "00000000000000000000")
}

func TestDumpLogSegment(t *testing.T) {
	seg := dumpLogSegment(t)

	out, _, err := execTool(t, "dump-log", "--files", seg+".log", "--print-data-log")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "Dumping "+seg+".log" || lines[1] != "Log starting offset: 0" {
		t.Fatalf("head:\n%s", out)
	}
	batchRe := regexp.MustCompile(`^baseOffset: (\d+) lastOffset: (\d+) count: (\d+) baseSequence: (-?\d+) lastSequence: (-?\d+) ` +
		`producerId: (-?\d+) producerEpoch: (-?\d+) partitionLeaderEpoch: (\d+) isTransactional: false isControl: false ` +
		`deleteHorizonMs: OptionalLong.empty position: (\d+) CreateTime: (\d+) size: (\d+) magic: 2 compresscodec: (\w+) crc: (\d+) isvalid: true$`)
	m := batchRe.FindStringSubmatch(lines[2])
	if m == nil {
		t.Fatalf("first batch line does not match:\n%s", lines[2])
	}
	if m[1] != "0" || m[2] != "1" || m[3] != "2" || m[4] != "0" || m[5] != "1" || m[9] != "0" || m[10] != "1700000000000" {
		t.Fatalf("first batch fields: %q", m[1:])
	}
	wantRec := "| offset: 0 CreateTime: 1700000000000 keySize: 2 valueSize: 5 sequence: 0 headerKeys: [h1] key: k1 payload: hello"
	if lines[3] != wantRec {
		t.Fatalf("record line\n got %s\nwant %s", lines[3], wantRec)
	}
	if !strings.HasPrefix(lines[4], "| offset: 1 CreateTime: 1700000000000 keySize: 2 valueSize: 5 sequence: 1 headerKeys: [] key: k2 payload: world") {
		t.Fatalf("second record line: %s", lines[4])
	}
	batches := 0
	for _, l := range lines {
		if batchRe.MatchString(l) {
			batches++
		}
	}
	if batches != 11 {
		t.Fatalf("%d batch lines, want 11:\n%s", batches, out)
	}
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "| offset: 11 CreateTime: 1700000010000 keySize: -1 valueSize: 100 ") || !strings.HasSuffix(last, " payload: "+strings.Repeat("j", 100)) {
		t.Fatalf("last line: %s", last)
	}

	// Without --deep-iteration: batch lines only.
	out, _, err = execTool(t, "dump-log", "--files", seg+".log")
	if err != nil || strings.Contains(out, "| offset") {
		t.Fatalf("shallow dump: %v\n%s", err, out)
	}

	// The offset index: every entry points at a batch whose last offset
	// it names; the time index likewise.
	out, stderr, err := execTool(t, "dump-log", "--files", seg+".index,"+seg+".timeindex")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	idx := regexp.MustCompile(`(?m)^offset: (\d+) position: (\d+)$`).FindAllString(out, -1)
	tidx := regexp.MustCompile(`(?m)^timestamp: (\d+) offset: (\d+)$`).FindAllString(out, -1)
	if len(idx) < 3 || len(tidx) < 3 {
		t.Fatalf("too few index entries (%d, %d):\n%s", len(idx), len(tidx), out)
	}
	if !strings.Contains(out, "timestamp: 1700000010000 offset: 11") {
		t.Fatalf("time index lacks its final entry:\n%s", out)
	}
	out, _, err = execTool(t, "dump-log", "--index-sanity-check", "--files", seg+".index")
	if err != nil || !strings.Contains(out, "passed sanity check") {
		t.Fatalf("sanity check: %v\n%s", err, out)
	}
}

func TestDumpLogIndexMismatch(t *testing.T) {
	seg := dumpLogSegment(t)
	data, err := os.ReadFile(seg + ".index")
	if err != nil || len(data) < 16 {
		t.Fatalf("index: %v, %d bytes", err, len(data))
	}
	// Entry 0 points 1 byte past its batch; entry 1 names the wrong offset.
	pos0 := binary.BigEndian.Uint32(data[4:])
	binary.BigEndian.PutUint32(data[4:], pos0+1)
	rel1 := binary.BigEndian.Uint32(data[8:])
	binary.BigEndian.PutUint32(data[8:], rel1+100)
	if err := os.WriteFile(seg+".index", data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := execTool(t, "dump-log", "--verify-index-only", "--files", seg+".index")
	if err == nil {
		t.Fatalf("no error for a corrupt index; stderr:\n%s", stderr)
	}
	if strings.Contains(out, "offset:") {
		t.Fatalf("--verify-index-only printed entries:\n%s", out)
	}
	if !strings.Contains(stderr, "Mismatches in :"+seg+".index") ||
		!strings.Contains(stderr, fmt.Sprintf("position %d is not the start of a batch", pos0+1)) ||
		!strings.Contains(stderr, fmt.Sprintf("Index offset: %d, log offset: %d", rel1+100, rel1)) {
		t.Fatalf("stderr:\n%s", stderr)
	}
}

func TestDumpLogErrors(t *testing.T) {
	if _, _, err := execTool(t, "dump-log"); err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("no --files: %v", err)
	}
	if _, _, err := execTool(t, "dump-log", "--bogus"); err == nil {
		t.Fatal("bad flag accepted")
	}
	if _, _, err := execTool(t, "dump-log", "--files", filepath.Join(t.TempDir(), "00000000000000000000.log")); err == nil {
		t.Fatal("missing file accepted")
	}
	out, _, err := execTool(t, "kafka-dump-log.sh", "--help")
	if err != nil || !strings.Contains(out, "Examples:") || !strings.Contains(out, "-print-data-log") {
		t.Fatalf("help: %v\n%s", err, out)
	}
}

// TestDumpLogTransactionLog: a real transaction, then
// --transaction-log-decoder on the __transaction_state partition of its
// id prints each state the coordinator wrote, in Kafka's JSON form.
func TestDumpLogTransactionLog(t *testing.T) {
	b := testbroker.Start(t, "transaction.state.log.num.partitions=1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.Admin().CreateTopic(ctx, 1, 1, nil, "dump-txn"); err != nil {
		t.Fatal(err)
	}
	cl := b.Client(kgo.TransactionalID("dump-txn-id"), kgo.DefaultProduceTopic("dump-txn"))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("v")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	// The markers, then CompleteCommit, follow EndTxn's answer.
	time.Sleep(500 * time.Millisecond)
	cl.Close()
	b.Stop()
	seg := filepath.Join(b.Dir, "__transaction_state-0", "00000000000000000000.log")
	out, _, err := execTool(t, "dump-log", "--files", seg, "--transaction-log-decoder")
	if err != nil {
		t.Fatal(err)
	}
	key := `key: {"data":{"transactionalId":"dump-txn-id"},"type":"0"} payload: {"data":{`
	var states []string
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, key); i >= 0 {
			m := regexp.MustCompile(`"transactionStatus":(\d)`).FindStringSubmatch(line[i:])
			if m == nil {
				t.Fatalf("no status in %q", line)
			}
			states = append(states, m[1])
		}
	}
	// Empty (InitProducerId), Ongoing, PrepareCommit, CompleteCommit.
	if strings.Join(states, ",") != "0,1,2,4" {
		t.Fatalf("states %v in:\n%s", states, out)
	}
	if !strings.Contains(out, `"transactionPartitions":[{"topic":"dump-txn","partitionIds":[0]}]`) {
		t.Fatalf("no partitions in:\n%s", out)
	}
}
