package cli

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
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
		Name:    "consumer-groups",
		Summary: "list, describe, reset and delete consumer groups (kafka-consumer-groups.sh)",
		Kafka:   "kafka-consumer-groups.sh",
		Run:     runConsumerGroups,
	})
}

const groupsSynopsis = `  samsa consumer-groups --bootstrap-server HOST:PORT ACTION [options]
  where ACTION is one of --list, --describe, --reset-offsets, --delete,
  --delete-offsets.
  Classic groups and KIP-848 consumer-protocol groups are both handled;
  --list --type shows which a group is (or keeps only the given types).
  --describe shows, per partition, CURRENT-OFFSET (committed), LOG-END-OFFSET
  and LAG with the member that owns it; --members lists members (with their
  epochs and current and target assignments under --verbose), --state the
  coordinator, assignor, state and member count (and, under --verbose, the
  group and target assignment epochs of a consumer group).
  --reset-offsets needs a scope (--all-topics, or --topic T or T:0,1, which
  may repeat) and one of --to-earliest, --to-latest, --to-current,
  --to-offset N, --shift-by N, --to-datetime YYYY-MM-DDTHH:mm:SS.sss[zone],
  --by-duration PnDTnHnMnS, --from-file CSV. It prints the new offsets and
  changes nothing unless --execute is given; the group must have no active
  members.`

const groupsExamples = `  samsa consumer-groups --bootstrap-server 127.0.0.1:9092 --list
  samsa consumer-groups --list --state stable,empty
  samsa consumer-groups --list --type consumer
  samsa consumer-groups --describe --group billing
  samsa consumer-groups --describe --group billing --members --verbose
  samsa consumer-groups --describe --all-groups --state
  samsa consumer-groups --reset-offsets --group billing --topic events --to-earliest --dry-run
  samsa consumer-groups --reset-offsets --group billing --topic events:0,1 --shift-by -10 --execute
  samsa consumer-groups --reset-offsets --group billing --all-topics --to-datetime 2026-01-01T00:00:00.000Z --execute
  samsa consumer-groups --delete-offsets --group billing --topic events
  samsa consumer-groups --delete --group billing`

type groupsOpts struct {
	conn
	list, describe, del, reset, delOffsets bool
	groups, topics                         []string
	allGroups, allTopics                   bool
	members, offsets, verbose              bool
	state, groupType                       string

	toEarliest, toLatest, toCurrent bool
	toOffset, shiftBy               int64
	toDatetime, byDuration          string
	fromFile                        string
	dryRun, execute, export         bool
}

func runConsumerGroups(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var o groupsOpts
		fs := newFlagSet("consumer-groups", groupsSynopsis, groupsExamples)
		o.addConnFlags(fs, "timeout", "command-config")
		fs.Bool(&o.list, "list", "list the consumer groups")
		fs.Bool(&o.describe, "describe", "describe the groups: offsets and lag (default), --members or --state")
		fs.Bool(&o.del, "delete", "delete the groups (they must have no active members)")
		fs.Bool(&o.reset, "reset-offsets", "reset the committed offsets of a group")
		fs.Bool(&o.delOffsets, "delete-offsets", "delete the committed offsets of a group for --topic")
		fs.Strings(&o.groups, "group", "group", "the consumer group; repeatable")
		fs.Bool(&o.allGroups, "all-groups", "every consumer group")
		fs.Strings(&o.topics, "topic", "topic[:p,p]", "a topic, optionally with partitions; repeatable")
		fs.Bool(&o.allTopics, "all-topics", "with --reset-offsets: every topic the group has offsets for")
		fs.Bool(&o.members, "members", "with --describe: the members")
		fs.Bool(&o.offsets, "offsets", "with --describe: the offsets and lag (the default view)")
		fs.OptString(&o.state, "state", "states", "with --describe: the group state view; with --list: show states, optionally only these (e.g. stable,empty)")
		fs.OptString(&o.groupType, "type", "types", "with --list: show group types (classic, consumer), optionally only these")
		fs.Bool(&o.verbose, "verbose", "with --describe: more columns (epochs, assignments)")
		fs.Bool(&o.toEarliest, "to-earliest", "reset to the log start offset")
		fs.Bool(&o.toLatest, "to-latest", "reset to the log end offset")
		fs.Bool(&o.toCurrent, "to-current", "reset to the current committed offset")
		fs.Int64(&o.toOffset, "to-offset", "n", "reset to this offset (clamped to the partition's range)")
		fs.Int64(&o.shiftBy, "shift-by", "n", "move the committed offset by n (may be negative)")
		fs.String(&o.toDatetime, "to-datetime", "YYYY-MM-DDTHH:mm:SS.sss", "reset to the first offset at or after this time (zone optional, default local)")
		fs.String(&o.byDuration, "by-duration", "PnDTnHnMnS", "reset to the first offset at or after now minus this ISO-8601 duration")
		fs.String(&o.fromFile, "from-file", "csv", "reset to the offsets of a CSV file: topic,partition,offset (or group,topic,partition,offset)")
		fs.Bool(&o.dryRun, "dry-run", "only print the new offsets (the default)")
		fs.Bool(&o.execute, "execute", "commit the new offsets")
		fs.Bool(&o.export, "export", "print the new offsets as CSV, for --from-file")
		if err := fs.parse(args, stdout); err != nil {
			return err
		}
		action, err := fs.onlyOne("list", "describe", "delete", "reset-offsets", "delete-offsets")
		if err != nil {
			return err
		}
		if len(fs.args) > 0 {
			return fmt.Errorf("unexpected argument %q (see samsa consumer-groups --help)", fs.args[0])
		}
		if action != "list" && len(o.groups) == 0 && !o.allGroups {
			return fmt.Errorf("option --group (or --all-groups) is required with --%s", action)
		}
		if action == "delete-offsets" && (len(o.groups) != 1 || len(o.topics) == 0) {
			return errors.New("option --delete-offsets needs one --group and at least one --topic")
		}
		var states, types []string
		if action == "list" && fs.Has("state") {
			if states, err = parseStates(o.state); err != nil {
				return err
			}
		}
		if action == "list" && fs.Has("type") {
			if types, err = parseTypes(o.groupType); err != nil {
				return err
			}
		}
		var scenario string
		if action == "reset-offsets" {
			if scenario, err = o.resetScenario(fs); err != nil {
				return err
			}
		}
		adm, ctx, done, err := o.adminSession(stderr)
		if err != nil {
			return err
		}
		defer done()
		switch action {
		case "list":
			return o.runList(ctx, fs.Has("state"), fs.Has("type"), states, types, stdout)
		case "describe":
			return o.runDescribe(ctx, adm, fs, stdout, stderr)
		case "delete":
			return o.runDelete(ctx, adm, stdout)
		case "delete-offsets":
			return o.runDeleteOffsets(ctx, adm, stdout)
		default:
			return o.runReset(ctx, adm, scenario, stdout, stderr)
		}
	})
}

