package main

import (
	"testing"
	"time"
)

func TestParseNodes(t *testing.T) {
	m, err := parseNodes("1=100,2=200,3=300")
	if err != nil || len(m) != 3 || m[2] != 200 {
		t.Fatalf("got %v, %v", m, err)
	}
	if _, err := parseNodes("1=100,x"); err == nil {
		t.Fatal("no error for a bad entry")
	}
}

// TestGaps checks the longest pause of the victim partitions and of the
// others, from the last acknowledgement before the signal on.
func TestGaps(t *testing.T) {
	t0 := time.Unix(100, 0)
	at := func(ms int) int64 { return t0.Add(time.Duration(ms) * time.Millisecond).UnixNano() }
	p := newFailProducer("test", 0, 6)
	for i, r := range []struct {
		part int32
		ms   int
	}{{0, -50}, {0, 2000}, {0, 2010}, {1, -500}, {1, 100}, {1, 150}} {
		p.acked[i], p.partOf[i], p.ackedAt[i] = true, r.part, at(r.ms)
	}
	p.produced.Store(6)
	v, o := p.gaps(t0, t0.Add(3*time.Second), map[int32]bool{0: true})
	if v.d != 2050*time.Millisecond || v.partition != 0 || v.from != -50*time.Millisecond {
		t.Errorf("victim pause %v", v)
	}
	if o.d != 600*time.Millisecond || o.partition != 1 {
		t.Errorf("other pause %v", o)
	}
}
