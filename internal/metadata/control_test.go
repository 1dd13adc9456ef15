package metadata

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/scripttest"
)

// TestControlScripts runs the scenarios of testdata/control_*.txt against
// the pure replication and cluster controls (electLeader,
// removeBrokerFromPartitions, electOfflinePartitions, alterPartition,
// registerBroker, heartbeat, fenceBroker) and the broker sessions. The
// harness stands in for Node: it applies the records a control returns
// to the image with applyBatch, one raft index per batch, and does the
// little the Node methods do around the pure functions (touching and
// removing sessions, reading a registration's epoch back). Time is given
// as t=<duration since the scenario's start> and stays until a command
// moves it.
//
// Commands:
//
//	brokers ids= [fenced=]             register brokers, one batch each
//	topic name=                        create a topic; one input line per
//	                                   partition, its replicas (ISR: all,
//	                                   leader: the first)
//	unclean topic= on|off              unclean.leader.election.enable
//	elect replicas= isr= usable= [unclean]
//	                                   electLeader alone
//	fence id=                          fenceBroker
//	heartbeat id= [epoch=] [offset=] [want-fence] [want-shutdown] [t=]
//	                                   by default the registration's epoch
//	                                   and a caught-up metadata offset
//	register id= incarnation= [cluster=] [t=]
//	alter-partition broker= topic= partition= leader-epoch= partition-epoch= isr= [broker-epoch=]
//	reassign topic= partition= [replicas=]
//	                                   alterReassignment (no replicas: cancel)
//	elect-offline                      the election after a config change
//	sessions timeout= [t=]             a new controller term's sessions
//	expire [t=]                        fence the brokers whose session expired
//	state                              every broker and partition
//	bootstrap-features                 a new cluster's feature records
//	features                           the finalized levels and their epoch
//	update-features [validate-only]    updateFeatures; one input line per
//	                                   update: name=level [upgrade|safe|unsafe]
//
// register takes the broker's supported feature levels as input lines,
// name=min-max (none: not reported).
//
// A command that changes the image prints the brokers and partitions it
// changed (a partition as topic-partition, replicas, leader and leader
// epoch, ISR and partition epoch), "no change" when it changed none, and
// errors as "error: ...".
func TestControlScripts(t *testing.T) {
	scripttest.RunFiles(t, "testdata/control_*.txt", func(t *testing.T, path string) {
		h := &controlHarness{img: emptyImage(), base: time.Unix(1_000_000, 0), timeout: 9 * time.Second}
		h.now = h.base
		h.ctl = &controls{cfg: &Config{UncleanLeaderElection: func(_ *Image, t *Topic) bool {
			return t.Configs[uncleanConfig] == "true"
		}}}
		scripttest.Run(t, path, h.run)
	})
}

const uncleanConfig = "unclean.leader.election.enable"

type controlHarness struct {
	img      *Image
	ctl      *controls
	sessions brokerSessions
	term     uint64
	timeout  time.Duration
	base     time.Time
	now      time.Time
	topics   int
}

