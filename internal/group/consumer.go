package group

import (
	"bytes"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The consumer protocol of KIP-848 (ConsumerGroupHeartbeat,
// ConsumerGroupDescribe). The coordinator, not a client leader, assigns
// the partitions:
//
//   - The group epoch counts changes of the group's membership,
//     subscriptions and subscribed topics' metadata. Each bump recomputes
//     the target assignment with the group's server-side assignor; the
//     target assignment epoch is the group epoch it was computed for.
//   - Each member converges from its current assignment to its target one
//     through its heartbeats (incremental reconciliation). Partitions it
//     must give up are revoked first: the member keeps its epoch, is told
//     its assignment without them and stays UNREVOKED_PARTITIONS until a
//     heartbeat's owned partitions no longer list them. Only then does it
//     move to the target epoch and get new partitions, and among those
//     only the ones no other member still owns (or still has to revoke);
//     the others follow on later heartbeats (UNRELEASED_PARTITIONS).
//   - A member that does not revoke within its rebalance timeout, or does
//     not heartbeat within the session timeout, is fenced: removed, and
//     the group epoch bumped.
//
// Topic metadata reaches the shard through SetTopics; subscriptions by
// regular expression are resolved against it (Go's regexp, RE2 syntax,
// matching whole topic names as Kafka's RE2/J does).

// consumerProtocolType is the protocol type Kafka lists consumer groups
// with.
const consumerProtocolType = "consumer"

// TopicInfo is what the consumer protocol needs to know of a topic.
type TopicInfo struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// memberState is Kafka's MemberState.
type memberState int8

const (
	memberStable     memberState = 0
	memberUnrevoked  memberState = 1
	memberUnreleased memberState = 2
)

func (m memberState) String() string {
	switch m {
	case memberStable:
		return "STABLE"
	case memberUnrevoked:
		return "UNREVOKED_PARTITIONS"
	case memberUnreleased:
		return "UNRELEASED_PARTITIONS"
	default:
		return "UNKNOWN"
	}
}

// Member epochs with a meaning in ConsumerGroupHeartbeat.
const (
	epochJoin        = 0
	epochLeave       = -1
	epochStaticLeave = -2
)

// tps are partitions by topic id, each list sorted.
type tps map[[16]byte][]int32

func (a tps) sortedIDs() [][16]byte {
	ids := make([][16]byte, 0, len(a))
	for id := range a {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y [16]byte) int { return bytes.Compare(x[:], y[:]) })
	return ids
}

func (a tps) has(id [16]byte, p int32) bool {
	_, ok := slices.BinarySearch(a[id], p)
	return ok
}

func (a tps) add(id [16]byte, p int32) {
	ps := a[id]
	i, ok := slices.BinarySearch(ps, p)
	if !ok {
		a[id] = slices.Insert(ps, i, p)
	}
}

func (a tps) count() int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

func (a tps) equal(b tps) bool {
	if len(a) != len(b) {
		return false
	}
	for id, ps := range a {
		if !slices.Equal(ps, b[id]) {
			return false
		}
	}
	return true
}

func (a tps) intersects(b tps) bool {
	for id, ps := range a {
		for _, p := range ps {
			if b.has(id, p) {
				return true
			}
		}
	}
	return false
}

func (a tps) subsetOf(b tps) bool {
	for id, ps := range a {
		for _, p := range ps {
			if !b.has(id, p) {
				return false
			}
		}
	}
	return true
}

func (a tps) clone() tps {
	out := make(tps, len(a))
	for id, ps := range a {
		out[id] = slices.Clone(ps)
	}
	return out
}

type consumerMember struct {
	id                 string
	instanceID         *string
	rackID             *string
	clientID           string
	clientHost         string
	topics             []string // subscribed names, sorted
	regex              *string
	re                 *regexp.Regexp
	rebalanceTimeoutMs int32
	assignor           *string

	epoch     int32
	prevEpoch int32
	state     memberState
	assigned  tps // current assignment (owned once acknowledged)
	pending   tps // partitions pending revocation

	sessionDeadline   time.Time
	rebalanceDeadline time.Time // while UNREVOKED_PARTITIONS
}

// setRegex sets the subscription regex; an invalid one (replayed) matches
// nothing.
func (m *consumerMember) setRegex(re *string) {
	m.regex, m.re = re, nil
	if re != nil && *re != "" {
		m.re, _ = compileTopicRegex(*re)
	}
}

// compileTopicRegex compiles a SubscribedTopicRegex to match whole topic
// names.
func compileTopicRegex(re string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + re + ")$")
}

