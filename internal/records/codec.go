package records

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/pierrec/lz4/v4"
)

// DefaultMaxDecompressedBytes bounds decompression when the caller passes no
// limit (limit <= 0): 100 MiB, Kafka's default socket.request.max.bytes.
const DefaultMaxDecompressedBytes = 100 << 20

// ErrUnsupportedCompression means the attributes name a codec this package
// does not know (5, 6 or 7).
var ErrUnsupportedCompression = errors.New("unsupported compression codec")

// errTooLarge is wrapped in ErrCorrupt when decompressed data exceeds the
// limit: a compression bomb, or a limit too small for an honest batch.
var errTooLarge = errors.New("decompressed size exceeds limit")

var errEmpty = errors.New("no compressed data")

// String returns the name Kafka uses for the codec.
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Valid reports whether the codec is one this package can decode.
func (c Codec) Valid() bool { return c >= CodecNone && c <= CodecZstd }

// ParseCodec maps a compression.type value to a codec: "none" or
// "uncompressed", "gzip", "snappy", "lz4", "zstd". Names are case-sensitive
// as in Kafka. "producer" is not a codec; the caller handles it.
func ParseCodec(name string) (Codec, bool) {
	switch name {
	case "none", "uncompressed":
		return CodecNone, true
	case "gzip":
		return CodecGzip, true
	case "snappy":
		return CodecSnappy, true
	case "lz4":
		return CodecLZ4, true
	case "zstd":
		return CodecZstd, true
	}
	return 0, false
}

// Decompress returns the decompressed form of src. The output never grows
// past limit bytes (limit <= 0 means DefaultMaxDecompressedBytes): a larger
// output fails with ErrCorrupt, so a compression bomb costs at most about
// limit bytes of memory. Malformed input is ErrCorrupt, an unknown codec
// ErrUnsupportedCompression. For CodecNone src itself is returned (still
// subject to the limit).
func Decompress(c Codec, src []byte, limit int) ([]byte, error) {
	return decompressAppend(nil, c, src, limit)
}

// decompressAppend appends the decompressed form of src to dst, bounding the
// appended part by limit. dst may be a reused buffer.
func decompressAppend(dst []byte, c Codec, src []byte, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxDecompressedBytes
	}
	if !c.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedCompression, int8(c))
	}
	if c != CodecNone && len(src) == 0 {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, c, errEmpty)
	}
	var err error
	switch c {
	case CodecNone:
		if len(src) > limit {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, errTooLarge)
		}
		if dst == nil {
			return src, nil
		}
		return append(dst, src...), nil
	case CodecGzip:
		dst, err = gunzip(dst, src, limit)
	case CodecSnappy:
		dst, err = unsnappy(dst, src, limit)
	case CodecLZ4:
		dst, err = unlz4(dst, src, limit)
	case CodecZstd:
		dst, err = unzstd(dst, src, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, c, err)
	}
	return dst, nil
}

// Compress returns the compressed form of src: gzip (level 6, Kafka's
// default), snappy in the xerial framing Java clients read, an LZ4 frame
// with 64 KiB independent blocks (what Kafka's Java client writes), or a
// zstd frame (level 3). For CodecNone src itself is returned.
func Compress(c Codec, src []byte) ([]byte, error) {
	if c == CodecNone {
		return src, nil
	}
	return compressAppend(nil, c, src)
}

// compressAppend appends the compressed form of src to dst.
func compressAppend(dst []byte, c Codec, src []byte) ([]byte, error) {
	switch c {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		return gzipAppend(dst, src)
	case CodecSnappy:
		return xerialAppend(dst, src), nil
	case CodecLZ4:
		return lz4Append(dst, src)
	case CodecZstd:
		return zstdAppend(dst, src), nil
	}
	return nil, fmt.Errorf("%w: %d", ErrUnsupportedCompression, int8(c))
}

// appendWriter is an io.Writer appending to a slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// readBounded appends everything r yields to dst, failing with errTooLarge
// once more than limit bytes have been read. The buffer grows geometrically
// from hint and its capacity never exceeds len(dst)+limit+1.
func readBounded(dst []byte, r io.Reader, limit, hint int) ([]byte, error) {
	start := len(dst)
	maxCap := start + limit + 1
	if limit >= math.MaxInt-start {
		maxCap = math.MaxInt
	}
	if hint < 512 {
		hint = 512
	}
	for {
		if len(dst) == cap(dst) {
			if len(dst)-start > limit {
				return dst, errTooLarge
			}
			grow := max(cap(dst)-start, hint)
			newCap := min(cap(dst)+grow, maxCap)
			nb := make([]byte, len(dst), newCap)
			copy(nb, dst)
			dst = nb
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst)-start > limit {
			return dst, errTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// grow makes room for n more bytes in b, at least doubling its capacity
// when it reallocates.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), max(2*cap(b), len(b)+n))
	copy(nb, b)
	return nb
}

// estimate is the first buffer size for decompressing n bytes.
func estimate(n, limit int) int {
	e := 64 << 10
	if n < math.MaxInt/4 && 4*n > e {
		e = 4 * n
	}
	return min(e, limit)
}

// --- gzip ---

type gzipDecoder struct {
	src bytes.Reader
	zr  gzip.Reader
}

var gzipDecoders = sync.Pool{New: func() any { return new(gzipDecoder) }}

func gunzip(dst, src []byte, limit int) ([]byte, error) {
	d := gzipDecoders.Get().(*gzipDecoder)
	defer gzipDecoders.Put(d)
	d.src.Reset(src)
	if err := d.zr.Reset(&d.src); err != nil {
		return nil, err
	}
	out, err := readBounded(dst, &d.zr, limit, estimate(len(src), limit))
	d.src.Reset(nil)
	return out, err
}

var gzipEncoders = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
	return w
}}

func gzipAppend(dst, src []byte) ([]byte, error) { return compressPooled(&gzipEncoders, dst, src) }

// --- lz4 ---

type lz4Decoder struct {
	src bytes.Reader
	zr  *lz4.Reader
}

var lz4Decoders = sync.Pool{New: func() any { return &lz4Decoder{zr: lz4.NewReader(nil)} }}

func unlz4(dst, src []byte, limit int) ([]byte, error) {
	d := lz4Decoders.Get().(*lz4Decoder)
	defer lz4Decoders.Put(d)
	d.src.Reset(src)
	d.zr.Reset(&d.src)
	out, err := readBounded(dst, d.zr, limit, estimate(len(src), limit))
	d.zr.Reset(nil)
	d.src.Reset(nil)
	return out, err
}

var lz4Encoders = sync.Pool{New: func() any {
	w := lz4.NewWriter(nil)
	// Kafka's Java client writes 64 KiB independent blocks without
	// checksums, and its reader accepts exactly that family of frames.
	_ = w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false), lz4.ConcurrencyOption(1))
	return w
}}

func lz4Append(dst, src []byte) ([]byte, error) { return compressPooled(&lz4Encoders, dst, src) }

// pooledWriter is a streaming compressor that can be reset onto a new
// destination (gzip.Writer, lz4.Writer).
type pooledWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

// compressPooled compresses src onto dst with a writer from pool.
func compressPooled(pool *sync.Pool, dst, src []byte) ([]byte, error) {
	zw := pool.Get().(pooledWriter)
	defer pool.Put(zw)
	aw := appendWriter{b: dst}
	zw.Reset(&aw)
	if _, err := zw.Write(src); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	zw.Reset(nil)
	return aw.b, nil
}
