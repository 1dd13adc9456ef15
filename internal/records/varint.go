package records

import (
	"encoding/binary"
	"math"
)

// Records encode their integers as zigzag varints (protobuf style): int32
// fields in at most 5 bytes, int64 fields in at most 10.

// readVarint decodes a zigzag int32. n <= 0 means malformed or truncated.
func readVarint(b []byte) (v int32, n int) {
	u, n := binary.Uvarint(b)
	if n <= 0 || n > 5 || u > math.MaxUint32 {
		return 0, -1
	}
	return int32(uint32(u)>>1) ^ -int32(u&1), n
}

// readVarlong decodes a zigzag int64. n <= 0 means malformed or truncated.
func readVarlong(b []byte) (v int64, n int) {
	u, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, -1
	}
	return int64(u>>1) ^ -int64(u&1), n
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
