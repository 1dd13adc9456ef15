package broker

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// TestCopyRange checks the copying path of regions (non-OS files, other
// platforms): a range spanning several chunks arrives whole and in order,
// and a file that ends early is an error, not a short answer.
func TestCopyRange(t *testing.T) {
	data := make([]byte, 3*copyChunk+12345)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	for _, c := range []struct{ pos, n int64 }{
		{0, int64(len(data))},
		{7, copyChunk},
		{copyChunk - 1, 2*copyChunk + 2},
		{100, 10},
		{5, 0},
	} {
		var out bytes.Buffer
		if err := copyRange(&out, bytes.NewReader(data), c.pos, c.n); err != nil {
			t.Fatalf("%d+%d: %v", c.pos, c.n, err)
		}
		if !bytes.Equal(out.Bytes(), data[c.pos:c.pos+c.n]) {
			t.Fatalf("%d+%d: got %d bytes, not the range's", c.pos, c.n, out.Len())
		}
	}
	var out bytes.Buffer
	err := copyRange(&out, bytes.NewReader(data), int64(len(data))-copyChunk/2, copyChunk)
	if !errors.Is(err, errRegionShort) {
		t.Fatalf("range past the end: %v, want errRegionShort", err)
	}
}
