// Package wire is the Kafka framing layer: size-prefixed frames, request
// headers (v0, v1, v2 with tagged fields) and response headers.
//
// The size of a frame is checked against the limit (socket.request.max.bytes)
// before anything is allocated for it, and every header field is parsed with
// bounds checks, so malformed input yields an error and never a panic or an
// allocation sized by an unchecked length. Request bodies are decoded by the
// generated kmsg types, which bound array lengths by the bytes left.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	// ErrFrameSize means a frame announced a negative size or one over the
	// limit. The connection must be closed: the stream cannot be resynced.
	ErrFrameSize = errors.New("invalid frame size")
	// ErrHeader means the request header could not be parsed.
	ErrHeader = errors.New("malformed request header")
)

// ReadFrame reads one size-prefixed frame. The size is checked against max
// before the body is allocated; buf is reused when it is large enough.
func ReadFrame(r io.Reader, max int32, buf []byte) ([]byte, error) {
	return readFrame(r, max, buf, false)
}

// ReadFramePooled is ReadFrame with the body in a buffer from GetBuf: give
// it back with PutBuf once nothing refers to the frame (kmsg's decoders
// copy strings, but byte fields such as a produce request's records alias
// the frame).
func ReadFramePooled(r io.Reader, max int32) ([]byte, error) {
	return readFrame(r, max, nil, true)
}

func readFrame(r io.Reader, max int32, buf []byte, pooled bool) ([]byte, error) {
	var sizeBuf [4]byte
	if _, err := io.ReadFull(r, sizeBuf[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < 0 || size > max {
		return nil, fmt.Errorf("%w: %d (limit %d)", ErrFrameSize, size, max)
	}
	if size < 8 { // api key, version, correlation id at least
		return nil, fmt.Errorf("%w: %d bytes is shorter than a request header", ErrFrameSize, size)
	}
	switch {
	case pooled:
		buf = GetBuf(int(size))
	case cap(buf) >= int(size):
		buf = buf[:size]
	default:
		buf = make([]byte, size)
	}
	if _, err := io.ReadFull(r, buf); err != nil {
		if pooled {
			PutBuf(buf)
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// RequestHeader is a decoded request header.
type RequestHeader struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      *string
}

// PeekHeader reads the fixed part of a request header (key, version,
// correlation id), which every header version shares. It is enough to answer
// a request whose key or version is not served.
func PeekHeader(frame []byte) (RequestHeader, error) {
	if len(frame) < 8 {
		return RequestHeader{}, ErrHeader
	}
	return RequestHeader{
		Key:           int16(binary.BigEndian.Uint16(frame[0:])),
		Version:       int16(binary.BigEndian.Uint16(frame[2:])),
		CorrelationID: int32(binary.BigEndian.Uint32(frame[4:])),
	}, nil
}

// ParseRequest decodes the request header and body of a frame into req,
// whose version it sets. flexible tells whether req's header is v2 (with
// tagged fields): true when req.IsFlexible() at that version. ApiVersions is
// flexible from v3 like any other request; only its response header is
// special (see AppendResponse).
func ParseRequest(frame []byte, req kmsg.Request) (RequestHeader, error) {
	h, err := PeekHeader(frame)
	if err != nil {
		return h, err
	}
	req.SetVersion(h.Version)
	r := kbin.Reader{Src: frame[8:]}
	h.ClientID = r.NullableString() // v1+: client id is a classic nullable string even in v2
	if req.IsFlexible() {
		skipTags(&r)
	}
	if !r.Ok() {
		return h, fmt.Errorf("%w: key %d version %d", ErrHeader, h.Key, h.Version)
	}
	if err := req.ReadFrom(r.Src); err != nil {
		return h, fmt.Errorf("%w: decoding %s v%d: %v", ErrHeader, kmsg.NameForKey(h.Key), h.Version, err)
	}
	return h, nil
}

// AppendResponse appends a size-prefixed response frame to dst. The response
// header is v1 (with an empty tag section) for flexible versions, except for
// ApiVersions, whose response header is always v0 so that a client that does
// not yet know our versions can read it.
func AppendResponse(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	if need := len(dst) + sizeHint(resp); cap(dst) < need {
		// Grow once up front: growing while kmsg appends would copy the
		// record bytes of a fetch answer several times.
		// The buffer comes from the pool (GetBuf): give the frame back
		// with PutBuf once written.
		dst = append(GetBuf(need)[:0], dst...)
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = kbin.AppendInt32(dst, correlationID)
	if resp.IsFlexible() && resp.Key() != int16(kmsg.ApiVersions) {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// skipTags skips a tagged-field section. Unlike kmsg.SkipTags it refuses a
// tag count larger than the bytes left (each tag takes at least two), so a
// count of 2^31 costs nothing instead of billions of loop turns.
func skipTags(r *kbin.Reader) {
	n := r.Uvarint()
	if int64(n) > int64(len(r.Src))/2 {
		r.Src = nil
		r.Span(1) // marks the reader bad
		return
	}
	for ; n > 0 && r.Ok(); n-- {
		r.Uvarint()
		r.Span(int(r.Uvarint()))
	}
}

// sizeHint estimates the encoded size of a response: exact enough for
// fetch answers, whose record bytes dominate; small answers need no hint.
func sizeHint(resp kmsg.Response) int {
	f, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return 256
	}
	n := 64
	for i := range f.Topics {
		t := &f.Topics[i]
		n += 48 + len(t.Topic)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			n += 64 + len(p.RecordBatches) + 32*len(p.AbortedTransactions)
		}
	}
	return n
}
