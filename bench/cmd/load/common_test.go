package main

import (
	"sync"
	"testing"
	"time"
)

// TestLatencies checks the percentiles over samples added concurrently,
// including more samples than the collection was sized for.
func TestLatencies(t *testing.T) {
	l := newLatencies(900)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < 1000; i += 4 {
				l.add(time.Duration(i+1) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	for _, c := range []struct{ q, want float64 }{{0.5, 500}, {0.99, 990}, {0.999, 999}, {1, 1000}, {0, 1}} {
		if got := l.ms(c.q); got != c.want {
			t.Errorf("q%.3f = %v ms, want %v", c.q, got, c.want)
		}
	}
	if n := len(l.all()); n != 1000 {
		t.Errorf("%d samples, want 1000", n)
	}
	if got := newLatencies(10).ms(0.5); got != 0 {
		t.Errorf("empty: %v", got)
	}
}
