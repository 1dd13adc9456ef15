package cli

import (
	"math/rand/v2"
	"sort"
	"testing"
)

func TestHistogramBuckets(t *testing.T) {
	// Every value falls in the bucket whose bounds hold it, and buckets
	// are contiguous.
	prevHi := int64(-1)
	for i := 0; i < 40*histSub; i++ {
		lo, hi := histBounds(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if histBucket(lo) != i || histBucket(hi) != i {
			t.Fatalf("bucket %d [%d,%d]: bucket(lo)=%d bucket(hi)=%d", i, lo, hi, histBucket(lo), histBucket(hi))
		}
		if lo >= 2*histSub && float64(hi-lo+1)/float64(lo) > 1.0/histSub+1e-12 {
			t.Fatalf("bucket %d [%d,%d] wider than 1/%d of its values", i, lo, hi, histSub)
		}
		prevHi = hi
	}
	if i := histBucket(1<<62 + 12345); i <= 0 {
		t.Fatalf("bucket of a huge value: %d", i)
	}
}

func TestHistogramPercentiles(t *testing.T) {
	var h histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram not zero")
	}
	// 1..10000: exact answers are known.
	for v := int64(1); v <= 10000; v++ {
		h.Record(v)
	}
	for _, c := range []struct {
		q    float64
		want int64
	}{{0.5, 5000}, {0.95, 9500}, {0.99, 9900}, {0.999, 9990}, {1, 10000}, {0, 1}} {
		got := h.Quantile(c.q)
		if diff := float64(got-c.want) / float64(c.want); diff < 0 || diff > 1.0/histSub {
			t.Errorf("p%v = %d, want %d (within 1/%d above)", c.q*100, got, c.want, histSub)
		}
	}
	if h.Min() != 1 || h.Max() != 10000 || h.Count() != 10000 || h.Mean() != 5000.5 {
		t.Errorf("min %d max %d count %d mean %v", h.Min(), h.Max(), h.Count(), h.Mean())
	}

	// Small values are exact.
	var s histogram
	for _, v := range []int64{3, 1, 2, 2, -5} {
		s.Record(v)
	}
	if s.Quantile(0.5) != 2 || s.Quantile(0) != 0 || s.Quantile(1) != 3 {
		t.Errorf("small: p50 %d p0 %d p100 %d", s.Quantile(0.5), s.Quantile(0), s.Quantile(1))
	}
}

func TestHistogramRandomAgainstSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h, a, b histogram
	vals := make([]int64, 0, 50000)
	for i := 0; i < 50000; i++ {
		v := int64(r.ExpFloat64() * 3000) // a long tail
		vals = append(vals, v)
		h.Record(v)
		if i%2 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	a.Merge(&b)
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/histSub+1 {
			t.Errorf("p%v = %d, exact %d", q*100, got, exact)
		}
		if m := a.Quantile(q); m != got {
			t.Errorf("merged p%v = %d, want %d", q*100, m, got)
		}
	}
}