func (o *groupsOpts) groupIDs(ctx context.Context, adm *kadm.Client) ([]string, error) {
	if !o.allGroups {
		return o.groups, nil
	}
	ls, err := o.listGroups(ctx, nil, nil)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, g := range ls {
		ids = append(ids, g.group)
	}
	return ids, nil
}

// listedGroup is a group of ListGroups: typ is "classic" or "consumer".
type listedGroup struct {
	group, typ, state string
}

// groupTypes are the group types consumer-groups handles (--type).
var groupTypes = []string{"classic", "consumer"}

func parseTypes(s string) ([]string, error) {
	var out []string
	for _, t := range strings.Split(s, ",") {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" {
			continue
		}
		if !slices.Contains(groupTypes, t) {
			return nil, fmt.Errorf("invalid types list '%s'. Valid types are: %s", s, strings.Join(groupTypes, ", "))
		}
		out = append(out, t)
	}
	return out, nil
}

// listGroups lists the consumer groups as Kafka's tool does: classic groups
// of the consumer protocol type (or none, for groups holding only offsets)
// and KIP-848 consumer groups, sorted by name. ListGroups v5 names each
// group's type; an older answer has only classic groups.
func (o *groupsOpts) listGroups(ctx context.Context, states, types []string) ([]listedGroup, error) {
	req := kmsg.NewPtrListGroupsRequest()
	req.StatesFilter = states
	req.TypesFilter = types
	var out []listedGroup
	seen := map[string]bool{}
	for _, sh := range o.cl.RequestSharded(ctx, req) {
		if sh.Err != nil {
			return nil, o.describeErr("listing groups", sh.Err)
		}
		resp := sh.Resp.(*kmsg.ListGroupsResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return nil, fmt.Errorf("listing groups: %s", kafkaErr(err, ""))
		}
		for _, g := range resp.Groups {
			typ := strings.ToLower(g.GroupType)
			if typ == "" {
				typ = "classic"
			}
			switch {
			case seen[g.Group]:
				continue
			case typ == "consumer":
			case typ == "classic" && (g.ProtocolType == "consumer" || g.ProtocolType == ""):
			default:
				continue
			}
			if len(types) > 0 && !slices.Contains(types, typ) {
				continue
			}
			seen[g.Group] = true
			out = append(out, listedGroup{group: g.Group, typ: typ, state: g.GroupState})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].group < out[j].group })
	return out, nil
}

// groupStates are the consumer group states Kafka accepts in --state.
var groupStates = []string{"PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Empty", "Assigning", "Reconciling"}

func parseStates(s string) ([]string, error) {
	var out []string
	for _, st := range strings.Split(s, ",") {
		st = strings.TrimSpace(st)
		if st == "" {
			continue
		}
		found := ""
		for _, g := range groupStates {
			if strings.EqualFold(g, st) {
				found = g
			}
		}
		if found == "" {
			return nil, fmt.Errorf("invalid state list '%s'. Valid states are: %s", s, strings.Join(groupStates, ", "))
		}
		out = append(out, found)
	}
	return out, nil
}

