package broker

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/wire"
)

func rawConn(t *testing.T, tb *testBroker) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", tb.srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// expectClosed reads until the broker closes the connection.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("broker kept the connection open after bad input")
		}
	}
}

func rawRequest(key kmsg.Key, version int16, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, 99)
	b = append(b, 0xff, 0xff) // null client id
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// TestBadInputClosesConnection sends each kind of malformed frame on its
// own connection and checks the broker closes it and keeps serving.
func TestBadInputClosesConnection(t *testing.T) {
	tb := startBroker(t, "socket.request.max.bytes=1048576")
	cases := map[string][]byte{
		"negative size":        {0x80, 0, 0, 0},
		"size over the limit":  binary.BigEndian.AppendUint32(nil, 64<<20),
		"size below header":    {0, 0, 0, 2, 0, 1},
		"unknown api key":      rawRequest(kmsg.Key(9999), 0, nil),
		"unsupported version":  rawRequest(kmsg.Metadata, 99, nil),
		"truncated body":       rawRequest(kmsg.CreateTopics, 4, []byte{0x05}),
		"absurd array length":  rawRequest(kmsg.Metadata, 4, []byte{0x7f, 0xff, 0xff, 0xff, 0}),
		"absurd string length": rawRequest(kmsg.CreateTopics, 2, []byte{0, 0, 0, 1, 0x7f, 0xff, 1, 2}),
		"garbage":              []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	}
	// A flexible header whose tag count claims 2^31 tags.
	b := rawRequest(kmsg.Metadata, 12, nil)
	b = append(b, 0x80, 0x80, 0x80, 0x80, 0x08)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	cases["tags count with no tag"] = b

	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			c := rawConn(t, tb)
			c.Write(in)
			expectClosed(t, c)
		})
	}
	// still serving
	if _, err := tb.admin().ListTopics(testCtx(t)); err != nil {
		t.Fatalf("broker stopped serving after bad input: %v", err)
	}
}

// TestApiVersionsFallback asks for an ApiVersions version we do not serve
// and expects Kafka's v0 answer with UNSUPPORTED_VERSION and our ranges.
func TestApiVersionsFallback(t *testing.T) {
	tb := startBroker(t)
	c := rawConn(t, tb)
	c.Write(rawRequest(kmsg.ApiVersions, 99, []byte{0, 0, 0}))
	frame, err := wire.ReadFrame(bufio.NewReader(c), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if corr := int32(binary.BigEndian.Uint32(frame)); corr != 99 {
		t.Fatalf("correlation id %d", corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(frame[4:]); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("error %d, want UNSUPPORTED_VERSION", resp.ErrorCode)
	}
	found := false
	for _, k := range resp.ApiKeys {
		if k.ApiKey == int16(kmsg.ApiVersions) && k.MaxVersion == 4 {
			found = true
		}
	}
	if !found {
		t.Fatalf("fallback answer does not list ApiVersions 0-4: %+v", resp.ApiKeys)
	}
}

// TestPipelinedRequestsAnsweredInOrder writes many requests before reading
// any answer; the answers must come back in request order.
func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "pipe", 1, nil)
	c := rawConn(t, tb)
	const n = 50
	var out []byte
	for i := 0; i < n; i++ {
		var req kmsg.Request
		if i%2 == 0 {
			m := kmsg.NewPtrMetadataRequest()
			m.Version = 9
			req = m
		} else {
			f := kmsg.NewPtrFetchRequest()
			f.Version = 11
			f.MaxWaitMillis = 50 // delayed: answers later than the metadata after it
			f.MinBytes = 1
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = "pipe"
			rt.Partitions = append(rt.Partitions, kmsg.NewFetchRequestTopicPartition())
			f.Topics = append(f.Topics, rt)
			req = f
		}
		out = append(out, kmsg.NewRequestFormatter().AppendRequest(nil, req, int32(i))...)
	}
	c.Write(out)
	br := bufio.NewReader(c)
	for i := 0; i < n; i++ {
		frame, err := wire.ReadFrame(br, 1<<20, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if corr := int32(binary.BigEndian.Uint32(frame)); corr != int32(i) {
			t.Fatalf("answer %d has correlation id %d", i, corr)
		}
	}
}
