package records

import (
	"errors"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// zstd decoders and encoders are expensive to build, so they are shared.
//
// Decoding uses DecodeAll, which writes straight into the output buffer (no
// separate window buffer), under WithDecoderMaxMemory set to the limit: a
// frame declaring a larger content size is rejected before decoding, one
// that does not declare it stops one block (128 KiB) past the limit. The
// output buffer starts at the declared content size, or a small multiple of
// the input, and grows by doubling, so a bomb costs a few times the limit.
//
// The decoder caps the window size at the memory limit. The window does not
// cost memory in DecodeAll, and streaming encoders declare windows (2 MiB for
// Java's zstd level 3, 8 MiB for Go's) larger than their content, so when
// the limit is below the first frame's window the decoder is allowed up to
// that window (at most 128 MiB, the reference decoder's default) and the
// output is checked against the limit afterwards. Memory is then bounded by
// a few times max(limit, window) rather than the limit; with the limits the
// broker uses (at least max.message.bytes) this does not arise in practice.
const zstdMaxWindow = 1 << 27

var zstdDecoders = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1), // no goroutines: safe to drop from a sync.Pool
		zstd.WithDecoderMaxWindow(zstdMaxWindow),
	)
	if err != nil {
		panic(err) // static options
	}
	return d
}}

func unzstd(dst, src []byte, limit int) ([]byte, error) {
	start := len(dst)
	// At least the smallest window, which single-segment frames declare.
	mem := max(uint64(limit), zstd.MinWindowSize)
	size := estimate(len(src), limit)
	var h zstd.Header
	if h.Decode(src) == nil && !h.Skippable {
		if h.HasFCS {
			if h.FrameContentSize > uint64(limit) {
				return nil, errTooLarge
			}
			size = int(h.FrameContentSize)
		}
		if !h.SingleSegment && h.WindowSize > mem {
			mem = min(h.WindowSize, zstdMaxWindow)
		}
	}
	d := zstdDecoders.Get().(*zstd.Decoder)
	defer zstdDecoders.Put(d)
	if err := d.ResetWithOptions(nil, zstd.WithDecoderMaxMemory(mem)); err != nil {
		return nil, err
	}
	if cap(dst)-start < size {
		nb := make([]byte, start, start+size)
		copy(nb, dst)
		dst = nb
	}
	out, err := d.DecodeAll(src, dst[:start])
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || err == nil && len(out)-start > limit {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedDefault), // zstd level 3, Kafka's default
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithZeroFrames(true),
	)
	if err != nil {
		panic(err) // static options
	}
	return e
})

func zstdAppend(dst, src []byte) []byte {
	return zstdEncoder().EncodeAll(src, dst)
}
