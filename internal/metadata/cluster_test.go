package metadata

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// TestThreeNodeQuorum runs three voters in one process: a topic created on
// the leader reaches every image; after the leader closes, the other two
// elect a new one that takes further operations; the old leader rejoins as
// a follower and catches up. Operations are retried on ErrNotController, as
// a client would, because a loaded test machine can stall the process for
// longer than the leader lease.
func TestThreeNodeQuorum(t *testing.T) {
	checkLeaks(t)
	ids := []int32{1, 2, 3}
	voters := map[int32]string{}
	lns := map[int32]net.Listener{}
	for _, id := range ids {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[id], voters[id] = ln, ln.Addr().String()
	}
	dirs := map[int32]string{}
	open := func(id int32, ln net.Listener) *Node {
		cfg := testConfig(t, dirs[id], id)
		cfg.Listener.Close()
		cfg.Listener = ln
		cfg.Voters = voters
		cfg.HeartbeatTimeout = 200 * time.Millisecond
		cfg.ElectionTimeout = 200 * time.Millisecond
		cfg.LeaderLeaseTimeout = 200 * time.Millisecond
		n, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	nodes := map[int32]*Node{}
	for _, id := range ids {
		dirs[id] = t.TempDir()
		nodes[id] = open(id, lns[id])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	for _, n := range nodes {
		if err := n.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	onController(t, nodes, func(n *Node) error {
		for _, id := range ids {
			if err := registerUnfenced(ctx, n, id); err != nil {
				return err
			}
		}
		return nil
	})
	oneID := createRetrying(t, nodes, TopicSpec{Name: "one", NumPartitions: 3, ReplicationFactor: 3})
	var clusterID string
	for _, n := range nodes {
		eventually(t, 5*time.Second, "topic one everywhere", func() bool {
			tp := n.Image().Topic("one")
			return tp != nil && tp.ID == oneID && len(tp.Partitions) == 3
		})
		if clusterID == "" {
			clusterID = n.Image().ClusterID
		}
		if n.Image().ClusterID != clusterID {
			t.Fatalf("cluster ids differ: %q, %q", n.Image().ClusterID, clusterID)
		}
	}
	// Partition leaders spread over the brokers.
	leaders := map[int32]bool{}
	for _, p := range findLeader(t, nodes).Image().Topic("one").Partitions {
		leaders[p.Leader] = true
	}
	if len(leaders) != 3 {
		t.Errorf("partition leaders %v", leaders)
	}
	// A follower refuses controller operations.
	for _, n := range nodes {
		if n.IsController() {
			continue
		}
		r := n.CreateTopics(ctx, []TopicSpec{{Name: "x", NumPartitions: 1, ReplicationFactor: 1}}, false)[0]
		if !errors.Is(r.Err, ErrNotController) && !n.IsController() {
			t.Fatalf("create on follower %d: %v", n.cfg.NodeID, r.Err)
		}
		break
	}

	old := findLeader(t, nodes)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	delete(nodes, old.cfg.NodeID)
	createRetrying(t, nodes, TopicSpec{Name: "two", NumPartitions: 2, ReplicationFactor: 2})
	for _, n := range nodes {
		eventually(t, 5*time.Second, "topic two on the survivors", func() bool {
			im := n.Image()
			l := currentLeader(nodes)
			return im.Topic("two") != nil && im.Topic("one") != nil && l != nil && im.ControllerID == l.cfg.NodeID
		})
	}

	// The old leader comes back and catches up.
	ln, err := net.Listen("tcp", voters[old.cfg.NodeID])
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", voters[old.cfg.NodeID], err)
	}
	back := open(old.cfg.NodeID, ln)
	if err := back.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if im := back.Image(); im.Topic("two") == nil || im.Topic("one").ID != oneID {
		t.Fatalf("rejoined node: topics %v", topicIDs(im))
	}
	nodes[back.cfg.NodeID] = back
	eventually(t, 5*time.Second, "controller id on the rejoined node", func() bool {
		l := currentLeader(nodes)
		return l != nil && back.Image().ControllerID == l.cfg.NodeID
	})
}

func currentLeader(nodes map[int32]*Node) *Node {
	for _, n := range nodes {
		if n.IsController() {
			return n
		}
	}
	return nil
}

func findLeader(t *testing.T, nodes map[int32]*Node) *Node {
	t.Helper()
	var leader *Node
	eventually(t, 5*time.Second, "a leader", func() bool {
		leader = currentLeader(nodes)
		return leader != nil
	})
	return leader
}

// onController runs op on the leader until it does not fail with
// ErrNotController.
func onController(t *testing.T, nodes map[int32]*Node, op func(n *Node) error) *Node {
	t.Helper()
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		if l := currentLeader(nodes); l != nil {
			err := op(l)
			if err == nil {
				return l
			}
			if !errors.Is(err, ErrNotController) {
				t.Fatal(err)
			}
			t.Logf("retrying: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no controller took the operation")
	return nil
}

// createRetrying creates a topic on the leader; a retry after an attempt
// whose outcome was unknown may find the topic created.
func createRetrying(t *testing.T, nodes map[int32]*Node, spec TopicSpec) [16]byte {
	t.Helper()
	var id [16]byte
	tries := 0
	onController(t, nodes, func(n *Node) error {
		tries++
		r := n.CreateTopics(context.Background(), []TopicSpec{spec}, false)[0]
		if errors.Is(r.Err, ErrTopicExists) && tries > 1 {
			r.ID, r.Err = n.Image().Topic(spec.Name).ID, nil
		}
		id = r.ID
		return r.Err
	})
	return id
}
