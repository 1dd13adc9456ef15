package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/storage"
)

// TestCompactedTopicIsCleaned checks the wiring from topic configs to the
// log cleaner: on a compact topic whose segments roll every few ms, a
// maintenance pass leaves one record per key in the sealed segments, at
// its original offset.
func TestCompactedTopicIsCleaned(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "compacted", 1, map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.ms":                kadm.StringPtr("20"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
	})
	cl := tb.client(kgo.DisableIdempotentWrite())
	ctx := testCtx(t)
	for i := 0; i < 12; i++ {
		r := &kgo.Record{Topic: "compacted", Key: []byte(fmt.Sprintf("k%d", i%3)), Value: []byte(fmt.Sprintf("v%d", i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond) // each append after segment.ms rolls
	}
	tb.srv.logs.Maintain(time.Now())

	l := tb.srv.logs.Get(storage.TopicPartition{Topic: "compacted", Partition: 0})
	cons := tb.client(kgo.ConsumeTopics("compacted"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []*kgo.Record
	for len(got) == 0 || got[len(got)-1].Offset < 11 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("did not read up to offset 11: %d records", len(got))
		}
		got = append(got, fs.Records()...)
	}
	latest := map[string]string{}
	for _, r := range got {
		latest[string(r.Key)] = string(r.Value)
	}
	// The last record (v11, offset 11) is in the active segment and is
	// never cleaned; v9 and v10 are the latest of k0 and k1.
	if latest["k0"] != "v9" || latest["k1"] != "v10" || latest["k2"] != "v11" {
		t.Fatalf("latest values %v", latest)
	}
	if len(got) > 4 {
		t.Fatalf("%d records left after compaction of 12 records with 3 keys", len(got))
	}
	for _, r := range got {
		if want := fmt.Sprintf("v%d", r.Offset); string(r.Value) != want {
			t.Fatalf("offset %d holds %s, want %s", r.Offset, r.Value, want)
		}
	}
	if l.LogEndOffset() != 12 {
		t.Fatalf("log end offset %d after cleaning, want 12", l.LogEndOffset())
	}
}
