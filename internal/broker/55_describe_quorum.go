package broker

import (
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// DescribeQuorum v0-v2 (KIP-595; v1 adds the last fetch and caught-up
// timestamps, KIP-836; v2 the replicas' directory ids, the error messages
// and the voters' endpoints, KIP-853).
//
// The state of the metadata quorum, __cluster_metadata partition 0, as
// the active controller knows it (metadata.Node.QuorumInfo): leader id =
// the active controller, leader epoch = the raft term, high watermark =
// raft's commit index, offsets raft indexes. The leader's log end offset
// is its last raft index; a follower's and an observer's is the metadata
// offset its broker last reported in a heartbeat (lifted over entries
// that change no metadata), -1 for a node that sends none (a
// controller-only voter, a stopped broker). LastFetchTimestamp is that
// heartbeat's arrival; the leader reports now for both timestamps, as
// Kafka does. Samsa's voters are static (controller.quorum.voters) and
// have no directory ids: they are zero, as Kafka answers for a static
// quorum. Nodes lists the voters' CONTROLLER endpoints.
//
// On the CONTROLLER listener a node that is not the active controller
// answers NOT_LEADER_OR_FOLLOWER for the partition, as a Kafka controller
// does (clients retry). On a client listener a broker that is not the
// active controller forwards the request to it and answers with its
// answer, as Kafka brokers do.
func init() {
	register(kmsg.DescribeQuorum, 0, 2, func(s *Server, r *request) kmsg.Response {
		if s.meta.IsController() {
			return handleDescribeQuorum(s, r)
		}
		return s.forwardDescribeQuorum(r)
	})
	registerController(kmsg.DescribeQuorum, 0, 2, handleDescribeQuorum)
}

func handleDescribeQuorum(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.DescribeQuorumRequest)
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	if !asksForMetadataPartition(req) {
		return describeQuorumError(req, kerr.UnknownTopicOrPartition.Code, nil)
	}
	if !s.meta.IsController() {
		return describeQuorumError(req, kerr.NotLeaderForPartition.Code, nil)
	}
	q, err := s.meta.QuorumInfo()
	if err != nil {
		return describeQuorumError(req, errCode(err), err)
	}
	now := time.Now()
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	p.Partition = 0
	p.LeaderID = q.LeaderID
	p.LeaderEpoch = int32(q.Term)
	p.HighWatermark = int64(q.CommitIndex)
	for _, v := range q.Voters {
		p.CurrentVoters = append(p.CurrentVoters, quorumReplicaState(v, q.LeaderID, now))
	}
	for _, o := range q.Observers {
		p.Observers = append(p.Observers, quorumReplicaState(o, q.LeaderID, now))
	}
	t := kmsg.NewDescribeQuorumResponseTopic()
	t.Topic = metadataTopicName
	t.Partitions = append(t.Partitions, p)
	resp.Topics = append(resp.Topics, t)

	listener := "CONTROLLER"
	if names := s.cfg.ControllerListenerNames(); len(names) > 0 {
		listener = names[0]
	}
	for _, v := range q.Voters {
		host, port, err := net.SplitHostPort(v.Addr)
		if err != nil {
			continue
		}
		pn, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			continue
		}
		n := kmsg.NewDescribeQuorumResponseNode()
		n.NodeID = v.ID
		l := kmsg.NewDescribeQuorumResponseNodeListener()
		l.Name, l.Host, l.Port = listener, host, uint16(pn)
		n.Listeners = append(n.Listeners, l)
		resp.Nodes = append(resp.Nodes, n)
	}
	return resp
}

// metadataTopicName is the metadata log's topic in Kafka's APIs.
const metadataTopicName = "__cluster_metadata"

// asksForMetadataPartition reports whether the request names exactly the
// metadata log's partition, the only one a Kafka controller describes.
func asksForMetadataPartition(req *kmsg.DescribeQuorumRequest) bool {
	return len(req.Topics) == 1 && req.Topics[0].Topic == metadataTopicName &&
		len(req.Topics[0].Partitions) == 1 && req.Topics[0].Partitions[0].Partition == 0
}

// quorumReplicaState is one replica of the answer; unknown values are -1.
func quorumReplicaState(r metadata.QuorumReplica, leader int32, now time.Time) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
	rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
	rs.ReplicaID = r.ID
	rs.LogEndOffset = r.LogEndOffset
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return -1
		}
		return t.UnixMilli()
	}
	rs.LastFetchTimestamp, rs.LastCaughtUpTimestamp = ms(r.LastFetch), ms(r.LastCaughtUp)
	if r.ID == leader {
		rs.LastFetchTimestamp, rs.LastCaughtUpTimestamp = now.UnixMilli(), now.UnixMilli()
	}
	return rs
}

// describeQuorumError answers code for every partition asked about.
func describeQuorumError(req *kmsg.DescribeQuorumRequest, code int16, err error) *kmsg.DescribeQuorumResponse {
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	msg := errMessage(err)
	if ke, ok := kerr.ErrorForCode(code).(*kerr.Error); ok && msg == nil {
		d := ke.Description
		msg = &d
	}
	for _, rt := range req.Topics {
		t := kmsg.NewDescribeQuorumResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewDescribeQuorumResponseTopicPartition()
			p.Partition, p.ErrorCode, p.ErrorMessage = rp.Partition, code, msg
			p.LeaderID, p.LeaderEpoch, p.HighWatermark = -1, -1, -1
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// forwardDescribeQuorum asks the active controller, over its CONTROLLER
// listener, and answers with its answer.
func (s *Server) forwardDescribeQuorum(r *request) kmsg.Response {
	req := r.req.(*kmsg.DescribeQuorumRequest)
	ctx, cancel := s.requestContext(0)
	defer cancel()
	resp, err := s.adminChannel.request(ctx, req)
	if err != nil {
		s.logger.Warn("forwarding to the controller failed", "api", "DescribeQuorum", "err", err)
		return describeQuorumError(req, kerr.RequestTimedOut.Code, err)
	}
	return resp
}
