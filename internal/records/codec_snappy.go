package records

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
)

// Snappy comes in two shapes on the Kafka wire. Java clients (snappy-java's
// SnappyOutputStream) write the xerial framing: a 16-byte header (the magic
// below, then a version and a minimum compatible version, both int32 1)
// followed by blocks, each a big-endian int32 length and a raw snappy block.
// librdkafka, franz-go and others may write one raw snappy block. Java's
// reader accepts both, detecting the magic; so does Decompress. Compress
// writes the xerial framing, which every client reads.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	xerialHeaderSize = 16
	xerialBlockSize  = 32 << 10 // snappy-java's default block size
)

var (
	errXerialHeader = errors.New("truncated xerial snappy header")
	errXerialBlock  = errors.New("truncated xerial snappy block")
)

func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		return snappyBlock(dst, src, limit)
	}
	if len(src) < xerialHeaderSize {
		return nil, errXerialHeader
	}
	start := len(dst)
	src = src[xerialHeaderSize:]
	for len(src) > 0 {
		if len(src) < 4 {
			return nil, errXerialBlock
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return nil, errXerialBlock
		}
		var err error
		dst, err = snappyBlock(dst, src[:n], limit-(len(dst)-start))
		if err != nil {
			return nil, err
		}
		src = src[n:]
	}
	return dst, nil
}

// snappyBlock appends the decoding of one raw snappy block to dst. The
// block's declared length is checked against limit before any allocation.
func snappyBlock(dst, block []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, errTooLarge
	}
	dst = grow(dst, n)
	out, err := snappy.Decode(dst[len(dst):len(dst)+n], block)
	if err != nil {
		return nil, err
	}
	if len(out) != n {
		return nil, snappy.ErrCorrupt
	}
	return dst[:len(dst)+n], nil
}

// xerialAppend appends src in xerial framing to dst.
func xerialAppend(dst, src []byte) []byte {
	dst = append(dst, xerialMagic...)
	dst = binary.BigEndian.AppendUint32(dst, 1) // version
	dst = binary.BigEndian.AppendUint32(dst, 1) // minimum compatible version
	for len(src) > 0 {
		chunk := src[:min(len(src), xerialBlockSize)]
		src = src[len(chunk):]
		dst = snappyBlockAppend(dst, chunk)
	}
	return dst
}

// snappyBlockAppend appends a length-prefixed raw snappy block.
func snappyBlockAppend(dst, src []byte) []byte {
	lenAt := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	need := s2.MaxEncodedLen(len(src))
	dst = grow(dst, need)
	enc := s2.EncodeSnappy(dst[len(dst):len(dst)+need], src)
	binary.BigEndian.PutUint32(dst[lenAt:], uint32(len(enc)))
	return dst[:len(dst)+len(enc)]
}
