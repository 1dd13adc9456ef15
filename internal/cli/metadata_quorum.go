package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
)

// samsa metadata-quorum is kafka-metadata-quorum.sh's describe: the state
// of the metadata quorum through the DescribeQuorum API, which Samsa's
// brokers and controllers serve as Kafka's do (a broker forwards it to the
// active controller). A cluster that does not serve the API (Kafka before
// KRaft) gets one clear error pointing at `samsa cluster describe`.

func init() {
	Register(&Command{
		Name:    "metadata-quorum",
		Summary: "describe the metadata quorum: leader, voters, observers, lag (kafka-metadata-quorum.sh)",
		Kafka:   "kafka-metadata-quorum.sh",
		Run:     runMetadataQuorum,
	})
}

const quorumSynopsis = `  samsa metadata-quorum --bootstrap-server HOST:PORT describe --status
  samsa metadata-quorum --bootstrap-server HOST:PORT describe --replication [--human-readable]
  samsa metadata-quorum --bootstrap-server HOST:PORT --command-config controller.properties add-controller
  samsa metadata-quorum --bootstrap-server HOST:PORT add-controller --controller-id ID --controller-endpoint HOST:PORT
  samsa metadata-quorum --bootstrap-server HOST:PORT remove-controller --controller-id ID
  Needs a cluster that serves DescribeQuorum (Samsa, Apache Kafka in KRaft mode).
  add-controller makes a running controller (process.roles=controller, its
  controller.quorum.voters naming itself, an empty metadata dir) a voter:
  as in Kafka, --command-config may be that controller's properties file,
  whose node.id and CONTROLLER listener are used; remove-controller takes
  one out (AddRaftVoter, RemoveRaftVoter).`

const quorumExamples = `  samsa metadata-quorum --bootstrap-server 127.0.0.1:9092 describe --status
  samsa metadata-quorum --bootstrap-server 127.0.0.1:9092 describe --replication --human-readable`

// metadataTopic is the KRaft metadata log's topic name.
const metadataTopic = "__cluster_metadata"

func runMetadataQuorum(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var c conn
		var status, replication, human bool
		var ctrlID int
		var ctrlEndpoint, ctrlDir string
		fs := newFlagSet("metadata-quorum", quorumSynopsis, quorumExamples)
		c.addConnFlags(fs, "timeout", "command-config")
		fs.Int(&ctrlID, "controller-id", "id", "with add-controller/remove-controller: the controller's node.id")
		fs.String(&ctrlEndpoint, "controller-endpoint", "host:port", "with add-controller: its CONTROLLER listener")
		fs.String(&ctrlDir, "controller-directory-id", "id", "with remove-controller: its directory id (ignored: Samsa's voters are node ids)")
		fs.Bool(&status, "status", "with describe: a summary of the quorum")
		fs.Bool(&replication, "replication", "with describe: each voter's and observer's replication state")
		fs.Bool(&human, "human-readable", "with --replication: timestamps as 'N ms ago'")
		if err := fs.parse(args, stdout); err != nil {
			return err
		}
		if len(fs.args) == 1 && (fs.args[0] == "add-controller" || fs.args[0] == "remove-controller") {
			return changeQuorum(&c, fs, fs.args[0], int32(ctrlID), ctrlEndpoint, stdout, stderr)
		}
		if len(fs.args) != 1 || fs.args[0] != "describe" {
			return errors.New("give the describe, add-controller or remove-controller subcommand (see samsa metadata-quorum --help)")
		}
		if status == replication {
			return errors.New("one of --status or --replication must be specified with describe sub-command")
		}
		if human && !replication {
			return errors.New("the option --human-readable is only supported along with --replication")
		}
		adm, ctx, done, err := c.adminSession(stderr)
		if err != nil {
			return err
		}
		defer done()
		if ok, err := apiSupported(ctx, adm, int16(kmsg.DescribeQuorum)); err != nil {
			return c.describeErr("asking for API versions", err)
		} else if !ok {
			return errors.New("the cluster does not serve DescribeQuorum, the metadata quorum API; samsa cluster describe shows the controller")
		}
		q, err := describeQuorum(ctx, &c)
		if err != nil {
			return err
		}
		if replication {
			writeQuorumReplication(stdout, q, human, time.Now())
			return nil
		}
		md, err := adm.BrokerMetadata(ctx)
		if err != nil {
			return c.describeErr("describing the cluster", err)
		}
		return writeQuorumStatus(stdout, md.Cluster, q)
	})
}

