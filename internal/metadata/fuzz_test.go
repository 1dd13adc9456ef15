package metadata

import (
	"reflect"
	"testing"
)

// FuzzDecodeBatch: decoding never panics, a decoded batch re-encodes to the
// same records, and applying it to an image never panics or changes the
// image it started from.
func FuzzDecodeBatch(f *testing.F) {
	seed, _ := EncodeBatch([]Record{
		&TopicRecord{Name: "t", ID: [16]byte{7}},
		&PartitionRecord{TopicID: [16]byte{7}, Replicas: []int32{0}, ISR: []int32{0}},
		&PartitionChangeRecord{TopicID: idA, Partition: 1, Leader: i32p(0), ISR: []int32{0}},
		&ConfigRecord{ResourceType: 2, ResourceName: "a", Name: "x", Value: strp("1")},
		&RemoveTopicRecord{TopicID: idB},
	})
	f.Add(seed)
	f.Add([]byte(`[{"type":"ProducerIDs","v":0,"data":{"NextBlockStart":5}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := DecodeBatch(data)
		if err != nil {
			return
		}
		again, err := EncodeBatch(recs)
		if err != nil {
			t.Fatal(err)
		}
		recs2, err := DecodeBatch(again)
		if err != nil || !reflect.DeepEqual(recs, recs2) {
			t.Fatalf("re-encoding changed the batch: %v", err)
		}
		im := baseImage(t)
		before := string(mustJSON(t, newSnapshotImage(im)))
		_, _, _ = applyBatch(im, 100, recs)
		if string(mustJSON(t, newSnapshotImage(im))) != before {
			t.Fatal("apply changed its input image")
		}
	})
}
