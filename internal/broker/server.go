// Package broker is the Kafka broker: it accepts client connections, decodes
// requests with the generated kmsg codec, serves each API key from its own
// handler file (NN_name.go, which also registers the version range), and
// owns the partitions this node hosts: their leader epoch, ISR and high
// watermark on top of the storage log.
//
// Cluster state comes from the metadata image (package metadata); the broker
// never writes it directly but asks the controller, and reconciles its local
// logs to every new image it is handed. Errors from the lower packages are
// mapped to Kafka error codes in one place, errors.go.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/kclient"
	"github.com/samsa-streaming/samsa/internal/metadata"
	"github.com/samsa-streaming/samsa/internal/replica"
	"github.com/samsa-streaming/samsa/internal/storage"
	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// Options are the inputs of a Server besides its config.
type Options struct {
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests inject one.
	Now func() time.Time
	// FS is the filesystem seam for the logs; nil means the OS.
	FS vfs.FS
}

// Server is one broker node (and, with process.roles containing
// "controller", one voter of the metadata quorum).
type Server struct {
	cfg    *config.Broker
	logger *slog.Logger
	now    func() time.Time
	nodeID int32

	clusterID string
	logs      *storage.Manager
	meta      *metadata.Node
	replicas  *replica.Manager

	// The image changes queued by the metadata subscription, and what
	// applyLoop applied of them (appliedImage is its own).
	metaQueue     *metadataQueue
	appliedImage  *metadata.Image
	appliedOffset atomic.Uint64

	// Life on the controller (lifecycle.go).
	incarnation   [16]byte
	brokerEpoch   atomic.Int64
	fenced        atomic.Bool
	unfenced      chan struct{}
	unfencedOnce  sync.Once
	shutdownStart chan struct{}
	shutdownOnce  sync.Once
	hbDone        chan struct{}
	serving       atomic.Bool
	servingCh     chan struct{} // closed once Serve has finished
	acceptOnce    sync.Once

	// lastDataRequest is when the last Produce or Fetch arrived (unix
	// nanoseconds): the drain after a controlled shutdown watches it.
	lastDataRequest atomic.Int64

	// fetchReadHook, a test seam, runs between a delayed fetch's first
	// read and its registering for wakeups; nil outside tests.
	fetchReadHook atomic.Pointer[func()]

	raftLn           *raftListener // broker-only nodes: raft arrives on the inter-broker listener
	dialer           kclient.Dialer
	lifecycleChannel *controllerChannel
	alterChannel     *controllerChannel
	adminChannel     *controllerChannel

	listeners     []*listener
	pids          *producerIDs
	fetchMaxBytes int64 // fetch.max.bytes, read once (hot path)
	// rackAwareReads: replica.selector.class is the rack-aware selector.
	rackAwareReads bool
	sessions       *fetchSessions
	groups         *groupCoordinator
	txns           *txnCoordinator
	txnVerify      *txnVerifier
	connQuotas     *connQuotas // max.connections, max.connections.per.ip

	dirLocks []*os.File // flocks on the log dirs' .lock files
	propDirs []string   // the dirs with meta.properties
	newNode  bool       // no dir had meta.properties: the cluster id may be adopted

	metrics  *metrics
	httpSrv  *http.Server
	httpAddr string

	// ready is set once the broker serves (caught up and unfenced).
	ready atomic.Bool

	mu    sync.Mutex
	conns map[*conn]struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type listener struct {
	name string
	ln   net.Listener
}

// New opens the logs and the metadata quorum and binds the listeners. Call
// Serve to start accepting clients and Close to stop.
func New(cfg *config.Broker, opts Options) (*Server, error) {
	s := &Server{
		cfg:    cfg,
		logger: opts.Logger,
		now:    opts.Now,
		nodeID: cfg.NodeID(),
		conns:  map[*conn]struct{}{},
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	fs := opts.FS
	if fs == nil {
		fs = vfs.OS
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.metaQueue = newMetadataQueue()
	_, s.incarnation = newUUID()
	s.brokerEpoch.Store(-1)
	s.unfenced = make(chan struct{})
	s.shutdownStart = make(chan struct{})
	s.servingCh = make(chan struct{})
	s.dialer = kclient.Dialer{ClientID: fmt.Sprintf("samsa-broker-%d", s.nodeID)}
	s.lifecycleChannel = newControllerChannel(s, "lifecycle")
	s.alterChannel = newControllerChannel(s, "alter-partition")
	s.adminChannel = newControllerChannel(s, "admin")
	s.pids = &producerIDs{s: s}
	s.fetchMaxBytes = cfg.Int("fetch.max.bytes")
	s.rackAwareReads = config.RackAwareSelector(cfg.String("replica.selector.class"))
	s.sessions = newFetchSessions(int(cfg.Int("max.incremental.fetch.session.cache.slots")))
	s.metrics = newMetrics(s)
	s.connQuotas = newConnQuotas()
	s.metrics.reg.MustRegister(&groupLagCollector{s: s})

	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()

	clusterID, err := s.prepareLogDirs(cfg)
	if err != nil {
		return nil, err
	}
	s.clusterID = clusterID

	s.logs, err = storage.OpenManager(storage.ManagerConfig{
		FS:                       fs,
		Dirs:                     cfg.LogDirs(),
		Logger:                   s.logger.With("component", "storage"),
		Now:                      s.now(),
		RecoveryThreadsPerDir:    int(cfg.Int("num.recovery.threads.per.data.dir")),
		ProducerIDExpirationMs:   cfg.Int("producer.id.expiration.ms"),
		CleanerDedupeBufferBytes: cfg.Int("log.cleaner.dedupe.buffer.size"),
	})
	if err != nil {
		return nil, fmt.Errorf("opening logs: %w", err)
	}
	ms := func(name string) time.Duration { return time.Duration(cfg.Int(name)) * time.Millisecond }
	s.replicas = replica.NewManager(replica.Config{
		NodeID:  s.nodeID,
		Logs:    s.logs,
		Logger:  s.logger.With("component", "replica"),
		Now:     s.now,
		LagTime: ms("replica.lag.time.max.ms"),
		Fetch: replica.FetchConfig{
			MaxBytes:         int32(cfg.Int("replica.fetch.max.bytes")),
			ResponseMaxBytes: int32(cfg.Int("replica.fetch.response.max.bytes")),
			MinBytes:         int32(cfg.Int("replica.fetch.min.bytes")),
			MaxWait:          ms("replica.fetch.wait.max.ms"),
			Backoff:          ms("replica.fetch.backoff.ms"),
			SocketTimeout:    ms("replica.socket.timeout.ms"),
		},
		Cluster: replicaCluster{s},
		Dialer:  s.dialer,
	})

	if err := s.bindListeners(); err != nil {
		return nil, err
	}
	if err := s.openMetadata(); err != nil {
		return nil, err
	}
	s.startHTTP()
	ok = true
	return s, nil
}

// Serve waits for the metadata quorum, starts applying the metadata to
// the local logs, registers the broker with the controller and waits until
// the controller unfenced it and its image is applied, then starts
// accepting connections. It returns once the broker is serving.
func (s *Server) Serve(ctx context.Context) error {
	if s.brokerOnly() {
		// Raft reaches this node on its inter-broker listener, so that
		// listener accepts from now on (Kafka clients wait for Serve).
		s.startAccepting()
		// Not a voter: it receives the metadata log only once the
		// controller, at its registration, has made it a raft observer.
		if err := s.registerBroker(ctx); err != nil {
			return fmt.Errorf("registering broker %d: %w", s.nodeID, err)
		}
	}
	if err := s.meta.WaitReady(ctx); err != nil {
		return fmt.Errorf("waiting for the metadata quorum: %w", err)
	}
	if err := s.checkClusterID(); err != nil {
		return err
	}
	if !s.isBroker() {
		s.ready.Store(true)
		s.logger.Info("controller serving", "node.id", s.nodeID, "cluster.id", s.clusterID, "controller.listener", s.meta.Addr())
		return nil
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.applyLoop()
	}()
	if !s.brokerOnly() {
		if err := s.registerBroker(ctx); err != nil {
			return fmt.Errorf("registering broker %d: %w", s.nodeID, err)
		}
	}
	s.hbDone = make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(s.hbDone)
		s.heartbeatLoop()
	}()
	if err := s.waitUnfenced(ctx); err != nil {
		return err
	}
	if err := s.waitApplied(ctx, s.meta.Image().Offset); err != nil {
		return err
	}
	s.ready.Store(true)
	s.serving.Store(true)
	s.groups = startGroupCoordinator(s)
	s.txns = startTxnCoordinator(s)
	s.txnVerify = newTxnVerifier(s)
	close(s.servingCh)
	s.startAccepting()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.maintainLoop()
	}()
	s.logger.Info("broker serving", "node.id", s.nodeID, "cluster.id", s.clusterID, "broker.epoch", s.brokerEpoch.Load(), "listeners", s.ListenerAddrs())
	return nil
}

// startAccepting starts the accept loops (once).
func (s *Server) startAccepting() {
	s.acceptOnce.Do(func() {
		for _, l := range s.listeners {
			l := l
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.acceptLoop(l)
			}()
		}
	})
}

