package broker

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/metadata"
	"github.com/samsa-streaming/samsa/internal/storage"
)

// metadataDirName is the directory of the metadata log, named like Kafka's
// KRaft log so operators find it where they expect.
const metadataDirName = storage.MetadataTopic + "-0"

func (s *Server) openMetadata() error {
	dir := s.cfg.MetadataLogDir()
	if dir == "" {
		dir = s.cfg.LogDirs()[0]
	}
	voters, err := s.cfg.Voters()
	if err != nil {
		return err
	}
	var bind, advertise string
	var raftLn net.Listener
	if s.isController() {
		if bind, err = s.controllerBindAddr(); err != nil {
			return err
		}
	} else {
		addr, ok := s.interBrokerAddr()
		if !ok {
			return fmt.Errorf("broker-only node: no advertised inter-broker listener %s for the metadata log to reach it", s.cfg.InterBrokerListenerName())
		}
		s.raftLn = newRaftListener(stringAddr(addr))
		raftLn, advertise = s.raftLn, addr
	}
	opened := make(chan struct{})
	s.meta, err = metadata.Open(metadata.Config{
		NodeID:        s.nodeID,
		Dir:           filepath.Join(dir, metadataDirName),
		Voters:        voters,
		BindAddr:      bind,
		Listener:      raftLn,
		AdvertiseAddr: advertise,
		RaftAddr:      s.raftAddrOf,
		KafkaConn: func(nc net.Conn) {
			// Served once Open returned and s.meta is set.
			go func() {
				select {
				case <-opened:
					s.serveControllerConn(nc)
				case <-s.ctx.Done():
					nc.Close()
				}
			}()
		},
		Logger:                   s.logger.With("component", "metadata"),
		ValidateTopicConfig:      config.ValidateTopicConfig,
		ListConfigDefault:        listConfigDefault,
		ClusterID:                s.clusterID,
		DefaultNumPartitions:     int32(s.cfg.Int("num.partitions")),
		DefaultReplicationFactor: int16(s.cfg.Int("default.replication.factor")),
		SessionTimeout:           time.Duration(s.cfg.Int("broker.session.timeout.ms")) * time.Millisecond,
		UncleanLeaderElection: func(img *metadata.Image, t *metadata.Topic) bool {
			return s.topicConfig(img, t).UncleanLeaderElection
		},
		AutoLeaderRebalance:    s.cfg.Bool("auto.leader.rebalance.enable"),
		ImbalanceCheckInterval: time.Duration(s.cfg.Int("leader.imbalance.check.interval.seconds")) * time.Second,
		ImbalancePercent:       int(s.cfg.Int("leader.imbalance.per.broker.percentage")),
		Now:                    s.now,
	})
	if err != nil {
		return fmt.Errorf("opening the metadata log: %w", err)
	}
	close(opened)
	// The subscription only queues: the changes are applied by applyLoop,
	// off raft's goroutine, once Serve has waited for the quorum (before
	// that, images are partial replays, and applying them could delete
	// logs of topics that a later record still has).
	s.meta.Subscribe(func(_, next *metadata.Image, d *metadata.Delta) {
		s.metaQueue.push(next, d)
	})
	return nil
}

// listConfigDefault tells the controller, for APPEND and SUBTRACT, whether
// a config is a list and what its declared default is.
func listConfigDefault(resourceType int8, name string) (string, bool) {
	var def *config.Def
	var ok bool
	switch resourceType {
	case resourceTopic:
		def, ok = config.TopicDef(name)
	case resourceBroker:
		def, ok = config.BrokerDef(name)
	}
	if !ok {
		return "", false
	}
	return def.DefaultString(), def.Type == config.List
}

// checkClusterID refuses a metadata log of another cluster than the log
// dirs' meta.properties (once the quorum is caught up, when the image's
// cluster id is known).
// A new node (no meta.properties before this start) joining an existing
// quorum takes the quorum's cluster id instead.
func (s *Server) checkClusterID() error {
	id := s.meta.Image().ClusterID
	if id == "" || id == s.clusterID {
		return nil
	}
	if s.newNode {
		s.logger.Info("joining an existing cluster", "cluster.id", id)
		return s.adoptClusterID(id)
	}
	return fmt.Errorf("%w: metadata log has cluster.id %s, meta.properties has %s (log dirs of another cluster?)", metadata.ErrInconsistentClusterID, id, s.clusterID)
}

// controllerBindAddr is the address of this node's CONTROLLER listener.
func (s *Server) controllerBindAddr() (string, error) {
	ls, err := s.cfg.Listeners()
	if err != nil {
		return "", err
	}
	names := s.cfg.ControllerListenerNames()
	for _, l := range ls {
		for _, n := range names {
			if l.Name == n {
				return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)), nil
			}
		}
	}
	return "", fmt.Errorf("no listener named in controller.listener.names %v", names)
}

// advertisedEndpoints are the endpoints this broker registers: the
// advertised listeners, with the actually bound port where the configured
// one was 0 (tests).
func (s *Server) advertisedEndpoints() ([]metadata.Endpoint, error) {
	adv, err := s.cfg.AdvertisedListeners()
	if err != nil {
		return nil, err
	}
	var out []metadata.Endpoint
	for _, a := range adv {
		host, port := a.Host, a.Port
		for _, l := range s.listeners {
			if l.name != a.Name {
				continue
			}
			tcp := l.ln.Addr().(*net.TCPAddr)
			if port == 0 {
				port = tcp.Port
			}
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = tcp.IP.String()
				if tcp.IP.IsUnspecified() {
					host = "localhost"
				}
			}
		}
		out = append(out, metadata.Endpoint{Name: a.Name, Host: host, Port: int32(port), SecurityProtocol: securityProtocolPlaintext})
	}
	return out, nil
}

// securityProtocolPlaintext is Kafka's SecurityProtocol id for PLAINTEXT.
const securityProtocolPlaintext int16 = 0

// endpointFor picks the broker's endpoint for the listener a client
// connected through, as Kafka does, falling back to the first one.
func endpointFor(b *metadata.Broker, listener string) (metadata.Endpoint, bool) {
	for _, e := range b.Endpoints {
		if e.Name == listener {
			return e, true
		}
	}
	return metadata.Endpoint{}, false
}
