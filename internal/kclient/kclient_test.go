package kclient_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/kclient"
	"github.com/samsa-streaming/samsa/internal/testbroker"
)

// TestRequestReuse fetches from a real broker through one connection,
// alternating big and small answers on the reused buffer: each decodes
// whole and right while it is current.
func TestRequestReuse(t *testing.T) {
	b := testbroker.Start(t)
	cl := b.Client(kgo.DefaultProduceTopic("reuse"), kgo.AllowAutoTopicCreation())
	for i := 0; i < 200; i++ {
		v := bytes.Repeat([]byte{byte(i)}, 1000)
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := kclient.Dialer{}.Dial(ctx, b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	mt := kmsg.NewMetadataRequestTopic()
	topic := "reuse"
	mt.Topic = &topic
	md.Topics = append(md.Topics, mt)
	mr, err := c.RequestReuse(ctx, md)
	if err != nil {
		t.Fatal(err)
	}
	id := mr.(*kmsg.MetadataResponse).Topics[0].TopicID

	fetch := func(offset int64, maxBytes int32) []*kgo.Record {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(13)
		req.ReplicaID, req.MaxBytes, req.MinBytes = -1, maxBytes, 1
		rt := kmsg.NewFetchRequestTopic()
		rt.TopicID = id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes = offset, maxBytes
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := c.RequestReuse(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatalf("fetch at %d: error %d", offset, p.ErrorCode)
		}
		fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: topic, Partition: 0}, &p, kgo.DefaultDecompressor(), nil)
		if fp.Err != nil {
			t.Fatal(fp.Err)
		}
		return fp.Records
	}
	for round, at := range []struct {
		offset int64
		max    int32
	}{{0, 1 << 20}, {150, 1}, {10, 1 << 20}, {199, 1}, {0, 1 << 20}} {
		recs := fetch(at.offset, at.max)
		if len(recs) == 0 {
			t.Fatalf("round %d: no records", round)
		}
		for _, r := range recs {
			if want := bytes.Repeat([]byte{byte(r.Offset)}, 1000); !bytes.Equal(r.Value, want) {
				t.Fatalf("round %d: offset %d holds %s", round, r.Offset, fmt.Sprint(r.Value[:4]))
			}
		}
		if recs[0].Offset > at.offset {
			t.Fatalf("round %d: first offset %d past %d", round, recs[0].Offset, at.offset)
		}
	}
}