// waitApplied waits until the replica manager applied the image at
// offset or later.
func (s *Server) waitApplied(ctx context.Context, offset uint64) error {
	for s.appliedOffset.Load() < offset {
		select {
		case <-ctx.Done():
			return fmt.Errorf("applying the metadata: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// ListenerAddrs maps each client listener name to its bound address.
func (s *Server) ListenerAddrs() map[string]string {
	out := map[string]string{}
	for _, l := range s.listeners {
		out[l.name] = l.ln.Addr().String()
	}
	return out
}

// Addr is the bound address of the first client listener.
func (s *Server) Addr() string {
	for _, l := range s.listeners {
		return l.ln.Addr().String()
	}
	return ""
}

func (s *Server) bindListeners() error {
	ls, err := s.cfg.Listeners()
	if err != nil {
		return err
	}
	controllers := map[string]bool{}
	for _, n := range s.cfg.ControllerListenerNames() {
		controllers[n] = true
	}
	for _, l := range ls {
		if controllers[l.Name] {
			continue // the metadata quorum binds the controller listener itself
		}
		if l.SecurityProtocol != "PLAINTEXT" {
			return fmt.Errorf("listener %s: security protocol %s is not supported yet (only PLAINTEXT)", l.Name, l.SecurityProtocol)
		}
		addr := net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listener %s: %w", l.Name, err)
		}
		s.listeners = append(s.listeners, &listener{name: l.Name, ln: ln})
	}
	if len(s.listeners) == 0 && s.isBroker() {
		return errors.New("no client listener configured in listeners")
	}
	return nil
}

func (s *Server) acceptLoop(l *listener) {
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if s.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.logger.Error("accept failed", "listener", l.name, "err", err)
			}
			return
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		ip := remoteIP(nc)
		// Replication and the controller's traffic come in on the
		// inter-broker listener: exempt from max.connections when other
		// listeners exist (as Kafka's protected listener; with one
		// listener for all, nothing would be limited).
		exempt := l.name == s.cfg.InterBrokerListenerName() && len(s.listeners) > 1
		if !s.connQuotas.acquire(s.cfg, ip, exempt) {
			if s.ctx.Err() != nil {
				nc.Close()
				return
			}
			s.logger.Info("connection refused: too many connections from its address", "listener", l.name, "remote", nc.RemoteAddr().String(),
				"max.connections.per.ip", ipLimit(s.cfg, ip))
			s.metrics.connectionsRefused.WithLabelValues(l.name).Inc()
			nc.Close()
			continue
		}
		if !s.serveConnThen(nc, l.name, handlers, false, func() { s.connQuotas.release(ip) }) {
			s.connQuotas.release(ip)
			return
		}
	}
}

// serveConn serves a connection with the API table of its listener, on a
// goroutine of its own; false when the broker is closing.
func (s *Server) serveConn(nc net.Conn, listener string, apis apiTable, controller bool) bool {
	return s.serveConnThen(nc, listener, apis, controller, nil)
}

// serveConnThen is serveConn, calling done (when set) once the connection
// has ended; not when it returns false.
func (s *Server) serveConnThen(nc net.Conn, listener string, apis apiTable, controller bool, done func()) bool {
	c := &conn{
		s:          s,
		nc:         nc,
		listener:   listener,
		apis:       apis,
		controller: controller,
		logger:     s.logger.With("remote", nc.RemoteAddr().String(), "listener", listener),
		slots:      make(chan *slot, maxInFlight),
		closed:     make(chan struct{}),
	}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		nc.Close()
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		if done != nil {
			defer done()
		}
		if s.raftLn != nil && !controller && listener == s.cfg.InterBrokerListenerName() {
			if c.nc = s.sortRaft(nc); c.nc == nil {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				return
			}
		}
		if !controller {
			// Kafka clients are served once the broker is.
			select {
			case <-s.servingCh:
			case <-s.ctx.Done():
				nc.Close()
			}
		}
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	return true
}

// serveControllerConn takes a Kafka-protocol connection of the CONTROLLER
// listener (the metadata quorum hands them over).
func (s *Server) serveControllerConn(nc net.Conn) {
	names := s.cfg.ControllerListenerNames()
	name := "CONTROLLER"
	if len(names) > 0 {
		name = names[0]
	}
	s.serveConn(nc, name, controllerHandlers, true)
}

// maintainLoop runs retention, time-based flushes and checkpoints.
func (s *Server) maintainLoop() {
	// Retention checks, time-based flushes, the flush of rolled segments
	// and checkpoints share one ticker: the shorter of the configured
	// intervals, at most 10 s, so that after a crash recovery rescans
	// little more than the active segments (the storage manager decides
	// per log what is due).
	every := 10 * time.Second
	for _, name := range []string{"log.retention.check.interval.ms", "log.flush.scheduler.interval.ms"} {
		if ms := s.cfg.Int(name); ms > 0 && ms < every.Milliseconds() {
			every = time.Duration(ms) * time.Millisecond
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.logs.Maintain(s.now())
		}
	}
}

// Close stops accepting, closes every connection, and closes the metadata
// quorum and the logs (flushing them and writing checkpoints).
func (s *Server) Close() error {
	s.shutdownOnce.Do(func() { close(s.shutdownStart) })
	if s.hbDone != nil {
		<-s.hbDone
	}
	if s.serving.Load() {
		s.controlledShutdown()
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.connQuotas.close()
	s.stopHTTP()
	for _, l := range s.listeners {
		l.ln.Close()
	}
	s.mu.Lock()
	for c := range s.conns {
		c.close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.groups.stop()
	s.txns.stop()
	if s.replicas != nil {
		s.replicas.Close()
	}
	for _, ch := range []*controllerChannel{s.lifecycleChannel, s.alterChannel, s.adminChannel} {
		ch.close()
	}
	var errs []error
	if s.meta != nil {
		errs = append(errs, s.meta.Close())
	}
	if s.logs != nil {
		errs = append(errs, s.logs.Close())
	}
	for _, l := range s.dirLocks {
		l.Close()
	}
	return errors.Join(errs...)
}

// Metadata is the node's metadata quorum member (tools and tests read its
// image).
func (s *Server) Metadata() *metadata.Node { return s.meta }

// Replicas is the node's replica manager (tests read partition state).
func (s *Server) Replicas() *replica.Manager { return s.replicas }

// AppliedMetadataOffset is the offset of the metadata image the broker's
// partitions are in step with.
func (s *Server) AppliedMetadataOffset() uint64 { return s.appliedOffset.Load() }