func (m *consumerMember) rebalanceTimeout() time.Duration {
	return time.Duration(max(m.rebalanceTimeoutMs, 0)) * time.Millisecond
}

// subscribes is whether the member subscribes to a topic name.
func (m *consumerMember) subscribes(name string) bool {
	if _, ok := slices.BinarySearch(m.topics, name); ok {
		return true
	}
	return m.re != nil && m.re.MatchString(name)
}

type consumerGroup struct {
	epoch           int32
	assignmentEpoch int32
	members         map[string]*consumerMember
	static          map[string]string // group.instance.id -> member id
	target          map[string]tps    // target assignment by member id
	// subscribed is the metadata of the subscribed topics the target
	// was computed from; nil after a load until the first SetTopics.
	subscribed map[string]TopicInfo
	assignor   string // of the last target computation
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{
		members: map[string]*consumerMember{},
		static:  map[string]string{},
		target:  map[string]tps{},
	}
}

func (cg *consumerGroup) removeMember(m *consumerMember) {
	delete(cg.members, m.id)
	if m.instanceID != nil && cg.static[*m.instanceID] == m.id {
		delete(cg.static, *m.instanceID)
	}
	delete(cg.target, m.id)
}

func (cg *consumerGroup) sortedMemberIDs() []string {
	ids := make([]string, 0, len(cg.members))
	for id := range cg.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// stateName is the group state Kafka reports for a consumer group.
func (cg *consumerGroup) stateName() string {
	switch {
	case len(cg.members) == 0:
		return "Empty"
	case cg.epoch > cg.assignmentEpoch:
		return "Assigning"
	}
	for _, m := range cg.members {
		if m.state != memberStable || m.epoch != cg.assignmentEpoch {
			return "Reconciling"
		}
	}
	return "Stable"
}

// preferredAssignor is the assignor most members ask for.
func (cg *consumerGroup) preferredAssignor() string {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.assignor != nil && knownAssignor(*m.assignor) {
			votes[*m.assignor]++
		}
	}
	best := AssignorUniform
	if votes[AssignorRange] > votes[AssignorUniform] {
		best = AssignorRange
	}
	return best
}

// owners maps every partition some member other than except owns
// (assigned or pending revocation) to that member.
func (cg *consumerGroup) owners(except string) map[[16]byte]map[int32]bool {
	out := map[[16]byte]map[int32]bool{}
	for id, m := range cg.members {
		if id == except {
			continue
		}
		for _, a := range []tps{m.assigned, m.pending} {
			for tid, ps := range a {
				if out[tid] == nil {
					out[tid] = map[int32]bool{}
				}
				for _, p := range ps {
					out[tid][p] = true
				}
			}
		}
	}
	return out
}

// setGroupState keeps the classic state field of a consumer group in
// step with its members: Empty without members, else Stable (offset
// retention and DeleteGroups read it).
func setGroupState(g *group, now time.Time) {
	switch {
	case len(g.cg.members) == 0 && g.state != Empty:
		g.transition(Empty, now)
	case len(g.cg.members) > 0 && g.state != Stable:
		g.transition(Stable, now)
	}
}

