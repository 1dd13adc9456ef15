package group

// JavaStringHashCode is Java's String.hashCode of s: the sum of
// c*31^(n-1-i) over the UTF-16 code units c of s, in 32-bit arithmetic.
// Kafka places a group on a __consumer_offsets partition with it, so the
// same group id lands on the same partition number as with Kafka.
func JavaStringHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			// A supplementary character is two UTF-16 code units.
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// PartitionFor is the __consumer_offsets partition of a group id:
// Utils.abs(groupId.hashCode) % numPartitions, where Kafka's Utils.abs maps
// MinInt32 to 0 rather than overflowing.
func PartitionFor(groupID string, numPartitions int32) int32 {
	h := JavaStringHashCode(groupID)
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % numPartitions
}
