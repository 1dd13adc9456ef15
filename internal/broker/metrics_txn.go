package broker

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/samsa-streaming/samsa/internal/txn"
)

// Transaction metrics: the transaction coordinator's ids by state and its
// ongoing transactions (read from the loaded shards at scrape time), the
// last stable offset lag of the partitions this broker leads, the time a
// coordinator (group or transaction) takes to load a partition (Kafka's
// partition-load-time of its coordinator metrics), and the latency of the
// marker sender's WriteTxnMarkers.
type txnMetrics struct {
	coordinatorLoad *prometheus.HistogramVec
	markerWrite     *prometheus.HistogramVec
}

func newTxnMetrics(reg *prometheus.Registry, s *Server) *txnMetrics {
	m := &txnMetrics{
		coordinatorLoad: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "samsa_coordinator_partition_load_time_seconds",
			Help:    "Time to load a coordinator partition (replay its log into the state machine) when this broker becomes its leader, by coordinator (group, transaction).",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"coordinator"}),
		markerWrite: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "samsa_transaction_marker_write_duration_seconds",
			Help:    "Time for the transaction marker sender to have one WriteTxnMarkers request's markers written and committed by a partition leader (local: this broker leads the partitions), failures included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"destination"}),
	}
	reg.MustRegister(m.coordinatorLoad, m.markerWrite, &txnCollector{s: s})
	return m
}

// observeCoordinatorLoad records a coordinator runtime's load of a
// partition; name is the runtime's ("group coordinator").
func (m *metrics) observeCoordinatorLoad(name string, d time.Duration) {
	if m == nil || m.txn == nil {
		return
	}
	m.txn.coordinatorLoad.WithLabelValues(strings.TrimSuffix(name, " coordinator")).Observe(d.Seconds())
}

// observeMarkerWrite records one WriteTxnMarkers of the marker sender.
func (m *metrics) observeMarkerWrite(local bool, d time.Duration) {
	if m == nil || m.txn == nil {
		return
	}
	dest := "remote"
	if local {
		dest = "local"
	}
	m.txn.markerWrite.WithLabelValues(dest).Observe(d.Seconds())
}

// txnCollector reports the transaction gauges at scrape time.
type txnCollector struct{ s *Server }

var (
	descTxnOngoing = prometheus.NewDesc("samsa_transaction_coordinator_ongoing_transactions",
		"Transactions in state Ongoing on the transaction coordinator partitions this broker leads (partitions added, not yet ended).", nil, nil)
	descTxnByState = prometheus.NewDesc("samsa_transaction_coordinator_transactional_ids",
		"Transactional ids of the transaction coordinator partitions this broker leads, by transaction state.", []string{"state"}, nil)
	descLSOLag = prometheus.NewDesc("samsa_partition_last_stable_offset_lag",
		"High watermark minus last stable offset of a partition this broker leads: the records read_committed consumers wait for while transactions are open.", []string{"topic", "partition"}, nil)
)

// txnMetricStates are the states reported by
// samsa_transaction_coordinator_transactional_ids (Dead and
// PrepareEpochFence are only ever pending).
var txnMetricStates = []txn.State{txn.Empty, txn.Ongoing, txn.PrepareCommit, txn.PrepareAbort, txn.CompleteCommit, txn.CompleteAbort}

func (c *txnCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descTxnOngoing
	ch <- descTxnByState
	ch <- descLSOLag
}

func (c *txnCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.s.replicas.All() {
		if !p.IsLeader() {
			continue
		}
		lag := max(p.Log.HighWatermark()-p.Log.LastStableOffset(), 0)
		ch <- prometheus.MustNewConstMetric(descLSOLag, prometheus.GaugeValue, float64(lag), p.TP.Topic, strconv.Itoa(int(p.TP.Partition)))
	}
	// The coordinator is set while Serve finishes.
	select {
	case <-c.s.servingCh:
	default:
		return
	}
	tc := c.s.txns
	if tc == nil {
		return
	}
	counts := map[txn.State]int{}
	shards, _ := tc.loadedShards()
	for _, sh := range shards {
		sh.mu.Lock()
		if !sh.mu.closed && sh.mu.sm != nil {
			for st, n := range sh.mu.sm.StateCounts() {
				counts[st] += n
			}
		}
		sh.mu.Unlock()
	}
	ch <- prometheus.MustNewConstMetric(descTxnOngoing, prometheus.GaugeValue, float64(counts[txn.Ongoing]))
	for _, st := range txnMetricStates {
		ch <- prometheus.MustNewConstMetric(descTxnByState, prometheus.GaugeValue, float64(counts[st]), st.String())
	}
}
