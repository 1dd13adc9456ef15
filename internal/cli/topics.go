package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	Register(&Command{
		Name:    "topics",
		Summary: "create, list, describe, alter and delete topics (kafka-topics.sh)",
		Kafka:   "kafka-topics.sh",
		Run:     runTopics,
	})
}

const topicsSynopsis = `  samsa topics --bootstrap-server HOST:PORT ACTION [options]
  where ACTION is one of --create, --list, --describe, --alter, --delete.
  --topic takes a regular expression for --list, --describe, --alter and
  --delete (quote it; escape dots as "my\\.topic"), a plain name for --create.`

const topicsExamples = `  samsa topics --bootstrap-server 127.0.0.1:9092 --create --topic events --partitions 3 --config retention.ms=86400000
  samsa topics --bootstrap-server 127.0.0.1:9092 --create --topic pinned --replica-assignment 1:2,2:3,3:1
  samsa topics --bootstrap-server 127.0.0.1:9092 --list --exclude-internal
  samsa topics --bootstrap-server 127.0.0.1:9092 --describe --topic 'events.*'
  samsa topics --bootstrap-server 127.0.0.1:9092 --describe --under-replicated-partitions
  samsa topics --bootstrap-server 127.0.0.1:9092 --alter --topic events --partitions 6
  samsa topics --bootstrap-server 127.0.0.1:9092 --delete --topic events`

type topicsOpts struct {
	conn
	topic             string
	partitions        int
	replicationFactor int
	assignment        string
	configs           []string
	deleteConfigs     []string
	ifNotExists       bool
	ifExists          bool
	excludeInternal   bool
	underReplicated   bool
	unavailable       bool
	underMinISR       bool
	atMinISR          bool
	withOverrides     bool
	create, list      bool
	describe, alter   bool
	delete            bool
}

func runTopics(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var o topicsOpts
		fs := newFlagSet("topics", topicsSynopsis, topicsExamples)
		o.addConnFlags(fs, "timeout", "command-config")
		fs.Bool(&o.create, "create", "create a topic")
		fs.Bool(&o.list, "list", "list the topics")
		fs.Bool(&o.describe, "describe", "describe the topics: partition count, configs, Leader/Replicas/Isr per partition")
		fs.Bool(&o.alter, "alter", "increase the partition count (topic configs are altered with samsa configs)")
		fs.Bool(&o.delete, "delete", "delete the topics")
		fs.String(&o.topic, "topic", "topic", "the topic; a regular expression except with --create")
		o.partitions, o.replicationFactor = -1, -1
		fs.Int(&o.partitions, "partitions", "n", "partition count for --create (default: the broker's num.partitions) or --alter")
		fs.Int(&o.replicationFactor, "replication-factor", "n", "replication factor for --create (default: the broker's default.replication.factor)")
		fs.String(&o.assignment, "replica-assignment", "b1:b2,b1:b2,...", "broker ids per partition, partitions separated by commas, replicas by colons")
		fs.Strings(&o.configs, "config", "name=value", "a topic config for --create; repeatable")
		fs.Strings(&o.deleteConfigs, "delete-config", "name", "no longer supported (as in Kafka 4): use samsa configs --alter --delete-config")
		fs.Bool(&o.ifNotExists, "if-not-exists", "with --create: succeed if the topic already exists")
		fs.Bool(&o.ifExists, "if-exists", "with --alter, --describe or --delete: succeed if no topic matches")
		fs.Bool(&o.excludeInternal, "exclude-internal", "leave internal topics (__consumer_offsets ...) out of --list and --describe")
		fs.Bool(&o.underReplicated, "under-replicated-partitions", "with --describe: only partitions whose ISR is smaller than their replica set")
		fs.Bool(&o.unavailable, "unavailable-partitions", "with --describe: only partitions without a live leader")
		fs.Bool(&o.underMinISR, "under-min-isr-partitions", "with --describe: only partitions whose ISR is below min.insync.replicas")
		fs.Bool(&o.atMinISR, "at-min-isr-partitions", "with --describe: only partitions whose ISR equals min.insync.replicas")
		fs.Bool(&o.withOverrides, "topics-with-overrides", "with --describe: only topics that override configs, without partitions")
		if err := fs.parse(args, stdout); err != nil {
			return err
		}
		action, err := fs.onlyOne("create", "list", "describe", "alter", "delete")
		if err != nil {
			return err
		}
		if len(fs.args) > 0 {
			return fmt.Errorf("unexpected argument %q (see samsa topics --help)", fs.args[0])
		}
		if len(o.deleteConfigs) > 0 {
			return errors.New("option --delete-config is no longer supported; use samsa configs --alter --entity-type topics --delete-config")
		}
		// The partition reports go with --describe only, and may be
		// combined (a partition matching any is printed), but not with
		// --topics-with-overrides, which prints no partitions.
		for _, rep := range []struct {
			name string
			on   bool
		}{
			{"under-replicated-partitions", o.underReplicated}, {"unavailable-partitions", o.unavailable},
			{"under-min-isr-partitions", o.underMinISR}, {"at-min-isr-partitions", o.atMinISR},
		} {
			switch {
			case !rep.on:
			case action != "describe":
				return fmt.Errorf("option --%s can only be used with --describe", rep.name)
			case o.withOverrides:
				return fmt.Errorf("option --%s can't be used with --topics-with-overrides", rep.name)
			}
		}
		if o.withOverrides && action != "describe" {
			return errors.New("option --topics-with-overrides can only be used with --describe")
		}
		if len(o.configs) > 0 && action != "create" {
			return errors.New("option --config is only supported with --create; use samsa configs --alter to change topic configs")
		}
		if (action == "create" || action == "alter") && o.topic == "" {
			return fmt.Errorf("option --topic is required with --%s", action)
		}
		if err := o.loadProps(stderr); err != nil {
			return err
		}
		adm, closeFn, err := o.newAdmin()
		if err != nil {
			return err
		}
		defer closeFn()
		switch action {
		case "create":
			return o.runCreate(adm, stdout)
		case "list":
			return o.runList(adm, stdout)
		case "describe":
			return o.runDescribe(adm, stdout)
		case "alter":
			return o.runAlter(adm)
		default:
			return o.runDelete(adm)
		}
	})
}

