package group

import (
	"testing"
	"time"
)

// FuzzReplay feeds arbitrary records to Replay: it may refuse them, never
// panic, and the shard must stay usable.
func FuzzReplay(f *testing.F) {
	h := newHarness(f)
	ids, gen := h.stableGroup(2)
	h.commit("g", ids[0], gen, "t", 0, 5, "meta")
	h.commit("simple", "", -1, "t", 1, 7, "")
	for _, r := range h.log {
		f.Add(r.Key, r.Value)
	}
	// Consumer-protocol records (key versions 3, 5-8).
	c := newHarness(f)
	c.setTopics(TopicInfo{Name: "t", Partitions: 3})
	for _, cl := range newClients(2, "t") {
		c.cghb(cl)
		c.cghb(cl)
	}
	for _, r := range c.log {
		f.Add(r.Key, r.Value)
	}
	f.Add([]byte{0, 2}, []byte{0, 3, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		s := NewShard(DefaultConfig())
		_ = s.Replay(Record{Key: key, Value: value})
		// The same record in an open transaction, and one ended by a
		// marker.
		_ = s.ReplayBatch(Batch{ProducerID: 1, Transactional: true}, Record{Key: key, Value: value})
		_ = s.ReplayBatch(Batch{ProducerID: 2, Transactional: true}, Record{Key: key, Value: value})
		s.ReplayEndTxnMarker(2, len(value)%2 == 0)
		now := time.UnixMilli(0)
		s.LoadComplete(now)
		e := s.Tick(now.Add(time.Hour))
		e.Complete(nil)
		te := s.SetTopics(now, []TopicInfo{{Name: "t", ID: topicID("t"), Partitions: 3}})
		te.Complete(nil)
		for _, id := range s.sortedGroupIDs() {
			s.DescribeGroup(id)
			s.DescribeConsumerGroup(id, 1)
			s.FetchOffsets(id, nil)
			s.FetchStableOffsets(id, nil)
			s.ListGroups(nil, nil)
		}
	})
}
