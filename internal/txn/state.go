package txn

import "fmt"

// State is a transaction's state, with Kafka's ids (the
// transaction_status of a __transaction_state value) and names (what
// DescribeTransactions and ListTransactions show).
type State int8

// The states, in Kafka's numbering.
const (
	// Empty: the id has a producer id and epoch and no transaction.
	Empty State = 0
	// Ongoing: partitions have been added; the producer writes.
	Ongoing State = 1
	// PrepareCommit and PrepareAbort: EndTxn was accepted and written;
	// the markers are being written to the partitions.
	PrepareCommit State = 2
	PrepareAbort  State = 3
	// CompleteCommit and CompleteAbort: every marker is written.
	CompleteCommit State = 4
	CompleteAbort  State = 5
	// Dead: the id is being expired (only ever a pending state: the
	// log gets a tombstone, never a Dead value).
	Dead State = 6
	// PrepareEpochFence: the epoch is being bumped to fence the
	// producer before aborting its transaction (only ever a pending
	// state: the log gets PrepareAbort with the bumped epoch).
	PrepareEpochFence State = 7
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

func (s State) String() string {
	if s.valid() {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int8(s))
}

func (s State) valid() bool { return s >= 0 && int(s) < len(stateNames) }

// ParseState is the state of a Kafka state name (ListTransactions'
// state filters); false for an unknown name.
func ParseState(name string) (State, bool) {
	for i, n := range stateNames {
		if n == name {
			return State(i), true
		}
	}
	return 0, false
}

// validPrevious lists, for each state, the states it may be entered from
// (Kafka's TransactionState.validPreviousStates).
var validPrevious = [...][]State{
	Empty:             {Empty, CompleteCommit, CompleteAbort},
	Ongoing:           {Ongoing, Empty, CompleteCommit, CompleteAbort},
	PrepareCommit:     {Ongoing},
	PrepareAbort:      {Ongoing, PrepareEpochFence, Empty, CompleteCommit, CompleteAbort}, // the last three: KIP-890 part 2's empty abort
	CompleteCommit:    {PrepareCommit},
	CompleteAbort:     {PrepareAbort},
	Dead:              {Empty, CompleteAbort, CompleteCommit},
	PrepareEpochFence: {Ongoing},
}

// CanTransition reports whether a transaction may go from one state to
// another.
func CanTransition(from, to State) bool {
	if !from.valid() || !to.valid() {
		return false
	}
	for _, p := range validPrevious[to] {
		if p == from {
			return true
		}
	}
	return false
}

// expirable is whether an id in this state may expire after
// transactional.id.expiration.ms without activity.
func (s State) expirable() bool {
	return s == Empty || s == CompleteCommit || s == CompleteAbort
}

// preparing is whether the markers of an ended transaction are being
// written.
func (s State) preparing() bool { return s == PrepareCommit || s == PrepareAbort }