// SetTopics replaces the topic metadata the consumer groups are assigned
// from (the broker calls it when the metadata image changes). Groups whose
// subscribed topics changed (created, deleted, more partitions, a new
// topic matching a regex) bump their epoch and get a new target
// assignment.
func (s *Shard) SetTopics(now time.Time, topics []TopicInfo) Effects {
	var e Effects
	s.topics = make(map[string]TopicInfo, len(topics))
	s.topicNames = make(map[[16]byte]string, len(topics))
	for _, t := range topics {
		s.topics[t.Name] = t
		s.topicNames[t.ID] = t.Name
	}
	for _, id := range s.sortedGroupIDs() {
		g := s.groups[id]
		if g.cg == nil || len(g.cg.members) == 0 {
			continue
		}
		snap := s.subscribedSnapshot(g.cg)
		switch {
		case g.cg.subscribed == nil:
			// Just loaded: the persisted target stands if the
			// metadata did not change meanwhile.
			members := s.assignMembers(g.cg)
			next := assign(g.cg.preferredAssignor(), members, snap, g.cg.target)
			if g.cg.assignmentEpoch == g.cg.epoch && sameTargets(next, g.cg.target) {
				g.cg.subscribed = snap
				continue
			}
		case maps.Equal(snap, g.cg.subscribed):
			continue
		}
		s.bumpGroupEpoch(g, &e)
	}
	return e
}

func sameTargets(a, b map[string]tps) bool {
	if len(a) != len(b) {
		return false
	}
	for id, x := range a {
		y, ok := b[id]
		if !ok || !x.equal(y) {
			return false
		}
	}
	return true
}

// subscribedSnapshot is the metadata of the existing topics the members
// subscribe to.
func (s *Shard) subscribedSnapshot(cg *consumerGroup) map[string]TopicInfo {
	out := map[string]TopicInfo{}
	for _, m := range cg.members {
		for _, t := range m.topics {
			if ti, ok := s.topics[t]; ok {
				out[t] = ti
			}
		}
		if m.re != nil {
			for name, ti := range s.topics {
				if m.re.MatchString(name) {
					out[name] = ti
				}
			}
		}
	}
	return out
}

func (s *Shard) assignMembers(cg *consumerGroup) []assignMember {
	out := make([]assignMember, 0, len(cg.members))
	for _, id := range cg.sortedMemberIDs() {
		m := cg.members[id]
		am := assignMember{id: id, sortBy: id, topics: map[string]bool{}}
		if m.instanceID != nil {
			am.sortBy = *m.instanceID
		}
		for name := range s.topics {
			if m.subscribes(name) {
				am.topics[name] = true
			}
		}
		out = append(out, am)
	}
	return out
}

// bumpGroupEpoch advances the group epoch and computes the new target
// assignment.
func (s *Shard) bumpGroupEpoch(g *group, e *Effects) {
	cg := g.cg
	cg.epoch++
	e.Records = append(e.Records, cgEpochRecord(g.id, cg.epoch))
	snap := s.subscribedSnapshot(cg)
	cg.assignor = cg.preferredAssignor()
	next := assign(cg.assignor, s.assignMembers(cg), snap, cg.target)
	for _, id := range cg.sortedMemberIDs() {
		if old, ok := cg.target[id]; !ok || !old.equal(next[id]) {
			e.Records = append(e.Records, cgTargetRecord(g.id, id, next[id]))
		}
	}
	cg.target = next
	cg.assignmentEpoch = cg.epoch
	cg.subscribed = snap
	e.Records = append(e.Records, cgTargetEpochRecord(g.id, cg.assignmentEpoch))
}

// reconcile moves a member's current assignment towards its target.
// owned are the partitions the member says it owns; nil when the
// heartbeat did not say.
func (s *Shard) reconcile(cg *consumerGroup, m *consumerMember, owned tps) {
	switch m.state {
	case memberStable:
		if m.epoch == cg.assignmentEpoch {
			return
		}
	case memberUnrevoked:
		if owned == nil || owned.intersects(m.pending) {
			return
		}
	}
	s.nextAssignment(cg, m, owned)
}

