package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The cluster views: kafka-broker-api-versions.sh, kafka-log-dirs.sh and
// kafka-cluster.sh (cluster-id, plus a describe of brokers and controller).

func init() {
	Register(&Command{
		Name:    "broker-api-versions",
		Summary: "list the API versions each broker serves (kafka-broker-api-versions.sh)",
		Kafka:   "kafka-broker-api-versions.sh",
		Run:     runBrokerAPIVersions,
	})
	Register(&Command{
		Name:    "log-dirs",
		Summary: "describe brokers' log dirs and partition sizes as JSON (kafka-log-dirs.sh)",
		Kafka:   "kafka-log-dirs.sh",
		Run:     runLogDirs,
	})
	Register(&Command{
		Name:    "cluster",
		Summary: "print the cluster id, controller and brokers (kafka-cluster.sh)",
		Kafka:   "kafka-cluster.sh",
		Run:     runCluster,
	})
}

// nodeString is Kafka's Node.toString.
func nodeString(b kadm.BrokerDetail) string {
	rack := "null"
	if b.Rack != nil {
		rack = *b.Rack
	}
	return fmt.Sprintf("%s:%d (id: %d rack: %s isFenced: false)", b.Host, b.Port, b.NodeID, rack)
}

// apiVersionLine is one line of NodeApiVersions.toString: the API, the
// broker's range and the version this tool's client would use.
func apiVersionLine(key, min, max int16) string {
	name := "UNKNOWN"
	var clientMax int16 = -1
	if req := kmsg.RequestForKey(key); req != nil {
		name = kmsg.NameForKey(key)
		clientMax = req.MaxVersion()
	}
	s := fmt.Sprintf("%s(%d): ", name, key)
	if min == max {
		s += fmt.Sprint(min)
	} else {
		s += fmt.Sprintf("%d to %d", min, max)
	}
	switch {
	case clientMax < 0:
	case clientMax < min:
		s += " [unusable: node too new]"
	default:
		s += fmt.Sprintf(" [usable: %d]", minInt16(max, clientMax))
	}
	return s
}

func minInt16(a, b int16) int16 {
	if a < b {
		return a
	}
	return b
}

// clientAPIs are the keys a Kafka client may send (ApiKeys.clientApis);
// the ones a broker does not serve print as UNSUPPORTED.
var clientAPIs = []int16{0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 55, 57, 60, 61, 64, 65, 66, 68, 69, 71, 72, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91}

// writeAPIVersions prints one broker as kafka-broker-api-versions.sh does.
func writeAPIVersions(w io.Writer, node string, resp *kmsg.ApiVersionsResponse) {
	lines := map[int16]string{}
	for _, k := range resp.ApiKeys {
		lines[k.ApiKey] = apiVersionLine(k.ApiKey, k.MinVersion, k.MaxVersion)
	}
	for _, k := range clientAPIs {
		if _, ok := lines[k]; !ok && kmsg.RequestForKey(k) != nil {
			lines[k] = fmt.Sprintf("%s(%d): UNSUPPORTED", kmsg.NameForKey(k), k)
		}
	}
	keys := make([]int, 0, len(lines))
	for k := range lines {
		keys = append(keys, int(k))
	}
	sort.Ints(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = lines[int16(k)]
	}
	fmt.Fprintf(w, "%s -> (\n\t%s\n)\n", node, strings.Join(parts, ",\n\t"))
}

func runBrokerAPIVersions(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var c conn
		fs := newFlagSet("broker-api-versions",
			"  samsa broker-api-versions --bootstrap-server HOST:PORT\n  Prints, per broker, each API key with the broker's version range and the version this client would use.",
			"  samsa broker-api-versions --bootstrap-server 127.0.0.1:9092")
		c.addConnFlags(fs, "timeout", "command-config")
		if err := fs.parseNoArgs(args, stdout); err != nil {
			return err
		}
		adm, ctx, done, err := c.adminSession(stderr)
		if err != nil {
			return err
		}
		defer done()
		brokers, err := adm.ListBrokers(ctx)
		if err != nil {
			return c.describeErr("listing brokers", err)
		}
		vs, err := adm.ApiVersions(ctx)
		if err != nil {
			return c.describeErr("asking brokers for their API versions", err)
		}
		for _, b := range brokers {
			v, ok := vs[b.NodeID]
			switch {
			case !ok:
				fmt.Fprintf(stdout, "%s -> ERROR: no answer\n", nodeString(b))
			case v.Err != nil:
				fmt.Fprintf(stdout, "%s -> ERROR: %s\n", nodeString(b), oneLine(v.Err))
			default:
				writeAPIVersions(stdout, nodeString(b), v.Raw())
			}
		}
		return nil
	})
}

// logDirsJSON is kafka-log-dirs.sh's output document.
type logDirsJSON struct {
	Version int                 `json:"version"`
	Brokers []logDirsJSONBroker `json:"brokers"`
}

type logDirsJSONBroker struct {
	Broker  int32            `json:"broker"`
	LogDirs []logDirsJSONDir `json:"logDirs"`
}

type logDirsJSONDir struct {
	LogDir     string                 `json:"logDir"`
	Error      *string                `json:"error"`
	Partitions []logDirsJSONPartition `json:"partitions"`
}

type logDirsJSONPartition struct {
	Partition string `json:"partition"`
	Size      int64  `json:"size"`
	OffsetLag int64  `json:"offsetLag"`
	IsFuture  bool   `json:"isFuture"`
}

