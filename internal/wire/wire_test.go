package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func frame(body []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	return append(out, body...)
}

func TestReadFrameLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"negative size", []byte{0xff, 0xff, 0xff, 0xfe, 1, 2}, ErrFrameSize},
		{"over limit", binary.BigEndian.AppendUint32(nil, 1<<30), ErrFrameSize},
		{"too short for a header", frame([]byte{0, 1}), ErrFrameSize},
		{"truncated body", append(binary.BigEndian.AppendUint32(nil, 100), make([]byte, 10)...), io.ErrUnexpectedEOF},
		{"empty stream", nil, io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tc.in), 1<<20, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestRequestRoundTrip encodes requests as a client does (kmsg's formatter)
// and parses them back, for a flexible and a non-flexible version.
func TestRequestRoundTrip(t *testing.T) {
	for _, v := range []int16{5, 12} {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = v
		topic := "t1"
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = &topic
		req.Topics = append(req.Topics, rt)
		wire := kmsg.NewRequestFormatter(kmsg.FormatterClientID("cid")).AppendRequest(nil, req, 42)
		f, err := ReadFrame(bytes.NewReader(wire), 1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := kmsg.NewPtrMetadataRequest()
		h, err := ParseRequest(f, got)
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if h.CorrelationID != 42 || h.ClientID == nil || *h.ClientID != "cid" || h.Version != v {
			t.Fatalf("v%d: header %+v", v, h)
		}
		if len(got.Topics) != 1 || *got.Topics[0].Topic != "t1" {
			t.Fatalf("v%d: topics %+v", v, got.Topics)
		}
	}
}

// TestApiVersionsResponseHeaderIsV0 checks the one exception to header
// versions: ApiVersions answers carry no tag section even at v3+.
func TestApiVersionsResponseHeaderIsV0(t *testing.T) {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 3
	b := AppendResponse(nil, 7, resp)
	body := resp.AppendTo(nil)
	if len(b) != 4+4+len(body) {
		t.Fatalf("frame is %d bytes, want %d (no header tags)", len(b), 8+len(body))
	}
	meta := kmsg.NewPtrMetadataResponse()
	meta.Version = 12
	b = AppendResponse(nil, 7, meta)
	if len(b) != 4+4+1+len(meta.AppendTo(nil)) {
		t.Fatal("flexible response lacks its header tag section")
	}
}

// FuzzParseRequest feeds arbitrary frames to the header parser and the
// generated decoders of every API: nothing may panic.
func FuzzParseRequest(f *testing.F) {
	for _, k := range []kmsg.Key{kmsg.Produce, kmsg.Fetch, kmsg.Metadata, kmsg.ApiVersions, kmsg.CreateTopics} {
		req := k.Request()
		req.SetVersion(req.MaxVersion())
		f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)[4:])
	}
	f.Add([]byte{0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 0x80, 0x80, 0x80, 0x80, 0x08})
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, err := PeekHeader(frame)
		if err != nil {
			return
		}
		req := kmsg.RequestForKey(h.Key)
		if req == nil || h.Version < 0 || h.Version > req.MaxVersion() {
			return
		}
		ParseRequest(frame, req)
	})
}

// FuzzReadFrame checks that no size prefix makes ReadFrame allocate beyond
// the limit or panic.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 0, 18, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := ReadFrame(bytes.NewReader(in), 1024, nil)
		if err == nil && len(b) > 1024 {
			t.Fatalf("frame of %d bytes over the limit", len(b))
		}
	})
}

// benchFetchResponse is a v12 fetch answer of 8 partitions with 1 MiB of
// records each.
func benchFetchResponse() *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 12
	t := kmsg.NewFetchResponseTopic()
	t.Topic = "bench"
	for p := int32(0); p < 8; p++ {
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition = p
		rp.RecordBatches = make([]byte, 1<<20)
		t.Partitions = append(t.Partitions, rp)
	}
	resp.Topics = append(resp.Topics, t)
	return resp
}

// BenchmarkAppendFetchResponse encodes a fetch answer of 8 partitions with
// 1 MiB of records each, into a reused buffer as the broker does.
func BenchmarkAppendFetchResponse(b *testing.B) {
	resp := benchFetchResponse()
	b.SetBytes(8 << 20)
	b.ReportAllocs()
	var buf []byte
	for i := 0; i < b.N; i++ {
		buf = AppendResponse(buf[:0], 1, resp)
	}
}

// BenchmarkAppendFetchResponseVec is BenchmarkAppendFetchResponse with the
// record bytes left out of the frame (written with writev by the broker).
func BenchmarkAppendFetchResponseVec(b *testing.B) {
	resp := benchFetchResponse()
	b.SetBytes(8 << 20)
	b.ReportAllocs()
	var buf []byte
	for i := 0; i < b.N; i++ {
		frame, _, ok := AppendFetchResponseVec(buf[:0], 1, resp, nil)
		if !ok {
			b.Fatal("not vectored")
		}
		buf = frame
	}
}

// BenchmarkParseProduceRequest decodes a produce request carrying one
// 16 KiB record set.
func BenchmarkParseProduceRequest(b *testing.B) {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = -1
	t := kmsg.NewProduceRequestTopic()
	t.Topic = "bench"
	p := kmsg.NewProduceRequestTopicPartition()
	p.Records = make([]byte, 16<<10)
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	frame := kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)[4:]
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		got := kmsg.NewPtrProduceRequest()
		if _, err := ParseRequest(frame, got); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBufPool(t *testing.T) {
	for _, n := range []int{0, 1, 4096, 4097, 1 << 20, 8 << 20, 8<<20 + 1} {
		b := GetBuf(n)
		if len(b) != n {
			t.Fatalf("GetBuf(%d): len %d", n, len(b))
		}
		if n <= 8<<20 && cap(b)&(cap(b)-1) != 0 {
			t.Fatalf("GetBuf(%d): cap %d is not a class size", n, cap(b))
		}
		PutBuf(b)
	}
	PutBuf(make([]byte, 5000)) // not a class size: dropped
	if b := GetBuf(5000); cap(b) != 8192 {
		t.Fatalf("GetBuf(5000) cap %d, want 8192", cap(b))
	}
}