func (s *Shard) nextAssignment(cg *consumerGroup, m *consumerMember, owned tps) {
	target := cg.target[m.id]
	others := cg.owners(m.id)
	keep, revoke := tps{}, tps{}
	for tid, ps := range m.assigned {
		if _, exists := s.topicNames[tid]; !exists && s.topicNames != nil {
			continue // the topic is gone: nothing to revoke
		}
		for _, p := range ps {
			if target.has(tid, p) {
				keep.add(tid, p)
			} else {
				revoke.add(tid, p)
			}
		}
	}
	if len(revoke) > 0 && (owned == nil || owned.intersects(revoke)) {
		m.state = memberUnrevoked
		m.assigned, m.pending = keep, revoke
		return
	}
	unreleased := false
	for tid, ps := range target {
		for _, p := range ps {
			if keep.has(tid, p) {
				continue
			}
			if others[tid][p] {
				unreleased = true
				continue
			}
			keep.add(tid, p)
		}
	}
	m.assigned, m.pending = keep, tps{}
	if m.epoch != cg.assignmentEpoch {
		m.prevEpoch, m.epoch = m.epoch, cg.assignmentEpoch
	}
	m.state = memberStable
	if unreleased {
		m.state = memberUnreleased
	}
}

func toTPS(ts []kmsg.ConsumerGroupHeartbeatRequestTopic) tps {
	if ts == nil {
		return nil
	}
	out := tps{}
	for _, t := range ts {
		for _, p := range t.Partitions {
			out.add(t.TopicID, p)
		}
	}
	return out
}

