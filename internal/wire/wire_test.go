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

// BenchmarkAppendFetchResponse encodes a fetch answer of 8 partitions with
// 1 MiB of records each, into a reused buffer as the broker does.
func BenchmarkAppendFetchResponse(b *testing.B) {
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
	b.SetBytes(8 << 20)
	b.ReportAllocs()
	var buf []byte
	for i := 0; i < b.N; i++ {
		buf = AppendResponse(buf[:0], 1, resp)
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
