package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConsoleProduceConsume(t *testing.T) {
	t.Parallel()
	_, bs := cliBroker(t)
	args := func(a ...string) []string { return append(append([]string{}, bs...), a...) }
	cliOK(t, "topics", args("--create", "--topic", "qs", "--partitions", "3")...)

	// Keys and headers, Kafka's LineMessageReader syntax.
	in := "h1:v1,h2:v2\tk1:hello\n" +
		"\tk2:world\n" +
		"h3:x\tk3:again\r\n"
	r := cliProduce(t, in, args("--topic", "qs", "--property", "parse.key=true", "--property", "key.separator=:",
		"--property", "parse.headers=true", "--sync")...)
	if r.runErr != nil {
		t.Fatalf("produce: %v %s", r.runErr, r.err)
	}
	// Plain values to one partition, with the Samsa --partition extra.
	r = cliProduce(t, "a\nb\nc", args("--topic", "qs", "--partition", "2", "--compression-codec", "zstd", "--timeout", "5")...)
	if r.runErr != nil {
		t.Fatalf("produce: %v %s", r.runErr, r.err)
	}

	// Everything from the beginning with all columns.
	c := cliConsume(t, args("--topic", "qs", "--from-beginning", "--max-messages", "6",
		"--property", "print.key=true", "--property", "print.headers=true", "--property", "print.partition=true",
		"--property", "print.offset=true", "--property", "print.timestamp=true", "--property", "key.separator=|")...)
	if c.runErr != nil {
		t.Fatalf("consume: %v %s", c.runErr, c.err)
	}
	if !strings.HasSuffix(c.err, "Processed a total of 6 messages\n") {
		t.Fatalf("stderr %q", c.err)
	}
	lines := strings.Split(strings.TrimSuffix(c.out, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("consumed %d lines:\n%s", len(lines), c.out)
	}
	got := map[string][]string{}
	for _, l := range lines {
		f := strings.Split(l, "|")
		if len(f) != 6 || !strings.HasPrefix(f[0], "CreateTime:") || !strings.HasPrefix(f[1], "Partition:") || !strings.HasPrefix(f[2], "Offset:") {
			t.Fatalf("line %q", l)
		}
		got[f[5]] = f
	}
	if f := got["hello"]; f == nil || f[3] != "h1:v1,h2:v2" || f[4] != "k1" {
		t.Fatalf("hello: %q", f)
	}
	if f := got["world"]; f == nil || f[3] != "NO_HEADERS" || f[4] != "k2" {
		t.Fatalf("world: %q", f)
	}
	if f := got["again"]; f == nil || f[3] != "h3:x" {
		t.Fatalf("again (CRLF line): %q", f)
	}
	if f := got["c"]; f == nil || f[1] != "Partition:2" || f[4] != "null" {
		t.Fatalf("c: %q", f)
	}

	// One partition from an offset, values only (the default format).
	c = cliConsume(t, args("--topic", "qs", "--partition", "2", "--offset", "earliest", "--timeout-ms", "1500")...)
	if c.runErr != nil {
		t.Fatalf("consume: %v", c.runErr)
	}
	if !strings.Contains(c.out, "a\nb\nc\n") {
		t.Fatalf("partition 2 from earliest: %q", c.out)
	}
	bOffset := strings.TrimPrefix(got["b"][2], "Offset:")
	c = cliConsume(t, args("--topic", "qs", "--partition", "2", "--offset", bOffset, "--max-messages", "1")...)
	if c.out != "b\n" {
		t.Fatalf("partition 2 from offset %s: %q", bOffset, c.out)
	}

	// JSON output parses and carries the key, headers and coordinates.
	c = cliConsume(t, args("--topic", "qs", "--from-beginning", "--max-messages", "6", "--output", "json")...)
	if c.runErr != nil {
		t.Fatalf("consume json: %v", c.runErr)
	}
	seen := 0
	for _, l := range strings.Split(strings.TrimSpace(c.out), "\n") {
		var jr jsonRecord
		if err := json.Unmarshal([]byte(l), &jr); err != nil {
			t.Fatalf("json line %q: %v", l, err)
		}
		if jr.Topic != "qs" || jr.TimestampType != "CreateTime" || jr.Timestamp == 0 || jr.Value == nil {
			t.Fatalf("json record %+v", jr)
		}
		if *jr.Value == "hello" {
			seen++
			if jr.Key == nil || *jr.Key != "k1" || len(jr.Headers) != 2 || jr.Headers[1].Key != "h2" || *jr.Headers[1].Value != "v2" {
				t.Fatalf("hello json %s", l)
			}
		}
	}
	if seen != 1 {
		t.Fatalf("hello seen %d times in %s", seen, c.out)
	}

	// --include takes a regular expression of topics.
	c = cliConsume(t, args("--include", "q[s]", "--from-beginning", "--max-messages", "6")...)
	if c.runErr != nil || strings.Count(c.out, "\n") != 6 {
		t.Fatalf("--include: %v %q", c.runErr, c.out)
	}

	// --timeout-ms ends a consumer that gets nothing.
	c = cliConsume(t, args("--topic", "qs", "--timeout-ms", "500")...)
	if c.runErr != nil || c.out != "" || !strings.Contains(c.err, "Processed a total of 0 messages") {
		t.Fatalf("idle consumer: %v %q %q", c.runErr, c.out, c.err)
	}

	// A file instead of stdin.
	p := filepath.Join(t.TempDir(), "lines.txt")
	if err := os.WriteFile(p, []byte("f1\nf2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := cliProduce(t, "", args("--topic", "qs", "--file", p, "--partition", "0")...); r.runErr != nil {
		t.Fatalf("produce --file: %v", r.runErr)
	}
	c = cliConsume(t, args("--topic", "qs", "--partition", "0", "--offset", "earliest", "--timeout-ms", "1000")...)
	if !strings.HasSuffix(c.out, "f1\nf2\n") {
		t.Fatalf("after --file: %q", c.out)
	}
}

func TestConsoleErrors(t *testing.T) {
	t.Parallel()
	_, bs := cliBroker(t)
	args := func(a ...string) []string { return append(append([]string{}, bs...), a...) }
	cliOK(t, "topics", args("--create", "--topic", "t1")...)

	// A line without the key separator fails the run, naming the line.
	r := cliProduce(t, "ok\tv\nnosep\n", args("--topic", "t1", "--property", "parse.key=true")...)
	wantOneLineErr(t, r, "no key separator found on line number 2: 'nosep'")
	// ... unless ignore.error.
	if r := cliProduce(t, "nosep\n", args("--topic", "t1", "--property", "parse.key=true", "--property", "ignore.error=true")...); r.runErr != nil {
		t.Fatal(r.runErr)
	}
	// Delivery failure: a partition that does not exist.
	r = cliProduce(t, "x\n", args("--topic", "t1", "--partition", "7", "--producer-property", "delivery.timeout.ms=2000")...)
	wantOneLineErr(t, r, "1 of 1 records were not delivered")
	if !strings.Contains(r.err, "Error when sending message to topic t1") {
		t.Fatalf("stderr %q", r.err)
	}
	wantOneLineErr(t, cliProduce(t, "x\n", args("--topic", "t1", "--request-required-acks", "2")...), "acks")
	// Properties samsa does not use are reported, as Kafka's clients do.
	if r := cliProduce(t, "x\n", args("--topic", "t1", "--producer-property", "foo.bar=1", "--producer-property", "key.serializer=x")...); r.runErr != nil ||
		r.err != "WARN: The configuration 'foo.bar' was supplied but isn't a known config (ignored).\n" {
		t.Fatalf("unknown property: %v %q", r.runErr, r.err)
	}
	wantOneLineErr(t, cliProduce(t, "x\n", args()...), "--topic is required")

	// Missing topic and partition on the consumer side.
	wantOneLineErr(t, cliConsume(t, args("--topic", "nope")...), "topic 'nope' does not exist")
	wantOneLineErr(t, cliConsume(t, args("--topic", "t1", "--partition", "3")...), "partition 3 does not exist")
	wantOneLineErr(t, cliConsume(t, args("--topic", "t1", "--offset", "3")...), "partition is required")
	wantOneLineErr(t, cliConsume(t, args("--topic", "t1", "--output", "xml")...), "--output")
	wantOneLineErr(t, cliConsume(t, args("--topic", "t1", "--partition", "0", "--offset", "soon")...), "--offset")
}

func TestLineReader(t *testing.T) {
	p := newProps()
	_ = p.addKV([]string{"parse.key=true", "key.separator=::", "parse.headers=true", "headers.delimiter=|",
		"headers.separator=;", "headers.key.separator==", "null.marker=<null>"})
	lr, err := newLineReader(p)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := lr.record("a=1;b=<null>;c|<null>::v::w", 1)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Key != nil || string(rec.Value) != "v::w" || len(rec.Headers) != 3 ||
		rec.Headers[0].Key != "a" || string(rec.Headers[0].Value) != "1" || rec.Headers[1].Value != nil || rec.Headers[2].Key != "c" {
		t.Fatalf("%+v", rec)
	}
	if _, err := lr.record("no headers here", 4); err == nil || !strings.Contains(err.Error(), "line number 4") {
		t.Fatalf("err %v", err)
	}
	if _, err := lr.record("<null>=x|k::v", 1); err == nil {
		t.Fatal("null header key accepted")
	}
	bad := newProps()
	_ = bad.addKV([]string{"parse.headers=true", "headers.delimiter=,"})
	if _, err := newLineReader(bad); err == nil {
		t.Fatal("equal delimiter and separator accepted")
	}
}

func TestFormatterColumns(t *testing.T) {
	p := newProps()
	_ = p.addKV([]string{"print.key=true", "print.value=false", "print.offset=true", "null.literal=NULL", `line.separator=\n--\n`})
	f, err := newFormatter(p, false)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rec := &kgoRecord{Offset: 7}
	if err := f.write(&b, rec); err != nil {
		t.Fatal(err)
	}
	if b.String() != "Offset:7\tNULL\n--\n" {
		t.Fatalf("%q", b.String())
	}
}

func TestProducerOpts(t *testing.T) {
	for _, good := range [][]string{
		{"acks=all", "compression.type=lz4", "linger.ms=5", "batch.size=16384"},
		{"acks=1", "enable.idempotence=false"},
		{"acks=0"},
		{"acks=1"}, // idempotence follows acks when not set
	} {
		p := newProps()
		_ = p.addKV(good)
		if _, err := producerOpts(p); err != nil {
			t.Errorf("%v: %v", good, err)
		}
	}
	for _, bad := range [][]string{{"acks=1", "enable.idempotence=true"}, {"compression.type=brotli"}, {"linger.ms=x"}, {"batch.size=-1"}} {
		p := newProps()
		_ = p.addKV(bad)
		if _, err := producerOpts(p); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
