package txn

import (
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzDecode feeds arbitrary keys and values to the decoders: they may
// refuse them, never panic, and what they accept encodes back to a value
// that decodes the same.
func FuzzDecode(f *testing.F) {
	f.Add(EncodeKey("t1"), EncodeValue(Value{ProducerID: 1, PreviousProducerID: -1, NextProducerID: -1, State: Ongoing,
		Partitions: []TopicPartition{{"a", 0}, {"b", 3}}, StartMs: 1, LastUpdateMs: 2}, 0))
	f.Add(EncodeKey("t2"), EncodeValue(Value{ProducerID: 1, PreviousProducerID: 4, NextProducerID: 9, State: PrepareCommit,
		Partitions: []TopicPartition{{"a", 0}}, StartMs: 1, LastUpdateMs: 2, ClientTransactionVersion: 2}, 1))
	f.Add(EncodeKey("t3"), []byte(nil))
	f.Add([]byte{0, 0, 0x7f, 0xff}, []byte{0, 1, 0xff})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		if id, err := DecodeKey(key); err == nil {
			if back, err := DecodeKey(EncodeKey(id)); err != nil || back != id {
				t.Fatalf("key %q round trip: %q, %v", id, back, err)
			}
		}
		v, err := DecodeValue(value)
		if err != nil {
			return
		}
		for ver := int16(0); ver <= maxValueVersion; ver++ {
			w, err := DecodeValue(EncodeValue(v, ver))
			if err != nil {
				t.Fatalf("re-encoded v%d of %+v: %v", ver, v, err)
			}
			exp := v
			if ver == 0 {
				exp.PreviousProducerID, exp.NextProducerID, exp.ClientTransactionVersion = -1, -1, 0
			}
			if !reflect.DeepEqual(w, exp) {
				t.Fatalf("v%d round trip: %+v, want %+v", ver, w, exp)
			}
		}
	})
}

// FuzzReplay feeds an arbitrary record to a shard that holds a few
// transactions: Replay may refuse it, never panic, and the shard must
// stay usable.
func FuzzReplay(f *testing.F) {
	f.Add(EncodeKey("t1"), EncodeValue(Value{ProducerID: 1, State: PrepareCommit, Partitions: []TopicPartition{{"a", 0}}, StartMs: 1}, 1))
	f.Add(EncodeKey("t1"), EncodeValue(Value{ProducerID: 1, State: Ongoing, StartMs: 1}, 0))
	f.Add(EncodeKey("t2"), []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		s, _ := testShard(2)
		_ = s.Replay(Record{Key: EncodeKey("t2"), Value: EncodeValue(Value{ProducerID: 9, State: Ongoing, Partitions: []TopicPartition{{"b", 1}}}, 1)})
		_ = s.Replay(Record{Key: key, Value: value})
		now := time.UnixMilli(0)
		for _, mk := range s.LoadComplete(now) {
			for _, tp := range mk.Partitions {
				e := s.MarkerWritten(now, mk.TransactionalID, mk.ProducerID, mk.ProducerEpoch, tp)
				e.Complete(nil)
			}
		}
		e := s.Tick(now.Add(30 * 24 * time.Hour))
		e.Complete(nil)
		for _, id := range s.sortedIDs() {
			s.Describe(id)
			initTxn(t, s, id, -1, -1)
		}
		s.List(now, &kmsg.ListTransactionsRequest{})
		s.Outstanding()
	})
}
