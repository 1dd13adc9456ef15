package records

import (
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

// sample returns n bytes that compress somewhat, like real payloads.
func sample(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	words := []string{"samsa ", "kafka ", "record ", "batch ", "offset ", "\x00\x01", "{\"k\":", "}"}
	var b []byte
	for len(b) < n {
		b = append(b, words[r.IntN(len(words))]...)
		if r.IntN(4) == 0 {
			b = append(b, byte(r.Uint32()))
		}
	}
	return b[:n]
}

func TestCompressRoundTrip(t *testing.T) {
	for _, c := range allCodecs {
		for _, n := range []int{0, 1, 100, 32 << 10, 32<<10 + 1, 300 << 10, 3 << 20} {
			src := sample(n, uint64(n))
			comp, err := Compress(c, src)
			if err != nil {
				t.Fatalf("%s %d: compress: %v", c, n, err)
			}
			got, err := Decompress(c, comp, n+1)
			if err != nil {
				t.Fatalf("%s %d: decompress: %v", c, n, err)
			}
			if !bytes.Equal(got, src) {
				t.Fatalf("%s %d: round trip differs", c, n)
			}
			// Exactly at the limit passes, one byte below fails.
			if n > 1 {
				if _, err := Decompress(c, comp, n); err != nil {
					t.Fatalf("%s %d: at limit: %v", c, n, err)
				}
				if _, err := Decompress(c, comp, n-1); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s %d: below limit: got %v, want ErrCorrupt", c, n, err)
				}
			}
		}
	}
}

func TestSnappyFramings(t *testing.T) {
	src := sample(100<<10, 7)
	comp, _ := Compress(CodecSnappy, src)
	if !bytes.HasPrefix(comp, xerialMagic) {
		t.Fatalf("Compress(snappy) does not write xerial framing: % x", comp[:8])
	}
	// Raw snappy block, as librdkafka and franz-go may send.
	raw := s2.EncodeSnappy(nil, src)
	got, err := Decompress(CodecSnappy, raw, len(src))
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("raw snappy: %v", err)
	}
	// Xerial with a header only: empty.
	if got, err := Decompress(CodecSnappy, comp[:xerialHeaderSize], 10); err != nil || len(got) != 0 {
		t.Fatalf("empty xerial: %q %v", got, err)
	}
	for _, bad := range [][]byte{
		comp[:10],          // torn header
		comp[:len(comp)-1], // torn block
		comp[:xerialHeaderSize+3],
		append(append([]byte{}, comp...), 0, 0, 0, 9, 1), // block longer than data
		raw[:len(raw)/2],
	} {
		if _, err := Decompress(CodecSnappy, bad, 1<<20); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("bad snappy %d bytes: got %v, want ErrCorrupt", len(bad), err)
		}
	}
}

// Frames written by other encoders than ours must be readable: stdlib gzip,
// lz4 with its defaults (4 MiB blocks, content checksum), zstd streaming
// (no content size in the frame header) and several zstd frames in a row.
func TestForeignEncoders(t *testing.T) {
	src := sample(500<<10, 9)

	var gz bytes.Buffer
	w := stdgzip.NewWriter(&gz)
	w.Write(src)
	w.Close()

	var l4 bytes.Buffer
	lw := lz4.NewWriter(&l4)
	lw.Write(src)
	lw.Close()

	var zs bytes.Buffer
	zw, _ := zstd.NewWriter(&zs, zstd.WithEncoderConcurrency(1))
	zw.Write(src)
	zw.Close()
	var h zstd.Header
	if err := h.Decode(zs.Bytes()); err != nil || h.HasFCS {
		t.Fatalf("streaming zstd frame: fcs %v err %v", h.HasFCS, err)
	}
	half := len(src) / 2
	enc, _ := zstd.NewWriter(nil)
	multi := enc.EncodeAll(src[half:], enc.EncodeAll(src[:half], nil))

	for _, tc := range []struct {
		name string
		c    Codec
		b    []byte
	}{
		{"stdlib gzip", CodecGzip, gz.Bytes()},
		{"lz4 defaults", CodecLZ4, l4.Bytes()},
		{"zstd stream", CodecZstd, zs.Bytes()},
		{"zstd two frames", CodecZstd, multi},
	} {
		got, err := Decompress(tc.c, tc.b, len(src))
		if err != nil || !bytes.Equal(got, src) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if _, err := Decompress(tc.c, tc.b, len(src)-1); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s below limit: %v", tc.name, err)
		}
	}
}

func TestDecompressGarbage(t *testing.T) {
	junk := sample(1000, 3)
	for _, c := range allCodecs[1:] {
		comp, _ := Compress(c, sample(10000, 4))
		for _, bad := range [][]byte{junk, comp[:len(comp)/2], nil} {
			if _, err := Decompress(c, bad, 1<<20); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: %d garbage bytes: got %v, want ErrCorrupt", c, len(bad), err)
			}
		}
	}
	if _, err := Decompress(Codec(5), []byte{1}, 10); !errors.Is(err, ErrUnsupportedCompression) {
		t.Errorf("codec 5: %v", err)
	}
	if _, err := Compress(Codec(7), []byte{1}); !errors.Is(err, ErrUnsupportedCompression) {
		t.Errorf("compress codec 7: %v", err)
	}
}