// changeQuorum runs add-controller or remove-controller.
func changeQuorum(c *conn, fs *flagSet, cmd string, id int32, endpoint string, stdout, stderr io.Writer) error {
	var listener kmsg.AddRaftVoterRequestListener
	if cmd == "add-controller" && !fs.Has("controller-id") {
		// Kafka's way: the controller's own properties file.
		for _, path := range c.configs {
			cfg, err := config.LoadBroker(path, nil)
			if err != nil || !cfg.HasRole("controller") {
				continue
			}
			id = cfg.NodeID()
			ls, _ := cfg.Listeners()
			for _, l := range ls {
				if slices.Contains(cfg.ControllerListenerNames(), l.Name) {
					endpoint = net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
					listener.Name = l.Name
					break
				}
			}
		}
		c.configs = nil // a server.properties is no client config
	}
	if !fs.Has("controller-id") && endpoint == "" {
		return fmt.Errorf("%s needs --controller-id (and, to add, --controller-endpoint), or --command-config naming the controller's properties", cmd)
	}
	_, ctx, done, err := c.adminSession(stderr)
	if err != nil {
		return err
	}
	defer done()
	if cmd == "add-controller" {
		host, port, err := net.SplitHostPort(endpoint)
		if err != nil {
			return fmt.Errorf("--controller-endpoint %q: %v", endpoint, err)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return fmt.Errorf("--controller-endpoint %q: bad port", endpoint)
		}
		if listener.Name == "" {
			listener.Name = "CONTROLLER"
		}
		listener.Host, listener.Port = host, uint16(p)
		req := kmsg.NewPtrAddRaftVoterRequest()
		req.TimeoutMillis = int32(c.timeout.Milliseconds())
		req.VoterID = id
		req.Listeners = []kmsg.AddRaftVoterRequestListener{listener}
		resp, err := req.RequestWith(ctx, c.cl)
		if err != nil {
			return c.describeErr("adding the controller", err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return fmt.Errorf("adding controller %d: %s", id, kafkaErr(err, strDeref(resp.ErrorMessage)))
		}
		fmt.Fprintf(stdout, "Added controller %d with directory id %s and endpoints: %s://%s\n", id, "AAAAAAAAAAAAAAAAAAAAAA", listener.Name, endpoint)
		return nil
	}
	req := kmsg.NewPtrRemoveRaftVoterRequest()
	req.VoterID = id
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return c.describeErr("removing the controller", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("removing controller %d: %s", id, kafkaErr(err, strDeref(resp.ErrorMessage)))
	}
	fmt.Fprintf(stdout, "Removed KRaft controller %d with directory id %s\n", id, "AAAAAAAAAAAAAAAAAAAAAA")
	return nil
}

func strDeref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// quorumInfo is the answer for the metadata partition.
type quorumInfo struct {
	kmsg.DescribeQuorumResponseTopicPartition
	nodes map[int32][]string // endpoints, "NAME://host:port"
}

func describeQuorum(ctx context.Context, c *conn) (*quorumInfo, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = metadataTopic
	t.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return nil, c.describeErr("describing the metadata quorum", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("describing the metadata quorum: %s", kafkaErr(err, deref(resp.ErrorMessage)))
	}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("describing the metadata quorum: %s", kafkaErr(err, ""))
			}
			q := &quorumInfo{DescribeQuorumResponseTopicPartition: p, nodes: map[int32][]string{}}
			for _, n := range resp.Nodes {
				for _, l := range n.Listeners {
					host := l.Host
					if strings.Contains(host, ":") {
						host = "[" + host + "]"
					}
					q.nodes[n.NodeID] = append(q.nodes[n.NodeID], fmt.Sprintf("%s://%s:%d", l.Name, host, l.Port))
				}
			}
			return q, nil
		}
	}
	return nil, errors.New("describing the metadata quorum: no answer for " + metadataTopic)
}

