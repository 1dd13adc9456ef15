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
	"github.com/samsa-streaming/samsa/internal/metadata"
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

	listeners []*listener
	parts     *partitions
	pids      *producerIDs
	sessions  *fetchSessions
	groups    *groupCoordinator

	dirLocks []*os.File // flocks on the log dirs' .lock files

	metrics  *metrics
	httpSrv  *http.Server
	httpAddr string

	// ready is set once the metadata image is caught up; before that,
	// image changes are not applied to the local logs.
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
	s.parts = newPartitions(s)
	s.pids = &producerIDs{s: s}
	s.sessions = newFetchSessions(int(cfg.Int("max.incremental.fetch.session.cache.slots")))
	s.metrics = newMetrics(s)
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
		CleanerDedupeBufferBytes: cfg.Int("log.cleaner.dedupe.buffer.size"),
	})
	if err != nil {
		return nil, fmt.Errorf("opening logs: %w", err)
	}

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

// Serve registers the broker with the controller, reconciles the local logs
// with the metadata image, and starts accepting connections. It returns once
// the broker is serving.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.meta.WaitReady(ctx); err != nil {
		return fmt.Errorf("waiting for the metadata quorum: %w", err)
	}
	if err := s.checkClusterID(); err != nil {
		return err
	}
	if err := s.registerBroker(ctx); err != nil {
		return fmt.Errorf("registering broker %d: %w", s.nodeID, err)
	}
	s.ready.Store(true)
	s.parts.reconcile(nil, s.meta.Image(), true)
	s.groups = startGroupCoordinator(s)
	for _, l := range s.listeners {
		if l.name == "" {
			continue
		}
		l := l
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.acceptLoop(l)
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.maintainLoop()
	}()
	s.logger.Info("broker serving", "node.id", s.nodeID, "cluster.id", s.clusterID, "listeners", s.ListenerAddrs())
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
	if len(s.listeners) == 0 {
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
		c := &conn{
			s:        s,
			nc:       nc,
			listener: l.name,
			logger:   s.logger.With("remote", nc.RemoteAddr().String(), "listener", l.name),
			slots:    make(chan *slot, maxInFlight),
			closed:   make(chan struct{}),
		}
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
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
	if s.cancel != nil {
		s.cancel()
	}
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
	s.parts.close()
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