func (h *controlHarness) run(c *scripttest.Case) string {
	if d := c.DurationOr("t", -1); d >= 0 {
		h.now = h.base.Add(d)
	}
	var out strings.Builder
	switch c.Cmd {
	case "brokers":
		fenced := c.Int32sOr("fenced", nil)
		for i, id := range c.Int32s("ids") {
			var recs []Record
			if h.img.ClusterID == "" && i == 0 {
				recs = append(recs, &ClusterIDRecord{ClusterID: "c1"})
			}
			recs = append(recs, &RegisterBrokerRecord{BrokerID: id, IncarnationID: incarnation(fmt.Sprint(id)), Fenced: slices.Contains(fenced, id)})
			h.apply(&out, recs)
		}
	case "topic":
		h.topics++
		name := c.String("name")
		id := [16]byte{'T', byte(h.topics)}
		recs := []Record{&TopicRecord{Name: name, ID: id}}
		for i, line := range c.Input {
			replicas := parseIDs(c, line)
			recs = append(recs, &PartitionRecord{TopicID: id, Partition: int32(i), Replicas: replicas, ISR: replicas, Leader: replicas[0]})
		}
		h.apply(&out, recs)
	case "unclean":
		topic, v := c.String("topic"), "false"
		if c.Has("on") {
			v = "true"
		} else if !c.Has("off") {
			c.Fatalf("on or off")
		}
		next, _, err := applyBatch(h.img, h.img.Offset+1, []Record{&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: topic, Name: uncleanConfig, Value: &v}})
		if err != nil {
			c.Fatalf("%v", err)
		}
		h.img = next
		return fmt.Sprintf("%s: %s=%s", topic, uncleanConfig, v)
	case "elect":
		usable := c.Int32s("usable")
		leader, isr := electLeader(c.Int32s("replicas"), c.Int32s("isr"), func(id int32) bool { return slices.Contains(usable, id) }, c.Has("unclean"))
		return fmt.Sprintf("leader=%d isr=%v", leader, isr)
	case "fence":
		h.apply(&out, h.ctl.fenceBroker(h.img, int32(c.Int("id"))))
	case "heartbeat":
		h.heartbeat(c, &out)
	case "register":
		h.register(c, &out)
	case "alter-partition":
		h.alterPartition(c, &out)
	case "reassign":
		rq := Reassignment{Topic: c.String("topic"), Partition: int32(c.Int("partition"))}
		if c.Has("replicas") {
			rq.Replicas = c.Int32s("replicas")
		}
		recs, err := alterReassignment(h.img, rq, h.ctl.uncleanFor(h.img))
		switch {
		case err != nil:
			fmt.Fprintf(&out, "error: %v\n", err)
		case len(recs) == 0:
			fmt.Fprintf(&out, "no change\n")
		default:
			h.apply(&out, recs)
		}
	case "elect-offline":
		h.apply(&out, electOfflinePartitions(h.img, h.img.BrokerUsable, -1, h.ctl.uncleanFor(h.img)))
	case "sessions":
		h.term++
		h.timeout = c.Duration("timeout")
		h.sessions.reset(h.term, h.img, h.now)
		return ""
	case "expire":
		// Node.fenceExpired: one broker a batch, each seeing the last.
		for {
			ids := h.sessions.expired(h.img, h.now, h.timeout)
			if len(ids) == 0 {
				break
			}
			fmt.Fprintf(&out, "session of broker %d expired\n", ids[0])
			h.apply(&out, h.ctl.fenceBroker(h.img, ids[0]))
			h.sessions.remove(ids[0])
		}
		if out.Len() == 0 {
			return "no session expired"
		}
	case "bootstrap-features":
		h.apply(&out, BootstrapFeatureRecords())
	case "features":
		out.WriteString(featuresLine(h.img) + "\n")
	case "update-features":
		var ups []FeatureUpdate
		for _, line := range c.Input {
			f := strings.Fields(line)
			var u FeatureUpdate
			name, level, ok := strings.Cut(f[0], "=")
			if _, err := fmt.Sscan(level, &u.Level); !ok || err != nil {
				c.Fatalf("update %q: name=level", line)
			}
			u.Name, u.Type = name, FeatureUpgrade
			if len(f) > 1 {
				u.Type = map[string]int8{"upgrade": FeatureUpgrade, "safe": FeatureSafeDowngrade, "unsafe": FeatureUnsafeDowngrade, "bad": 7}[f[1]]
			}
			ups = append(ups, u)
		}
		recs, err := updateFeatures(h.img, ups)
		switch {
		case err != nil:
			fmt.Fprintf(&out, "error: %v\n", err)
		case c.Has("validate-only") || len(recs) == 0:
			out.WriteString("no change\n")
		default:
			h.apply(&out, recs)
		}
	case "state":
		for _, id := range h.img.BrokerIDs() {
			fmt.Fprintln(&out, brokerLine(h.img.Brokers[id]))
		}
		for _, t := range sortedTopics(h.img) {
			for _, p := range t.Partitions {
				fmt.Fprintln(&out, partitionLine(t, p))
			}
		}
	default:
		c.Fatalf("unknown command")
	}
	return out.String()
}

// heartbeat is Node.BrokerHeartbeat around controls.heartbeat.
func (h *controlHarness) heartbeat(c *scripttest.Case, out *strings.Builder) {
	id := int32(c.Int("id"))
	req := HeartbeatRequest{ID: id, Epoch: -1, MetadataOffset: uint64(c.IntOr("offset", int64(h.img.Offset))),
		WantFence: c.Has("want-fence"), WantShutDown: c.Has("want-shutdown")}
	if b := h.img.Brokers[id]; b != nil {
		req.Epoch = b.Epoch
	}
	req.Epoch = c.IntOr("epoch", req.Epoch)
	if b := h.img.Brokers[id]; b != nil && b.Epoch == req.Epoch {
		h.sessions.touch(id, req.Epoch, h.now, req.MetadataOffset)
	}
	recs, resp, err := h.ctl.heartbeat(h.img, req)
	if err != nil {
		fmt.Fprintf(out, "error: %v\n", err)
		return
	}
	var changes strings.Builder
	h.apply(&changes, recs)
	if b := h.img.Brokers[id]; b != nil {
		resp.IsFenced = b.Fenced
	}
	if resp.ShouldShutDown {
		h.sessions.remove(id)
	}
	fmt.Fprintf(out, "caught-up=%t fenced=%t shut-down=%t\n", resp.IsCaughtUp, resp.IsFenced, resp.ShouldShutDown)
	out.WriteString(changes.String())
}

// register is Node.RegisterBroker around controls.registerBroker.
func (h *controlHarness) register(c *scripttest.Case, out *strings.Builder) {
	req := BrokerRegistration{ID: int32(c.Int("id")), IncarnationID: incarnation(c.String("incarnation")), ClusterID: c.StringOr("cluster", "")}
	for _, line := range c.Input {
		var r FeatureRange
		name, rng, _ := strings.Cut(strings.TrimSpace(line), "=")
		if _, err := fmt.Sscanf(rng, "%d-%d", &r.Min, &r.Max); err != nil {
			c.Fatalf("feature range %q: name=min-max", line)
		}
		if req.Features == nil {
			req.Features = map[string]FeatureRange{}
		}
		req.Features[name] = r
	}
	live := h.sessions.alive(req.ID, h.now, h.timeout)
	recs, err := h.ctl.registerBroker(h.img, req, live)
	if err != nil {
		fmt.Fprintf(out, "error: %v\n", err)
		return
	}
	h.apply(out, recs)
	b := h.img.Brokers[req.ID]
	h.sessions.touch(req.ID, b.Epoch, h.now, 0)
}

