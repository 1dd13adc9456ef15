package metadata

import (
	"errors"
	"testing"
)

// TestElectLeaders checks the election rules on an image: preferred
// elections move leadership to the first replica only when it is live
// and in the ISR; unclean ones only for leaderless partitions; a request
// for all partitions leaves out those that need nothing; auto rebalancing
// picks the brokers over the imbalance percentage.
func TestElectLeaders(t *testing.T) {
	im := baseImage(t) // brokers 0, 1 (live), 2 (fenced); a-0 [0 1] led by 0, a-1 [1 0] led by 1, b-0 [0]
	im = mustApply(t, im, 4, &PartitionChangeRecord{TopicID: idA, Partition: 0, Leader: i32p(1)})
	recs, res := electLeaders(im, ElectPreferred, []PartitionRef{{"a", 0}, {"a", 1}, {"x", 0}})
	if len(recs) != 1 || res[0].Err != nil || !errors.Is(res[1].Err, ErrElectionNotNeeded) || !errors.Is(res[2].Err, ErrUnknownTopic) {
		t.Fatalf("preferred: %d records, results %+v", len(recs), res)
	}
	next := mustApply(t, im, 5, recs...)
	if l := next.Partition("a", 0).Leader; l != 0 {
		t.Fatalf("a-0 leader %d after the preferred election", l)
	}
	// Preferred replica out of the ISR: not available.
	im2 := mustApply(t, im, 5, &PartitionChangeRecord{TopicID: idA, Partition: 0, ISR: []int32{1}})
	if _, res := electLeaders(im2, ElectPreferred, []PartitionRef{{"a", 0}}); !errors.Is(res[0].Err, ErrPreferredLeaderNotAvailable) {
		t.Fatalf("preferred out of the ISR: %v", res[0].Err)
	}
	// For all partitions: only the ones an election was tried for.
	if _, res := electLeaders(im, ElectPreferred, nil); len(res) != 1 || res[0].Topic != "a" || res[0].Partition != 0 {
		t.Fatalf("all partitions: %+v", res)
	}
	// Unclean: a led partition needs none; a leaderless one gets a live
	// replica, which becomes the ISR.
	if _, res := electLeaders(im, ElectUnclean, []PartitionRef{{"a", 1}}); !errors.Is(res[0].Err, ErrElectionNotNeeded) {
		t.Fatalf("unclean on a led partition: %v", res[0].Err)
	}
	im3 := mustApply(t, im, 5, &PartitionChangeRecord{TopicID: idA, Partition: 1, Leader: i32p(-1), ISR: []int32{0}})
	im3 = mustApply(t, im3, 6, &RegisterBrokerRecord{BrokerID: 0, Fenced: true})
	recs, res = electLeaders(im3, ElectUnclean, []PartitionRef{{"a", 1}})
	if res[0].Err != nil || len(recs) != 1 {
		t.Fatalf("unclean: %v", res[0].Err)
	}
	if p := mustApply(t, im3, 7, recs...).Partition("a", 1); p.Leader != 1 || len(p.ISR) != 1 || p.ISR[0] != 1 {
		t.Fatalf("after the unclean election: %+v", p)
	}
	// Auto rebalance: broker 0 prefers a-0 and b-0 and leads only b-0:
	// 50% imbalance, above 10, below 60.
	if got := imbalancedPreferred(im, 10); len(got) != 1 || got[0] != (PartitionRef{"a", 0}) {
		t.Fatalf("imbalance 10%%: %v", got)
	}
	if got := imbalancedPreferred(im, 60); len(got) != 0 {
		t.Fatalf("imbalance 60%%: %v", got)
	}
}
