package broker

import (
	"fmt"
	"path/filepath"
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

// TestCommittedOffsetsSurviveCleaningAndRestart: __consumer_offsets is
// compacted like any such topic. Commits fill several of its segments; a
// cleaner pass leaves one record per partition in each sealed one; more
// commits and later passes merge the cleaned segments, so their number
// stays bounded. Through every pass and a restart, the group's offsets
// load back as last committed.
func TestCommittedOffsetsSurviveCleaningAndRestart(t *testing.T) {
	tb := startBroker(t, "offsets.topic.num.partitions=1", "offsets.topic.segment.bytes=1048576")
	createTopic(t, tb, "data", 200, nil)
	adm := tb.admin()
	ctx := testCtx(t)
	round := 0
	commit := func(rounds int) { // ~47 B per partition commit: 300 rounds ~2.8 MB
		t.Helper()
		for range rounds {
			round++
			offs := kadm.Offsets{}
			for p := int32(0); p < 200; p++ {
				offs.Add(kadm.Offset{Topic: "data", Partition: p, At: int64(round*1000) + int64(p), LeaderEpoch: -1})
			}
			resp, err := adm.CommitOffsets(ctx, "g", offs)
			if err != nil || resp.Error() != nil {
				t.Fatalf("commit round %d: %v %v", round, err, resp.Error())
			}
		}
	}
	segments := func() int {
		ms, _ := filepath.Glob(filepath.Join(tb.dir, "__consumer_offsets-0", "*.log"))
		return len(ms)
	}
	check := func(when string) {
		t.Helper()
		got, err := tb.admin().FetchOffsets(testCtx(t), "g")
		if err != nil || got.Error() != nil {
			t.Fatalf("%s: fetch offsets: %v %v", when, err, got.Error())
		}
		for p := int32(0); p < 200; p++ {
			o, ok := got.Lookup("data", p)
			if want := int64(round*1000) + int64(p); !ok || o.At != want {
				t.Fatalf("%s: partition %d committed %d (present %v), want %d", when, p, o.At, ok, want)
			}
		}
	}
	commit(300) // the first commit creates __consumer_offsets
	l := tb.srv.logs.Get(storage.TopicPartition{Topic: "__consumer_offsets", Partition: 0})
	if n := segments(); n < 3 {
		t.Fatalf("%d segments before cleaning, want at least 3", n)
	}
	before := l.Size()
	tb.srv.logs.Maintain(time.Now().Add(24 * time.Hour))
	if after := l.Size(); after >= before/2 {
		t.Fatalf("__consumer_offsets is %d bytes after cleaning, %d before", after, before)
	}
	check("after the first pass")

	// Each later round of commits seals one more segment, new dirty data
	// for another pass; the cleaned segments merge as those passes go, so
	// the file count stays put however much is committed.
	var counts []int
	for pass := 2; pass <= 6; pass++ {
		commit(150)
		tb.srv.logs.Maintain(time.Now().Add(time.Duration(pass) * 24 * time.Hour))
		check(fmt.Sprintf("after pass %d", pass))
		counts = append(counts, segments())
	}
	if last := counts[len(counts)-1]; last > 3 || counts[0] > 4 {
		t.Fatalf("segment files after each later pass %v, want at most 4 and then 3", counts)
	}
	t.Logf("segment files after each later pass: %v", counts)
	tb.restart()
	check("after restart")
}