// validateHeartbeat applies Kafka's checks of a ConsumerGroupHeartbeat's
// fields.
func validateHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (*kerr.Error, string) {
	bad := func(msg string) (*kerr.Error, string) { return kerr.InvalidRequest, msg }
	switch {
	case req.Group == "":
		return bad("GroupId can't be empty.")
	case req.InstanceID != nil && *req.InstanceID == "":
		return bad("InstanceId can't be empty.")
	case req.RackID != nil && *req.RackID == "":
		return bad("RackId can't be empty.")
	case req.MemberEpoch < epochStaticLeave:
		return bad("MemberEpoch is invalid.")
	case req.Version >= 1 && req.MemberID == "":
		return bad("MemberId can't be empty.")
	case req.MemberEpoch != epochJoin && req.MemberID == "":
		return bad("MemberId can't be empty.")
	}
	if req.MemberEpoch == epochJoin {
		switch {
		case req.RebalanceTimeoutMillis == -1:
			return bad("RebalanceTimeoutMs must be provided in first request.")
		case len(req.Topics) > 0:
			return bad("TopicPartitions must be empty when (re-)joining.")
		case req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
			return bad("SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
		}
	}
	if req.ServerAssignor != nil && !knownAssignor(*req.ServerAssignor) {
		return kerr.UnsupportedAssignor, "ServerAssignor " + *req.ServerAssignor + " is not supported. Supported assignors: uniform, range."
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		if _, err := compileTopicRegex(*req.SubscribedTopicRegex); err != nil {
			return kerr.InvalidRegularExpression, "SubscribedTopicRegex is invalid: " + err.Error()
		}
	}
	return nil, ""
}

// ConsumerGroupHeartbeat serves a ConsumerGroupHeartbeat request: join
// (epoch 0), heartbeat, leave (-1) or static leave (-2). The answer runs
// once the records of the change are appended.
func (s *Shard) ConsumerGroupHeartbeat(now time.Time, c Client, req *kmsg.ConsumerGroupHeartbeatRequest, reply func(*kmsg.ConsumerGroupHeartbeatResponse)) Effects {
	var e Effects
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	fail := func(err *kerr.Error, msg string) Effects {
		resp.ErrorCode = err.Code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		e.reply(func(error) { reply(resp) })
		return e
	}
	if err, msg := validateHeartbeat(req); err != nil {
		return fail(err, msg)
	}
	g := s.groups[req.Group]
	if g != nil && g.cg == nil && (len(g.members) > 0 || len(g.pending) > 0) {
		return fail(kerr.GroupIDNotFound, "Group "+req.Group+" is not a consumer group.")
	}
	if req.MemberEpoch < 0 {
		if g == nil || g.cg == nil {
			return fail(kerr.UnknownMemberID, "")
		}
		return s.consumerLeave(now, g, req, resp, reply)
	}
	if g == nil || g.cg == nil {
		if req.MemberEpoch != epochJoin {
			return fail(kerr.UnknownMemberID, "")
		}
		if g == nil {
			g = newGroup(req.Group, now)
			s.groups[req.Group] = g
		} else if g.generation > 0 || g.protocolType != "" {
			// An empty classic group becomes a consumer group;
			// its offsets stay.
			e.Records = append(e.Records, groupTombstone(g.id))
		}
		g.resetMembers()
		g.generation, g.protocol, g.leader = 0, "", ""
		g.cg = newConsumerGroup()
		g.protocolType = consumerProtocolType
		g.transition(Empty, now)
	}
	cg := g.cg
	owned := toTPS(req.Topics)
	memberID := req.MemberID
	if memberID == "" { // v0 join: the coordinator names the member
		memberID = s.cfg.NewMemberID(c.ID)
	}

	var m, replaced *consumerMember
	if req.InstanceID != nil {
		oldID, known := cg.static[*req.InstanceID]
		if known && cg.members[oldID] == nil {
			delete(cg.static, *req.InstanceID) // defensive: a stale index entry
			known = false
		}
		if req.MemberEpoch == epochJoin {
			if known {
				old := cg.members[oldID]
				switch {
				case old.id == memberID:
					m = old // the same member rejoins
				case old.epoch != epochStaticLeave:
					return fail(kerr.UnreleasedInstanceID, "Static member "+*req.InstanceID+" with member id "+oldID+" has not left the group yet.")
				default:
					replaced = old
				}
			} else {
				m = cg.members[memberID]
			}
		} else {
			switch {
			case !known:
				return fail(kerr.UnknownMemberID, "Instance id "+*req.InstanceID+" is unknown.")
			case oldID != memberID:
				return fail(kerr.FencedInstanceID, "Instance id "+*req.InstanceID+" belongs to another member.")
			}
			m = cg.members[oldID]
		}
	} else {
		m = cg.members[memberID]
		if m == nil && req.MemberEpoch != epochJoin {
			return fail(kerr.UnknownMemberID, "")
		}
	}
	if m != nil && req.MemberEpoch != epochJoin {
		if err := checkMemberEpoch(m, req.MemberEpoch, owned); err != nil {
			return fail(err, "")
		}
	}
	isNew := m == nil
	if isNew && replaced == nil && s.cfg.ConsumerMaxSize > 0 && len(cg.members) >= s.cfg.ConsumerMaxSize {
		return fail(kerr.GroupMaxSizeReached, "")
	}

	bump := false
	var before consumerMember
	if isNew {
		m = &consumerMember{id: memberID, prevEpoch: -1, rebalanceTimeoutMs: -1, assigned: tps{}, pending: tps{}}
		if replaced != nil {
			// KIP-345 for the consumer protocol: the new member
			// takes over the assignment the static member kept
			// when it left with epoch -2.
			*m = *replaced
			m.id = memberID
			m.epoch, m.prevEpoch, m.state = 0, -1, memberStable
			m.assigned, m.pending = replaced.assigned.clone(), tps{}
			target := s.targetOf(cg, replaced.id)
			cg.removeMember(replaced)
			e.Records = append(e.Records, cgMemberTombstones(g.id, replaced.id)...)
			cg.target[memberID] = target
		} else {
			bump = true
		}
		cg.members[memberID] = m
		if req.InstanceID != nil {
			cg.static[*req.InstanceID] = memberID
		}
	} else {
		before = *m
	}
	if replaced != nil {
		before = consumerMember{}
		before.topics, before.regex, before.assignor, before.rackID = replaced.topics, replaced.regex, replaced.assignor, replaced.rackID
	}

	// Fields the request carries replace the member's.
	metaChanged := isNew
	if req.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *req.InstanceID) {
		m.instanceID, metaChanged = req.InstanceID, true
	}
	if req.RackID != nil && (m.rackID == nil || *m.rackID != *req.RackID) {
		m.rackID, metaChanged = req.RackID, true
		bump = bump || !isNew || replaced != nil
	}
	if req.RebalanceTimeoutMillis != -1 && m.rebalanceTimeoutMs != req.RebalanceTimeoutMillis {
		m.rebalanceTimeoutMs, metaChanged = req.RebalanceTimeoutMillis, true
	}
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.topics) || (isNew && replaced == nil) {
			if !slices.Equal(names, m.topics) {
				bump = true
			}
			m.topics, metaChanged = names, true
		}
	}
	if req.SubscribedTopicRegex != nil {
		var re *string
		if *req.SubscribedTopicRegex != "" {
			re = req.SubscribedTopicRegex
		}
		if !equalPtr(re, m.regex) {
			m.setRegex(re)
			metaChanged, bump = true, true
		}
	}
	if req.ServerAssignor != nil && !equalPtr(req.ServerAssignor, m.assignor) {
		m.assignor, metaChanged, bump = req.ServerAssignor, true, true
	}
	if m.clientID != c.ID || m.clientHost != c.Host {
		m.clientID, m.clientHost, metaChanged = c.ID, c.Host, true
	}
	if metaChanged {
		e.Records = append(e.Records, cgMemberRecord(g.id, m))
	}
	if bump {
		s.bumpGroupEpoch(g, &e)
	} else if replaced != nil {
		e.Records = append(e.Records, cgTargetRecord(g.id, m.id, cg.target[m.id]))
	}
	setGroupState(g, now)
	m.sessionDeadline = now.Add(s.cfg.ConsumerSessionTimeout)

	if req.MemberEpoch == epochJoin && !isNew {
		// A rejoin of a known member (it lost a response, or was
		// fenced and keeps its id): it owns nothing now.
		owned = tps{}
	}
	s.reconcile(cg, m, owned)
	if m.state == memberUnrevoked {
		if m.rebalanceDeadline.IsZero() {
			m.rebalanceDeadline = now.Add(m.rebalanceTimeout())
		}
	} else {
		m.rebalanceDeadline = time.Time{}
	}
	if isNew || m.epoch != before.epoch || m.prevEpoch != before.prevEpoch || m.state != before.state ||
		!m.assigned.equal(before.assigned) || !m.pending.equal(before.pending) {
		e.Records = append(e.Records, cgCurrentRecord(g.id, m))
	}

	id := m.id
	resp.MemberID = &id
	resp.MemberEpoch = m.epoch
	resp.HeartbeatIntervalMillis = int32(s.cfg.ConsumerHeartbeatInterval.Milliseconds())
	full := req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil
	if req.MemberEpoch == epochJoin || full || !m.assigned.equal(before.assigned) {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		for _, tid := range m.assigned.sortedIDs() {
			t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			t.TopicID, t.Partitions = tid, slices.Clone(m.assigned[tid])
			a.Topics = append(a.Topics, t)
		}
		resp.Assignment = &a
	}
	e.reply(func(err error) {
		if err != nil {
			*resp = *req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
			resp.ErrorCode = appendCode(err)
		}
		reply(resp)
	})
	return e
}

