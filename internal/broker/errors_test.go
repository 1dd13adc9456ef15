package broker

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/replica"
	"github.com/samsa-streaming/samsa/internal/storage"
)

// TestErrCodeMapping checks errCode on wrapped sentinels, as the lower
// packages return them, and its fallbacks.
func TestErrCodeMapping(t *testing.T) {
	cases := []struct {
		err  error
		want *kerr.Error
	}{
		{storage.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
		{storage.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
		{storage.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},                 // 47
		{storage.ErrInvalidTxnState, kerr.InvalidTxnState},                           // 48
		{storage.ErrTransactionCoordinatorFenced, kerr.TransactionCoordinatorFenced}, // 52
		{storage.ErrKafkaStorage, kerr.KafkaStorageError},
		{records.ErrCorrupt, kerr.CorruptMessage},
		{replica.ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
		{kerr.InvalidRequest, kerr.InvalidRequest},
		{errors.New("something else"), kerr.UnknownServerError},
	}
	for _, c := range cases {
		wrapped := fmt.Errorf("context: %w", c.err)
		if got := errCode(wrapped); got != c.want.Code {
			t.Errorf("errCode(%v) = %d, want %d (%s)", wrapped, got, c.want.Code, c.want.Message)
		}
	}
	if errCode(nil) != 0 {
		t.Errorf("errCode(nil) = %d", errCode(nil))
	}
	if kerr.InvalidProducerEpoch.Code != 47 || kerr.InvalidTxnState.Code != 48 || kerr.TransactionCoordinatorFenced.Code != 52 {
		t.Fatal("kerr codes changed")
	}
}