func (o *groupsOpts) runList(ctx context.Context, withState, withType bool, states, types []string, stdout io.Writer) error {
	groups, err := o.listGroups(ctx, states, types)
	if err != nil {
		return err
	}
	if !withState && !withType {
		for _, g := range groups {
			fmt.Fprintln(stdout, g.group)
		}
		return nil
	}
	width := 15
	for _, g := range groups {
		width = max(width, len(g.group))
	}
	width += 10
	row := func(group, typ, state string) {
		line := fmt.Sprintf("%-*s", width, group)
		if withType {
			line += fmt.Sprintf(" %-20s", typ)
		}
		if withState {
			line += fmt.Sprintf(" %-20s", state)
		}
		fmt.Fprintln(stdout, line)
	}
	row("GROUP", "TYPE", "STATE")
	for _, g := range groups {
		row(g.group, typeName(g.typ), orDash(g.state))
	}
	return nil
}

// typeName prints a group type as Kafka's GroupType does: Classic, Consumer.
func typeName(t string) string {
	if t == "" {
		return "-"
	}
	return strings.ToUpper(t[:1]) + t[1:]
}

// groupNotFound is describeOne's error for a group that does not exist.
type groupNotFound string

func (g groupNotFound) Error() string {
	return fmt.Sprintf("consumer group '%s' does not exist", string(g))
}

// groupDesc is a described group of either protocol.
type groupDesc struct {
	group    string
	consumer bool // a KIP-848 consumer-protocol group
	coord    kadm.BrokerDetail
	state    string
	assignor string // the classic protocol (range ...) or the server assignor
	// epoch and assignmentEpoch are the group and target assignment epochs
	// of a consumer group.
	epoch, assignmentEpoch int32
	members                []groupMember
}

// assigned is the set of partitions assigned to the members.
func (d groupDesc) assigned() kadm.TopicsSet {
	s := make(kadm.TopicsSet)
	for _, m := range d.members {
		for _, tp := range m.parts {
			s.Add(tp.topic, tp.partition)
		}
	}
	return s
}

// describeOne describes a group, classic (DescribeGroups) or else KIP-848
// (ConsumerGroupDescribe), failing (groupNotFound) if it is neither.
func (o *groupsOpts) describeOne(ctx context.Context, adm *kadm.Client, group string) (groupDesc, error) {
	ds, err := adm.DescribeGroups(ctx, group)
	if err != nil && len(ds) == 0 {
		return groupDesc{}, o.describeErr("describing group "+group, err)
	}
	d, ok := ds[group]
	if !ok {
		return groupDesc{}, fmt.Errorf("describing group %s: no answer", group)
	}
	switch {
	case d.Err == nil && d.State != "Dead":
		return groupDesc{group: d.Group, coord: d.Coordinator, state: d.State, assignor: d.Protocol, members: membersOf(d)}, nil
	case d.Err != nil && !errors.Is(d.Err, kerr.GroupIDNotFound):
		return groupDesc{}, fmt.Errorf("describing group %s: %s", group, kafkaErr(d.Err, d.ErrMessage))
	}
	// Not a classic group: a consumer group is described by
	// ConsumerGroupDescribe, as Kafka's admin client does.
	notFound := groupNotFound(group)
	if ok, err := apiSupported(ctx, adm, int16(kmsg.ConsumerGroupDescribe)); err != nil {
		return groupDesc{}, o.describeErr("describing group "+group, err)
	} else if !ok {
		return groupDesc{}, notFound
	}
	cds, err := adm.DescribeConsumerGroups(ctx, group)
	if err != nil && len(cds) == 0 {
		return groupDesc{}, o.describeErr("describing group "+group, err)
	}
	cd, ok := cds[group]
	if !ok {
		return groupDesc{}, fmt.Errorf("describing group %s: no answer", group)
	}
	if cd.Err != nil {
		if errors.Is(cd.Err, kerr.GroupIDNotFound) {
			return groupDesc{}, notFound
		}
		return groupDesc{}, fmt.Errorf("describing group %s: %s", group, kafkaErr(cd.Err, ""))
	}
	if strings.EqualFold(cd.State, "Dead") {
		return groupDesc{}, notFound
	}
	return groupDesc{group: cd.Group, consumer: true, coord: cd.Coordinator, state: cd.State, assignor: cd.AssignorName,
		epoch: cd.Epoch, assignmentEpoch: cd.AssignmentEpoch, members: consumerMembersOf(cd)}, nil
}

// offsetRow is one line of the offsets view.
type offsetRow struct {
	group, topic                             string
	partition                                int32
	epoch, current, end, lag                 string
	consumerID, host, clientID, hasPartition string
}