// targetOf is a member's target assignment (empty if none).
func (s *Shard) targetOf(cg *consumerGroup, id string) tps {
	if t, ok := cg.target[id]; ok {
		return t
	}
	return tps{}
}

func equalPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// checkMemberEpoch fences a heartbeat whose epoch is not the member's: a
// greater one always, a smaller one unless it is the previous epoch and
// the member owns only partitions it still has (the response that bumped
// its epoch was lost).
func checkMemberEpoch(m *consumerMember, epoch int32, owned tps) *kerr.Error {
	switch {
	case epoch > m.epoch:
		return kerr.FencedMemberEpoch
	case epoch < m.epoch:
		if epoch != m.prevEpoch || owned == nil || !owned.subsetOf(m.assigned) {
			return kerr.FencedMemberEpoch
		}
	}
	return nil
}

// consumerLeave serves a heartbeat with epoch -1 (leave) or -2 (a static
// member that will come back: it keeps its assignment until its session
// expires or a new member with its instance id replaces it). Kafka wants
// the instance id with -2; franz-go does not send it (null means
// unchanged), so a -2 of a static member is a static leave either way.
func (s *Shard) consumerLeave(now time.Time, g *group, req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse, reply func(*kmsg.ConsumerGroupHeartbeatResponse)) Effects {
	var e Effects
	cg := g.cg
	var m *consumerMember
	if req.InstanceID != nil {
		id, ok := cg.static[*req.InstanceID]
		switch {
		case !ok:
			resp.ErrorCode = kerr.UnknownMemberID.Code
		case id != req.MemberID:
			resp.ErrorCode = kerr.FencedInstanceID.Code
		default:
			m = cg.members[id]
		}
	} else if m = cg.members[req.MemberID]; m == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
	}
	// A -2 leave may omit the instance id (franz-go does, the field
	// meaning "unchanged"); it is a static leave if the member is static,
	// else a plain leave.
	static := req.MemberEpoch == epochStaticLeave && m != nil && m.instanceID != nil
	if m == nil {
		e.reply(func(error) { reply(resp) })
		return e
	}
	id := m.id
	resp.MemberID = &id
	resp.MemberEpoch = req.MemberEpoch
	if static {
		m.epoch, m.state = epochStaticLeave, memberStable
		m.pending = tps{}
		m.rebalanceDeadline = time.Time{}
		e.Records = append(e.Records, cgCurrentRecord(g.id, m))
	} else {
		s.fenceConsumerMember(now, g, m, &e)
	}
	e.reply(func(err error) {
		if err != nil {
			resp.ErrorCode = appendCode(err)
		}
		reply(resp)
	})
	return e
}

