package broker

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// groupLagCollector reports, at scrape time, each group's committed offset
// and lag (high watermark minus committed offset) per partition, for the
// groups this broker coordinates. Names follow kafka_exporter's
// (kafka_consumergroup_lag, kafka_consumergroup_current_offset).
type groupLagCollector struct{ s *Server }

var (
	descGroupLag       = prometheus.NewDesc("kafka_consumergroup_lag", "High watermark minus the group's committed offset, per partition (groups coordinated by this broker, partitions it leads).", []string{"consumergroup", "topic", "partition"}, nil)
	descGroupCommitted = prometheus.NewDesc("kafka_consumergroup_current_offset", "The group's committed offset, per partition.", []string{"consumergroup", "topic", "partition"}, nil)
)

func (c *groupLagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descGroupLag
	ch <- descGroupCommitted
}

func (c *groupLagCollector) Collect(ch chan<- prometheus.Metric) {
	gc := c.s.groups
	if gc == nil {
		return
	}
	type committed struct {
		group, topic string
		partition    int32
		offset       int64
	}
	var all []committed
	shards, _ := gc.loadedShards()
	for _, sh := range shards {
		sh.mu.Lock()
		if !sh.mu.closed && sh.mu.sm != nil {
			for _, g := range sh.mu.sm.ListGroups(nil, nil) {
				resp := sh.mu.sm.FetchOffsets(g.Group, nil)
				for _, t := range resp.Topics {
					for _, p := range t.Partitions {
						if p.Offset >= 0 {
							all = append(all, committed{g.Group, t.Topic, p.Partition, p.Offset})
						}
					}
				}
			}
		}
		sh.mu.Unlock()
	}
	for _, cm := range all {
		part := strconv.Itoa(int(cm.partition))
		ch <- prometheus.MustNewConstMetric(descGroupCommitted, prometheus.GaugeValue, float64(cm.offset), cm.group, cm.topic, part)
		if p := c.s.replicas.Get(cm.topic, cm.partition); p != nil && p.IsLeader() {
			lag := max(p.Log.HighWatermark()-cm.offset, 0)
			ch <- prometheus.MustNewConstMetric(descGroupLag, prometheus.GaugeValue, float64(lag), cm.group, cm.topic, part)
		}
	}
}
