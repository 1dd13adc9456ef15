package broker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/kclient"
	"github.com/samsa-streaming/samsa/internal/testbroker"
)

// describeQuorum sends DescribeQuorum at version v straight to addr (no
// client routing: a broker that is not the controller must forward it).
func describeQuorum(t *testing.T, ctx context.Context, addr string, v int16, topic string) *kmsg.DescribeQuorumResponse {
	t.Helper()
	conn, err := kclient.Dialer{}.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.SetVersion(v)
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = topic
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = append(req.Topics, rt)
	resp, err := conn.Request(ctx, req)
	if err != nil {
		t.Fatalf("DescribeQuorum v%d to %s: %v", v, addr, err)
	}
	return resp.(*kmsg.DescribeQuorumResponse)
}

// quorumPartition is the answer's one partition, checked for errors.
func quorumPartition(t *testing.T, resp *kmsg.DescribeQuorumResponse) kmsg.DescribeQuorumResponseTopicPartition {
	t.Helper()
	p, err := answerPartition(resp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func answerPartition(resp *kmsg.DescribeQuorumResponse) (kmsg.DescribeQuorumResponseTopicPartition, error) {
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || resp.Topics[0].Topic != "__cluster_metadata" || len(resp.Topics[0].Partitions) != 1 {
		return kmsg.DescribeQuorumResponseTopicPartition{}, fmt.Errorf("answer %+v", resp)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return p, fmt.Errorf("partition error %w", err)
	}
	return p, nil
}

func replicaIDs(rs []kmsg.DescribeQuorumResponseTopicPartitionReplicaState) []int32 {
	var ids []int32
	for _, r := range rs {
		ids = append(ids, r.ReplicaID)
	}
	return ids
}

// TestDescribeQuorum checks DescribeQuorum against three combined nodes:
// every client listener answers the active controller's view (the
// others forward it), which is raft's: leader, term, commit index, the
// three voters with their CONTROLLER endpoints; the followers' log end
// offsets reach the leader's once they have applied its log; a CONTROLLER
// listener that is not the leader answers NOT_LEADER_OR_FOLLOWER; and
// after the controller stops, the new one answers with a later epoch and
// the stopped voter's progress unknown.
func TestDescribeQuorum(t *testing.T) {
	c := testbroker.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ctl := c.Controller()
	if ctl == nil {
		t.Fatal("no active controller")
	}
	if res, err := c.Admin().CreateTopic(ctx, 2, 3, nil, "dq"); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}

	for _, nd := range c.Nodes() {
		p := quorumPartition(t, describeQuorum(t, ctx, nd.Addr(), 2, "__cluster_metadata"))
		q, err := ctl.Srv.Metadata().QuorumInfo()
		if err != nil {
			t.Fatal(err)
		}
		if p.LeaderID != ctl.ID || p.LeaderEpoch != int32(q.Term) || p.HighWatermark <= 0 || p.HighWatermark > int64(q.CommitIndex) {
			t.Fatalf("via node %d: leader %d epoch %d hw %d; controller %d term %d commit %d",
				nd.ID, p.LeaderID, p.LeaderEpoch, p.HighWatermark, ctl.ID, q.Term, q.CommitIndex)
		}
		if ids := replicaIDs(p.CurrentVoters); !slices.Equal(ids, []int32{1, 2, 3}) || len(p.Observers) != 0 {
			t.Fatalf("via node %d: voters %v observers %v", nd.ID, ids, replicaIDs(p.Observers))
		}
	}

	// Nodes are the voters' CONTROLLER listeners.
	resp := describeQuorum(t, ctx, ctl.Addr(), 2, "__cluster_metadata")
	if len(resp.Nodes) != 3 {
		t.Fatalf("nodes %+v", resp.Nodes)
	}
	for _, n := range resp.Nodes {
		nd := c.Node(n.NodeID)
		if len(n.Listeners) != 1 || n.Listeners[0].Name != "CONTROLLER" || n.Listeners[0].Host != "127.0.0.1" || int(n.Listeners[0].Port) != nd.CPort {
			t.Fatalf("node %d listeners %+v", n.NodeID, n.Listeners)
		}
	}

	// The followers catch up with the leader's log end: lag 0, caught up
	// at their last heartbeat, which is recent.
	eventually(t, 10*time.Second, "followers at the leader's log end", func() bool {
		p := quorumPartition(t, describeQuorum(t, ctx, ctl.Addr(), 2, "__cluster_metadata"))
		now := time.Now().UnixMilli()
		var leo int64 = -1
		for _, v := range p.CurrentVoters {
			if v.ReplicaID == p.LeaderID {
				leo = v.LogEndOffset
			}
		}
		if leo < p.HighWatermark {
			t.Fatalf("leader log end %d below the high watermark %d", leo, p.HighWatermark)
		}
		for _, v := range p.CurrentVoters {
			if v.LogEndOffset != leo || v.LastCaughtUpTimestamp != v.LastFetchTimestamp ||
				v.LastFetchTimestamp < now-5000 || v.LastFetchTimestamp > now+1000 || v.ReplicaDirectoryID != [16]byte{} {
				return false
			}
		}
		return true
	})

	// Version 0 carries no timestamps, no nodes.
	p0 := quorumPartition(t, describeQuorum(t, ctx, ctl.Addr(), 0, "__cluster_metadata"))
	if p0.LeaderID != ctl.ID || len(p0.CurrentVoters) != 3 || p0.CurrentVoters[0].LastFetchTimestamp != -1 {
		t.Fatalf("v0 answer %+v", p0)
	}
	// Another partition: UNKNOWN_TOPIC_OR_PARTITION.
	bad := describeQuorum(t, ctx, ctl.Addr(), 2, "other")
	if len(bad.Topics) != 1 || len(bad.Topics[0].Partitions) != 1 || bad.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("other topic: %+v", bad)
	}
	// The CONTROLLER listeners: the leader answers, the others refuse.
	for _, nd := range c.Nodes() {
		resp := describeQuorum(t, ctx, fmt.Sprintf("127.0.0.1:%d", nd.CPort), 2, "__cluster_metadata")
		code := resp.Topics[0].Partitions[0].ErrorCode
		if nd == ctl && code != 0 || nd != ctl && code != kerr.NotLeaderForPartition.Code {
			t.Fatalf("controller listener of node %d: %v", nd.ID, kerr.ErrorForCode(code))
		}
	}

	// The controller stops: a new one, a later epoch, the old one a
	// voter whose progress is unknown.
	oldEpoch := p0.LeaderEpoch
	ctl.Stop()
	eventually(t, 15*time.Second, "a new controller", func() bool { n := c.Controller(); return n != nil && n != ctl })
	via := c.Controller()
	for _, nd := range c.Nodes() {
		if nd.Running() && nd != via {
			via = nd // ask the one that forwards
		}
	}
	eventually(t, 10*time.Second, "the new controller's answer", func() bool {
		p, err := answerPartition(describeQuorum(t, ctx, via.Addr(), 2, "__cluster_metadata"))
		if err != nil || p.LeaderID == ctl.ID || p.LeaderEpoch <= oldEpoch || len(p.CurrentVoters) != 3 {
			return false
		}
		for _, v := range p.CurrentVoters {
			if (v.ReplicaID == ctl.ID) != (v.LogEndOffset == -1) {
				return false
			}
			if v.ReplicaID == ctl.ID && (v.LastFetchTimestamp != -1 || v.LastCaughtUpTimestamp != -1) {
				t.Fatalf("stopped voter %+v", v)
			}
		}
		return true
	})
}

