package storage

import (
	"fmt"

	"github.com/samsa-streaming/samsa/internal/records"
)

// Transaction verification (KIP-890 part 1).
//
// Before a leader appends the first transactional batch of a producer's
// transaction to this partition, the broker asks the transaction
// coordinator whether that transaction is ongoing with this partition
// (AddPartitionsToTxn with VerifyOnly). The answer can be stale by the time
// the batch is appended: the transaction may have ended in between (its
// marker written here), and a batch appended after the marker would open a
// transaction no coordinator knows of, which would hold the last stable
// offset forever. The verification guard closes that window, as Kafka's
// VerificationGuard does: StartTxnVerification hands out a guard for the
// producer before the broker asks, any marker of the producer (leader or
// follower, through the replay) drops it, and an append that needs
// verification only goes in with the guard still in place. The first
// transactional batch appended drops it too: from then on the producer's
// ongoing transaction is what the log knows.
//
// Guards are in memory only: after a restart or a leader change the
// producer is verified again, which costs a round trip, never safety.

// VerificationGuard identifies one verification of a producer on this
// log; zero is no guard.
type VerificationGuard uint64

// AppendOptions are the leader append's optional checks.
type AppendOptions struct {
	// VerifyTxn makes a transactional batch whose producer has no
	// ongoing transaction here at its epoch go in only with Guard, the
	// guard StartTxnVerification gave before the coordinator confirmed
	// the transaction (ErrInvalidTxnState otherwise).
	VerifyTxn bool
	Guard     VerificationGuard
}

// StartTxnVerification returns a guard for a verification of the
// producer's transaction, or zero when none is needed: the producer has a
// transaction ongoing here at that epoch already. A guard still in place
// from an earlier verification is returned again.
func (l *Log) StartTxnVerification(producerID int64, epoch int16) VerificationGuard {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.mu.producers.lookup(producerID); e.CurrentTxnFirstOffset >= 0 && e.Epoch == epoch {
		return 0
	}
	if g, ok := l.mu.guards[producerID]; ok {
		return g
	}
	if l.mu.guards == nil {
		l.mu.guards = map[int64]VerificationGuard{}
	}
	l.mu.nextGuard++
	l.mu.guards[producerID] = l.mu.nextGuard
	return l.mu.nextGuard
}

// checkVerifiedLocked is the append's check of a transactional batch
// against the producer's staged entry (before the batch is applied to it).
func (l *Log) checkVerifiedLocked(opts AppendOptions, h *records.Header, e *producerEntry) error {
	if !opts.VerifyTxn || !h.IsTransactional() || (e.CurrentTxnFirstOffset >= 0 && e.Epoch == h.ProducerEpoch) {
		return nil
	}
	if g, ok := l.mu.guards[h.ProducerID]; !ok || g != opts.Guard || opts.Guard == 0 {
		return fmt.Errorf("%w: producer %d's transaction was not verified with its coordinator, or ended since", ErrInvalidTxnState, h.ProducerID)
	}
	return nil
}

// dropGuardLocked removes a producer's guard: its transaction started or
// ended here.
func (l *Log) dropGuardLocked(producerID int64) {
	if l.mu.guards != nil {
		delete(l.mu.guards, producerID)
	}
}