// parseReplicaAssignment parses "0:1,1:2" into replica lists per partition,
// checking duplicates and equal lengths as Kafka does.
func parseReplicaAssignment(s string) ([][]int32, error) {
	var out [][]int32
	for i, part := range strings.Split(s, ",") {
		var reps []int32
		seen := map[int32]bool{}
		for _, b := range strings.Split(part, ":") {
			n, err := strconv.ParseInt(strings.TrimSpace(b), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("invalid --replica-assignment %q: %q is not a broker id", s, b)
			}
			if seen[int32(n)] {
				return nil, fmt.Errorf("partition replica lists may not contain duplicate entries: %d", n)
			}
			seen[int32(n)] = true
			reps = append(reps, int32(n))
		}
		if i > 0 && len(reps) != len(out[0]) {
			return nil, fmt.Errorf("partition %d has different replication factor: %v", i, reps)
		}
		out = append(out, reps)
	}
	return out, nil
}

// parseTopicConfigs parses --config name=value items.
func parseTopicConfigs(items []string) ([][2]string, error) {
	var out [][2]string
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		if !ok || strings.TrimSpace(k) == "" || strings.Contains(v, "=") {
			return nil, fmt.Errorf("invalid topic config %q: all configs to be added must be in the format \"key=val\"", it)
		}
		out = append(out, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	return out, nil
}

// internalTopics are Kafka's internal topic names (Topic.isInternal).
var internalTopics = map[string]bool{
	"__consumer_offsets":  true,
	"__transaction_state": true,
	"__share_group_state": true,
}

// topicFilter compiles --topic the way Kafka's IncludeList does: commas
// mean alternation, surrounding quotes are dropped, and the expression
// must match the whole name.
func topicFilter(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	e := strings.TrimSpace(expr)
	e = strings.ReplaceAll(e, ",", "|")
	e = strings.ReplaceAll(e, " ", "")
	e = strings.Trim(e, `"'`)
	re, err := regexp.Compile("^(?:" + e + ")$")
	if err != nil {
		return nil, fmt.Errorf("invalid --topic regular expression %q: %v", expr, err)
	}
	return re, nil
}

// matchTopics lists the topic names matching --topic, sorted.
func (o *topicsOpts) matchTopics(ctx context.Context, adm *kadm.Client) ([]string, error) {
	re, err := topicFilter(o.topic)
	if err != nil {
		return nil, err
	}
	tds, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		return nil, o.describeErr("listing topics", err)
	}
	var names []string
	for name, td := range tds {
		if o.excludeInternal && (td.IsInternal || internalTopics[name]) {
			continue
		}
		if re != nil && !re.MatchString(name) {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// findTopics is matchTopics for the actions on existing topics: --topic
// matching nothing is an error, unless --if-exists (then names is empty
// and there is nothing to do).
func (o *topicsOpts) findTopics(ctx context.Context, adm *kadm.Client) ([]string, error) {
	names, err := o.matchTopics(ctx, adm)
	if err != nil {
		return nil, err
	}
	if o.topic != "" && len(names) == 0 && !o.ifExists {
		return nil, fmt.Errorf("topic '%s' does not exist as expected", o.topic)
	}
	return names, nil
}

func (o *topicsOpts) runCreate(adm *kadm.Client, stdout io.Writer) error {
	if o.partitions != -1 && o.partitions < 1 {
		return errors.New("the partitions must be greater than 0")
	}
	if o.replicationFactor != -1 && (o.replicationFactor < 1 || o.replicationFactor > 32767) {
		return errors.New("the replication factor must be between 1 and 32767 inclusive")
	}
	var assignment [][]int32
	if o.assignment != "" {
		if o.partitions != -1 || o.replicationFactor != -1 {
			return errors.New("option --replica-assignment cannot be used with --partitions or --replication-factor")
		}
		var err error
		if assignment, err = parseReplicaAssignment(o.assignment); err != nil {
			return err
		}
	}
	configs, err := parseTopicConfigs(o.configs)
	if err != nil {
		return err
	}
	if strings.Contains(o.topic, ".") || strings.Contains(o.topic, "_") {
		fmt.Fprintln(stdout, "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both.")
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(o.timeout.Milliseconds())
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic = o.topic
	t.NumPartitions, t.ReplicationFactor = int32(o.partitions), int16(o.replicationFactor)
	for p, reps := range assignment {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(p), reps
		t.ReplicaAssignment = append(t.ReplicaAssignment, a)
	}
	for _, kv := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = kv[0], kmsg.StringPtr(kv[1])
		t.Configs = append(t.Configs, c)
	}
	req.Topics = append(req.Topics, t)
	ctx, cancel := o.ctx()
	defer cancel()
	resp, err := req.RequestWith(ctx, o.cl)
	if err != nil {
		return o.describeErr("creating topic "+o.topic, err)
	}
	for _, rt := range resp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			if errors.Is(err, kerr.TopicAlreadyExists) {
				if o.ifNotExists {
					return nil
				}
				return fmt.Errorf("topic '%s' already exists", o.topic)
			}
			return fmt.Errorf("creating topic %s: %s", o.topic, kafkaErr(err, deref(rt.ErrorMessage)))
		}
	}
	o.waitKnownEverywhere(ctx)
	fmt.Fprintf(stdout, "Created topic %s.\n", o.topic)
	return nil
}

// waitKnownEverywhere waits, at most 5 s, until every broker's metadata
// has the new topic: the controller answers once the topic is committed,
// and the other brokers apply it a moment later, so a describe sent to
// one of them right after could not find it yet.
func (o *topicsOpts) waitKnownEverywhere(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		known := true
		for _, b := range o.cl.DiscoveredBrokers() {
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(o.topic)
			req.Topics = append(req.Topics, rt)
			r, err := b.Request(ctx, req)
			resp, _ := r.(*kmsg.MetadataResponse)
			if err != nil || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
				known = false
				break
			}
		}
		if known {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (o *topicsOpts) runList(adm *kadm.Client, stdout io.Writer) error {
	ctx, cancel := o.ctx()
	defer cancel()
	names, err := o.matchTopics(ctx, adm)
	if err != nil {
		return err
	}
	for _, n := range names {
		fmt.Fprintln(stdout, n)
	}
	return nil
}

// formatTopicID prints a topic id as Kafka's Uuid.toString does: URL-safe
// base64 without padding.
func formatTopicID(id kadm.TopicID) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func (o *topicsOpts) runDescribe(adm *kadm.Client, stdout io.Writer) error {
	ctx, cancel := o.ctx()
	defer cancel()
	names, err := o.findTopics(ctx, adm)
	if err != nil || len(names) == 0 {
		return err
	}
	md, err := adm.Metadata(ctx, names...)
	if err != nil {
		return o.describeErr("describing topics", err)
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return o.describeErr("describing topic configs", err)
	}
	cfgByTopic := map[string]kadm.ResourceConfig{}
	for _, rc := range cfgs {
		cfgByTopic[rc.Name] = rc
	}
	live := map[int32]bool{}
	for _, b := range md.Brokers {
		live[b.NodeID] = true
	}
	elr, err := o.eligibleLeaders(ctx, adm, names)
	if err != nil {
		return err
	}
	reportOnly := o.underReplicated || o.unavailable || o.underMinISR || o.atMinISR
	for _, name := range names {
		td, ok := md.Topics[name]
		if !ok || td.Err != nil {
			if ok && errors.Is(td.Err, kerr.UnknownTopicOrPartition) || !ok {
				continue // deleted since the listing
			}
			return fmt.Errorf("describing topic %s: %s", name, kafkaErr(td.Err, ""))
		}
		rc := cfgByTopic[name]
		if rc.Err != nil {
			return fmt.Errorf("describing configs of topic %s: %s", name, kafkaErr(rc.Err, rc.ErrMessage))
		}
		var overrides []string
		minISR := 1
		for _, c := range rc.Configs {
			if c.Key == "min.insync.replicas" && c.Value != nil {
				if n, err := strconv.Atoi(*c.Value); err == nil {
					minISR = n
				}
			}
			if c.Source == kmsg.ConfigSourceDefaultConfig {
				continue
			}
			overrides = append(overrides, c.Key+"="+configValue(c))
		}
		parts := td.Partitions.Sorted()
		if !reportOnly && (!o.withOverrides || len(overrides) > 0) {
			rf := 0
			if len(parts) > 0 {
				rf = len(parts[0].Replicas)
			}
			line := "Topic: " + name
			if td.ID != (kadm.TopicID{}) {
				line += "\tTopicId: " + formatTopicID(td.ID)
			}
			line += fmt.Sprintf("\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s", len(parts), rf, strings.Join(overrides, ","))
			fmt.Fprintln(stdout, line)
		}
		if o.withOverrides {
			continue
		}
		for _, p := range parts {
			hasLeader := p.Leader >= 0
			show := !reportOnly ||
				o.underReplicated && len(p.Replicas) > len(p.ISR) ||
				o.unavailable && (!hasLeader || !live[p.Leader]) ||
				o.underMinISR && (!hasLeader || len(p.ISR) < minISR) ||
				o.atMinISR && len(p.ISR) == minISR
			if !show {
				continue
			}
			leader := "none"
			if hasLeader {
				leader = itoa32(p.Leader)
			}
			e := elr[name][p.Partition] // none known: empty, as with ELR off
			fmt.Fprintf(stdout, "\tTopic: %s\tPartition: %d\tLeader: %s\tReplicas: %s\tIsr: %s\tElr: %s\tLastKnownElr: %s\n",
				name, p.Partition, leader, joinInt32(p.Replicas), joinInt32(p.ISR), e[0], e[1])
		}
	}
	return nil
}

// eligibleLeaders reads the eligible leader replicas (KIP-966) of the
// topics' partitions with DescribeTopicPartitions, as Kafka 4's tool does,
// when the brokers serve it. A cluster that does not (Samsa, which keeps
// no ELR; Kafka before 3.7) has no eligible leader replicas: the describe
// prints them empty, as Kafka 4 does for a cluster with ELR off (its
// brokers answer empty lists then).
func (o *topicsOpts) eligibleLeaders(ctx context.Context, adm *kadm.Client, names []string) (map[string]map[int32][2]string, error) {
	if ok, err := apiSupported(ctx, adm, int16(kmsg.DescribeTopicPartitions)); err != nil || !ok {
		return nil, nil
	}
	out := map[string]map[int32][2]string{}
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	req.ResponsePartitionLimit = 2000
	for _, n := range names {
		t := kmsg.NewDescribeTopicPartitionsRequestTopic()
		t.Topic = n
		req.Topics = append(req.Topics, t)
	}
	for {
		resp, err := req.RequestWith(ctx, o.cl)
		if err != nil {
			return nil, o.describeErr("describing topic partitions", err)
		}
		for _, t := range resp.Topics {
			if t.Topic == nil || t.ErrorCode != 0 {
				continue
			}
			m := out[*t.Topic]
			if m == nil {
				m = map[int32][2]string{}
				out[*t.Topic] = m
			}
			for _, p := range t.Partitions {
				m[p.Partition] = [2]string{joinInt32(p.EligibleLeaderReplicas), joinInt32(p.LastKnownELR)}
			}
		}
		if resp.NextCursor == nil {
			return out, nil
		}
		c := kmsg.NewDescribeTopicPartitionsRequestCursor()
		c.Topic, c.Partition = resp.NextCursor.Topic, resp.NextCursor.Partition
		req.Cursor = &c
	}
}

// configValue is a config's value as Kafka's tools print it: "null" for
// a sensitive or unset value.
func configValue(c kadm.Config) string {
	if c.Value == nil || c.Sensitive {
		return "null"
	}
	return *c.Value
}

func (o *topicsOpts) runAlter(adm *kadm.Client) error {
	if o.partitions == -1 {
		return errors.New("option --partitions is required with --alter (topic configs are altered with samsa configs)")
	}
	if len(o.configs) > 0 {
		return errors.New("option --config is not supported with --alter; use samsa configs --alter")
	}
	var assignment [][]int32
	if o.assignment != "" {
		var err error
		if assignment, err = parseReplicaAssignment(o.assignment); err != nil {
			return err
		}
	}
	ctx, cancel := o.ctx()
	defer cancel()
	names, err := o.findTopics(ctx, adm)
	if err != nil || len(names) == 0 {
		return err
	}
	md, err := adm.Metadata(ctx, names...)
	if err != nil {
		return o.describeErr("describing topics", err)
	}
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = int32(o.timeout.Milliseconds())
	for _, name := range names {
		t := kmsg.NewCreatePartitionsRequestTopic()
		t.Topic, t.Count = name, int32(o.partitions)
		if assignment != nil {
			cur := len(md.Topics[name].Partitions)
			if len(assignment) < o.partitions {
				return fmt.Errorf("--replica-assignment lists %d partitions, --partitions asks for %d", len(assignment), o.partitions)
			}
			for _, reps := range assignment[min(cur, len(assignment)):o.partitions] {
				a := kmsg.NewCreatePartitionsRequestTopicAssignment()
				a.Replicas = reps
				t.Assignment = append(t.Assignment, a)
			}
		}
		req.Topics = append(req.Topics, t)
	}
	resp, err := req.RequestWith(ctx, o.cl)
	if err != nil {
		return o.describeErr("altering partitions", err)
	}
	for _, rt := range resp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			return fmt.Errorf("altering topic %s: %s", rt.Topic, kafkaErr(err, deref(rt.ErrorMessage)))
		}
	}
	return nil
}

func (o *topicsOpts) runDelete(adm *kadm.Client) error {
	if o.topic == "" {
		return errors.New("option --topic is required with --delete")
	}
	ctx, cancel := o.ctx()
	defer cancel()
	names, err := o.findTopics(ctx, adm)
	if err != nil || len(names) == 0 {
		return err
	}
	for _, n := range names {
		if internalTopics[n] {
			return fmt.Errorf("topic %s is an internal topic and cannot be deleted", n)
		}
	}
	resps, err := adm.DeleteTopics(ctx, names...)
	if err != nil {
		return o.describeErr("deleting topics", err)
	}
	for _, r := range resps.Sorted() {
		if r.Err != nil {
			return fmt.Errorf("deleting topic %s: %s", r.Topic, kafkaErr(r.Err, r.ErrMessage))
		}
	}
	return nil
}