// groupMember is a member with its assignment decoded: the consumer
// assignment of a classic member, the current (parts) and target
// assignments and the member epoch of a KIP-848 member.
type groupMember struct {
	id, clientID, host string
	parts              []topicPartition // sorted
	target             []topicPartition // sorted; KIP-848 only
	epoch              int32            // KIP-848 only
}

type topicPartition struct {
	topic     string
	partition int32
}

func membersOf(d kadm.DescribedGroup) []groupMember {
	var out []groupMember
	for _, m := range d.Members {
		gm := groupMember{id: m.MemberID, clientID: m.ClientID, host: m.ClientHost}
		if ca, ok := m.Assigned.AsConsumer(); ok && ca != nil {
			for _, t := range ca.Topics {
				for _, p := range t.Partitions {
					gm.parts = append(gm.parts, topicPartition{t.Topic, p})
				}
			}
		}
		sortTopicPartitions(gm.parts)
		out = append(out, gm)
	}
	return out
}

// consumerMembersOf is membersOf for a KIP-848 group.
func consumerMembersOf(d kadm.DescribedConsumerGroup) []groupMember {
	var out []groupMember
	for _, m := range d.Members {
		gm := groupMember{id: m.MemberID, clientID: m.ClientID, host: m.ClientHost, epoch: m.MemberEpoch,
			parts: topicsSetParts(m.Assignment), target: topicsSetParts(m.TargetAssignment)}
		out = append(out, gm)
	}
	return out
}

func topicsSetParts(s kadm.TopicsSet) []topicPartition {
	var out []topicPartition
	s.Each(func(t string, p int32) { out = append(out, topicPartition{t, p}) })
	sortTopicPartitions(out)
	return out
}

func sortTopicPartitions(ps []topicPartition) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].topic != ps[j].topic {
			return ps[i].topic < ps[j].topic
		}
		return ps[i].partition < ps[j].partition
	})
}

// buildOffsetRows joins a group's assignment, committed offsets and end
// offsets into rows: the members' partitions first (members with the most
// partitions first), then the partitions with offsets but no owner.
func buildOffsetRows(group string, members []groupMember, committed kadm.OffsetResponses, ends kadm.ListedOffsets) []offsetRow {
	var rows []offsetRow
	owned := map[topicPartition]bool{}
	row := func(t string, p int32) offsetRow {
		r := offsetRow{group: group, topic: t, partition: p, epoch: "-", current: "-", end: "-", lag: "-", consumerID: "-", host: "-", clientID: "-"}
		var cur int64 = -1
		if c, ok := committed.Lookup(t, p); ok && c.Err == nil && c.At >= 0 {
			cur = c.At
			r.current = strconv.FormatInt(c.At, 10)
			if c.LeaderEpoch >= 0 {
				r.epoch = strconv.Itoa(int(c.LeaderEpoch))
			}
		}
		if e, ok := ends.Lookup(t, p); ok && e.Err == nil && e.Offset >= 0 {
			r.end = strconv.FormatInt(e.Offset, 10)
			if cur >= 0 {
				r.lag = strconv.FormatInt(max(e.Offset-cur, 0), 10)
			}
		}
		return r
	}
	members = append([]groupMember(nil), members...)
	sort.SliceStable(members, func(i, j int) bool {
		if len(members[i].parts) != len(members[j].parts) {
			return len(members[i].parts) > len(members[j].parts)
		}
		return members[i].id < members[j].id
	})
	for _, m := range members {
		for _, tp := range m.parts {
			owned[tp] = true
			r := row(tp.topic, tp.partition)
			r.consumerID, r.host, r.clientID = orDash(m.id), orDash(m.host), orDash(m.clientID)
			rows = append(rows, r)
		}
	}
	for _, c := range committed.Sorted() {
		if owned[topicPartition{c.Topic, c.Partition}] || c.Err != nil {
			continue
		}
		rows = append(rows, row(c.Topic, c.Partition))
	}
	return rows
}

