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
	f.Add([]byte{0, 2}, []byte{0, 3, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		s := NewShard(DefaultConfig())
		_ = s.Replay(Record{Key: key, Value: value})
		now := time.UnixMilli(0)
		s.LoadComplete(now)
		e := s.Tick(now.Add(time.Hour))
		e.Complete(nil)
		for _, id := range s.sortedGroupIDs() {
			s.DescribeGroup(id)
			s.FetchOffsets(id, nil)
		}
	})
}
