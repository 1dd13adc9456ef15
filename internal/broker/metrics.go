package broker

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metrics is the broker's one Prometheus registry. Names follow the shape
// of the Kafka JMX exporter's (kafka_server_..., kafka_network_...,
// kafka_log_...) so existing dashboards need few changes. Counters on the
// hot path are cached per topic (topicMetrics) so a produce or fetch does
// no label lookup.
type metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec
	requestErrors *prometheus.CounterVec
	// connectionsRefused counts connections closed on accept for their
	// IP's max.connections.per.ip, by listener.
	connectionsRefused *prometheus.CounterVec
	requestDuration    *prometheus.HistogramVec
	bytesIn            *prometheus.CounterVec
	bytesOut           *prometheus.CounterVec
	messagesIn         *prometheus.CounterVec
	connections        prometheus.Gauge
	sendfileBytes      prometheus.Counter
	txn                *txnMetrics // metrics_txn.go
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kafka_network_requests_total", Help: "Requests received, by API.",
	}, []string{"request"})
	m.connectionsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "samsa_connections_refused_total", Help: "Connections closed on accept because their address was at max.connections.per.ip, by listener.",
	}, []string{"listener"})
	m.requestErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kafka_network_request_errors_total", Help: "Requests that closed their connection (undecodable, unsupported version, handler panic), by API.",
	}, []string{"request"})
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kafka_network_request_duration_seconds",
		Help:    "Time from a request's arrival to its response being queued, by API (delayed fetches and acks=all produces include their wait).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"request"})
	m.bytesIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kafka_server_brokertopicmetrics_bytes_in_total", Help: "Record bytes appended by producers, by topic.",
	}, []string{"topic"})
	m.bytesOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kafka_server_brokertopicmetrics_bytes_out_total", Help: "Record bytes sent to fetchers, by topic.",
	}, []string{"topic"})
	m.messagesIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kafka_server_brokertopicmetrics_messages_in_total", Help: "Records appended by producers, by topic.",
	}, []string{"topic"})
	m.connections = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "kafka_server_socket_server_connections", Help: "Open client connections.",
	})
	m.sendfileBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "samsa_fetch_sendfile_bytes_total", Help: "Record bytes fetchers were sent straight from segment files (sendfile), without a copy through the broker's memory.",
	})
	m.reg.MustRegister(m.requests, m.requestErrors, m.connectionsRefused, m.requestDuration, m.bytesIn, m.bytesOut, m.messagesIn, m.connections, m.sendfileBytes,
		&partitionCollector{s: s},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.txn = newTxnMetrics(m.reg, s)
	return m
}

// observeRequest records one answered request.
func (m *metrics) observeRequest(key int16, d time.Duration) {
	name := kmsg.NameForKey(key)
	m.requests.WithLabelValues(name).Inc()
	m.requestDuration.WithLabelValues(name).Observe(d.Seconds())
}

// partitionCollector reports per-partition state at scrape time, so the
// produce path does no gauge updates.
type partitionCollector struct{ s *Server }

var (
	descPartitions      = prometheus.NewDesc("kafka_server_replicamanager_partitions", "Partitions hosted by this broker.", nil, nil)
	descLeaders         = prometheus.NewDesc("kafka_server_replicamanager_leader_count", "Partitions this broker leads.", nil, nil)
	descUnderReplicated = prometheus.NewDesc("kafka_server_replicamanager_under_replicated_partitions", "Led partitions whose ISR is smaller than their replica set.", nil, nil)
	descLogSize         = prometheus.NewDesc("kafka_log_size_bytes", "Bytes on disk of a partition's log.", []string{"topic", "partition"}, nil)
	descLogEnd          = prometheus.NewDesc("kafka_log_log_end_offset", "Log end offset of a partition.", []string{"topic", "partition"}, nil)
	descLogStart        = prometheus.NewDesc("kafka_log_log_start_offset", "Log start offset of a partition.", []string{"topic", "partition"}, nil)
	descUnderMinISR     = prometheus.NewDesc("kafka_server_replicamanager_under_min_isr_partition_count", "Led partitions whose ISR is smaller than min.insync.replicas.", nil, nil)
	descISRShrinks      = prometheus.NewDesc("kafka_server_replicamanager_isr_shrinks_total", "ISR shrinks this broker proposed as a leader.", nil, nil)
	descISRExpands      = prometheus.NewDesc("kafka_server_replicamanager_isr_expands_total", "ISR expansions this broker proposed as a leader.", nil, nil)
	descFollowerLag     = prometheus.NewDesc("kafka_server_replicafetchermanager_consumer_lag", "On a follower: the leader's high watermark at the last fetch minus this replica's log end offset.", []string{"topic", "partition"}, nil)
	descActiveCtrl      = prometheus.NewDesc("kafka_controller_kafkacontroller_active_controller_count", "1 on the active controller, 0 elsewhere.", nil, nil)
	descOffline         = prometheus.NewDesc("kafka_controller_kafkacontroller_offline_partitions_count", "Partitions without a leader (reported by the active controller, 0 elsewhere).", nil, nil)
	descFencedBrokers   = prometheus.NewDesc("kafka_controller_kafkacontroller_fenced_broker_count", "Registered brokers that are fenced (reported by the active controller).", nil, nil)
	descHighWatermark   = prometheus.NewDesc("kafka_cluster_partition_high_watermark", "High watermark of a partition.", []string{"topic", "partition"}, nil)
)