func writeOffsetRows(w io.Writer, rows []offsetRow, verbose bool) {
	var t *table
	if verbose {
		t = newTable([]int{15, 15, 10, 15, 15, 15, 15, 15, 15}, "GROUP", "TOPIC", "PARTITION", "LEADER-EPOCH", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID")
	} else {
		t = newTable([]int{15, 15, 10, 15, 15, 15, 15, 15}, "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID")
	}
	for _, r := range rows {
		if verbose {
			t.add(r.group, r.topic, itoa32(r.partition), r.epoch, r.current, r.end, r.lag, r.consumerID, r.host, r.clientID)
		} else {
			t.add(r.group, r.topic, itoa32(r.partition), r.current, r.end, r.lag, r.consumerID, r.host, r.clientID)
		}
	}
	fmt.Fprintln(w)
	t.write(w)
}

// assignmentString prints "t1:0,1;t2:3" as Kafka does.
func assignmentString(m groupMember) string { return partsString(m.parts) }

func partsString(parts []topicPartition) string {
	if len(parts) == 0 {
		return "-"
	}
	var out []string
	for i := 0; i < len(parts); {
		j := i
		var ps []int32
		for ; j < len(parts) && parts[j].topic == parts[i].topic; j++ {
			ps = append(ps, parts[j].partition)
		}
		out = append(out, parts[i].topic+":"+joinInt32(ps))
		i = j
	}
	return strings.Join(out, ";")
}

// warnState writes Kafka's notes about empty and rebalancing groups.
func warnState(w io.Writer, d groupDesc) {
	switch d.state {
	case "Empty":
		fmt.Fprintf(w, "\nConsumer group '%s' has no active members.\n", d.group)
	case "PreparingRebalance", "CompletingRebalance", "Assigning", "Reconciling":
		fmt.Fprintf(w, "\nWarning: Consumer group '%s' is rebalancing.\n", d.group)
	}
}

// epochString is a KIP-848 epoch, "-" for a classic group.
func epochString(consumer bool, e int32) string {
	if !consumer {
		return "-"
	}
	return strconv.Itoa(int(e))
}

func (o *groupsOpts) runDescribe(ctx context.Context, adm *kadm.Client, fs *flagSet, stdout, stderr io.Writer) error {
	ids, err := o.groupIDs(ctx, adm)
	if err != nil {
		return err
	}
	sort.Strings(ids)
	view := "offsets"
	switch {
	case o.offsets:
	case o.members:
		view = "members"
	case fs.Has("state"):
		view = "state"
	}
	for _, g := range ids {
		d, err := o.describeOne(ctx, adm, g)
		if err != nil {
			return err
		}
		switch view {
		case "state":
			coord := fmt.Sprintf("%s:%d  (%d)", d.coord.Host, d.coord.Port, d.coord.NodeID)
			var t *table
			if o.verbose {
				t = newTable([]int{15, 25, 20, 20, 15, 25}, "GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "GROUP-EPOCH", "TARGET-ASSIGNMENT-EPOCH", "#MEMBERS")
				t.add(d.group, coord, orDash(d.assignor), d.state, epochString(d.consumer, d.epoch), epochString(d.consumer, d.assignmentEpoch), strconv.Itoa(len(d.members)))
			} else {
				t = newTable([]int{15, 25, 20, 20}, "GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS")
				t.add(d.group, coord, orDash(d.assignor), d.state, strconv.Itoa(len(d.members)))
			}
			fmt.Fprintln(stdout)
			t.write(stdout)
		case "members":
			warnState(stderr, d)
			if len(d.members) == 0 {
				continue
			}
			var t *table
			if o.verbose {
				t = newTable([]int{15, 15, 15, 15, 15, 15, 20, 15}, "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "CURRENT-EPOCH", "CURRENT-ASSIGNMENT", "TARGET-EPOCH", "TARGET-ASSIGNMENT")
			} else {
				t = newTable([]int{15, 15, 15, 15}, "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS")
			}
			for _, m := range d.members {
				n := strconv.Itoa(len(m.parts))
				switch {
				case o.verbose && d.consumer:
					t.add(d.group, m.id, orDash(m.host), orDash(m.clientID), n, strconv.Itoa(int(m.epoch)), assignmentString(m),
						strconv.Itoa(int(d.assignmentEpoch)), partsString(m.target))
				case o.verbose:
					t.add(d.group, m.id, orDash(m.host), orDash(m.clientID), n, "-", assignmentString(m), "-", "-")
				default:
					t.add(d.group, m.id, orDash(m.host), orDash(m.clientID), n)
				}
			}
			fmt.Fprintln(stdout)
			t.write(stdout)
		default:
			committed, err := adm.FetchOffsets(ctx, g)
			if err != nil {
				return o.describeErr("fetching offsets of group "+g, err)
			}
			topics := d.assigned()
			topics.Merge(committed.Partitions())
			var ends kadm.ListedOffsets
			if ts := topics.Topics(); len(ts) > 0 {
				if ends, err = adm.ListEndOffsets(ctx, ts...); err != nil {
					return o.describeErr("listing end offsets", err)
				}
			}
			warnState(stderr, d)
			rows := buildOffsetRows(d.group, d.members, committed, ends)
			if len(rows) == 0 {
				continue
			}
			writeOffsetRows(stdout, rows, o.verbose)
		}
	}
	return nil
}

func (o *groupsOpts) runDelete(ctx context.Context, adm *kadm.Client, stdout io.Writer) error {
	ids, err := o.groupIDs(ctx, adm)
	if err != nil {
		return err
	}
	resps, err := adm.DeleteGroups(ctx, ids...)
	if err != nil && len(resps) == 0 {
		return o.describeErr("deleting groups", err)
	}
	var ok, failed []string
	for _, r := range resps.Sorted() {
		if r.Err != nil {
			msg := kafkaErr(r.Err, r.ErrMessage)
			switch {
			case errors.Is(r.Err, kerr.GroupIDNotFound):
				msg = "group does not exist"
			case errors.Is(r.Err, kerr.NonEmptyGroup):
				msg = "the group is not empty"
			}
			failed = append(failed, fmt.Sprintf("'%s' (%s)", r.Group, msg))
			continue
		}
		ok = append(ok, "'"+r.Group+"'")
	}
	if len(ok) > 0 {
		fmt.Fprintf(stdout, "Deletion of requested consumer groups (%s) was successful.\n", strings.Join(ok, ", "))
	}
	if len(failed) > 0 {
		return fmt.Errorf("deletion of some consumer groups failed: %s", strings.Join(failed, "; "))
	}
	return nil
}

// parseTopicArgs parses --topic values "t" or "t:0,1,2" into partitions
// per topic; nil partitions mean every partition of the topic.
func parseTopicArgs(items []string) (map[string][]int32, error) {
	out := map[string][]int32{}
	for _, it := range items {
		t, ps, hasParts := strings.Cut(it, ":")
		t = strings.TrimSpace(t)
		if t == "" {
			return nil, fmt.Errorf("invalid --topic %q", it)
		}
		if !hasParts {
			if _, seen := out[t]; !seen {
				out[t] = nil
			}
			continue
		}
		parts, err := parseIntList(ps)
		if err != nil {
			return nil, fmt.Errorf("invalid --topic %q: %v", it, err)
		}
		if len(parts) == 0 {
			return nil, fmt.Errorf("invalid --topic %q: no partitions after ':'", it)
		}
		out[t] = append(out[t], parts...)
	}
	return out, nil
}

// resolveTopics expands topics without partitions to all their partitions.
func (o *groupsOpts) resolveTopics(ctx context.Context, adm *kadm.Client, want map[string][]int32) (kadm.TopicsSet, error) {
	set := make(kadm.TopicsSet)
	var names []string
	for t := range want {
		names = append(names, t)
	}
	if len(names) == 0 {
		return set, nil
	}
	md, err := adm.Metadata(ctx, names...)
	if err != nil {
		return nil, o.describeErr("describing topics", err)
	}
	for t, ps := range want {
		td, ok := md.Topics[t]
		if !ok || td.Err != nil {
			return nil, fmt.Errorf("topic '%s' does not exist", t)
		}
		if ps == nil {
			ps = td.Partitions.Numbers()
		}
		for _, p := range ps {
			if _, ok := td.Partitions[p]; !ok {
				return nil, fmt.Errorf("partition %s-%d does not exist", t, p)
			}
			set.Add(t, p)
		}
	}
	return set, nil
}

func (o *groupsOpts) runDeleteOffsets(ctx context.Context, adm *kadm.Client, stdout io.Writer) error {
	want, err := parseTopicArgs(o.topics)
	if err != nil {
		return err
	}
	set, err := o.resolveTopics(ctx, adm, want)
	if err != nil {
		return err
	}
	group := o.groups[0]
	resps, err := adm.DeleteOffsets(ctx, group, set)
	if err != nil {
		switch {
		case errors.Is(err, kerr.GroupIDNotFound):
			return fmt.Errorf("consumer group '%s' does not exist", group)
		case errors.Is(err, kerr.NonEmptyGroup):
			return fmt.Errorf("consumer group '%s' is not empty", group)
		}
		return o.describeErr("deleting offsets of group "+group, err)
	}
	failed := 0
	t := newTable([]int{30, 15}, "TOPIC", "PARTITION", "STATUS")
	for _, tp := range set.Sorted() {
		for _, p := range tp.Partitions {
			status := "Successful"
			if e, ok := resps.Lookup(tp.Topic, p); ok && e != nil {
				status = "Error: " + kafkaErr(e, "")
				failed++
			}
			t.add(tp.Topic, itoa32(p), status)
		}
	}
	if failed == 0 {
		fmt.Fprintf(stdout, "Request succeed for deleting offsets from group %s.\n", group)
	} else {
		fmt.Fprintf(stdout, "Encountered some partition level error(s) while deleting offsets from group %s.\n", group)
	}
	fmt.Fprintln(stdout)
	t.write(stdout)
	if failed > 0 {
		return fmt.Errorf("deleting offsets failed for %d partitions", failed)
	}
	return nil
}

// --- reset offsets --------------------------------------------------------

func (o *groupsOpts) resetScenario(fs *flagSet) (string, error) {
	var got []string
	for _, s := range []string{"to-earliest", "to-latest", "to-current", "to-offset", "shift-by", "to-datetime", "by-duration", "from-file"} {
		if fs.Has(s) {
			got = append(got, s)
		}
	}
	if len(got) != 1 {
		return "", errors.New("option --reset-offsets needs exactly one of --to-earliest, --to-latest, --to-current, --to-offset, --shift-by, --to-datetime, --by-duration, --from-file")
	}
	if got[0] != "from-file" && !o.allTopics && len(o.topics) == 0 {
		return "", errors.New("option --reset-offsets needs a scope: --all-topics or --topic")
	}
	if o.allTopics && len(o.topics) > 0 {
		return "", errors.New("options --all-topics and --topic cannot be used together")
	}
	if o.dryRun && o.execute {
		return "", errors.New("options --dry-run and --execute cannot be used together")
	}
	return got[0], nil
}

var isoDuration = regexp.MustCompile(`^([-+]?)P(?:([-+]?\d+)D)?(?:T(?:([-+]?\d+)H)?(?:([-+]?\d+)M)?(?:([-+]?\d+(?:[.,]\d{1,9})?)S)?)?$`)

// parseISODuration parses the ISO-8601 durations Java's Duration.parse
// accepts: PnDTnHnMn.nS.
func parseISODuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(strings.ToUpper(strings.TrimSpace(s)))
	if m == nil || (m[2] == "" && m[3] == "" && m[4] == "" && m[5] == "") || strings.HasSuffix(strings.ToUpper(s), "T") {
		return 0, fmt.Errorf("invalid --by-duration %q: want an ISO-8601 duration like PT1H or P1DT2H30M", s)
	}
	var d time.Duration
	units := []time.Duration{24 * time.Hour, time.Hour, time.Minute}
	for i, u := range units {
		if m[i+2] != "" {
			n, err := strconv.ParseInt(m[i+2], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("invalid --by-duration %q", s)
			}
			d += time.Duration(n) * u
		}
	}
	if m[5] != "" {
		f, err := strconv.ParseFloat(strings.Replace(m[5], ",", ".", 1), 64)
		if err != nil {
			return 0, fmt.Errorf("invalid --by-duration %q", s)
		}
		d += time.Duration(f * float64(time.Second))
	}
	if m[1] == "-" {
		d = -d
	}
	return d, nil
}

// parseDateTime parses --to-datetime: yyyy-MM-ddTHH:mm:ss.SSS with an
// optional zone (Z, +hh:mm, +hhmm); without one the local zone applies.
func parseDateTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.000", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid --to-datetime %q: want YYYY-MM-DDTHH:mm:SS.sss with an optional zone (Z, +01:00)", s)
}