// TestDescribeQuorumRoles checks the members of a quorum with a
// controller-only voter and a broker-only node: the broker is an
// observer with its progress; a controller-only voter sends no
// heartbeats, so its progress is unknown unless it leads.
func TestDescribeQuorumRoles(t *testing.T) {
	c := testbroker.StartClusterRoles(t, []string{"controller", "broker,controller", "broker,controller", "broker"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c.WaitSynced()
	eventually(t, 10*time.Second, "the observer's progress", func() bool {
		p := quorumPartition(t, describeQuorum(t, ctx, c.Node(4).Addr(), 2, "__cluster_metadata"))
		if ids := replicaIDs(p.CurrentVoters); !slices.Equal(ids, []int32{1, 2, 3}) {
			t.Fatalf("voters %v", ids)
		}
		if ids := replicaIDs(p.Observers); !slices.Equal(ids, []int32{4}) {
			t.Fatalf("observers %v", ids)
		}
		for _, v := range p.CurrentVoters {
			known := v.LogEndOffset >= 0
			if v.ReplicaID == 1 && p.LeaderID != 1 && known {
				t.Fatalf("controller-only follower with a log end offset: %+v", v)
			}
			if (v.ReplicaID != 1 || p.LeaderID == 1) && !known {
				return false
			}
		}
		return p.Observers[0].LogEndOffset > 0 && p.Observers[0].LastFetchTimestamp > 0
	})
}
