package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestFlagParsing(t *testing.T) {
	var (
		topic   string
		n       int
		shift   int64
		props   []string
		on, off bool
		state   string
		d       time.Duration
	)
	newFS := func() *flagSet {
		fs := newFlagSet("x", "  samsa x", "  samsa x --topic t")
		fs.String(&topic, "topic", "topic", "the topic")
		fs.Int(&n, "partitions", "n", "count")
		fs.Int64(&shift, "shift-by", "n", "shift")
		fs.Strings(&props, "property", "k=v", "repeatable")
		fs.Bool(&on, "from-beginning", "flag")
		fs.Bool(&off, "verbose", "flag")
		fs.OptString(&state, "state", "states", "optional value")
		fs.Duration(&d, "timeout", "ms", "duration")
		return fs
	}
	fs := newFS()
	err := fs.parse([]string{"--topic", "a", "-partitions=3", "--shift-by", "-10", "--property", "x=1", "--property=y=2",
		"--from-beginning", "--state", "--timeout", "2500", "pos"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if topic != "a" || n != 3 || shift != -10 || len(props) != 2 || props[1] != "y=2" || !on || off || state != "" || d != 2500*time.Millisecond {
		t.Fatalf("%q %d %d %q %v %v %q %v", topic, n, shift, props, on, off, state, d)
	}
	if !fs.Has("state") || fs.Has("verbose") || len(fs.args) != 1 || fs.args[0] != "pos" {
		t.Fatalf("has/args: %v %v", fs.Has("state"), fs.args)
	}
	fs = newFS()
	if err := fs.parse([]string{"--state", "stable,empty", "--timeout", "3s"}, nil); err != nil || state != "stable,empty" || d != 3*time.Second {
		t.Fatalf("%v %q %v", err, state, d)
	}
	for args, want := range map[string]string{
		"--nope":          "unknown option --nope (see samsa x --help)",
		"--topic":         "option --topic needs a value",
		"--partitions x":  "option --partitions: not a number",
		"--timeout soon":  "option --timeout: not a duration",
		"--verbose=maybe": "option --verbose takes no value",
	} {
		err := newFS().parse(strings.Fields(args), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
	var out bytes.Buffer
	if err := newFS().parse([]string{"--help"}, &out); err != errHelp {
		t.Fatalf("help: %v", err)
	}
	if !strings.Contains(out.String(), "  --property <k=v>") || !strings.Contains(out.String(), "  --state [states]") || !strings.Contains(out.String(), "Examples:\n  samsa x --topic t") {
		t.Fatalf("usage:\n%s", out.String())
	}
}

func TestPropertiesFile(t *testing.T) {
	p := newProps()
	in := "# comment\n! also\nsecurity.protocol=SASL_SSL\nsasl.mechanism : PLAIN\n" +
		"sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n   username=\"u\" password=\"p\";\n" +
		"client.id samsa\nkey.separator=\\t\n  spaced.key = v  \n"
	if err := p.read(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"security.protocol": "SASL_SSL",
		"sasl.mechanism":    "PLAIN",
		"sasl.jaas.config":  `org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";`,
		"client.id":         "samsa",
		"key.separator":     "\t",
		"spaced.key":        "v  ",
	}
	for k, v := range want {
		if got, _ := p.get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	c := conn{bootstrap: "127.0.0.1:1", timeout: time.Second, props: p}
	if _, err := c.baseOpts(); err != nil {
		t.Fatalf("SASL_SSL PLAIN: %v", err)
	}
	p.set("sasl.mechanism", "GSSAPI")
	if _, err := c.baseOpts(); err == nil || !strings.Contains(err.Error(), "GSSAPI") {
		t.Fatalf("GSSAPI: %v", err)
	}
	p.set("security.protocol", "CARRIER_PIGEON")
	if _, err := c.baseOpts(); err == nil {
		t.Fatal("bad protocol accepted")
	}
	if err := p.addKV([]string{"novalue"}); err == nil {
		t.Fatal("property without '=' accepted")
	}
}

func TestTable(t *testing.T) {
	tb := newTable([]int{5, 3}, "A", "BB", "C")
	tb.add("longer", "x", "last column is not padded")
	var b bytes.Buffer
	tb.write(&b)
	want := "A      BB  C\nlonger x   last column is not padded\n"
	if b.String() != want {
		t.Fatalf("%q", b.String())
	}
}

func TestSeeds(t *testing.T) {
	p := newProps()
	c := conn{props: p}
	if got := strings.Join(c.seeds(), ","); got != defaultBootstrap {
		t.Fatalf("default: %s", got)
	}
	p.set("bootstrap.servers", "a:1, b:2")
	if got := strings.Join(c.seeds(), ","); got != "a:1,b:2" {
		t.Fatalf("bootstrap.servers: %s", got)
	}
	c.brokerList = "c:3"
	if got := strings.Join(c.seeds(), ","); got != "c:3" {
		t.Fatalf("--broker-list: %s", got)
	}
	// --bootstrap-server wins, even when it names the default address.
	c.bootstrap = defaultBootstrap
	if got := strings.Join(c.seeds(), ","); got != defaultBootstrap {
		t.Fatalf("--bootstrap-server: %s", got)
	}
}

func TestPropertiesFileJavaEscapes(t *testing.T) {
	p := newProps()
	in := "a=caf\\u00e9\nb=ends in three \\\\\\\n  continued\nc=x\nc=y\n"
	if err := p.read(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"a": "café", "b": `ends in three \continued`, "c": "y"} {
		if got, _ := p.get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if len(p.keys) != 3 {
		t.Errorf("keys %q", p.keys)
	}
	if err := p.read(strings.NewReader("bad=\\u12\n")); err == nil {
		t.Error("malformed \\u escape accepted")
	}
}

func TestMultiValueOption(t *testing.T) {
	var vs []string
	var n int
	fs := newFlagSet("x", "", "")
	fs.Multi(&vs, "producer-props", "prop=value", "")
	fs.Int(&n, "n", "n", "")
	if err := fs.parse([]string{"--producer-props"}, nil); err == nil || !strings.Contains(err.Error(), "needs a value") {
		t.Fatalf("no value: %v", err)
	}
	vs = nil
	fs = newFlagSet("x", "", "")
	fs.Multi(&vs, "producer-props", "prop=value", "")
	if err := fs.parse([]string{"--producer-props", "a=1", "b=2", "pos"}, nil); err != nil || len(vs) != 3 || len(fs.args) != 0 {
		t.Fatalf("%v %q %q", err, vs, fs.args)
	}
}