func (c *partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPartitions, descLeaders, descUnderReplicated, descLogSize, descLogEnd, descLogStart, descHighWatermark,
		descUnderMinISR, descISRShrinks, descISRExpands, descFollowerLag, descActiveCtrl, descOffline, descFencedBrokers} {
		ch <- d
	}
}

func (c *partitionCollector) Collect(ch chan<- prometheus.Metric) {
	all := c.s.replicas.All()
	leaders, under, underMin := 0, 0, 0
	for _, p := range all {
		st := p.State()
		t, part := p.TP.Topic, strconv.Itoa(int(p.TP.Partition))
		if st.IsLeader {
			leaders++
			if len(st.ISR) < len(st.Replicas) {
				under++
			}
			if st.Config != nil && int32(len(st.ISR)) < st.Config.MinInsyncReplicas {
				underMin++
			}
		} else {
			ch <- prometheus.MustNewConstMetric(descFollowerLag, prometheus.GaugeValue, float64(p.FollowerLag()), t, part)
		}
		l := p.Log
		ch <- prometheus.MustNewConstMetric(descLogSize, prometheus.GaugeValue, float64(l.Size()), t, part)
		ch <- prometheus.MustNewConstMetric(descLogEnd, prometheus.GaugeValue, float64(l.LogEndOffset()), t, part)
		ch <- prometheus.MustNewConstMetric(descLogStart, prometheus.GaugeValue, float64(l.LogStartOffset()), t, part)
		ch <- prometheus.MustNewConstMetric(descHighWatermark, prometheus.GaugeValue, float64(l.HighWatermark()), t, part)
	}
	ch <- prometheus.MustNewConstMetric(descPartitions, prometheus.GaugeValue, float64(len(all)))
	ch <- prometheus.MustNewConstMetric(descLeaders, prometheus.GaugeValue, float64(leaders))
	ch <- prometheus.MustNewConstMetric(descUnderReplicated, prometheus.GaugeValue, float64(under))
	ch <- prometheus.MustNewConstMetric(descUnderMinISR, prometheus.GaugeValue, float64(underMin))
	ch <- prometheus.MustNewConstMetric(descISRShrinks, prometheus.CounterValue, float64(c.s.replicas.ISRShrinks()))
	ch <- prometheus.MustNewConstMetric(descISRExpands, prometheus.CounterValue, float64(c.s.replicas.ISRExpands()))

	active, offline, fenced := 0, 0, 0
	if c.s.meta != nil && c.s.meta.IsController() {
		active = 1
		img := c.s.meta.Image()
		for _, t := range img.Topics {
			for _, p := range t.Partitions {
				if p.Leader < 0 {
					offline++
				}
			}
		}
		for _, b := range img.Brokers {
			if b.Fenced {
				fenced++
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(descActiveCtrl, prometheus.GaugeValue, float64(active))
	ch <- prometheus.MustNewConstMetric(descOffline, prometheus.GaugeValue, float64(offline))
	ch <- prometheus.MustNewConstMetric(descFencedBrokers, prometheus.GaugeValue, float64(fenced))
}

// startHTTP serves /metrics, /healthz, /readyz (and pprof when enabled) on
// samsa.http.listener. A taken address is logged, not fatal: the broker's
// job is the Kafka listener.
func (s *Server) startHTTP() {
	addr := s.cfg.String("samsa.http.listener")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.logger.Error("metrics and health endpoint disabled: cannot listen", "samsa.http.listener", addr, "err", err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() || s.meta.ControllerID() < 0 {
			http.Error(w, "not ready: metadata quorum has no leader or the broker is starting", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	if s.cfg.Bool("samsa.http.pprof.enable") {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		// The mutex and block profiles are empty unless sampled: sample
		// one contention event in 100 and blocking events of 10 µs or
		// more (proportionally below), cheap enough for a diagnostic run.
		runtime.SetMutexProfileFraction(100)
		runtime.SetBlockProfileRate(10_000)
	}
	s.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.httpAddr = ln.Addr().String()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("HTTP endpoint stopped", "err", err)
		}
	}()
}

// HTTPAddr is the bound address of the metrics and health endpoint, "" when
// it is off.
func (s *Server) HTTPAddr() string { return s.httpAddr }

func (s *Server) stopHTTP() {
	if s.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.httpSrv.Shutdown(ctx)
	}
}
