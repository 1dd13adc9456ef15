package cli

import (
	"math"
	"math/bits"
)

// histogram records non-negative int64 values (latencies in microseconds)
// in log-linear buckets, like HdrHistogram: values below 2*histSub are
// counted exactly; above, each power-of-two range is split into histSub
// equal buckets, so a value is known to within 1/histSub (under 1%) of
// itself. The count, sum, min and max are exact. The zero value is ready;
// it is not safe for concurrent use.
type histogram struct {
	counts   []uint64
	n        uint64
	sum      float64
	min, max int64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits // buckets per power of two
)

// histBucket returns the bucket index of v (v >= 0).
func histBucket(v int64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - (histSubBits + 1)
	return (shift+1)*histSub + int(v>>shift) - histSub
}

// histBounds returns the smallest and largest values of bucket i.
func histBounds(i int) (lo, hi int64) {
	if i < 2*histSub {
		return int64(i), int64(i)
	}
	shift := i/histSub - 1
	top := int64(i - shift*histSub)
	lo = top << shift
	return lo, lo + (int64(1) << shift) - 1
}

// Record adds one value; negative values count as 0.
func (h *histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	i := histBucket(v)
	if i >= len(h.counts) {
		n := max(i+1, 2*len(h.counts), 4*histSub)
		c := make([]uint64, n)
		copy(c, h.counts)
		h.counts = c
	}
	h.counts[i]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds the values of o.
func (h *histogram) Merge(o *histogram) {
	if o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		c := make([]uint64, len(o.counts))
		copy(c, h.counts)
		h.counts = c
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of values recorded.
func (h *histogram) Count() uint64 { return h.n }

// Max is the largest value recorded (0 when empty).
func (h *histogram) Max() int64 { return h.max }

// Min is the smallest value recorded (0 when empty).
func (h *histogram) Min() int64 { return h.min }

// Mean is the exact mean (0 when empty).
func (h *histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value at quantile q in [0,1]: the largest value of
// the bucket holding the ceil(q*n)-th smallest value, clamped to the exact
// min and max. 0 when empty.
func (h *histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	rank = min(rank, h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := histBounds(i)
			return min(max(hi, h.min), h.max)
		}
	}
	return h.max
}