func runLogDirs(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var c conn
		var describe bool
		var topicList, brokerList string
		fs := newFlagSet("log-dirs",
			"  samsa log-dirs --bootstrap-server HOST:PORT --describe [--topic-list T1,T2] [--broker-list 1,2]\n  Prints the log dirs of each broker, with each partition's size and lag, as Kafka's JSON document.",
			"  samsa log-dirs --bootstrap-server 127.0.0.1:9092 --describe\n  samsa log-dirs --describe --topic-list events --broker-list 1")
		c.addConnFlags(fs, "timeout", "command-config")
		fs.Bool(&describe, "describe", "REQUIRED: describe the log dirs")
		fs.String(&topicList, "topic-list", "t1,t2", "only these topics (default all)")
		fs.String(&brokerList, "broker-list", "1,2", "only these brokers (default all)")
		if err := fs.parse(args, stdout); err != nil {
			return err
		}
		if !describe {
			return errors.New("option --describe is required")
		}
		if len(fs.args) > 0 {
			return fmt.Errorf("unexpected argument %q (see samsa log-dirs --help)", fs.args[0])
		}
		wantBrokers, err := parseIntList(brokerList)
		if err != nil {
			return fmt.Errorf("option --broker-list: %v", err)
		}
		wantTopics := map[string]bool{}
		for _, t := range strings.Split(topicList, ",") {
			if t = strings.TrimSpace(t); t != "" {
				wantTopics[t] = true
			}
		}
		adm, ctx, done, err := c.adminSession(stderr)
		if err != nil {
			return err
		}
		defer done()
		brokers, err := adm.ListBrokers(ctx)
		if err != nil {
			return c.describeErr("listing brokers", err)
		}
		ids := brokers.NodeIDs()
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		if len(wantBrokers) > 0 {
			exist := map[int32]bool{}
			for _, id := range ids {
				exist[id] = true
			}
			var missing []int32
			for _, id := range wantBrokers {
				if !exist[id] {
					missing = append(missing, id)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("the given brokers do not exist from --broker-list: %s. Current existent brokers: %s", joinInt32(missing), joinInt32(ids))
			}
			ids = wantBrokers
		}
		fmt.Fprintln(stdout, "Querying brokers for log directories information")
		doc := logDirsJSON{Version: 1, Brokers: []logDirsJSONBroker{}}
		var answered []int32
		for _, id := range ids {
			dirs, err := adm.DescribeBrokerLogDirs(ctx, id, nil)
			if err != nil {
				return c.describeErr(fmt.Sprintf("describing the log dirs of broker %d", id), err)
			}
			answered = append(answered, id)
			jb := logDirsJSONBroker{Broker: id, LogDirs: []logDirsJSONDir{}}
			for _, d := range dirs.Sorted() {
				jd := logDirsJSONDir{LogDir: d.Dir, Partitions: []logDirsJSONPartition{}}
				if d.Err != nil {
					msg := oneLine(d.Err)
					jd.Error = &msg
				}
				for _, p := range d.Topics.Sorted() {
					if len(wantTopics) > 0 && !wantTopics[p.Topic] {
						continue
					}
					jd.Partitions = append(jd.Partitions, logDirsJSONPartition{
						Partition: fmt.Sprintf("%s-%d", p.Topic, p.Partition),
						Size:      p.Size, OffsetLag: p.OffsetLag, IsFuture: p.IsFuture,
					})
				}
				jb.LogDirs = append(jb.LogDirs, jd)
			}
			doc.Brokers = append(doc.Brokers, jb)
		}
		fmt.Fprintf(stdout, "Received log directory information from brokers %s\n", joinInt32(answered))
		b, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
		return nil
	})
}

const clusterSynopsis = `  samsa cluster cluster-id --bootstrap-server HOST:PORT   print "Cluster ID: ..." (as kafka-cluster.sh)
  samsa cluster describe --bootstrap-server HOST:PORT     the cluster id, the controller and the brokers
  samsa cluster list-endpoints --bootstrap-server HOST:PORT the brokers' endpoints (as kafka-cluster.sh)`

func runCluster(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var c conn
		fs := newFlagSet("cluster", clusterSynopsis,
			"  samsa cluster cluster-id --bootstrap-server 127.0.0.1:9092\n  samsa cluster describe --bootstrap-server 127.0.0.1:9092")
		c.addConnFlags(fs, "timeout", "command-config", "config")
		if err := fs.parse(args, stdout); err != nil {
			return err
		}
		if len(fs.args) != 1 {
			return errors.New("give one subcommand: cluster-id, describe or list-endpoints (see samsa cluster --help)")
		}
		sub := fs.args[0]
		if sub != "cluster-id" && sub != "describe" && sub != "list-endpoints" {
			return fmt.Errorf("unknown subcommand %q: cluster-id, describe or list-endpoints", sub)
		}
		adm, ctx, done, err := c.adminSession(stderr)
		if err != nil {
			return err
		}
		defer done()
		md, err := adm.BrokerMetadata(ctx)
		if err != nil {
			return c.describeErr("describing the cluster", err)
		}
		switch sub {
		case "cluster-id":
			fmt.Fprintf(stdout, "Cluster ID: %s\n", md.Cluster)
		case "list-endpoints":
			t := newTable([]int{10, 20, 10, 8}, "ID", "HOST", "PORT", "RACK", "ENDPOINT")
			for _, b := range md.Brokers {
				rack := "null"
				if b.Rack != nil {
					rack = *b.Rack
				}
				t.add(itoa32(b.NodeID), b.Host, fmt.Sprint(b.Port), rack, fmt.Sprintf("%s:%d", b.Host, b.Port))
			}
			t.write(stdout)
		default:
			controller := "none"
			if md.Controller >= 0 {
				controller = itoa32(md.Controller)
			}
			fmt.Fprintf(stdout, "Cluster ID: %s\nController: %s\nBrokers:\n", md.Cluster, controller)
			for _, b := range md.Brokers {
				fmt.Fprintf(stdout, "\t%s\n", nodeString(b))
			}
		}
		return nil
	})
}
