package wire

import (
	"math/bits"
	"sync"
)

// Buffers of the data path (request frames, fetch reads, response frames)
// are pooled by power-of-two capacity, from 4 KiB to 8 MiB, so that a
// broker moving hundreds of MB/s does not allocate (and zero, and collect)
// the same amount: allocation was half of the broker's garbage and the GC
// it caused the main source of tail latency at a steady produce rate.
// Larger buffers are allocated and dropped.
const (
	minPoolShift = 12 // 4 KiB
	maxPoolShift = 23 // 8 MiB
)

var bufPools [maxPoolShift - minPoolShift + 1]sync.Pool

// poolClass is the index of the smallest class holding n bytes, or -1 when
// n is larger than the largest class.
func poolClass(n int) int {
	if n <= 1<<minPoolShift {
		return 0
	}
	shift := bits.Len(uint(n - 1))
	if shift > maxPoolShift {
		return -1
	}
	return shift - minPoolShift
}

// GetBuf returns a buffer of length n (contents undefined), from the pool
// when n fits a class. Give it back with PutBuf once nothing refers to it.
func GetBuf(n int) []byte {
	c := poolClass(n)
	if c < 0 {
		return make([]byte, n)
	}
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<(c+minPoolShift))
}

// PutBuf returns a buffer obtained from GetBuf (or any buffer whose capacity
// is exactly a class size) to the pool. Other buffers are dropped, so it is
// safe to call on any slice nobody else uses.
func PutBuf(b []byte) {
	c := cap(b)
	if c < 1<<minPoolShift || c > 1<<maxPoolShift || c&(c-1) != 0 {
		return
	}
	b = b[:0]
	bufPools[bits.Len(uint(c))-1-minPoolShift].Put(&b)
}
