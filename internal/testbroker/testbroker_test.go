package testbroker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestStartProduceRestart(t *testing.T) {
	b := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := b.Admin().CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	if err := b.Client().ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	b.Restart()
	if b.Addr() != addr {
		t.Fatalf("restart moved the broker from %s to %s", addr, b.Addr())
	}
	end, err := b.Admin().ListEndOffsets(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := end.Lookup("t", 0); o.Offset != 1 {
		t.Fatalf("end offset after restart %d", o.Offset)
	}
}
