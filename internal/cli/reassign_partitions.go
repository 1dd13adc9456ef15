package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

func init() {
	Register(&Command{
		Name:    "reassign-partitions",
		Summary: "move partitions between brokers (kafka-reassign-partitions.sh)",
		Kafka:   "kafka-reassign-partitions.sh",
		Run:     runReassignPartitions,
	})
}

const reassignSynopsis = `  samsa reassign-partitions --bootstrap-server HOST:PORT ACTION
  Actions (exactly one), with Kafka's flags and JSON files:
    --generate --topics-to-move-json-file F --broker-list 1,2,3
        print the current assignment of the topics and a proposed one over
        the brokers (rack-aware when they have broker.rack)
    --execute --reassignment-json-file F
        start the reassignments of F; prints the current assignment to
        save for a rollback
    --verify --reassignment-json-file F
        tell, per partition of F, whether its reassignment completed
    --cancel --reassignment-json-file F
        cancel the reassignments of F still in flight
    --list
        list the reassignments in flight
  Files: {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}
  and, for --generate, {"version":1,"topics":[{"topic":"t"}]}.
  --throttle B/s with --execute bounds the catch-up traffic, as Kafka does
  (leader/follower.replication.throttled.rate on the brokers involved,
  the topics' leader/follower.replication.throttled.replicas); --verify
  removes them once every reassignment of the file completed.`

const reassignExamples = `  samsa reassign-partitions --bootstrap-server 127.0.0.1:9092 --generate --topics-to-move-json-file topics.json --broker-list 2,3
  samsa reassign-partitions --bootstrap-server 127.0.0.1:9092 --execute --reassignment-json-file plan.json
  samsa reassign-partitions --bootstrap-server 127.0.0.1:9092 --verify --reassignment-json-file plan.json`

// reassignmentFile is Kafka's reassignment JSON.
type reassignmentFile struct {
	Version    int                  `json:"version"`
	Partitions []reassignmentTarget `json:"partitions"`
}

type reassignmentTarget struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Replicas  []int32  `json:"replicas"`
	LogDirs   []string `json:"log_dirs"`
}

