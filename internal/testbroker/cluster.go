package testbroker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/broker"
	"github.com/samsa-streaming/samsa/internal/config"
)

// Cluster is several in-process brokers, each a combined node (broker and
// controller voter), on loopback ports chosen once, so a node restarts
// where it was.
type Cluster struct {
	t     testing.TB
	nodes []*Node
	extra []string
}

// Node is one broker of a Cluster.
type Node struct {
	ID    int32
	Roles string // process.roles
	Dir   string
	Port  int // client listener
	CPort int // controller listener
	Srv   *broker.Server
	c     *Cluster
	// timeout bounds a start; 0: 60 s.
	timeout time.Duration
	// extra: started by TryStartExtra; a controller names itself among the
	// voters (it joins through AddRaftVoter).
	extra bool
}

// StartCluster starts n combined nodes with ids 1..n; overrides apply to
// every node, with "{id}" in one replaced by the node's id
// ("broker.rack=rack-{id}").
func StartCluster(t testing.TB, n int, overrides ...string) *Cluster {
	t.Helper()
	roles := make([]string, n)
	for i := range roles {
		roles[i] = "broker,controller"
	}
	return StartClusterRoles(t, roles, overrides...)
}

// StartClusterRoles starts one node per entry of roles (process.roles:
// "broker,controller", "controller" or "broker"), ids 1..n; the nodes
// with the controller role are the voters.
func StartClusterRoles(t testing.TB, roles []string, overrides ...string) *Cluster {
	t.Helper()
	n := len(roles)
	c := &Cluster{t: t, extra: overrides}
	root := t.TempDir()
	for i := 1; i <= n; i++ {
		c.nodes = append(c.nodes, &Node{ID: int32(i), Roles: roles[i-1], Dir: filepath.Join(root, fmt.Sprint(i)), Port: FreePort(t), CPort: FreePort(t), c: c})
	}
	t.Cleanup(c.StopAll)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, nd := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = nd.tryStart()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *Cluster) voters() string {
	var v []string
	for _, nd := range c.nodes {
		if nd.controller() {
			v = append(v, fmt.Sprintf("%d@127.0.0.1:%d", nd.ID, nd.CPort))
		}
	}
	return strings.Join(v, ",")
}

func (nd *Node) broker() bool     { return strings.Contains(nd.Roles, "broker") }
func (nd *Node) controller() bool { return strings.Contains(nd.Roles, "controller") }

func (nd *Node) opts() []string {
	var ls []string
	if nd.broker() {
		ls = append(ls, fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", nd.Port))
	}
	if nd.controller() {
		ls = append(ls, fmt.Sprintf("CONTROLLER://127.0.0.1:%d", nd.CPort))
	}
	voters := nd.c.voters()
	if nd.extra && nd.controller() {
		voters += fmt.Sprintf(",%d@127.0.0.1:%d", nd.ID, nd.CPort)
	}
	return append([]string{
		fmt.Sprintf("node.id=%d", nd.ID),
		"process.roles=" + nd.Roles,
		"listeners=" + strings.Join(ls, ","),
		"controller.quorum.voters=" + voters,
		"log.dirs=" + nd.Dir,
		"samsa.http.listener=127.0.0.1:0",
	}, nd.overrides()...)
}

// TryStartExtra starts one more node, outside the cluster's list, with an
// id and roles of the caller's choice (a duplicate node.id, say), its own
// dir and ports, within timeout. The node is stopped at cleanup.
func (c *Cluster) TryStartExtra(id int32, roles string, timeout time.Duration) (*Node, error) {
	nd := c.NewExtra(id, roles, timeout)
	return nd, nd.tryStart()
}

// NewExtra is TryStartExtra without the start (its ports are known
// before; TryStart starts it).
func (c *Cluster) NewExtra(id int32, roles string, timeout time.Duration) *Node {
	nd := &Node{ID: id, Roles: roles, Dir: filepath.Join(c.t.TempDir(), "extra"), Port: FreePort(c.t), CPort: FreePort(c.t), c: c, timeout: timeout, extra: true}
	c.t.Cleanup(nd.Stop)
	return nd
}

func (nd *Node) overrides() []string {
	out := make([]string, len(nd.c.extra))
	for i, o := range nd.c.extra {
		out[i] = strings.ReplaceAll(o, "{id}", fmt.Sprint(nd.ID))
	}
	return out
}

func (nd *Node) tryStart() error {
	cfg, err := config.LoadBroker("", nd.opts())
	if err != nil {
		return err
	}
	srv, err := broker.New(cfg, broker.Options{Logger: logger().With("node", nd.ID)})
	if err != nil {
		return err
	}
	timeout := nd.timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Serve(ctx); err != nil {
		srv.Close()
		return fmt.Errorf("node %d: %w", nd.ID, err)
	}
	nd.Srv = srv
	return nil
}

// TryStart starts a stopped node and returns the error it fails with.
func (nd *Node) TryStart() error { return nd.tryStart() }

// Addr is the node's client listener.
func (nd *Node) Addr() string { return fmt.Sprintf("127.0.0.1:%d", nd.Port) }

// Running reports whether the node is up.
func (nd *Node) Running() bool { return nd.Srv != nil }

// Stop closes the node cleanly (a controlled shutdown).
func (nd *Node) Stop() {
	if nd.Srv != nil {
		if err := nd.Srv.Close(); err != nil {
			nd.c.t.Errorf("closing node %d: %v", nd.ID, err)
		}
		nd.Srv = nil
	}
}

// Start starts a stopped node again on its dir and ports.
func (nd *Node) Start() {
	nd.c.t.Helper()
	if err := nd.tryStart(); err != nil {
		nd.c.t.Fatal(err)
	}
}

// WaitSynced waits until every running node has applied the metadata the
// active controller has (a topic just created is known everywhere).
func (c *Cluster) WaitSynced() {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctl := c.Controller()
		if ctl != nil {
			want := ctl.Srv.Metadata().Image().Offset
			ok := true
			for _, nd := range c.nodes {
				if nd.Srv != nil && nd.broker() && nd.Srv.AppliedMetadataOffset() < want {
					ok = false
				}
			}
			if ok {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("the nodes did not catch up with the controller's metadata in 30 s")
}

// Nodes returns the nodes, by id order.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Node returns the node with an id.
func (c *Cluster) Node(id int32) *Node { return c.nodes[id-1] }

// Controller returns the running node that is the active controller, nil
// when none is.
func (c *Cluster) Controller() *Node {
	for _, nd := range c.nodes {
		if nd.Srv != nil && nd.Srv.Metadata().IsController() {
			return nd
		}
	}
	return nil
}

// Addrs lists the running brokers' client listeners.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, nd := range c.nodes {
		if nd.Srv != nil && nd.broker() {
			out = append(out, nd.Addr())
		}
	}
	return out
}

// Client is a franz-go client seeded with every node, closed at cleanup.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	var seeds []string
	for _, nd := range c.nodes {
		if nd.broker() {
			seeds = append(seeds, nd.Addr())
		}
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// Admin is a kadm client on a new Client.
func (c *Cluster) Admin() *kadm.Client { return kadm.NewClient(c.Client()) }

// StopAll stops every node, concurrently (a node's controlled shutdown
// needs a controller quorum, which stopping them in turn would lose).
func (c *Cluster) StopAll() {
	var wg sync.WaitGroup
	for _, nd := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nd.Stop()
		}()
	}
	wg.Wait()
}
