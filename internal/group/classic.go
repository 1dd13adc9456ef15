package group

import (
	"bytes"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is the state of a classic group.
type State int8

const (
	// Empty: no members; offsets may remain.
	Empty State = iota
	// PreparingRebalance: waiting for the members to (re)join.
	PreparingRebalance
	// CompletingRebalance: joined; waiting for the leader's assignment.
	CompletingRebalance
	// Stable: every member has its assignment.
	Stable
	// Dead: deleted; the group is gone from the shard.
	Dead
)

func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case PreparingRebalance:
		return "PreparingRebalance"
	case CompletingRebalance:
		return "CompletingRebalance"
	case Stable:
		return "Stable"
	default:
		return "Dead"
	}
}

// Client identifies the connection a request came from.
type Client struct {
	ID   string // client.id
	Host string // as Kafka shows it: "/" + IP
}

type protocol struct {
	name     string
	metadata []byte
}

type member struct {
	id                 string
	instanceID         *string
	clientID           string
	clientHost         string
	sessionTimeoutMs   int32
	rebalanceTimeoutMs int32
	protocolType       string
	protocols          []protocol
	assignment         []byte

	// joinReply is set while the member waits for its JoinGroup answer
	// (the rebalance to complete); syncReply while it waits for its
	// assignment.
	joinReply func(*kmsg.JoinGroupResponse)
	joinResp  *kmsg.JoinGroupResponse
	syncReply func(*kmsg.SyncGroupResponse)
	syncResp  *kmsg.SyncGroupResponse

	heartbeatDeadline time.Time
}

func (m *member) sessionTimeout() time.Duration {
	return time.Duration(m.sessionTimeoutMs) * time.Millisecond
}

func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

func (m *member) isStatic() bool { return m.instanceID != nil }

func sameProtocols(a []protocol, b []kmsg.JoinGroupRequestProtocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].name != b[i].Name || !bytes.Equal(a[i].metadata, b[i].Metadata) {
			return false
		}
	}
	return true
}

func toProtocols(ps []kmsg.JoinGroupRequestProtocol) []protocol {
	out := make([]protocol, len(ps))
	for i, p := range ps {
		out[i] = protocol{name: p.Name, metadata: p.Metadata}
	}
	return out
}

type topicPartition struct {
	topic     string
	partition int32
}

type offset struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitTime  time.Time
	expireTime  time.Time // zero: the retention rules decide
	// seq is the place of the offset's record among the shard's offset
	// records (Shard.seq), standing in for Kafka's record offset: a
	// transaction's COMMIT keeps a committed offset written after the
	// transaction's own (see ReplayEndTxnMarker).
	seq uint64
}

type group struct {
	id           string
	state        State
	stateTime    time.Time // when the state last changed
	protocolType string
	protocol     string // selected in the current generation
	generation   int32
	leader       string

	members []*member // in join order; the leader is elected from it
	byID    map[string]*member
	static  map[string]string // group.instance.id -> member id

	// pending are member ids handed out with MEMBER_ID_REQUIRED (KIP-394)
	// whose second JoinGroup has not arrived, with their deadline.
	pending map[string]time.Time

	// Rebalance timers. joinDeadline ends PreparingRebalance; during the
	// initial delay it may move until maxJoinDeadline while new members
	// keep arriving.
	joinDeadline    time.Time
	initialDelay    bool
	newMemberAdded  bool
	maxJoinDeadline time.Time
	// pendingSync are the members that must send SyncGroup for this
	// generation before syncDeadline.
	pendingSync  map[string]bool
	syncDeadline time.Time

	offsets map[topicPartition]offset
	// txn are the pending transactional offset commits (TxnOffsetCommit)
	// by producer id: not visible as committed offsets until that
	// producer's COMMIT marker, dropped by its ABORT.
	txn map[int64]map[topicPartition]offset

	// cg is set for a consumer-protocol (KIP-848) group, whose members
	// live there; the classic member fields above are then empty.
	cg *consumerGroup
}

func newGroup(id string, now time.Time) *group {
	g := &group{id: id, stateTime: now, offsets: map[topicPartition]offset{}, txn: map[int64]map[topicPartition]offset{}}
	g.resetMembers()
	return g
}

