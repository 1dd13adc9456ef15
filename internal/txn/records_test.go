package txn

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// unhex reads hex with spaces and '|' as separators, for bytes laid out
// field by field.
func unhex(t *testing.T, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "|", "", "\n", "", "\t", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRecordBytes checks the encoding against bytes laid out by hand from
// Kafka's TransactionLogKey.json and TransactionLogValue.json.
func TestRecordBytes(t *testing.T) {
	// key v0: version int16, transactional_id string (int16 length).
	if got, want := EncodeKey("t1"), unhex(t, "0000 | 0002 7431"); !bytes.Equal(got, want) {
		t.Errorf("key = %x, want %x", got, want)
	}
	ongoing := Value{
		ProducerID: 1000, PreviousProducerID: 7, NextProducerID: -1, ProducerEpoch: 2, TimeoutMs: 60000,
		State: Ongoing, Partitions: []TopicPartition{{"a", 1}, {"a", 0}},
		LastUpdateMs: 5000, StartMs: 4000, ClientTransactionVersion: 2,
	}
	cases := []struct {
		name    string
		v       Value
		version int16
		want    string
	}{
		{"ongoing v0", ongoing, 0, `
			0000                    | version 0
			00000000000003e8        | producer_id 1000
			0002                    | producer_epoch 2
			0000ea60                | transaction_timeout_ms 60000
			01                      | transaction_status Ongoing
			00000001                | transaction_partitions: 1 topic
			0001 61                 |   topic "a"
			00000002 00000000 00000001 | partition_ids [0 1]
			0000000000001388        | last_update 5000
			0000000000000fa0        | start 4000`},
		{"ongoing v1", ongoing, 1, `
			0001
			00000000000003e8
			0002
			0000ea60
			01
			02                      | compact array: 1 topic
			02 61                   |   compact string "a"
			03 00000000 00000001    |   compact array [0 1]
			00                      |   no tagged fields
			0000000000001388
			0000000000000fa0
			02                      | 2 tagged fields
			00 08 0000000000000007  | tag 0 previous_producer_id 7
			02 02 0002              | tag 2 client_transaction_version 2`},
		{"empty v0", Value{ProducerID: 5, PreviousProducerID: -1, NextProducerID: -1, TimeoutMs: 100, State: Empty, LastUpdateMs: 1, StartMs: -1}, 0, `
			0000 0000000000000005 0000 00000064 00
			ffffffff                | null partitions
			0000000000000001 ffffffffffffffff`},
		{"empty v1", Value{ProducerID: 5, PreviousProducerID: -1, NextProducerID: -1, TimeoutMs: 100, State: Empty, LastUpdateMs: 1, StartMs: -1}, 1, `
			0001 0000000000000005 0000 00000064 00
			00                      | null compact array
			0000000000000001 ffffffffffffffff
			00                      | no tagged fields`},
	}
	for _, c := range cases {
		var lines []string
		for _, l := range strings.Split(c.want, "\n") {
			lines = append(lines, strings.SplitN(l, "| ", 2)[0])
		}
		want := unhex(t, strings.Join(lines, ""))
		got := EncodeValue(c.v, c.version)
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %x\nwant %x", c.name, got, want)
			continue
		}
		dec, err := DecodeValue(got)
		if err != nil {
			t.Fatalf("%s: decode: %v", c.name, err)
		}
		exp := c.v
		exp.Partitions = sortedTPs(exp.Partitions)
		if c.version == 0 {
			exp.PreviousProducerID, exp.NextProducerID, exp.ClientTransactionVersion = -1, -1, 0
		}
		if !reflect.DeepEqual(dec, exp) {
			t.Errorf("%s: decoded %+v, want %+v", c.name, dec, exp)
		}
	}
}

func sortedTPs(tps []TopicPartition) []TopicPartition {
	if len(tps) == 0 {
		return nil
	}
	out := append([]TopicPartition(nil), tps...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if compareTP(out[j], out[i]) < 0 {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestDecodeRefuses(t *testing.T) {
	if _, err := DecodeKey([]byte{0}); !errors.Is(err, ErrBadRecord) {
		t.Errorf("short key: %v", err)
	}
	if _, err := DecodeKey([]byte{0, 1, 0, 0}); !errors.Is(err, errUnknownKey) {
		t.Errorf("key v1: %v", err)
	}
	if _, err := DecodeKey(unhex(t, "0000 0005 61")); !errors.Is(err, ErrBadRecord) {
		t.Errorf("truncated id: %v", err)
	}
	good := EncodeValue(Value{ProducerID: 1, State: Ongoing, Partitions: []TopicPartition{{"a", 0}}, StartMs: 1}, 0)
	bad := append([]byte{}, good...)
	bad[1] = 2 // version 2
	if _, err := DecodeValue(bad); !errors.Is(err, ErrBadRecord) {
		t.Errorf("value v2: %v", err)
	}
	bad = append([]byte{}, good...)
	bad[16] = 9 // status 9
	if _, err := DecodeValue(bad); !errors.Is(err, ErrBadRecord) {
		t.Errorf("status 9: %v", err)
	}
	// An array announcing 2^31-1 topics in a short value.
	bad = append(append([]byte{}, good[:17]...), 0x7f, 0xff, 0xff, 0xff)
	if _, err := DecodeValue(bad); !errors.Is(err, ErrBadRecord) {
		t.Errorf("huge array: %v", err)
	}
	if _, err := DecodeValue(good[:len(good)-1]); !errors.Is(err, ErrBadRecord) {
		t.Errorf("truncated: %v", err)
	}
}

func TestPartitionFor(t *testing.T) {
	// Java: "abc".hashCode() == 96354, and 96354 % 50 == 4.
	if got := PartitionFor("abc", 50); got != 4 {
		t.Errorf("PartitionFor(abc, 50) = %d, want 4", got)
	}
}