func uuidString(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// replicaList prints voters or observers as Kafka's tool does:
// [{"id": 1, "directoryId": "...", "endpoints": ["CONTROLLER://h:9093"]}],
// the directory id null when there is none (a static quorum, Samsa's).
func (q *quorumInfo) replicaList(rs []kmsg.DescribeQuorumResponseTopicPartitionReplicaState) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		s := fmt.Sprintf(`{"id": %d, "directoryId": `, r.ReplicaID)
		if r.ReplicaDirectoryID != ([16]byte{}) {
			s += `"` + uuidString(r.ReplicaDirectoryID) + `"`
		} else {
			s += "null"
		}
		if eps := q.nodes[r.ReplicaID]; len(eps) > 0 {
			s += `, "endpoints": ["` + strings.Join(eps, `", "`) + `"]`
		}
		parts = append(parts, s+"}")
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (q *quorumInfo) leader() (kmsg.DescribeQuorumResponseTopicPartitionReplicaState, bool) {
	for _, v := range q.CurrentVoters {
		if v.ReplicaID == q.LeaderID {
			return v, true
		}
	}
	return kmsg.DescribeQuorumResponseTopicPartitionReplicaState{}, false
}

func writeQuorumStatus(w io.Writer, clusterID string, q *quorumInfo) error {
	leader, ok := q.leader()
	if !ok {
		return fmt.Errorf("the metadata quorum has no leader among its voters (leader id %d)", q.LeaderID)
	}
	// The voter furthest behind; of equals, the first listed (it may be
	// the leader itself, whose lag time is then 0).
	maxLag := q.CurrentVoters[0]
	for _, v := range q.CurrentVoters[1:] {
		if v.LogEndOffset < maxLag.LogEndOffset {
			maxLag = v
		}
	}
	lagTime := int64(-1)
	switch {
	case maxLag.ReplicaID == leader.ReplicaID:
		lagTime = 0
	case leader.LastCaughtUpTimestamp >= 0 && maxLag.LastCaughtUpTimestamp >= 0:
		lagTime = leader.LastCaughtUpTimestamp - maxLag.LastCaughtUpTimestamp
	}
	fmt.Fprintf(w, "ClusterId:              %s\n", clusterID)
	fmt.Fprintf(w, "LeaderId:               %d\n", q.LeaderID)
	fmt.Fprintf(w, "LeaderEpoch:            %d\n", q.LeaderEpoch)
	fmt.Fprintf(w, "HighWatermark:          %d\n", q.HighWatermark)
	fmt.Fprintf(w, "MaxFollowerLag:         %d\n", leader.LogEndOffset-maxLag.LogEndOffset)
	fmt.Fprintf(w, "MaxFollowerLagTimeMs:   %d\n", lagTime)
	fmt.Fprintf(w, "CurrentVoters:          %s\n", q.replicaList(q.CurrentVoters))
	fmt.Fprintf(w, "CurrentObservers:       %s\n", q.replicaList(q.Observers))
	return nil
}

// writeQuorumReplication prints Kafka's --replication table: each cell
// padded to its column and followed by a tab.
func writeQuorumReplication(w io.Writer, q *quorumInfo, human bool, now time.Time) {
	leader, _ := q.leader()
	ts := func(ms int64) string {
		if ms < 0 {
			return "-1"
		}
		if human {
			return fmt.Sprintf("%d ms ago", max(now.UnixMilli()-ms, 0))
		}
		return strconv.FormatInt(ms, 10)
	}
	rows := [][]string{{"NodeId", "DirectoryId", "LogEndOffset", "Lag", "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status"}}
	add := func(r kmsg.DescribeQuorumResponseTopicPartitionReplicaState, status string) {
		rows = append(rows, []string{itoa32(r.ReplicaID), uuidString(r.ReplicaDirectoryID), strconv.FormatInt(r.LogEndOffset, 10),
			strconv.FormatInt(leader.LogEndOffset-r.LogEndOffset, 10), ts(r.LastFetchTimestamp), ts(r.LastCaughtUpTimestamp), status})
	}
	add(leader, "Leader")
	for _, v := range q.CurrentVoters {
		if v.ReplicaID != q.LeaderID {
			add(v, "Follower")
		}
	}
	for _, o := range q.Observers {
		add(o, "Observer")
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			fmt.Fprintf(&b, "%-*s\t", widths[i], c)
		}
		fmt.Fprintln(w, b.String())
	}
}
