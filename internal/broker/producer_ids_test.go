package broker

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestProducerIDsPrefetch: tryNext never waits for the controller. On a
// fresh broker it answers errNoProducerIDs while the first block is
// fetched, then hands out ids; the next block is fetched once 90% of the
// current one is used, so crossing into it does not fail; next (the
// blocking form) and tryNext together never hand out an id twice.
func TestProducerIDsPrefetch(t *testing.T) {
	tb := startBroker(t)
	p := tb.srv.pids
	seen := map[int64]bool{}
	take := func(id int64) {
		t.Helper()
		if seen[id] {
			t.Fatalf("producer id %d handed out twice", id)
		}
		seen[id] = true
	}

	start := time.Now()
	id, err := p.tryNext()
	if err == nil {
		t.Fatalf("a fresh broker had id %d ready without fetching a block", id)
	}
	if !errors.Is(err, errNoProducerIDs) {
		t.Fatalf("first tryNext: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("tryNext waited %v", d)
	}
	for {
		if id, err = p.tryNext(); err == nil {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("no producer id block arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
	take(id)

	// Use the block up to its last 5%: the prefetch must have started.
	p.mu.Lock()
	left, blockLen := p.end-p.nextID, p.blockLen
	p.mu.Unlock()
	if blockLen < 20 {
		t.Fatalf("block of %d ids", blockLen)
	}
	for left > blockLen/20 {
		id, err := p.tryNext()
		if err != nil {
			t.Fatalf("tryNext inside a block: %v", err)
		}
		take(id)
		left--
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		ready := p.preStart < p.preEnd
		p.mu.Unlock()
		if ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the next block was not prefetched at 95% use")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Cross into the prefetched block with tryNext and next at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	got := make([]int64, 0, 2*blockLen)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(0); i < blockLen/4; i++ {
				var id int64
				var err error
				if g%2 == 0 {
					id, err = p.tryNext()
				} else {
					id, err = p.next()
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					got = append(got, id)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, id := range got {
		take(id)
	}
	// tryNext may find the block after the prefetched one not ready yet;
	// next never fails here.
	for _, err := range errs {
		if !errors.Is(err, errNoProducerIDs) {
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if len(got) < int(blockLen/2) {
		t.Fatalf("%d ids handed out across the block boundary, %d refusals", len(got), len(errs))
	}
}
