package storage

import (
	"errors"
	"testing"
)

// TestTxnVerificationGuard: a transactional batch that needs verification
// goes in only with the guard StartTxnVerification gave; a marker between
// the guard and the append (the transaction ended meanwhile) drops it, so
// the late batch is refused; once the producer's transaction is ongoing no
// guard is needed.
func TestTxnVerificationGuard(t *testing.T) {
	m, l, _ := newTestLog(t, testConfig())
	defer m.Close()
	s := idem(7, 0, 0, 1)
	s.txn = true
	verify := func(g VerificationGuard) AppendOptions { return AppendOptions{VerifyTxn: true, Guard: g} }

	// No guard, or a made-up one: refused, nothing written.
	if _, err := l.AppendAsLeaderOpts(makeBatch(s), 0, t0, verify(0)); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("without a guard: %v", err)
	}
	g := l.StartTxnVerification(7, 0)
	if g == 0 {
		t.Fatal("no guard for a producer without a transaction here")
	}
	if again := l.StartTxnVerification(7, 0); again != g {
		t.Fatalf("second verification got guard %d, want the same %d", again, g)
	}
	if _, err := l.AppendAsLeaderOpts(makeBatch(s), 0, t0, verify(g+1)); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("with another guard: %v", err)
	}
	// The guard's append goes in; the transaction is then ongoing and
	// the next batch needs no guard.
	if _, err := l.AppendAsLeaderOpts(makeBatch(s), 0, t0, verify(g)); err != nil {
		t.Fatalf("with its guard: %v", err)
	}
	if g := l.StartTxnVerification(7, 0); g != 0 {
		t.Fatalf("guard %d for an ongoing transaction", g)
	}
	s2 := idem(7, 0, 1, 1)
	s2.txn = true
	if _, err := l.AppendAsLeaderOpts(makeBatch(s2), 0, t0, verify(0)); err != nil {
		t.Fatalf("second batch of the ongoing transaction: %v", err)
	}
	if _, err := l.AppendMarker(7, 0, false, 0, 0, t0); err != nil {
		t.Fatal(err)
	}
	// Verified, then the transaction ended before the append: refused.
	g = l.StartTxnVerification(7, 0)
	if _, err := l.AppendMarker(7, 0, false, 0, 0, t0); err != nil {
		t.Fatal(err)
	}
	leo := l.LogEndOffset()
	s3 := idem(7, 0, 2, 1)
	s3.txn = true
	if _, err := l.AppendAsLeaderOpts(makeBatch(s3), 0, t0, verify(g)); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("after a marker dropped the guard: %v", err)
	}
	if l.LogEndOffset() != leo {
		t.Fatalf("log end offset moved from %d to %d on a refused batch", leo, l.LogEndOffset())
	}
	// Without verification the batch is taken, as before KIP-890.
	if _, err := l.AppendAsLeader(makeBatch(s3), 0, t0); err != nil {
		t.Fatalf("without verification: %v", err)
	}
}