// parseResetCSV parses --from-file: "topic,partition,offset" lines, or
// "group,topic,partition,offset" for several groups.
func parseResetCSV(r io.Reader) (map[string]kadm.Offsets, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("reading --from-file: %v", err)
	}
	out := map[string]kadm.Offsets{}
	for i, rec := range recs {
		group := ""
		switch len(rec) {
		case 3:
		case 4:
			group, rec = rec[0], rec[1:]
		default:
			return nil, fmt.Errorf("--from-file line %d: want topic,partition,offset", i+1)
		}
		p, err1 := strconv.ParseInt(rec[1], 10, 32)
		off, err2 := strconv.ParseInt(rec[2], 10, 64)
		if err1 != nil || err2 != nil || p < 0 || off < 0 {
			return nil, fmt.Errorf("--from-file line %d: bad partition or offset", i+1)
		}
		offs := out[group]
		if offs == nil {
			offs = make(kadm.Offsets)
			out[group] = offs
		}
		offs.Add(kadm.Offset{Topic: rec[0], Partition: int32(p), At: off, LeaderEpoch: -1})
	}
	return out, nil
}

func (o *groupsOpts) runReset(ctx context.Context, adm *kadm.Client, scenario string, stdout, stderr io.Writer) error {
	ids, err := o.groupIDs(ctx, adm)
	if err != nil {
		return err
	}
	var fromFile map[string]kadm.Offsets
	if scenario == "from-file" {
		f, err := os.Open(o.fromFile)
		if err != nil {
			return fmt.Errorf("reading --from-file: %w", err)
		}
		fromFile, err = parseResetCSV(f)
		f.Close()
		if err != nil {
			return err
		}
	}
	if !o.execute && !o.dryRun {
		fmt.Fprintln(stderr, "WARN: No action will be performed as the --execute option is missing. Add --dry-run to keep this behaviour without the warning.")
	}
	all := map[string]kadm.Offsets{}
	for _, g := range ids {
		// Kafka's rule, for classic and consumer groups alike: only a
		// group without active members (or one that does not exist yet)
		// can have its offsets reset.
		d, err := o.describeOne(ctx, adm, g)
		var nf groupNotFound
		if err != nil && !errors.As(err, &nf) {
			return err
		}
		if err == nil && d.state != "Empty" && d.state != "Dead" {
			return fmt.Errorf("assignments can only be reset if the group '%s' is inactive, but the current state is %s", g, d.state)
		}
		committed, err := adm.FetchOffsets(ctx, g)
		if err != nil {
			return o.describeErr("fetching offsets of group "+g, err)
		}
		var set kadm.TopicsSet
		switch {
		case scenario == "from-file":
			offs := fromFile[g]
			if offs == nil {
				offs = fromFile[""]
			}
			set = offs.TopicsSet()
		case o.allTopics:
			set = committed.Partitions()
		default:
			want, err := parseTopicArgs(o.topics)
			if err != nil {
				return err
			}
			if set, err = o.resolveTopics(ctx, adm, want); err != nil {
				return err
			}
		}
		offs, err := o.newOffsets(ctx, adm, scenario, g, set, committed, fromFile, stderr)
		if err != nil {
			return err
		}
		all[g] = offs
		if o.execute && len(offs) > 0 {
			resps, err := adm.CommitOffsets(ctx, g, offs)
			if err != nil {
				return o.describeErr("committing offsets of group "+g, err)
			}
			if err := resps.Error(); err != nil {
				return fmt.Errorf("committing offsets of group %s: %s", g, kafkaErr(err, ""))
			}
		}
	}
	if o.export {
		w := csv.NewWriter(stdout)
		for _, g := range ids {
			for _, off := range all[g].Sorted() {
				rec := []string{off.Topic, itoa32(off.Partition), strconv.FormatInt(off.At, 10)}
				if len(ids) > 1 {
					rec = append([]string{g}, rec...)
				}
				_ = w.Write(rec)
			}
		}
		w.Flush()
		return w.Error()
	}
	t := newTable([]int{30, 30, 10}, "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET")
	for _, g := range ids {
		for _, off := range all[g].Sorted() {
			t.add(g, off.Topic, itoa32(off.Partition), strconv.FormatInt(off.At, 10))
		}
	}
	fmt.Fprintln(stdout)
	if t.len() > 0 {
		t.write(stdout)
	}
	return nil
}