// parseReassignmentJSON reads and checks a reassignment file.
func parseReassignmentJSON(data []byte) ([]reassignmentTarget, error) {
	var f struct {
		Version    *int `json:"version"`
		Partitions []struct {
			Topic     *string  `json:"topic"`
			Partition *int32   `json:"partition"`
			Replicas  []int32  `json:"replicas"`
			LogDirs   []string `json:"log_dirs"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("the reassignment json file is not valid JSON: %v", err)
	}
	if f.Version != nil && *f.Version != 1 {
		return nil, fmt.Errorf("not supported reassignment json file version %d", *f.Version)
	}
	if len(f.Partitions) == 0 {
		return nil, errors.New("partition reassignment list cannot be empty")
	}
	var out []reassignmentTarget
	seen := map[string]bool{}
	for i, p := range f.Partitions {
		if p.Topic == nil || p.Partition == nil || p.Replicas == nil {
			return nil, fmt.Errorf("partition entry %d needs topic, partition and replicas", i)
		}
		name := fmt.Sprintf("%s-%d", *p.Topic, *p.Partition)
		if seen[name] {
			return nil, fmt.Errorf("reassignment json file contains duplicate topic partitions: %s", name)
		}
		seen[name] = true
		for j, r := range p.Replicas {
			if slices.Contains(p.Replicas[:j], r) {
				return nil, fmt.Errorf("partition replica lists may not contain duplicate entries: %s contains multiple entries for %d", name, r)
			}
		}
		for _, d := range p.LogDirs {
			if d != "any" {
				return nil, fmt.Errorf("%s: log_dirs other than \"any\" (moving replicas between log dirs) are not supported yet", name)
			}
		}
		out = append(out, reassignmentTarget{Topic: *p.Topic, Partition: *p.Partition, Replicas: p.Replicas})
	}
	return out, nil
}

// formatReassignmentJSON renders partitions as Kafka does: sorted, with
// log_dirs "any".
func formatReassignmentJSON(parts []reassignmentTarget) string {
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].Topic != parts[j].Topic {
			return parts[i].Topic < parts[j].Topic
		}
		return parts[i].Partition < parts[j].Partition
	})
	var b bytes.Buffer
	b.WriteString(`{"version":1,"partitions":[`)
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(',')
		}
		topic, _ := json.Marshal(p.Topic)
		reps := make([]string, len(p.Replicas))
		dirs := make([]string, len(p.Replicas))
		for k, r := range p.Replicas {
			reps[k], dirs[k] = strconv.Itoa(int(r)), `"any"`
		}
		fmt.Fprintf(&b, `{"topic":%s,"partition":%d,"replicas":[%s],"log_dirs":[%s]}`, topic, p.Partition, strings.Join(reps, ","), strings.Join(dirs, ","))
	}
	b.WriteString("]}")
	return b.String()
}

func runReassignPartitions(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var c conn
		var reassignFile, topicsFile, brokerList, throttle string
		var additional, disableRack bool
		fs := newFlagSet("reassign-partitions", reassignSynopsis, reassignExamples)
		c.addConnFlags(fs, "timeout", "command-config")
		fs.Bool(new(bool), "generate", "propose an assignment of --topics-to-move-json-file over --broker-list")
		fs.Bool(new(bool), "execute", "start the reassignments of --reassignment-json-file")
		fs.Bool(new(bool), "verify", "check the reassignments of --reassignment-json-file")
		fs.Bool(new(bool), "cancel", "cancel the reassignments of --reassignment-json-file")
		fs.Bool(new(bool), "list", "list the reassignments in flight")
		fs.String(&reassignFile, "reassignment-json-file", "file", "the reassignments, in Kafka's JSON format")
		fs.String(&topicsFile, "topics-to-move-json-file", "file", `for --generate: {"version":1,"topics":[{"topic":"t"}]}`)
		fs.String(&brokerList, "broker-list", "ids", "for --generate: the brokers to place the replicas on, 1,2,3")
		fs.String(&throttle, "throttle", "bytes/s", "with --execute: the replication throttle, in bytes per second")
		fs.Bool(&additional, "additional", "execute even while other reassignments are in flight")
		fs.Bool(&disableRack, "disable-rack-aware", "for --generate: ignore broker.rack")
		if err := fs.parse(args, stdout); err != nil {
			return err
		}
		action, err := fs.onlyOne("generate", "execute", "verify", "cancel", "list")
		if err != nil {
			return err
		}
		var throttleRate int64 = -1
		if fs.Has("throttle") {
			if action != "execute" {
				return fmt.Errorf("option \"throttle\" can't be used with action \"%s\"", action)
			}
			n, err := strconv.ParseInt(throttle, 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("--throttle %q is not a number of bytes per second", throttle)
			}
			throttleRate = n
		}
		adm, ctx, done, err := c.adminSession(stderr)
		if err != nil {
			return err
		}
		defer done()

		readTargets := func() ([]reassignmentTarget, error) {
			if reassignFile == "" {
				return nil, fmt.Errorf("missing required argument \"[reassignment-json-file]\" for --%s", action)
			}
			data, err := os.ReadFile(reassignFile)
			if err != nil {
				return nil, fmt.Errorf("reading --reassignment-json-file: %w", err)
			}
			return parseReassignmentJSON(data)
		}
		currentOf := func(topics []string) (map[string]map[int32][]int32, error) {
			md, err := adm.Metadata(ctx, topics...)
			if err != nil {
				return nil, c.describeErr("reading the metadata", err)
			}
			out := map[string]map[int32][]int32{}
			for _, t := range md.Topics {
				if t.Err != nil {
					return nil, fmt.Errorf("topic %s: %s", t.Topic, kafkaErr(t.Err, ""))
				}
				out[t.Topic] = map[int32][]int32{}
				for _, p := range t.Partitions {
					out[t.Topic][p.Partition] = p.Replicas
				}
			}
			return out, nil
		}

		switch action {
		case "list":
			rs, err := listAllReassignments(ctx, c.cl)
			if err != nil {
				return c.describeErr("listing reassignments", err)
			}
			if len(rs) == 0 {
				fmt.Fprintln(stdout, "No partition reassignments found.")
				return nil
			}
			fmt.Fprintln(stdout, "Current partition reassignments:")
			for _, r := range rs {
				line := fmt.Sprintf("%s-%d: replicas: %s.", r.Topic, r.Partition, joinIDs(r.Replicas))
				if len(r.AddingReplicas) > 0 {
					line += fmt.Sprintf(" adding: %s.", joinIDs(r.AddingReplicas))
				}
				if len(r.RemovingReplicas) > 0 {
					line += fmt.Sprintf(" removing: %s.", joinIDs(r.RemovingReplicas))
				}
				fmt.Fprintln(stdout, line)
			}
			return nil

		case "generate":
			if topicsFile == "" || brokerList == "" {
				return errors.New("--generate needs --topics-to-move-json-file and --broker-list")
			}
			data, err := os.ReadFile(topicsFile)
			if err != nil {
				return fmt.Errorf("reading --topics-to-move-json-file: %w", err)
			}
			var tf struct {
				Topics []struct {
					Topic string `json:"topic"`
				} `json:"topics"`
			}
			if err := json.Unmarshal(data, &tf); err != nil || len(tf.Topics) == 0 {
				return fmt.Errorf("the topics json file must list topics: %v", err)
			}
			var topics []string
			for _, t := range tf.Topics {
				if slices.Contains(topics, t.Topic) {
					return fmt.Errorf("list of topics to reassign contains duplicate entries: %s", t.Topic)
				}
				topics = append(topics, t.Topic)
			}
			var brokers []int32
			for _, f := range strings.Split(brokerList, ",") {
				id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
				if err != nil {
					return fmt.Errorf("--broker-list: %q is not a broker id", f)
				}
				if slices.Contains(brokers, int32(id)) {
					return fmt.Errorf("broker list contains duplicate entries: %d", id)
				}
				brokers = append(brokers, int32(id))
			}
			md, err := adm.BrokerMetadata(ctx)
			if err != nil {
				return c.describeErr("reading the brokers", err)
			}
			racks := map[int32]string{}
			for _, b := range brokers {
				var found bool
				for _, mb := range md.Brokers {
					if mb.NodeID == b {
						found = true
						if mb.Rack != nil && !disableRack {
							racks[b] = *mb.Rack
						}
					}
				}
				if !found {
					return fmt.Errorf("broker %d is not a live broker of the cluster", b)
				}
			}
			cur, err := currentOf(topics)
			if err != nil {
				return err
			}
			var current, proposed []reassignmentTarget
			for _, topic := range topics {
				parts := cur[topic]
				n := int32(len(parts))
				rf := 0
				for p := int32(0); p < n; p++ {
					current = append(current, reassignmentTarget{Topic: topic, Partition: p, Replicas: parts[p]})
					rf = max(rf, len(parts[p]))
				}
				assign, err := metadata.AssignReplicas(topic, brokers, racks, n, rf)
				if err != nil {
					return fmt.Errorf("topic %s: %v", topic, err)
				}
				for p, reps := range assign {
					proposed = append(proposed, reassignmentTarget{Topic: topic, Partition: int32(p), Replicas: reps})
				}
			}
			fmt.Fprintf(stdout, "Current partition replica assignment\n%s\n\n", formatReassignmentJSON(current))
			fmt.Fprintf(stdout, "Proposed partition reassignment configuration\n%s\n", formatReassignmentJSON(proposed))
			return nil
		}

		targets, err := readTargets()
		if err != nil {
			return err
		}
		var topics []string
		for _, t := range targets {
			if !slices.Contains(topics, t.Topic) {
				topics = append(topics, t.Topic)
			}
		}
		set := kadm.TopicsSet{}
		for _, t := range targets {
			set.Add(t.Topic, t.Partition)
		}
		ongoing, err := adm.ListPartitionReassignments(ctx, set)
		if err != nil {
			return c.describeErr("listing reassignments", err)
		}
		switch action {
		case "execute":
			all, err := listAllReassignments(ctx, c.cl)
			if err != nil {
				return c.describeErr("listing reassignments", err)
			}
			if len(all) > 0 && !additional {
				return errors.New("cannot execute because there is an existing partition assignment. Use --additional to override this and create a new partition assignment in addition to the existing one")
			}
			cur, err := currentOf(topics)
			if err != nil {
				return err
			}
			var current []reassignmentTarget
			for _, t := range targets {
				reps, ok := cur[t.Topic][t.Partition]
				if !ok {
					return fmt.Errorf("topic %s has no partition %d", t.Topic, t.Partition)
				}
				current = append(current, reassignmentTarget{Topic: t.Topic, Partition: t.Partition, Replicas: reps})
			}
			fmt.Fprintf(stdout, "Current partition replica assignment\n\n%s\n\nSave this to use as the --reassignment-json-file option during rollback\n", formatReassignmentJSON(current))
			if throttleRate >= 0 {
				fmt.Fprintln(stdout, "Warning: You must run --verify periodically, until the reassignment completes, to ensure the throttle is removed.")
				if err := setThrottles(ctx, adm, throttleRate, current, targets); err != nil {
					return c.describeErr("setting the throttles", err)
				}
				fmt.Fprintf(stdout, "The inter-broker throttle limit was set to %d B/s\n", throttleRate)
			}
			var req kadm.AlterPartitionAssignmentsReq
			for _, t := range targets {
				req.Assign(t.Topic, t.Partition, t.Replicas)
			}
			resp, err := adm.AlterPartitionAssignments(ctx, req)
			if err != nil {
				return c.describeErr("reassigning partitions", err)
			}
			var failed, started []string
			for _, r := range resp.Sorted() {
				name := fmt.Sprintf("%s-%d", r.Topic, r.Partition)
				if r.Err != nil {
					failed = append(failed, fmt.Sprintf("%s: %s", name, kafkaErr(r.Err, r.ErrMessage)))
				} else {
					started = append(started, name)
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("error reassigning partition(s):\n%s", strings.Join(failed, "\n"))
			}
			fmt.Fprintf(stdout, "Successfully started partition reassignment%s for %s\n", plural(len(started)), strings.Join(started, ","))
			return nil

		case "verify":
			cur, err := currentOf(topics)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, "Status of partition reassignment:")
			inFlight := 0
			sort.Slice(targets, func(i, j int) bool {
				if targets[i].Topic != targets[j].Topic {
					return targets[i].Topic < targets[j].Topic
				}
				return targets[i].Partition < targets[j].Partition
			})
			for _, t := range targets {
				name := fmt.Sprintf("%s-%d", t.Topic, t.Partition)
				if _, ok := ongoing[t.Topic][t.Partition]; ok {
					inFlight++
					fmt.Fprintf(stdout, "Reassignment of partition %s is still in progress.\n", name)
					continue
				}
				if reps := cur[t.Topic][t.Partition]; slices.Equal(reps, t.Replicas) {
					fmt.Fprintf(stdout, "Reassignment of partition %s is completed.\n", name)
				} else {
					fmt.Fprintf(stdout, "There is no active reassignment of partition %s, but replica set is %s rather than %s.\n", name, joinIDs(reps), joinIDs(t.Replicas))
				}
			}
			if inFlight > 0 {
				return fmt.Errorf("%d reassignment(s) still in progress", inFlight)
			}
			// Everything is done: the throttles go, as Kafka's tool does.
			brokers, err := clearThrottles(ctx, adm, topics)
			if err != nil {
				return c.describeErr("clearing the throttles", err)
			}
			fmt.Fprintf(stdout, "Clearing broker-level throttles on broker%s %s\n", plural(len(brokers)), joinIDs(brokers))
			sort.Strings(topics)
			fmt.Fprintf(stdout, "Clearing topic-level throttles on topic%s %s\n", plural(len(topics)), strings.Join(topics, ","))
			return nil

		case "cancel":
			var req kadm.AlterPartitionAssignmentsReq
			var names []string
			for _, t := range targets {
				if _, ok := ongoing[t.Topic][t.Partition]; ok {
					req.Assign(t.Topic, t.Partition, nil)
					names = append(names, fmt.Sprintf("%s-%d", t.Topic, t.Partition))
				}
			}
			if len(names) == 0 {
				fmt.Fprintln(stdout, "None of the specified partition reassignments are active.")
				return nil
			}
			resp, err := adm.AlterPartitionAssignments(ctx, req)
			if err != nil {
				return c.describeErr("cancelling reassignments", err)
			}
			var failed []string
			for _, r := range resp.Sorted() {
				if r.Err != nil {
					failed = append(failed, fmt.Sprintf("%s-%d: %s", r.Topic, r.Partition, kafkaErr(r.Err, r.ErrMessage)))
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("error cancelling partition reassignment%s for:\n%s", plural(len(failed)), strings.Join(failed, "\n"))
			}
			sort.Strings(names)
			fmt.Fprintf(stdout, "Successfully cancelled partition reassignment%s for: %s\n", plural(len(names)), strings.Join(names, ","))
			return nil
		}
		return nil
	})
}

// Throttle configs (Kafka's names).
const (
	leaderThrottleRate        = "leader.replication.throttled.rate"
	followerThrottleRate      = "follower.replication.throttled.rate"
	leaderThrottledReplicas   = "leader.replication.throttled.replicas"
	followerThrottledReplicas = "follower.replication.throttled.replicas"
)

// setThrottles throttles the reassignments' catch-up: the rates on every
// broker of the current and target replicas; the current replicas
// throttled as senders (leader side), the new ones as fetchers (follower
// side).
func setThrottles(ctx context.Context, adm *kadm.Client, rate int64, current, targets []reassignmentTarget) error {
	brokers := map[int32]bool{}
	leaders, followers := map[string][]string{}, map[string][]string{}
	cur := map[string][]int32{}
	for _, c := range current {
		key := fmt.Sprintf("%s-%d", c.Topic, c.Partition)
		cur[key] = c.Replicas
		for _, b := range c.Replicas {
			brokers[b] = true
			leaders[c.Topic] = append(leaders[c.Topic], fmt.Sprintf("%d:%d", c.Partition, b))
		}
	}
	for _, t := range targets {
		for _, b := range t.Replicas {
			brokers[b] = true
			if !slices.Contains(cur[fmt.Sprintf("%s-%d", t.Topic, t.Partition)], b) {
				followers[t.Topic] = append(followers[t.Topic], fmt.Sprintf("%d:%d", t.Partition, b))
			}
		}
	}
	v := strconv.FormatInt(rate, 10)
	var ids []int32
	for b := range brokers {
		ids = append(ids, b)
	}
	resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: leaderThrottleRate, Value: &v}, {Name: followerThrottleRate, Value: &v}}, ids...)
	if err = alterErr(resp, err); err != nil {
		return err
	}
	for topic, ls := range leaders {
		lv, fv := strings.Join(ls, ","), strings.Join(followers[topic], ",")
		cfgs := []kadm.AlterConfig{{Name: leaderThrottledReplicas, Value: &lv}}
		if fv != "" {
			cfgs = append(cfgs, kadm.AlterConfig{Name: followerThrottledReplicas, Value: &fv})
		}
		resp, err := adm.AlterTopicConfigs(ctx, cfgs, topic)
		if err = alterErr(resp, err); err != nil {
			return err
		}
	}
	return nil
}

// clearThrottles removes the throttle rates from every live broker and the
// throttled replicas from the topics; it returns the brokers.
func clearThrottles(ctx context.Context, adm *kadm.Client, topics []string) ([]int32, error) {
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return nil, err
	}
	ids := md.Brokers.NodeIDs()
	slices.Sort(ids)
	del := []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: leaderThrottleRate}, {Op: kadm.DeleteConfig, Name: followerThrottleRate}}
	resp, err := adm.AlterBrokerConfigs(ctx, del, ids...)
	if err = alterErr(resp, err); err != nil {
		return nil, err
	}
	tdel := []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: leaderThrottledReplicas}, {Op: kadm.DeleteConfig, Name: followerThrottledReplicas}}
	tresp, err := adm.AlterTopicConfigs(ctx, tdel, topics...)
	return ids, alterErr(tresp, err)
}

// alterErr is the first error of an alter configs call.
func alterErr(rs kadm.AlterConfigsResponses, err error) error {
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.Err != nil {
			return fmt.Errorf("%s: %s", r.Name, kafkaErr(r.Err, r.ErrMessage))
		}
	}
	return nil
}

// listAllReassignments lists every reassignment in flight (kadm's call
// asks only for named partitions).
func listAllReassignments(ctx context.Context, cl *kgo.Client) ([]kadm.ListPartitionReassignmentsResponse, error) {
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	req.TimeoutMillis = 30000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	var out []kadm.ListPartitionReassignmentsResponse
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out = append(out, kadm.ListPartitionReassignmentsResponse{Topic: t.Topic, Partition: p.Partition,
				Replicas: p.Replicas, AddingReplicas: p.AddingReplicas, RemovingReplicas: p.RemovingReplicas})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Topic < out[j].Topic || out[i].Topic == out[j].Topic && out[i].Partition < out[j].Partition
	})
	return out, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func joinIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}
