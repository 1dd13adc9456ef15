package records

import (
	"encoding/binary"
	"math"
)

// Records encode their integers as zigzag varints (protobuf style): int32
// fields in at most 5 bytes, int64 fields in at most 10.

// readVarint decodes a zigzag int32. n <= 0 means malformed or truncated.
func readVarint(b []byte) (v int32, n int) {
	u, n := uvarint(b)
	if n <= 0 || n > 5 || u > math.MaxUint32 {
		return 0, -1
	}
	return int32(uint32(u)>>1) ^ -int32(u&1), n
}

// readVarlong decodes a zigzag int64. n <= 0 means malformed or truncated.
func readVarlong(b []byte) (v int64, n int) {
	u, n := uvarint(b)
	if n <= 0 {
		return 0, -1
	}
	return int64(u>>1) ^ -int64(u&1), n
}

// uvarint is binary.Uvarint with the one- and two-byte forms first: a
// record's lengths, deltas and counts nearly always take those, and for
// small records the walk over a produced batch costs as much as its CRC
// (BenchmarkValidateProduce/none-100B: -7%).
func uvarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	if len(b) > 1 && b[1] < 0x80 {
		return uint64(b[0]&0x7f) | uint64(b[1])<<7, 2
	}
	return binary.Uvarint(b)
}

func appendVarint(b []byte, v int32) []byte {
	return binary.AppendUvarint(b, uint64(uint32(v<<1)^uint32(v>>31)))
}

func appendVarlong(b []byte, v int64) []byte {
	return binary.AppendUvarint(b, uint64(v<<1)^uint64(v>>63))
}

func sizeVarint(v int32) int {
	u := uint32(v<<1) ^ uint32(v>>31)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}
