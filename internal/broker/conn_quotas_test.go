package broker

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersionsOver sends ApiVersions on a raw connection and reports
// whether an answer came (a refused connection is closed at once).
func apiVersionsOver(t *testing.T, nc net.Conn) bool {
	t.Helper()
	// ApiVersions v0: header v1 (key 18, version 0, correlation id 1, a
	// null client id), an empty body.
	frame := []byte{0, 0, 0, 10, 0, byte(kmsg.ApiVersions), 0, 0, 0, 0, 0, 1, 0xff, 0xff}
	nc.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := nc.Write(frame); err != nil {
		return false
	}
	var size [4]byte
	_, err := nc.Read(size[:])
	return err == nil
}

// TestConnectionsPerIP: max.connections.per.ip closes a connection past
// the limit at once (and counts it), an override raises it for one
// address, and a closed connection frees its place.
func TestConnectionsPerIP(t *testing.T) {
	tb := startBroker(t, "max.connections.per.ip=2")
	dial := func() net.Conn {
		t.Helper()
		nc, err := net.Dial("tcp", tb.srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		return nc
	}
	a, b := dial(), dial()
	if !apiVersionsOver(t, a) || !apiVersionsOver(t, b) {
		t.Fatal("the first two connections were not served")
	}
	if c := dial(); apiVersionsOver(t, c) {
		t.Fatal("a third connection from 127.0.0.1 was served with max.connections.per.ip=2")
	}
	if n := scrape(t, tb, "samsa_connections_refused_total"); n != 1 {
		t.Fatalf("samsa_connections_refused_total %v, want 1", n)
	}
	a.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if d := dial(); apiVersionsOver(t, d) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection served after one of the two closed")
		}
		time.Sleep(20 * time.Millisecond)
	}

}

// TestConnectionsPerIPOverride: max.connections.per.ip.overrides raises
// the limit for one address.
func TestConnectionsPerIPOverride(t *testing.T) {
	tb := startBroker(t, "max.connections.per.ip=1", "max.connections.per.ip.overrides=127.0.0.1:3")
	served := 0
	for range 4 {
		nc, err := net.Dial("tcp", tb.srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if apiVersionsOver(t, nc) {
			served++
		}
	}
	if served != 3 {
		t.Fatalf("%d of 4 connections served with an override of 3", served)
	}
}

// TestMaxConnections: at max.connections the listener stops accepting
// until a connection closes; the waiting one is then served.
func TestMaxConnections(t *testing.T) {
	tb := startBroker(t, "max.connections=1")
	a, err := net.Dial("tcp", tb.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !apiVersionsOver(t, a) {
		t.Fatal("the first connection was not served")
	}
	b, err := net.Dial("tcp", tb.srv.Addr()) // the kernel's backlog takes it
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if apiVersionsOver(t, b) {
		t.Fatal("a second connection was served with max.connections=1")
	}
	b.SetDeadline(time.Time{})
	a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if apiVersionsOver(t, b) {
			return
		}
	}
	t.Fatal("the waiting connection was not served after the first closed")
}
