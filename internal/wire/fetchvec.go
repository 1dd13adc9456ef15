package wire

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"net"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// vecMinRecords is the smallest record set worth leaving out of the frame:
// below it, copying is cheaper than another iovec.
const vecMinRecords = 4096

// fetchMarker stands in for a partition's record bytes while the rest of a
// fetch answer is encoded by kmsg (AppendFetchResponseVec). It is random
// per process; each stand-in appends the partition's index, and every
// stand-in is checked where it is found (length prefix included), so a
// collision can only make the function fall back, never corrupt a frame.
var fetchMarker [12]byte

func init() { rand.Read(fetchMarker[:]) }

// AppendFetchResponseVec encodes a fetch answer like AppendResponse, except
// that the record bytes of its partitions (those of vecMinRecords or more)
// are not copied into the frame: the returned buffers, written in order
// (writev through net.Buffers), are the frame, and they refer to the
// record slices of resp, which must stay untouched until written. frame is
// the buffer the encoded parts live in (give it back with PutBuf once
// written). ok is false when there is nothing to leave out or the frame
// could not be split; nothing is returned then and resp is unchanged.
//
// ext, when not nil, names record sets that are not in memory at all (file
// regions the writer sends with sendfile): for a partition's RecordBatches
// it returns the length of the records they stand for, or -1 for ordinary
// bytes. The frame gets that length, and vec holds the stand-in slice
// itself (the same slice, so the writer can recognise it) where the
// records go.
//
// kmsg encodes everything else, so every Fetch version is covered: the
// record bytes are a (compact, from v12) nullable bytes field, whose length
// prefix is rewritten for the real length.
func AppendFetchResponseVec(dst []byte, correlationID int32, resp *kmsg.FetchResponse, ext func(records []byte) int64) (frame []byte, vec net.Buffers, ok bool) {
	type big struct {
		p      *kmsg.FetchResponseTopicPartition
		orig   []byte
		n      int64 // length of the records orig holds or stands for
		marker [16]byte
	}
	var bigs []big
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			p := &resp.Topics[i].Partitions[j]
			n := int64(-1)
			if ext != nil {
				n = ext(p.RecordBatches)
			}
			if n < 0 && len(p.RecordBatches) >= vecMinRecords {
				n = int64(len(p.RecordBatches))
			}
			if n >= 0 {
				b := big{p: p, orig: p.RecordBatches, n: n}
				copy(b.marker[:], fetchMarker[:])
				binary.BigEndian.PutUint32(b.marker[12:], uint32(len(bigs)))
				bigs = append(bigs, b)
			}
		}
	}
	if len(bigs) == 0 {
		return nil, nil, false
	}
	for i := range bigs {
		bigs[i].p.RecordBatches = bigs[i].marker[:]
	}
	start := len(dst)
	frame = AppendResponse(dst, correlationID, resp)
	for i := range bigs {
		bigs[i].p.RecordBatches = bigs[i].orig
	}
	flexible := resp.IsFlexible()
	prefixes := make([]byte, 0, 5*len(bigs)) // never grows: the slices below stay valid
	vec = make(net.Buffers, 0, 3*len(bigs)+1)
	pos, total := start, 0
	for i := range bigs {
		k := bytes.Index(frame[pos:], bigs[i].marker[:])
		if k < 0 {
			return nil, nil, false
		}
		at := pos + k
		pl := 4
		if flexible {
			pl = 1
			if at-1 < pos || frame[at-1] != 17 { // uvarint(16+1)
				return nil, nil, false
			}
		} else if at-4 < pos || binary.BigEndian.Uint32(frame[at-4:]) != 16 {
			return nil, nil, false
		}
		n := bigs[i].n
		p0 := len(prefixes)
		if flexible {
			prefixes = kbin.AppendUvarint(prefixes, uint32(n+1))
		} else {
			prefixes = kbin.AppendInt32(prefixes, int32(n))
		}
		vec = append(vec, frame[pos:at-pl], prefixes[p0:], bigs[i].orig)
		total += at - pl - pos + len(prefixes) - p0 + int(n)
		pos = at + len(bigs[i].marker)
	}
	vec = append(vec, frame[pos:])
	total += len(frame) - pos
	binary.BigEndian.PutUint32(frame[start:], uint32(total-4))
	return frame, vec, true
}
