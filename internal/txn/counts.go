package txn

// StateCounts counts the shard's transactional ids by state (their
// current state, not a pending one; ids being expired are left out), for
// metrics. It only reads.
func (s *Shard) StateCounts() map[State]int {
	out := map[State]int{}
	for _, m := range s.txns {
		if m.pending == Dead {
			continue
		}
		out[m.state]++
	}
	return out
}