// BenchmarkReadFrame reads 64 KiB produce-sized frames into a new buffer
// each (ReadFrame with no buffer) and into pooled ones (ReadFramePooled,
// given back after use, as a connection does for produce and fetch).
func BenchmarkReadFrame(b *testing.B) {
	frame := make([]byte, 4+64<<10)
	binary.BigEndian.PutUint32(frame, 64<<10)
	for _, pooled := range []bool{false, true} {
		name := "alloc"
		if pooled {
			name = "pooled"
		}
		b.Run(name, func(b *testing.B) {
			r := bytes.NewReader(frame)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				r.Reset(frame)
				if pooled {
					f, err := ReadFramePooled(r, 1<<20)
					if err != nil {
						b.Fatal(err)
					}
					PutBuf(f)
				} else if _, err := ReadFrame(r, 1<<20, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAppendFetchResponseVec checks, for every Fetch version served, that
// the vectored frame is byte for byte the copied one, with partitions
// large, small, empty and in error, and that resp is left unchanged.
func TestAppendFetchResponseVec(t *testing.T) {
	for v := int16(4); v <= 17; v++ {
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = v
		resp.SessionID = 7
		for ti, name := range []string{"a", "topic-b"} {
			tp := kmsg.NewFetchResponseTopic()
			tp.Topic = name
			tp.TopicID = [16]byte{byte(ti + 1)}
			for p, size := range []int{5000, 0, 100, 1 << 20, 4096} {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition = int32(p)
				rp.HighWatermark = int64(1000 * p)
				rp.RecordBatches = bytes.Repeat([]byte{byte(p + 1)}, size)
				if p == 1 {
					rp.ErrorCode = 1
				}
				if p == 2 {
					at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
					at.ProducerID = 9
					rp.AbortedTransactions = append(rp.AbortedTransactions, at)
				}
				tp.Partitions = append(tp.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, tp)
		}
		want := AppendResponse(nil, 42, resp)
		frame, vec, ok := AppendFetchResponseVec([]byte("xx"), 42, resp, nil)
		if !ok {
			t.Fatalf("v%d: not vectored", v)
		}
		if got := bytes.Join(vec, nil); !bytes.Equal(got, want) {
			t.Fatalf("v%d: vectored frame differs (%d bytes, want %d)", v, len(got), len(want))
		}
		if string(frame[:2]) != "xx" {
			t.Fatalf("v%d: dst prefix lost", v)
		}
		if again := AppendResponse(nil, 42, resp); !bytes.Equal(again, want) {
			t.Fatalf("v%d: resp changed by AppendFetchResponseVec", v)
		}
	}
	small := kmsg.NewPtrFetchResponse()
	small.Version = 12
	if _, _, ok := AppendFetchResponseVec(nil, 1, small, nil); ok {
		t.Fatal("vectored an answer without records")
	}
}

// TestAppendFetchResponseVecExternal stands some partitions' records in
// with one-byte tokens that ext maps to their real length (file regions
// in the broker): once the writer puts the real bytes where vec holds a
// token, the frame must be kmsg's, for every Fetch version.
func TestAppendFetchResponseVecExternal(t *testing.T) {
	for v := int16(4); v <= 17; v++ {
		real := kmsg.NewPtrFetchResponse()
		real.Version = v
		withTokens := kmsg.NewPtrFetchResponse()
		withTokens.Version = v
		ext := map[*byte][]byte{} // token -> the records it stands for
		tp, tt := kmsg.NewFetchResponseTopic(), kmsg.NewFetchResponseTopic()
		tp.Topic, tt.Topic = "t", "t"
		for p, size := range []int{100, 0, 70000, 5000} {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = int32(p)
			rp.RecordBatches = bytes.Repeat([]byte{byte(p + 1)}, size)
			tp.Partitions = append(tp.Partitions, rp)
			if p%2 == 0 { // 100 and 70000 bytes stand outside
				tok := []byte{0}
				ext[&tok[0]] = rp.RecordBatches
				rp.RecordBatches = tok
			}
			tt.Partitions = append(tt.Partitions, rp)
		}
		real.Topics = append(real.Topics, tp)
		withTokens.Topics = append(withTokens.Topics, tt)
		lookup := func(b []byte) int64 {
			if len(b) == 1 {
				if r, ok := ext[&b[0]]; ok {
					return int64(len(r))
				}
			}
			return -1
		}
		_, vec, ok := AppendFetchResponseVec(nil, 9, withTokens, lookup)
		if !ok {
			t.Fatalf("v%d: not vectored", v)
		}
		var got []byte
		seen := 0
		for _, b := range vec {
			if len(b) == 1 {
				if r, ok := ext[&b[0]]; ok {
					got = append(got, r...)
					seen++
					continue
				}
			}
			got = append(got, b...)
		}
		if seen != 2 {
			t.Fatalf("v%d: %d tokens in vec, want 2", v, seen)
		}
		if want := AppendResponse(nil, 9, real); !bytes.Equal(got, want) {
			t.Fatalf("v%d: frame with external records differs (%d bytes, want %d)", v, len(got), len(want))
		}
	}
}