// bomb returns 100 MB of zeros compressed with c, written the way that
// hides the size best (streaming encoders, no content size).
func bomb(t testing.TB, c Codec) []byte {
	const size = 100 << 20
	zeros := make([]byte, size)
	switch c {
	case CodecZstd:
		var b bytes.Buffer
		zw, _ := zstd.NewWriter(&b, zstd.WithEncoderConcurrency(1))
		zw.Write(zeros)
		zw.Close()
		return b.Bytes()
	default:
		b, err := Compress(c, zeros)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func TestCompressionBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("compresses 100 MB per codec")
	}
	// Above the 8 MiB window of Go's streaming zstd encoder, so that the
	// limit, not the window, bounds the decoder (see codec_zstd.go).
	const limit = 16 << 20
	for _, c := range allCodecs[1:] {
		b := bomb(t, c)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Decompress(c, b, limit)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s bomb (%d bytes): got %v, want ErrCorrupt", c, len(b), err)
		}
		// Cumulative allocation: the output buffer grows geometrically
		// up to the limit, and the codecs have their own buffers.
		if got := after.TotalAlloc - before.TotalAlloc; got > 8*limit {
			t.Errorf("%s bomb: allocated %d bytes for a limit of %d", c, got, limit)
		}
		t.Logf("%s: bomb of %d bytes rejected, %d bytes allocated", c, len(b), after.TotalAlloc-before.TotalAlloc)
	}
	// zstd frame declaring its 100 MB content size: rejected before decoding.
	enc, _ := zstd.NewWriter(nil)
	fcs := enc.EncodeAll(make([]byte, 100<<20), nil)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Decompress(CodecZstd, fcs, limit); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("zstd with content size: %v", err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Errorf("zstd with content size: allocated %d bytes", got)
	}
	// Raw snappy declaring 100 MB.
	raw := s2.EncodeSnappy(nil, make([]byte, 100<<20))
	if _, err := Decompress(CodecSnappy, raw, limit); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("raw snappy bomb: %v", err)
	}
}

func TestParseCodec(t *testing.T) {
	for name, want := range map[string]Codec{
		"none": CodecNone, "uncompressed": CodecNone, "gzip": CodecGzip,
		"snappy": CodecSnappy, "lz4": CodecLZ4, "zstd": CodecZstd,
	} {
		if c, ok := ParseCodec(name); !ok || c != want {
			t.Errorf("ParseCodec(%q) = %v, %v", name, c, ok)
		}
	}
	for _, name := range []string{"producer", "GZIP", "", "brotli"} {
		if _, ok := ParseCodec(name); ok {
			t.Errorf("ParseCodec(%q) accepted", name)
		}
	}
	for _, c := range allCodecs {
		if back, ok := ParseCodec(c.String()); !ok || back != c {
			t.Errorf("String/ParseCodec round trip of %d: %q", c, c.String())
		}
	}
}

// A zstd frame from a streaming encoder declares a window (8 MiB here) far
// larger than its content; a limit below the window must still admit it.
func TestZstdWindowAboveLimit(t *testing.T) {
	src := sample(300<<10, 5) // more than one block, so no content size
	var b bytes.Buffer
	zw, _ := zstd.NewWriter(&b, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(8<<20))
	zw.Write(src)
	zw.Close()
	var h zstd.Header
	if err := h.Decode(b.Bytes()); err != nil || h.HasFCS || h.WindowSize <= uint64(len(src)) {
		t.Fatalf("window %d err %v", h.WindowSize, err)
	}
	got, err := Decompress(CodecZstd, b.Bytes(), len(src))
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("got %v", err)
	}
	if _, err := Decompress(CodecZstd, b.Bytes(), len(src)-1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("below limit: %v", err)
	}
}

// Kafka's Java LZ4 reader accepts only LZ4 frame version 1 with independent
// blocks; its writer uses 64 KiB blocks and no checksums. Ours matches.
func TestLZ4FrameLikeJava(t *testing.T) {
	b, err := Compress(CodecLZ4, sample(200<<10, 2))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0x04, 0x22, 0x4d, 0x18}) {
		t.Fatalf("magic % x", b[:4])
	}
	// FLG: version 01, block independence; BD: 64 KiB.
	if b[4] != 0x60 || b[5] != 0x40 {
		t.Fatalf("FLG %#x BD %#x", b[4], b[5])
	}
}

// The pooled coders are shared between goroutines (run with -race) and
// start no goroutines of their own.
func TestCodecsConcurrent(t *testing.T) {
	before := runtime.NumGoroutine()
	src := sample(70<<10, 8)
	done := make(chan error)
	for g := range 8 {
		go func() {
			for i := range 20 {
				c := allCodecs[(g+i)%len(allCodecs)]
				b, err := Compress(c, src)
				if err == nil {
					var got []byte
					got, err = Decompress(c, b, len(src))
					if err == nil && !bytes.Equal(got, src) {
						err = errors.New(c.String() + ": round trip differs")
					}
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// The shared zstd encoder may start its own; decoders must not.
	if after := runtime.NumGoroutine(); after > before+1 {
		t.Errorf("goroutines: %d before, %d after", before, after)
	}
}