// fenceConsumerMember removes a member (it left, or its session or
// rebalance timeout expired) and bumps the group epoch.
func (s *Shard) fenceConsumerMember(now time.Time, g *group, m *consumerMember, e *Effects) {
	g.cg.removeMember(m)
	e.Records = append(e.Records, cgMemberTombstones(g.id, m.id)...)
	s.bumpGroupEpoch(g, e)
	setGroupState(g, now)
}

// tickConsumer fences the members whose session or rebalance timeout
// expired.
func (s *Shard) tickConsumer(now time.Time, g *group, e *Effects) {
	for _, id := range g.cg.sortedMemberIDs() {
		m := g.cg.members[id]
		if !now.Before(m.sessionDeadline) ||
			(!m.rebalanceDeadline.IsZero() && !now.Before(m.rebalanceDeadline)) {
			s.fenceConsumerMember(now, g, m, e)
		}
	}
}

func (cg *consumerGroup) deadlines() []time.Time {
	var out []time.Time
	for _, m := range cg.members {
		out = append(out, m.sessionDeadline)
		if !m.rebalanceDeadline.IsZero() {
			out = append(out, m.rebalanceDeadline)
		}
	}
	return out
}

// subscribedTopicSet is every existing topic a member subscribes to.
func (s *Shard) subscribedTopicSet(cg *consumerGroup) map[string]bool {
	out := map[string]bool{}
	for _, m := range cg.members {
		for _, t := range m.topics {
			out[t] = true
		}
		if m.re != nil {
			for name := range s.topics {
				if m.re.MatchString(name) {
					out[name] = true
				}
			}
		}
	}
	return out
}