func (h *controlHarness) alterPartition(c *scripttest.Case, out *strings.Builder) {
	topic := c.String("topic")
	t := h.img.Topics[topic]
	if t == nil {
		c.Fatalf("no topic %s", topic)
	}
	rq := AlterPartitionRequest{
		BrokerID:       int32(c.Int("broker")),
		BrokerEpoch:    -1,
		TopicID:        t.ID,
		Partition:      int32(c.Int("partition")),
		LeaderEpoch:    int32(c.Int("leader-epoch")),
		PartitionEpoch: int32(c.Int("partition-epoch")),
		ISR:            c.Int32s("isr"),
	}
	if b := h.img.Brokers[rq.BrokerID]; b != nil {
		rq.BrokerEpoch = b.Epoch
	}
	rq.BrokerEpoch = c.IntOr("broker-epoch", rq.BrokerEpoch)
	recs, err := alterPartition(h.img, rq, h.ctl.uncleanFor(h.img))
	switch {
	case err != nil:
		fmt.Fprintf(out, "error: %v\n", err)
	case len(recs) == 0:
		fmt.Fprintf(out, "unchanged: %s\n", partitionLine(t, t.Partitions[rq.Partition]))
	default:
		h.apply(out, recs)
	}
}

// apply appends recs as one batch at the next raft index and prints what
// it changed.
func (h *controlHarness) apply(out *strings.Builder, recs []Record) {
	if len(recs) == 0 {
		out.WriteString("no change\n")
		return
	}
	next, _, err := applyBatch(h.img, h.img.Offset+1, recs)
	if err != nil {
		// The controls validate what they propose: a refused batch is a
		// bug of theirs, shown in the script.
		fmt.Fprintf(out, "apply error: %v\n", err)
		return
	}
	prev := h.img
	h.img = next
	changed := false
	for _, id := range next.BrokerIDs() {
		if b := next.Brokers[id]; !reflect.DeepEqual(prev.Brokers[id], b) {
			fmt.Fprintln(out, brokerLine(b))
			changed = true
		}
	}
	for _, t := range sortedTopics(next) {
		old := prev.TopicsByID[t.ID]
		for _, p := range t.Partitions {
			if old == nil || int(p.Partition) >= len(old.Partitions) || !reflect.DeepEqual(old.Partitions[p.Partition], p) {
				fmt.Fprintln(out, partitionLine(t, p))
				changed = true
			}
		}
	}
	if !reflect.DeepEqual(prev.Features, next.Features) {
		fmt.Fprintln(out, featuresLine(next))
		changed = true
	}
	if !changed {
		out.WriteString("no change\n")
	}
}

// featuresLine shows the finalized feature levels, by name, and their
// epoch.
func featuresLine(im *Image) string {
	levels, epoch := im.FinalizedFeatures()
	var b strings.Builder
	b.WriteString("features:")
	for _, name := range sortedKeys(levels) {
		fmt.Fprintf(&b, " %s=%s", name, FeatureLevelString(name, levels[name]))
	}
	fmt.Fprintf(&b, " epoch=%d", epoch)
	return b.String()
}

func brokerLine(b *Broker) string {
	state := "unfenced"
	if b.Fenced {
		state = "fenced"
	}
	if b.InControlledShutdown {
		state += " shutting-down"
	}
	return fmt.Sprintf("broker %d: %s epoch=%d incarnation=%s", b.ID, state, b.Epoch, strings.TrimRight(string(b.IncarnationID[:]), "\x00"))
}

func partitionLine(t *Topic, p *Partition) string {
	line := fmt.Sprintf("%s-%d: replicas=%v leader=%d leader-epoch=%d isr=%v partition-epoch=%d",
		t.Name, p.Partition, p.Replicas, p.Leader, p.LeaderEpoch, p.ISR, p.PartitionEpoch)
	if p.AddingReplicas != nil || p.RemovingReplicas != nil {
		line += fmt.Sprintf(" adding=%v removing=%v", p.AddingReplicas, p.RemovingReplicas)
	}
	return line
}

// incarnation makes a readable incarnation id of a short name.
func incarnation(name string) [16]byte {
	var id [16]byte
	copy(id[:], name)
	return id
}

// parseIDs reads a replica list input line: [1,2,3].
func parseIDs(c *scripttest.Case, line string) []int32 {
	var ids []int32
	for _, f := range strings.Split(strings.Trim(strings.TrimSpace(line), "[]"), ",") {
		var id int32
		if _, err := fmt.Sscan(f, &id); err != nil {
			c.Fatalf("replica list %q: %v", line, err)
		}
		ids = append(ids, id)
	}
	return ids
}
