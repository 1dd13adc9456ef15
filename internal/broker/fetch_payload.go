package broker

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/storage"
	"github.com/samsa-streaming/samsa/internal/wire"
)

// sendfileMinBytes is the smallest record set of a partition that a fetch
// sends straight from its segment file (sendfile) instead of reading it
// into a buffer first: below it, the extra system call per partition costs
// more than the copy it saves.
const sendfileMinBytes = 64 << 10

// fetchPayload is what a fetch answer refers to outside its frame: pooled
// buffers (wire.GetBuf) holding records read from the logs, and file
// regions to be sent with sendfile. A region stands in the answer's
// RecordBatches as a one-byte token slice, recognised by its address (see
// wire.AppendFetchResponseVec). The payload is released once the answer
// is written, or dropped.
type fetchPayload struct {
	bufs    [][]byte
	regions []fetchRegion
}

type fetchRegion struct {
	tok []byte
	rg  *storage.Region
}

func (p *fetchPayload) alloc(n int) []byte {
	b := wire.GetBuf(n)
	p.bufs = append(p.bufs, b)
	return b
}

// addRegion takes over rg and returns its stand-in.
func (p *fetchPayload) addRegion(rg *storage.Region) []byte {
	tok := make([]byte, 1)
	p.regions = append(p.regions, fetchRegion{tok, rg})
	return tok
}

// region returns the region b stands for, or nil.
func (p *fetchPayload) region(b []byte) *storage.Region {
	if len(b) != 1 {
		return nil
	}
	for i := range p.regions {
		if &p.regions[i].tok[0] == &b[0] {
			return p.regions[i].rg
		}
	}
	return nil
}

// recordLen is the length of the records b holds or stands for.
func (p *fetchPayload) recordLen(b []byte) int {
	if rg := p.region(b); rg != nil {
		return int(rg.Len)
	}
	return len(b)
}

// extLen is recordLen for wire.AppendFetchResponseVec: -1 for ordinary
// bytes.
func (p *fetchPayload) extLen(b []byte) int64 {
	if rg := p.region(b); rg != nil {
		return rg.Len
	}
	return -1
}

func (p *fetchPayload) empty() bool { return len(p.bufs) == 0 && len(p.regions) == 0 }

// take hands the payload over (to the request), leaving p empty.
func (p *fetchPayload) take() fetchPayload {
	t := *p
	*p = fetchPayload{}
	return t
}

// release gives the buffers back to the pool and the regions' files back
// to the file cache.
func (p *fetchPayload) release() {
	for _, b := range p.bufs {
		wire.PutBuf(b)
	}
	for _, r := range p.regions {
		r.rg.Release()
	}
	*p = fetchPayload{bufs: p.bufs[:0]}
}

// errRegionShort is a region whose file ended before its length: the
// segment was truncated after the read (a follower's TruncateTo). The
// answer's frame already promised the bytes, so the connection is closed.
var errRegionShort = errors.New("segment file shorter than the region read from it")

// readRegion reads a region's bytes into a pooled buffer of the payload.
func (p *fetchPayload) readRegion(rg *storage.Region) ([]byte, error) {
	b := p.alloc(int(rg.Len))
	if err := readRegionAt(rg.File(), b, rg.Pos); err != nil {
		return nil, err
	}
	return b, nil
}

// readRegionAt fills b from f at off; a file that ends first is
// errRegionShort.
func readRegionAt(f io.ReaderAt, b []byte, off int64) error {
	n, err := f.ReadAt(b, off)
	if n < len(b) {
		if err == nil || errors.Is(err, io.EOF) {
			err = errRegionShort
		}
		return fmt.Errorf("read region: %w", err)
	}
	return nil
}

// materialize replaces every region of resp by its bytes, read into pooled
// buffers, for the encoders that copy the records into the frame.
func (p *fetchPayload) materialize(resp *kmsg.FetchResponse) error {
	if len(p.regions) == 0 {
		return nil
	}
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			rp := &resp.Topics[i].Partitions[j]
			if rg := p.region(rp.RecordBatches); rg != nil {
				b, err := p.readRegion(rg)
				if err != nil {
					return err
				}
				rp.RecordBatches = b
			}
		}
	}
	return nil
}

// copyChunk is the buffer copyRegion reads a region through. Reading and
// writing in chunks overlaps the read of one chunk with the peer's receipt
// of the last, and keeps the buffer in the CPU cache.
const copyChunk = 256 << 10

// copyRegion writes a region by reading it through a pooled buffer.
func copyRegion(nc net.Conn, rg *storage.Region) error {
	return copyRange(nc, rg.File(), rg.Pos, rg.Len)
}

// copyRange writes n bytes of f from pos to w, copyChunk at a time.
func copyRange(w io.Writer, f io.ReaderAt, pos, n int64) error {
	buf := wire.GetBuf(int(min(n, copyChunk)))
	defer wire.PutBuf(buf)
	for off, end := pos, pos+n; off < end; {
		b := buf[:min(int64(len(buf)), end-off)]
		if err := readRegionAt(f, b, off); err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		off += int64(len(b))
	}
	return nil
}