// validateConsumerCommit applies Kafka's checks of an OffsetCommit to a
// consumer group: a commit without a member (epoch -1) only while the group
// is empty; a member must exist (UNKNOWN_MEMBER_ID), commit with v9+
// (UNSUPPORTED_VERSION) and its current epoch (STALE_MEMBER_EPOCH).
func validateConsumerCommit(cg *consumerGroup, memberID string, epoch int32, version int16) *kerr.Error {
	if epoch < 0 && len(cg.members) == 0 {
		return nil
	}
	m := cg.members[memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case version < 9:
		return kerr.UnsupportedVersion
	case epoch != m.epoch:
		return kerr.StaleMemberEpoch
	}
	return nil
}

// ValidateOffsetFetch checks the member id and epoch an OffsetFetch v9+
// carries against a consumer group: UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH.
// Classic groups, unknown groups and fetches without a member pass.
func (s *Shard) ValidateOffsetFetch(groupID string, memberID *string, epoch int32) int16 {
	g := s.groups[groupID]
	if g == nil || g.cg == nil || (memberID == nil && epoch < 0) {
		return 0
	}
	if memberID == nil {
		return kerr.UnknownMemberID.Code
	}
	m := g.cg.members[*memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case m.epoch != epoch:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// DescribeConsumerGroup answers one group of ConsumerGroupDescribe.
func (s *Shard) DescribeConsumerGroup(id string, version int16) kmsg.ConsumerGroupDescribeResponseGroup {
	out := kmsg.NewConsumerGroupDescribeResponseGroup()
	out.Group = id
	g := s.groups[id]
	if g == nil || g.cg == nil {
		out.ErrorCode = kerr.GroupIDNotFound.Code
		msg := "Group " + id + " not found."
		if g != nil {
			msg = "Group " + id + " is not a consumer group."
		}
		out.ErrorMessage = &msg
		return out
	}
	cg := g.cg
	out.State = cg.stateName()
	out.Epoch = cg.epoch
	out.AssignmentEpoch = cg.assignmentEpoch
	out.AssignorName = cg.assignor
	if out.AssignorName == "" {
		out.AssignorName = cg.preferredAssignor()
	}
	toAssignment := func(a tps) kmsg.Assignment {
		var out kmsg.Assignment
		for _, tid := range a.sortedIDs() {
			t := kmsg.AssignmentTopicPartition{TopicID: tid, Topic: s.topicNames[tid], Partitions: slices.Clone(a[tid])}
			out.TopicPartitions = append(out.TopicPartitions, t)
		}
		return out
	}
	for _, mid := range cg.sortedMemberIDs() {
		m := cg.members[mid]
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID = m.id
		dm.InstanceID = m.instanceID
		dm.RackID = m.rackID
		dm.MemberEpoch = m.epoch
		dm.ClientID = m.clientID
		dm.ClientHost = m.clientHost
		dm.SubscribedTopics = slices.Clone(m.topics)
		if dm.SubscribedTopics == nil {
			dm.SubscribedTopics = []string{}
		}
		dm.SubscribedTopicRegex = m.regex
		dm.Assignment = toAssignment(m.assigned)
		dm.TargetAssignment = toAssignment(s.targetOf(cg, m.id))
		if version >= 1 {
			dm.MemberType = 1 // a consumer-protocol member
		}
		out.Members = append(out.Members, dm)
	}
	return out
}

// convertToClassic turns an empty consumer group back into an empty
// classic one (a JoinGroup for it): its records are deleted, its offsets
// stay.
func convertToClassic(g *group, now time.Time, e *Effects) {
	e.Records = append(e.Records, cgGroupTombstones(g.id)...)
	g.cg = nil
	g.protocolType = ""
	g.generation = 0
	g.transition(Empty, now)
}