func (g *group) resetMembers() {
	g.members = nil
	g.byID = map[string]*member{}
	g.static = map[string]string{}
	g.pending = map[string]time.Time{}
	g.pendingSync = map[string]bool{}
}

func (g *group) transition(s State, now time.Time) {
	g.state = s
	g.stateTime = now
}

func (g *group) addMember(m *member) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	g.members = append(g.members, m)
	g.byID[m.id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
}

func (g *group) dropMember(m *member) {
	delete(g.byID, m.id)
	for i, x := range g.members {
		if x == m {
			g.members = append(g.members[:i:i], g.members[i+1:]...)
			break
		}
	}
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	delete(g.pendingSync, m.id)
	if g.leader == m.id {
		g.leader = ""
		if len(g.members) > 0 {
			g.leader = g.members[0].id
		}
	}
}

// rebalanceTimeout is the longest rebalance timeout of the members.
func (g *group) rebalanceTimeout() time.Duration {
	var ms int32
	for _, m := range g.members {
		ms = max(ms, m.rebalanceTimeoutMs)
	}
	return time.Duration(ms) * time.Millisecond
}

func (g *group) allJoined() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.members {
		if m.joinReply == nil {
			return false
		}
	}
	return true
}

// supportsProtocols is whether a member with these protocols can join: the
// group is empty, or the type matches and one protocol is supported by
// every member.
func (g *group) supportsProtocols(ptype string, ps []kmsg.JoinGroupRequestProtocol) bool {
	if ptype == "" || len(ps) == 0 {
		return false
	}
	if len(g.members) == 0 {
		return true
	}
	if ptype != g.protocolType {
		return false
	}
	for _, p := range ps {
		all := true
		for _, m := range g.members {
			if !m.hasProtocol(p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (m *member) hasProtocol(name string) bool {
	for _, p := range m.protocols {
		if p.name == name {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol of the generation: among the protocols
// every member supports, each member votes for the first of its own list;
// the most votes win, ties going to the leader's preference order.
func (g *group) selectProtocol() string {
	var candidates []string
	for _, p := range g.members[0].protocols {
		all := true
		for _, m := range g.members[1:] {
			if !m.hasProtocol(p.name) {
				all = false
				break
			}
		}
		if all {
			candidates = append(candidates, p.name)
		}
	}
	if len(candidates) == 0 {
		return ""
	}
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if contains(candidates, p.name) {
				votes[p.name]++
				break
			}
		}
	}
	order := candidates
	if l := g.byID[g.leader]; l != nil {
		order = nil
		for _, p := range l.protocols {
			if contains(candidates, p.name) {
				order = append(order, p.name)
			}
		}
	}
	best := order[0]
	for _, c := range order[1:] {
		if votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// validateMember finds the member a request names: UNKNOWN_MEMBER_ID when
// it is not in the group, FENCED_INSTANCE_ID when the instance id belongs
// to another member id.
func (g *group) validateMember(memberID string, instanceID *string) (*member, *kerr.Error) {
	if instanceID != nil {
		id, ok := g.static[*instanceID]
		if !ok {
			return nil, kerr.UnknownMemberID
		}
		if id != memberID {
			return nil, kerr.FencedInstanceID
		}
	}
	m := g.byID[memberID]
	if m == nil {
		return nil, kerr.UnknownMemberID
	}
	return m, nil
}

// joinError answers a JoinGroup with an error.
func joinError(req *kmsg.JoinGroupRequest, memberID string, code int16) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.ErrorCode = code
	resp.Generation = -1
	resp.MemberID = memberID
	if req.Version >= 7 {
		resp.ProtocolType = nil
	}
	return resp
}

// JoinGroup serves a JoinGroup request. The reply may come at once or when
// the rebalance completes (through the Effects of a later call).
func (s *Shard) JoinGroup(now time.Time, c Client, req *kmsg.JoinGroupRequest, reply func(*kmsg.JoinGroupResponse)) Effects {
	var e Effects
	failID := func(memberID string, err *kerr.Error) Effects {
		resp := joinError(req, memberID, err.Code)
		e.reply(func(error) { reply(resp) })
		return e
	}
	fail := func(err *kerr.Error) Effects { return failID(req.MemberID, err) }
	if req.Group == "" {
		return fail(kerr.InvalidGroupID)
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if session < s.cfg.MinSessionTimeout || session > s.cfg.MaxSessionTimeout {
		return fail(kerr.InvalidSessionTimeout)
	}
	g := s.groups[req.Group]
	if g == nil {
		if req.MemberID != "" {
			return fail(kerr.UnknownMemberID)
		}
		g = newGroup(req.Group, now)
		s.groups[req.Group] = g
	}
	if g.cg != nil {
		// A consumer-protocol group: refused while it has members,
		// else it becomes a classic group (its offsets stay).
		if len(g.cg.members) > 0 {
			return fail(kerr.InconsistentGroupProtocol)
		}
		convertToClassic(g, now, &e)
	}
	_, known := g.byID[req.MemberID]
	_, pending := g.pending[req.MemberID]
	if !known && !pending && s.cfg.MaxSize > 0 && len(g.members)+len(g.pending) >= s.cfg.MaxSize {
		if req.InstanceID == nil || g.static[*req.InstanceID] == "" {
			return fail(kerr.GroupMaxSizeReached)
		}
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		if len(g.members) == 0 && !g.hasOffsets() && g.generation == 0 {
			delete(s.groups, g.id) // don't keep a group this join created
		}
		return fail(kerr.InconsistentGroupProtocol)
	}
	rebalanceMs := req.RebalanceTimeoutMillis
	if req.Version == 0 || rebalanceMs <= 0 {
		rebalanceMs = req.SessionTimeoutMillis
	}
	newMember := func(id string) *member {
		return &member{
			id:                 id,
			instanceID:         req.InstanceID,
			clientID:           c.ID,
			clientHost:         c.Host,
			sessionTimeoutMs:   req.SessionTimeoutMillis,
			rebalanceTimeoutMs: rebalanceMs,
			protocolType:       req.ProtocolType,
			protocols:          toProtocols(req.Protocols),
			joinReply:          reply,
			joinResp:           req.ResponseKind().(*kmsg.JoinGroupResponse),
			heartbeatDeadline:  now.Add(session),
		}
	}

	if req.MemberID == "" {
		if req.InstanceID != nil {
			if oldID, ok := g.static[*req.InstanceID]; ok {
				s.rejoinStatic(now, g, g.byID[oldID], newMember(s.cfg.NewMemberID(*req.InstanceID)), req, &e)
				return e
			}
			s.addMemberAndRebalance(now, g, newMember(s.cfg.NewMemberID(*req.InstanceID)), &e)
			return e
		}
		id := s.cfg.NewMemberID(c.ID)
		if req.Version >= 4 {
			// KIP-394: hand out the id and wait for the member to
			// come back with it, so that a client that never got
			// the answer leaves no member behind.
			g.pending[id] = now.Add(session)
			return failID(id, kerr.MemberIDRequired)
		}
		s.addMemberAndRebalance(now, g, newMember(id), &e)
		return e
	}

	if pending {
		delete(g.pending, req.MemberID)
		s.addMemberAndRebalance(now, g, newMember(req.MemberID), &e)
		return e
	}
	m, kerrv := g.validateMember(req.MemberID, req.InstanceID)
	if kerrv != nil {
		return fail(kerrv)
	}
	m.heartbeatDeadline = now.Add(session)
	switch g.state {
	case PreparingRebalance:
		s.updateMember(g, m, c, req, rebalanceMs, reply, &e)
		s.maybeCompleteJoin(now, g, &e)
	case CompletingRebalance:
		if sameProtocols(m.protocols, req.Protocols) {
			// The member did not get its answer; send it again.
			resp := s.joinResponse(g, m, req.ResponseKind().(*kmsg.JoinGroupResponse), false)
			e.reply(func(error) { reply(resp) })
			return e
		}
		s.updateMember(g, m, c, req, rebalanceMs, reply, &e)
		s.prepareRebalance(now, g, &e)
		s.maybeCompleteJoin(now, g, &e)
	case Stable:
		if m.id == g.leader || !sameProtocols(m.protocols, req.Protocols) {
			s.updateMember(g, m, c, req, rebalanceMs, reply, &e)
			s.prepareRebalance(now, g, &e)
			s.maybeCompleteJoin(now, g, &e)
			return e
		}
		// A follower with nothing new gets the current generation and
		// syncs to fetch its assignment.
		resp := s.joinResponse(g, m, req.ResponseKind().(*kmsg.JoinGroupResponse), false)
		e.reply(func(error) { reply(resp) })
	default:
		return fail(kerr.UnknownMemberID)
	}
	return e
}

func (s *Shard) updateMember(g *group, m *member, c Client, req *kmsg.JoinGroupRequest, rebalanceMs int32, reply func(*kmsg.JoinGroupResponse), e *Effects) {
	if m.joinReply != nil {
		// A duplicate join (the client retried): the older request
		// will never be read, answer it anyway so it is not leaked.
		old, oldResp := m.joinReply, m.joinResp
		oldResp.ErrorCode = kerr.UnknownMemberID.Code
		oldResp.Generation, oldResp.MemberID = -1, m.id
		e.reply(func(error) { old(oldResp) })
	}
	m.clientID, m.clientHost = c.ID, c.Host
	m.sessionTimeoutMs = req.SessionTimeoutMillis
	m.rebalanceTimeoutMs = rebalanceMs
	m.protocols = toProtocols(req.Protocols)
	m.joinReply = reply
	m.joinResp = req.ResponseKind().(*kmsg.JoinGroupResponse)
}

func (s *Shard) addMemberAndRebalance(now time.Time, g *group, m *member, e *Effects) {
	g.addMember(m)
	if g.state == PreparingRebalance && g.initialDelay {
		g.newMemberAdded = true
	}
	s.prepareRebalance(now, g, e)
	s.maybeCompleteJoin(now, g, e)
}

// rejoinStatic serves a JoinGroup with an empty member id and a known
// group.instance.id (KIP-345): the new member id replaces the old one,
// which is fenced. In a Stable group whose selected protocol would not
// change, that needs no rebalance: the member gets the current generation
// and syncs to fetch its old assignment.
func (s *Shard) rejoinStatic(now time.Time, g *group, old, m *member, req *kmsg.JoinGroupRequest, e *Effects) {
	fence := func(old *member) {
		if old.joinReply != nil {
			resp := old.joinResp
			resp.ErrorCode, resp.Generation, resp.MemberID = kerr.FencedInstanceID.Code, -1, old.id
			r := old.joinReply
			e.reply(func(error) { r(resp) })
			old.joinReply, old.joinResp = nil, nil
		}
		if old.syncReply != nil {
			resp := old.syncResp
			resp.ErrorCode = kerr.FencedInstanceID.Code
			r := old.syncReply
			e.reply(func(error) { r(resp) })
			old.syncReply, old.syncResp = nil, nil
		}
	}
	fence(old)
	// Replace in place: same position in the join order, same
	// assignment, the leadership if it had it.
	m.assignment = old.assignment
	for i, x := range g.members {
		if x == old {
			g.members[i] = m
		}
	}
	delete(g.byID, old.id)
	g.byID[m.id] = m
	g.static[*m.instanceID] = m.id
	if g.leader == old.id {
		g.leader = m.id
	}
	if g.pendingSync[old.id] {
		delete(g.pendingSync, old.id)
		g.pendingSync[m.id] = true
	}
	// As Kafka: no rebalance as long as the protocol the group would
	// select stays the one in use. The metadata bytes may differ (a
	// restarted client no longer lists the partitions it owned); the
	// leader sees the new metadata (KIP-814) and can rebalance itself.
	unchanged := g.state == Stable && g.selectProtocol() == g.protocol
	switch {
	case unchanged:
		reply, resp := m.joinReply, m.joinResp
		m.joinReply, m.joinResp = nil, nil
		s.joinResponse(g, m, resp, req.Version >= 9)
		e.Records = append(e.Records, groupRecord(g))
		e.reply(func(err error) {
			if err != nil {
				resp = joinError(req, m.id, appendCode(err))
			}
			reply(resp)
		})
	case g.state == PreparingRebalance:
		s.maybeCompleteJoin(now, g, e)
	default:
		s.prepareRebalance(now, g, e)
		s.maybeCompleteJoin(now, g, e)
	}
}

// joinResponse fills resp with the current generation for m; the leader
// gets the members and their metadata (and, with skip, is told not to
// assign again: KIP-814).
func (s *Shard) joinResponse(g *group, m *member, resp *kmsg.JoinGroupResponse, skip bool) *kmsg.JoinGroupResponse {
	resp.Generation = g.generation
	pt, p := g.protocolType, g.protocol
	resp.ProtocolType = &pt
	resp.Protocol = &p
	resp.LeaderID = g.leader
	resp.MemberID = m.id
	resp.SkipAssignment = skip && m.id == g.leader
	if m.id == g.leader {
		for _, x := range g.members {
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID = x.id
			rm.InstanceID = x.instanceID
			rm.ProtocolMetadata = x.metadataFor(g.protocol)
			resp.Members = append(resp.Members, rm)
		}
	}
	return resp
}

// prepareRebalance moves the group to PreparingRebalance (if it is not
// already there), failing the syncs of a generation that will not
// complete.
func (s *Shard) prepareRebalance(now time.Time, g *group, e *Effects) {
	if g.state == PreparingRebalance {
		return
	}
	if g.state == CompletingRebalance {
		for _, m := range g.members {
			m.assignment = nil
			if m.syncReply != nil {
				r, resp := m.syncReply, m.syncResp
				resp.ErrorCode = kerr.RebalanceInProgress.Code
				e.reply(func(error) { r(resp) })
				m.syncReply, m.syncResp = nil, nil
			}
		}
	}
	clear(g.pendingSync)
	g.syncDeadline = time.Time{}
	timeout := g.rebalanceTimeout()
	if g.state == Empty && s.cfg.InitialRebalanceDelay > 0 {
		g.initialDelay = true
		g.newMemberAdded = false
		g.joinDeadline = now.Add(min(s.cfg.InitialRebalanceDelay, timeout))
		g.maxJoinDeadline = now.Add(timeout)
	} else {
		g.initialDelay = false
		g.joinDeadline = now.Add(timeout)
	}
	g.transition(PreparingRebalance, now)
}

func (s *Shard) maybeCompleteJoin(now time.Time, g *group, e *Effects) {
	if g.state == PreparingRebalance && !g.initialDelay && g.allJoined() {
		s.completeJoin(now, g, e)
	}
}

// completeJoin ends PreparingRebalance: dynamic members that did not rejoin
// are dropped, the generation advances, and every joined member gets its
// answer (the leader with the member list).
func (s *Shard) completeJoin(now time.Time, g *group, e *Effects) {
	for _, m := range append([]*member(nil), g.members...) {
		if m.joinReply == nil && !m.isStatic() {
			g.dropMember(m)
		}
	}
	g.initialDelay = false
	g.joinDeadline = time.Time{}
	if l := g.byID[g.leader]; l == nil || l.joinReply == nil {
		for _, m := range g.members {
			if m.joinReply != nil {
				g.leader = m.id
				break
			}
		}
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.transition(Empty, now)
		e.Records = append(e.Records, groupRecord(g))
		return
	}
	g.protocol = g.selectProtocol()
	g.transition(CompletingRebalance, now)
	g.syncDeadline = now.Add(g.rebalanceTimeout())
	for _, m := range g.members {
		g.pendingSync[m.id] = true
		m.assignment = nil
		if m.joinReply == nil {
			continue
		}
		r, resp := m.joinReply, m.joinResp
		m.joinReply, m.joinResp = nil, nil
		s.joinResponse(g, m, resp, false)
		m.heartbeatDeadline = now.Add(m.sessionTimeout())
		e.reply(func(error) { r(resp) })
	}
}

// removeMember drops a member that left or expired and rebalances.
func (s *Shard) removeMember(now time.Time, g *group, m *member, e *Effects) {
	if m.joinReply != nil {
		r, resp := m.joinReply, m.joinResp
		resp.ErrorCode, resp.Generation, resp.MemberID = kerr.UnknownMemberID.Code, -1, m.id
		e.reply(func(error) { r(resp) })
		m.joinReply, m.joinResp = nil, nil
	}
	if m.syncReply != nil {
		r, resp := m.syncReply, m.syncResp
		resp.ErrorCode = kerr.UnknownMemberID.Code
		e.reply(func(error) { r(resp) })
		m.syncReply, m.syncResp = nil, nil
	}
	g.dropMember(m)
	switch g.state {
	case Stable, CompletingRebalance:
		s.prepareRebalance(now, g, e)
		s.maybeCompleteJoin(now, g, e)
	case PreparingRebalance:
		s.maybeCompleteJoin(now, g, e)
	}
}

// SyncGroup serves a SyncGroup request: the leader's assignment is stored
// (a group record) and handed to every member; followers wait for it.
func (s *Shard) SyncGroup(now time.Time, req *kmsg.SyncGroupRequest, reply func(*kmsg.SyncGroupResponse)) Effects {
	var e Effects
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	fail := func(err *kerr.Error) Effects {
		resp.ErrorCode = err.Code
		e.reply(func(error) { reply(resp) })
		return e
	}
	g := s.groups[req.Group]
	if g == nil {
		return fail(kerr.UnknownMemberID)
	}
	m, kerrv := g.validateMember(req.MemberID, req.InstanceID)
	if kerrv != nil {
		return fail(kerrv)
	}
	if req.Generation != g.generation {
		return fail(kerr.IllegalGeneration)
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) ||
		(req.Protocol != nil && *req.Protocol != g.protocol) {
		return fail(kerr.InconsistentGroupProtocol)
	}
	m.heartbeatDeadline = now.Add(m.sessionTimeout())
	switch g.state {
	case PreparingRebalance:
		return fail(kerr.RebalanceInProgress)
	case Stable:
		delete(g.pendingSync, m.id)
		s.fillSync(g, resp, m.assignment)
		e.reply(func(error) { reply(resp) })
		return e
	case CompletingRebalance:
	default:
		return fail(kerr.UnknownMemberID)
	}
	delete(g.pendingSync, m.id)
	if m.syncReply != nil {
		r, old := m.syncReply, m.syncResp
		old.ErrorCode = kerr.UnknownMemberID.Code
		e.reply(func(error) { r(old) })
	}
	m.syncReply, m.syncResp = reply, resp
	if m.id != g.leader {
		return e
	}
	assigned := map[string][]byte{}
	for _, a := range req.GroupAssignment {
		assigned[a.MemberID] = a.MemberAssignment
	}
	for _, x := range g.members {
		x.assignment = assigned[x.id]
		if x.assignment == nil {
			x.assignment = []byte{}
		}
	}
	e.Records = append(e.Records, groupRecord(g))
	gen := g.generation
	e.reply(func(err error) {
		if g.generation != gen || g.state != CompletingRebalance {
			return
		}
		var more Effects
		if err != nil {
			code := appendCode(err)
			for _, x := range g.members {
				x.assignment = nil
				if x.syncReply != nil {
					r, resp := x.syncReply, x.syncResp
					resp.ErrorCode = code
					x.syncReply, x.syncResp = nil, nil
					more.reply(func(error) { r(resp) })
				}
			}
			s.prepareRebalance(now, g, &more)
		} else {
			g.transition(Stable, now)
			for _, x := range g.members {
				if x.syncReply != nil {
					r, resp := x.syncReply, x.syncResp
					s.fillSync(g, resp, x.assignment)
					x.syncReply, x.syncResp = nil, nil
					more.reply(func(error) { r(resp) })
				}
			}
		}
		more.Complete(nil)
	})
	return e
}

func (s *Shard) fillSync(g *group, resp *kmsg.SyncGroupResponse, assignment []byte) {
	pt, p := g.protocolType, g.protocol
	resp.ProtocolType, resp.Protocol = &pt, &p
	resp.MemberAssignment = assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
}

// Heartbeat serves a Heartbeat request.
func (s *Shard) Heartbeat(now time.Time, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	g := s.groups[req.Group]
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	m, kerrv := g.validateMember(req.MemberID, req.InstanceID)
	switch {
	case kerrv != nil:
		resp.ErrorCode = kerrv.Code
	case req.Generation != g.generation:
		resp.ErrorCode = kerr.IllegalGeneration.Code
	default:
		m.heartbeatDeadline = now.Add(m.sessionTimeout())
		if g.state == PreparingRebalance {
			resp.ErrorCode = kerr.RebalanceInProgress.Code
		}
	}
	return resp
}

// LeaveGroup serves a LeaveGroup request: v0-v2 name one member, v3+ a
// batch by member id or group.instance.id (KIP-345).
func (s *Shard) LeaveGroup(now time.Time, req *kmsg.LeaveGroupRequest, reply func(*kmsg.LeaveGroupResponse)) Effects {
	var e Effects
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	g := s.groups[req.Group]
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		e.reply(func(error) { reply(resp) })
		return e
	}
	for _, l := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = l.MemberID, l.InstanceID
		var m *member
		switch {
		case l.InstanceID != nil:
			id, ok := g.static[*l.InstanceID]
			switch {
			case !ok:
				rm.ErrorCode = kerr.UnknownMemberID.Code
			case l.MemberID != "" && l.MemberID != id:
				rm.ErrorCode = kerr.FencedInstanceID.Code
			default:
				m = g.byID[id]
			}
		default:
			if _, ok := g.pending[l.MemberID]; ok {
				delete(g.pending, l.MemberID)
				s.maybeCompleteJoin(now, g, &e)
				break
			}
			if m = g.byID[l.MemberID]; m == nil {
				rm.ErrorCode = kerr.UnknownMemberID.Code
			}
		}
		if m != nil {
			s.removeMember(now, g, m, &e)
		}
		resp.Members = append(resp.Members, rm)
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	e.reply(func(error) { reply(resp) })
	return e
}

// tickGroup fires the group's due timers.
func (s *Shard) tickGroup(now time.Time, g *group, e *Effects) {
	if g.cg != nil {
		s.tickConsumer(now, g, e)
		return
	}
	for id, d := range g.pending {
		if !now.Before(d) {
			delete(g.pending, id)
			s.maybeCompleteJoin(now, g, e)
		}
	}
	for _, m := range append([]*member(nil), g.members...) {
		if m.joinReply == nil && m.syncReply == nil && !now.Before(m.heartbeatDeadline) && g.byID[m.id] == m {
			s.removeMember(now, g, m, e)
		}
	}
	if g.state == PreparingRebalance && !g.joinDeadline.IsZero() && !now.Before(g.joinDeadline) {
		if g.initialDelay && g.newMemberAdded && now.Before(g.maxJoinDeadline) {
			g.newMemberAdded = false
			g.joinDeadline = minTime(now.Add(s.cfg.InitialRebalanceDelay), g.maxJoinDeadline)
		} else {
			s.completeJoin(now, g, e)
		}
	}
	if (g.state == CompletingRebalance || g.state == Stable) && len(g.pendingSync) > 0 &&
		!g.syncDeadline.IsZero() && !now.Before(g.syncDeadline) {
		// Members that joined but never synced within the rebalance
		// timeout are gone; the others rebalance without them.
		for _, m := range append([]*member(nil), g.members...) {
			if g.pendingSync[m.id] {
				g.dropMember(m)
			}
		}
		s.prepareRebalance(now, g, e)
		s.maybeCompleteJoin(now, g, e)
	}
}

func (g *group) deadlines() []time.Time {
	if g.cg != nil {
		return g.cg.deadlines()
	}
	var out []time.Time
	for _, d := range g.pending {
		out = append(out, d)
	}
	for _, m := range g.members {
		if m.joinReply == nil && m.syncReply == nil {
			out = append(out, m.heartbeatDeadline)
		}
	}
	if g.state == PreparingRebalance {
		out = append(out, g.joinDeadline)
	}
	if (g.state == CompletingRebalance || g.state == Stable) && len(g.pendingSync) > 0 {
		out = append(out, g.syncDeadline)
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
