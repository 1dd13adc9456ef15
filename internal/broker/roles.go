package broker

import (
	"bufio"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// process.roles: a node is a broker, a controller, or both (combined, the
// default). A controller-only node runs the metadata quorum and the
// CONTROLLER listener's APIs, and hosts no partitions. A broker-only node
// is no voter: it follows the metadata log as a raft non-voter, which the
// active controller adds when the broker registers. Raft needs to reach
// such a broker, which has no CONTROLLER listener, so its raft
// connections arrive on its inter-broker listener, told apart from Kafka
// clients by their first byte (metadata.RaftPreamble: a Kafka frame never
// starts with 0xff), and are handed to the quorum through a raftListener.

func (s *Server) isBroker() bool     { return s.cfg.HasRole("broker") }
func (s *Server) isController() bool { return s.cfg.HasRole("controller") }

// brokerOnly is a broker that is not a voter.
func (s *Server) brokerOnly() bool { return s.isBroker() && !s.isController() }

// raftListener is a net.Listener fed with the raft connections found on
// a client listener.
type raftListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newRaftListener(addr net.Addr) *raftListener {
	return &raftListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *raftListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *raftListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *raftListener) Addr() net.Addr { return l.addr }

// offer hands a raft connection over; false when the quorum is closed.
func (l *raftListener) offer(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

// peekedConn is a connection whose first bytes sit in r.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// sortRaft tells, on a broker-only node's inter-broker listener, a raft
// connection from a Kafka one. It returns the connection to serve as
// Kafka, or nil when it went to raft (or died before saying anything).
func (s *Server) sortRaft(nc net.Conn) net.Conn {
	br := bufio.NewReaderSize(nc, 4096)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	first, err := br.Peek(1)
	nc.SetReadDeadline(time.Time{})
	if err != nil {
		nc.Close()
		return nil
	}
	pc := &peekedConn{Conn: nc, r: br}
	if first[0] != metadata.RaftPreamble[0] {
		return pc
	}
	if !s.raftLn.offer(pc) {
		nc.Close()
	}
	return nil
}

// stringAddr is a net.Addr from a host:port string.
type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }

// interBrokerAddr is this broker's advertised inter-broker endpoint.
func (s *Server) interBrokerAddr() (string, bool) {
	eps, err := s.advertisedEndpoints()
	if err != nil {
		return "", false
	}
	for _, e := range eps {
		if e.Name == s.cfg.InterBrokerListenerName() {
			return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))), true
		}
	}
	return "", false
}

// raftAddrOf picks, on a controller, the raft address of a registering
// broker: its inter-broker endpoint (the listener name is cluster-wide).
func (s *Server) raftAddrOf(b metadata.BrokerRegistration) string {
	name := s.cfg.InterBrokerListenerName()
	if name == "" {
		name = "PLAINTEXT"
	}
	for _, e := range b.Endpoints {
		if e.Name == name {
			return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
		}
	}
	return ""
}

// clientControllerID is the controller id to tell clients (Metadata,
// DescribeCluster): the active controller when it is a broker, as on
// combined nodes; otherwise, as Kafka does with dedicated controllers that
// clients cannot reach, a live broker (the lowest id).
func clientControllerID(img *metadata.Image) int32 {
	if img.BrokerUsable(img.ControllerID) {
		return img.ControllerID
	}
	if ids := img.UnfencedBrokerIDs(); len(ids) > 0 {
		return ids[0]
	}
	return img.ControllerID
}