// newOffsets computes the target offsets of one group's partitions,
// clamped to each partition's [log start, log end] like Kafka.
func (o *groupsOpts) newOffsets(ctx context.Context, adm *kadm.Client, scenario, group string, set kadm.TopicsSet,
	committed kadm.OffsetResponses, fromFile map[string]kadm.Offsets, stderr io.Writer) (kadm.Offsets, error) {
	out := make(kadm.Offsets)
	topics := set.Topics()
	if len(topics) == 0 {
		return out, nil
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, o.describeErr("listing start offsets", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, o.describeErr("listing end offsets", err)
	}
	var byTime kadm.ListedOffsets
	if scenario == "to-datetime" || scenario == "by-duration" {
		var at time.Time
		if scenario == "to-datetime" {
			if at, err = parseDateTime(o.toDatetime, time.Local); err != nil {
				return nil, err
			}
		} else {
			d, err := parseISODuration(o.byDuration)
			if err != nil {
				return nil, err
			}
			at = time.Now().Add(-d)
		}
		if byTime, err = adm.ListOffsetsAfterMilli(ctx, at.UnixMilli(), topics...); err != nil {
			return nil, o.describeErr("listing offsets by time", err)
		}
	}
	var failed error
	set.Each(func(t string, p int32) {
		if failed != nil {
			return
		}
		lo, ok1 := starts.Lookup(t, p)
		hi, ok2 := ends.Lookup(t, p)
		if !ok1 || !ok2 || lo.Err != nil || hi.Err != nil {
			failed = fmt.Errorf("cannot list the offsets of %s-%d", t, p)
			return
		}
		cur := int64(-1)
		if c, ok := committed.Lookup(t, p); ok && c.Err == nil {
			cur = c.At
		}
		var target int64
		switch scenario {
		case "to-earliest":
			target = lo.Offset
		case "to-latest":
			target = hi.Offset
		case "to-current":
			target = cur
			if cur < 0 {
				target = hi.Offset
			}
		case "to-offset":
			target = o.toOffset
		case "shift-by":
			if cur < 0 {
				failed = fmt.Errorf("group %s has no committed offset for %s-%d to shift", group, t, p)
				return
			}
			target = cur + o.shiftBy
		case "to-datetime", "by-duration":
			bt, ok := byTime.Lookup(t, p)
			if !ok || bt.Err != nil || bt.Offset < 0 {
				target = hi.Offset
			} else {
				target = bt.Offset
			}
		case "from-file":
			offs := fromFile[group]
			if offs == nil {
				offs = fromFile[""]
			}
			f, _ := offs.Lookup(t, p)
			target = f.At
		}
		if target < lo.Offset {
			fmt.Fprintf(stderr, "New offset (%d) is lower than earliest offset for topic partition %s-%d. Value will be set to %d\n", target, t, p, lo.Offset)
			target = lo.Offset
		} else if target > hi.Offset {
			fmt.Fprintf(stderr, "New offset (%d) is higher than latest offset for topic partition %s-%d. Value will be set to %d\n", target, t, p, hi.Offset)
			target = hi.Offset
		}
		out.Add(kadm.Offset{Topic: t, Partition: p, At: target, LeaderEpoch: -1})
	})
	return out, failed
}
