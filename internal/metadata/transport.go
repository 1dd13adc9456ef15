package metadata

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// RaftPreamble opens every raft connection on the CONTROLLER listener.
// The listener also serves the Kafka protocol (brokers' registrations,
// heartbeats, AlterPartition and forwarded admin requests), whose frames
// start with a size; a first byte of 0xff would be a negative size, so
// the two never mix up.
var RaftPreamble = []byte{0xff, 'R', 'F', 'T'}

// sniffTimeout bounds how long an accepted connection may take to send
// its first bytes.
const sniffTimeout = 10 * time.Second

// streamLayer is raft's transport over the CONTROLLER listener. Accepted
// connections that start with RaftPreamble go to raft; the others are
// handed to the Kafka-protocol handler (Config.KafkaConn), or closed when
// there is none. It tracks its connections and closes them all on Close:
// raft's NetworkTransport leaves accepted connections to the peer, so
// without this a closed node would keep a goroutine per peer connection
// until the peer goes away.
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr
	kafka     func(net.Conn)

	accepted chan net.Conn
	done     chan struct{}
	wg       sync.WaitGroup

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func newStreamLayer(ln net.Listener, advertise string, kafka func(net.Conn)) *streamLayer {
	s := &streamLayer{
		ln: ln, advertise: stringAddr(advertise), kafka: kafka,
		accepted: make(chan net.Conn),
		done:     make(chan struct{}),
		conns:    map[*trackedConn]struct{}{},
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s
}

// acceptLoop accepts connections and sorts them, each on its own
// goroutine so that a slow peer holds up nobody.
func (s *streamLayer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.sort(c)
		}()
	}
}

func (s *streamLayer) sort(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(sniffTimeout))
	br := bufio.NewReaderSize(c, 4096)
	first, err := br.Peek(1)
	if err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	if first[0] != RaftPreamble[0] {
		if s.kafka == nil {
			c.Close()
			return
		}
		s.kafka(&bufferedConn{Conn: c, r: br})
		return
	}
	pre := make([]byte, len(RaftPreamble))
	if _, err := io.ReadFull(br, pre); err != nil || !bytes.Equal(pre, RaftPreamble) {
		c.Close()
		return
	}
	tc, err := s.track(&bufferedConn{Conn: c, r: br})
	if err != nil {
		return
	}
	select {
	case s.accepted <- tc:
	case <-s.done:
		tc.Close()
	}
}

func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.accepted:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(address), timeout)
	if err != nil {
		return nil, err
	}
	c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write(RaftPreamble); err != nil {
		c.Close()
		return nil, err
	}
	c.SetWriteDeadline(time.Time{})
	return s.track(c)
}

func (s *streamLayer) track(c net.Conn) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, s: s}
	s.conns[tc] = struct{}{}
	return tc, nil
}

func (s *streamLayer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := s.conns
	s.conns = nil
	close(s.done)
	s.mu.Unlock()
	err := s.ln.Close()
	for c := range conns {
		c.Conn.Close()
	}
	s.wg.Wait()
	return err
}

func (s *streamLayer) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *streamLayer) Addr() net.Addr { return s.advertise }

type trackedConn struct {
	net.Conn
	s *streamLayer
}

// Read reports a connection closed by the stream layer's Close as EOF, so
// raft does not log it as a decoding error.
func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && c.s.isClosed() {
		err = io.EOF
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

// bufferedConn is a connection whose first bytes were read ahead into r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }
