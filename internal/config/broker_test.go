package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func mustLoad(t *testing.T, file string, overrides ...string) *Broker {
	t.Helper()
	b, err := load(t, file, overrides...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// load writes file (when not empty) to server.properties in a temp dir and
// loads it with the overrides.
func load(t *testing.T, file string, overrides ...string) (*Broker, error) {
	t.Helper()
	path := ""
	if file != "" {
		path = filepath.Join(t.TempDir(), "server.properties")
		if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return LoadBroker(path, overrides)
}

func TestDefaults(t *testing.T) {
	b := mustLoad(t, "")
	if b.NodeID() != 1 || !b.HasRole("broker") || !b.HasRole("controller") {
		t.Errorf("node.id %d, roles %v", b.NodeID(), b.roles)
	}
	for name, want := range map[string]string{
		"num.partitions":                            "1",
		"default.replication.factor":                "1",
		"log.segment.bytes":                         "1073741824",
		"log.roll.hours":                            "168",
		"log.retention.hours":                       "168",
		"log.retention.bytes":                       "-1",
		"log.retention.check.interval.ms":           "300000",
		"log.flush.interval.messages":               "9223372036854775807",
		"log.index.size.max.bytes":                  "10485760",
		"log.index.interval.bytes":                  "4096",
		"log.cleanup.policy":                        "delete",
		"log.message.timestamp.type":                "CreateTime",
		"log.segment.delete.delay.ms":               "60000",
		"message.max.bytes":                         "1048588",
		"compression.type":                          "producer",
		"min.insync.replicas":                       "1",
		"unclean.leader.election.enable":            "false",
		"socket.request.max.bytes":                  "104857600",
		"connections.max.idle.ms":                   "600000",
		"replica.lag.time.max.ms":                   "30000",
		"offsets.topic.num.partitions":              "50",
		"offsets.retention.minutes":                 "10080",
		"producer.id.expiration.ms":                 "86400000",
		"max.incremental.fetch.session.cache.slots": "1000",
		"group.initial.rebalance.delay.ms":          "3000",
		"auto.create.topics.enable":                 "true",
		"delete.topic.enable":                       "true",
	} {
		if got := b.String(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"log.retention.ms", "log.roll.ms", "log.flush.interval.ms", "advertised.listeners", "broker.rack"} {
		if v := b.Value(name); v != nil {
			t.Errorf("%s = %q, want null", name, *v)
		}
	}
	ls, _ := b.Listeners()
	if want := []Listener{{"PLAINTEXT", "127.0.0.1", 9092, "PLAINTEXT"}, {"CONTROLLER", "127.0.0.1", 9093, "PLAINTEXT"}}; !reflect.DeepEqual(ls, want) {
		t.Errorf("listeners %+v", ls)
	}
	adv, _ := b.AdvertisedListeners()
	if want := []Listener{{"PLAINTEXT", "127.0.0.1", 9092, "PLAINTEXT"}}; !reflect.DeepEqual(adv, want) {
		t.Errorf("advertised %+v", adv)
	}
	if got := b.ControllerListenerNames(); !reflect.DeepEqual(got, []string{"CONTROLLER"}) {
		t.Errorf("controller listeners %v", got)
	}
	voters, _ := b.Voters()
	if !reflect.DeepEqual(voters, map[int32]string{1: "127.0.0.1:9093"}) {
		t.Errorf("voters %v", voters)
	}
	if !reflect.DeepEqual(b.LogDirs(), []string{"./samsa-data"}) || b.MetadataLogDir() != "./samsa-data" {
		t.Errorf("log dirs %v, metadata %s", b.LogDirs(), b.MetadataLogDir())
	}
	if b.InterBrokerListenerName() != "PLAINTEXT" {
		t.Errorf("inter-broker %s", b.InterBrokerListenerName())
	}
	if b.Int("message.max.bytes") != 1048588 || !b.Bool("auto.create.topics.enable") || b.Double("log.cleaner.min.cleanable.ratio") != 0.5 {
		t.Error("typed getters")
	}
	if _, ok := b.Explicit("num.partitions"); ok {
		t.Error("nothing is explicit without a file")
	}
}

func TestLoadFile(t *testing.T) {
	file := `# Samsa test config
! another comment
node.id = 3
num.partitions:7
  log.dirs = /data/a,\
             /data/b
log.retention.hours 24
broker.rack=rack\u002d1
ssl.keystore.password =  secret with spaces  
`
	b := mustLoad(t, file)
	if b.NodeID() != 3 || b.Int("num.partitions") != 7 || b.String("broker.rack") != "rack-1" {
		t.Errorf("node.id %d, num.partitions %d, rack %q", b.NodeID(), b.Int("num.partitions"), b.String("broker.rack"))
	}
	if !reflect.DeepEqual(b.LogDirs(), []string{"/data/a", "/data/b"}) || b.MetadataLogDir() != "/data/a" {
		t.Errorf("log dirs %v", b.LogDirs())
	}
	if v, ok := b.Explicit("log.retention.hours"); !ok || v != "24" {
		t.Errorf("log.retention.hours %q %v", v, ok)
	}
	if got := b.String("ssl.keystore.password"); got != "secret with spaces  " {
		t.Errorf("passwords are not trimmed: %q", got)
	}
	voters, _ := b.Voters()
	if !reflect.DeepEqual(voters, map[int32]string{3: "127.0.0.1:9093"}) {
		t.Errorf("derived voters follow node.id: %v", voters)
	}
}

func TestOverridesWinOverFile(t *testing.T) {
	b := mustLoad(t, "num.partitions=3\nlog.retention.hours=1\n", "num.partitions=9", " log.segment.bytes = 2097152", "log.cleanup.policy=compact,delete")
	if b.Int("num.partitions") != 9 || b.Int("log.segment.bytes") != 2097152 || b.Int("log.retention.hours") != 1 {
		t.Errorf("num.partitions %d, segment %d", b.Int("num.partitions"), b.Int("log.segment.bytes"))
	}
	if got := b.List("log.cleanup.policy"); !reflect.DeepEqual(got, []string{"compact", "delete"}) {
		t.Errorf("cleanup %v", got)
	}
	b = mustLoad(t, "", "log.retention.ms=1", "log.retention.ms=2")
	if b.Int("log.retention.ms") != 2 {
		t.Error("the last override wins")
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		file      string
		overrides []string
		is        error
		want      []string // substrings of the error
	}{
		{"unknown key in file", "num.partitions=1\n\n# x\nlog.retentoin.ms=5\n", nil, ErrUnknownConfig,
			[]string{`unknown config "log.retentoin.ms" in `, `server.properties line 4`, `did you mean "log.retention.ms"?`}},
		{"unknown override", "", []string{"nope.nope=1"}, ErrUnknownConfig, []string{`"nope.nope" in override "nope.nope=1"`}},
		{"override without =", "", []string{"num.partitions"}, ErrInvalidConfig, []string{`override "num.partitions" is not key=value`}},
		{"not a number", "num.partitions=abc", nil, ErrInvalidConfig, []string{`"num.partitions" = "abc"`, "line 1", "not a valid int"}},
		{"int overflow", "num.partitions=3000000000", nil, ErrInvalidConfig, []string{"num.partitions", "out of range for type int"}},
		{"below minimum", "", []string{"log.segment.bytes=14"}, ErrInvalidConfig, []string{`"log.segment.bytes" = "14"`, "[1048576,...]"}},
		{"bad boolean", "auto.create.topics.enable=yes", nil, ErrInvalidConfig, []string{"auto.create.topics.enable", `"true" or "false"`}},
		{"bad enum", "compression.type=brotli", nil, ErrInvalidConfig, []string{"compression.type", "must be one of [uncompressed, zstd, lz4, snappy, gzip, producer]"}},
		{"bad list item", "log.cleanup.policy=delete,shred", nil, ErrInvalidConfig, []string{"log.cleanup.policy", `item "shred"`}},
		{"bad role", "process.roles=broker,worker", nil, ErrInvalidConfig, []string{"process.roles", `"worker"`}},
		{"bad ratio", "log.cleaner.min.cleanable.ratio=1.5", nil, ErrInvalidConfig, []string{"log.cleaner.min.cleanable.ratio", "[0,...,1]"}},
		{"listener without scheme", "listeners=localhost:9092", nil, ErrInvalidConfig, []string{"listeners", `missing "://"`}},
		{"listener bad port", "listeners=PLAINTEXT://:99999,CONTROLLER://:9093", nil, ErrInvalidConfig, []string{"listeners", "port"}},
		{"listener unbracketed ipv6", "listeners=PLAINTEXT://::1:9092,CONTROLLER://:9093", nil, ErrInvalidConfig, []string{"listeners", "brackets"}},
		{"listener name twice", "listeners=PLAINTEXT://:9092,PLAINTEXT://:9093", nil, ErrInvalidConfig, []string{"listeners", "used twice"}},
		{"listener same port", "listeners=PLAINTEXT://:9092,CONTROLLER://:9092", nil, ErrInvalidConfig, []string{"same address"}},
		{"listener without protocol", "listeners=INTERNAL://:9092,CONTROLLER://:9093\ninter.broker.listener.name=INTERNAL", nil, ErrInvalidConfig,
			[]string{"listener INTERNAL has no security protocol"}},
		{"bad protocol map", "listener.security.protocol.map=PLAINTEXT:HTTP", nil, ErrInvalidConfig, []string{"listener.security.protocol.map", `"HTTP"`}},
		{"no controller listener", "listeners=PLAINTEXT://:9092", nil, ErrInvalidConfig, []string{"must contain a controller listener"}},
		{"controller listener on broker-only", "process.roles=broker\ncontroller.quorum.voters=1@h:9093", nil, ErrInvalidConfig, []string{"must not contain the controller listener"}},
		{"broker-only without quorum", "process.roles=broker\nlisteners=PLAINTEXT://:9092", nil, ErrInvalidConfig, []string{"controller.quorum.voters or controller.quorum.bootstrap.servers"}},
		{"node not a voter", "controller.quorum.voters=2@h:9093", nil, ErrInvalidConfig, []string{"must contain node.id 1"}},
		{"bad voter", "controller.quorum.voters=x@h:9093", nil, ErrInvalidConfig, []string{"controller.quorum.voters", `voter "x@h:9093"`}},
		{"bad bootstrap", "controller.quorum.bootstrap.servers=h", nil, ErrInvalidConfig, []string{"controller.quorum.bootstrap.servers", "missing :port"}},
		{"inter-broker listener missing", "listeners=EXTERNAL://:9092,CONTROLLER://:9093\nlistener.security.protocol.map=EXTERNAL:SSL,CONTROLLER:PLAINTEXT", nil, ErrInvalidConfig,
			[]string{"inter-broker listener PLAINTEXT"}},
		{"both inter-broker settings", "inter.broker.listener.name=PLAINTEXT\nsecurity.inter.broker.protocol=PLAINTEXT", nil, ErrInvalidConfig, []string{"must not both be set"}},
		{"advertised unknown name", "advertised.listeners=OTHER://h:1", nil, ErrInvalidConfig, []string{"OTHER is not one of the listeners"}},
		{"advertised meta-address", "advertised.listeners=PLAINTEXT://0.0.0.0:9092", nil, ErrInvalidConfig, []string{"non-routable"}},
		{"meta-address advertised by default", "listeners=PLAINTEXT://0.0.0.0:9092,CONTROLLER://:9093", nil, ErrInvalidConfig, []string{"PLAINTEXT has the non-routable address 0.0.0.0"}},
		{"broker.id differs from node.id", "broker.id=2\nnode.id=3", nil, ErrInvalidConfig, []string{"broker.id 2 and node.id 3 differ"}},
		{"empty log.dirs", "log.dirs=", nil, ErrInvalidConfig, []string{"log.dirs must name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.file, tc.overrides...)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("%v does not wrap %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadReportsEveryError(t *testing.T) {
	_, err := load(t, "a.b=1\nnum.partitions=x\n", "c.d=2")
	for _, w := range []string{`"a.b"`, `"num.partitions"`, `"c.d"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not name %s", err, w)
		}
	}
	if _, err := LoadBroker(filepath.Join(t.TempDir(), "missing.properties"), nil); err == nil {
		t.Error("a missing file is an error")
	}
}

func TestListeners(t *testing.T) {
	for _, tc := range []struct {
		name, file   string
		listeners    []Listener
		advertised   []Listener
		interBroker  string
		controllerIn []string
	}{
		{
			name:       "all interfaces",
			file:       "listeners=PLAINTEXT://:9092,CONTROLLER://:9093",
			listeners:  []Listener{{"PLAINTEXT", "", 9092, "PLAINTEXT"}, {"CONTROLLER", "", 9093, "PLAINTEXT"}},
			advertised: []Listener{{"PLAINTEXT", "", 9092, "PLAINTEXT"}},
		},
		{
			name:       "ipv6 and lower-case names",
			file:       "listeners=plaintext://[::1]:9092,controller://[::]:0",
			listeners:  []Listener{{"PLAINTEXT", "::1", 9092, "PLAINTEXT"}, {"CONTROLLER", "::", 0, "PLAINTEXT"}},
			advertised: []Listener{{"PLAINTEXT", "::1", 9092, "PLAINTEXT"}},
		},
		{
			name: "named listeners with the protocol map",
			file: `listeners=INTERNAL://10.0.0.1:9092,EXTERNAL://0.0.0.0:9094,CTL://:9093
listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL
controller.listener.names=CTL
inter.broker.listener.name=internal
advertised.listeners=INTERNAL://10.0.0.1:9092,EXTERNAL://broker1.example.com:9094`,
			listeners:   []Listener{{"INTERNAL", "10.0.0.1", 9092, "PLAINTEXT"}, {"EXTERNAL", "0.0.0.0", 9094, "SASL_SSL"}, {"CTL", "", 9093, "PLAINTEXT"}},
			advertised:  []Listener{{"INTERNAL", "10.0.0.1", 9092, "PLAINTEXT"}, {"EXTERNAL", "broker1.example.com", 9094, "SASL_SSL"}},
			interBroker: "INTERNAL",
		},
		{
			name:       "controller only",
			file:       "process.roles=controller\nlisteners=CONTROLLER://c1:9093\ncontroller.quorum.voters=1@c1:9093,2@c2:9093",
			listeners:  []Listener{{"CONTROLLER", "c1", 9093, "PLAINTEXT"}},
			advertised: []Listener{{"CONTROLLER", "c1", 9093, "PLAINTEXT"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustLoad(t, tc.file)
			ls, _ := b.Listeners()
			adv, _ := b.AdvertisedListeners()
			if !reflect.DeepEqual(ls, tc.listeners) {
				t.Errorf("listeners %+v, want %+v", ls, tc.listeners)
			}
			if !reflect.DeepEqual(adv, tc.advertised) {
				t.Errorf("advertised %+v, want %+v", adv, tc.advertised)
			}
			if tc.interBroker != "" && b.InterBrokerListenerName() != tc.interBroker {
				t.Errorf("inter-broker %s", b.InterBrokerListenerName())
			}
		})
	}
	l := Listener{"PLAINTEXT", "::1", 9092, "PLAINTEXT"}
	if l.Addr() != "[::1]:9092" || l.String() != "PLAINTEXT://[::1]:9092" {
		t.Errorf("%s %s", l.Addr(), l)
	}
	if (Listener{Name: "X", Port: 1}).Addr() != ":1" {
		t.Error("empty host")
	}
}

func TestVoters(t *testing.T) {
	b := mustLoad(t, "node.id=2\ncontroller.quorum.voters=1@a:9093, 2@[::1]:9093 ,3@c:9093")
	v, _ := b.Voters()
	if !reflect.DeepEqual(v, map[int32]string{1: "a:9093", 2: "[::1]:9093", 3: "c:9093"}) {
		t.Errorf("voters %v", v)
	}
	b = mustLoad(t, "process.roles=broker\nlisteners=PLAINTEXT://:9092\ncontroller.quorum.bootstrap.servers=c1:9093,c2:9093")
	if v, _ := b.Voters(); len(v) != 0 {
		t.Errorf("no voters with bootstrap servers: %v", v)
	}
	b = mustLoad(t, "listeners=PLAINTEXT://:9092,CONTROLLER://:9093")
	if v, _ := b.Voters(); !reflect.DeepEqual(v, map[int32]string{1: "127.0.0.1:9093"}) {
		t.Errorf("derived voter of an all-interfaces listener: %v", v)
	}
}

func TestBrokerIDAlias(t *testing.T) {
	if b := mustLoad(t, "broker.id=4"); b.NodeID() != 4 {
		t.Errorf("node id %d", b.NodeID())
	}
	if b := mustLoad(t, "broker.id=4\nnode.id=4"); b.NodeID() != 4 {
		t.Errorf("node id %d", b.NodeID())
	}
}

func TestLogDirsPrecedence(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
		meta string
	}{
		{"log.dir=/x", []string{"/x"}, "/x"},
		{"log.dir=/x\nlog.dirs=/y,/z", []string{"/y", "/z"}, "/y"},
		{"log.dirs=/y\nmetadata.log.dir=/m", []string{"/y"}, "/m"},
	} {
		b := mustLoad(t, tc.file)
		if !reflect.DeepEqual(b.LogDirs(), tc.want) || b.MetadataLogDir() != tc.meta {
			t.Errorf("%q: dirs %v meta %s", tc.file, b.LogDirs(), b.MetadataLogDir())
		}
	}
}

func TestUndeclaredNamePanics(t *testing.T) {
	b := mustLoad(t, "")
	for _, f := range []func(){
		func() { b.String("no.such") },
		func() { b.Int("log.cleanup.policy") },
		func() { b.Bool("num.partitions") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		}()
	}
}

// FuzzParseListeners: listener values arrive from the network
// (IncrementalAlterConfigs), so the parser must not panic, and what it
// accepts must print back to an equal list.
func FuzzParseListeners(f *testing.F) {
	for _, s := range []string{
		"PLAINTEXT://:9092", "A://[::1]:1,B://h:2", "X://0.0.0.0:0", "bad", "://:", "A://[::1]", "A://[]:1", "A://h:-1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ls, err := parseListeners(s)
		if err != nil {
			return
		}
		parts := make([]string, len(ls))
		for i, l := range ls {
			parts[i] = l.String()
		}
		again, err := parseListeners(strings.Join(parts, ","))
		if err != nil || !reflect.DeepEqual(again, ls) {
			t.Fatalf("%q -> %v -> %v, %v", s, ls, again, err)
		}
		_, _ = parseVoters(s)
		_, _ = parseProtocolMap(s)
	})
}
