// Package testbroker starts a real Samsa broker in process for the tests
// of other packages (tools, clients): loopback ports, a temp data dir, and
// cleanup registered with the test. The broker package's own tests use an
// internal harness that can reach its unexported state.
package testbroker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/broker"
	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/testbroker/testports"
)

// Broker is a running in-process broker.
type Broker struct {
	t    testing.TB
	Dir  string // the log dir
	opts []string
	srv  *broker.Server
	addr string
}

// Start starts a single-node broker; overrides are server.properties
// key=value lines applied on top of the test defaults. The controller port
// is chosen before start (the voters list names it); if another process
// takes it in between, the start is retried with a new port.
func Start(t testing.TB, overrides ...string) *Broker {
	t.Helper()
	b := &Broker{t: t, Dir: t.TempDir()}
	b.opts = testports.Start(t, b.Dir, overrides, func(opts []string) error {
		b.opts = opts
		return b.tryStart()
	})
	t.Cleanup(b.Stop)
	return b
}

func (b *Broker) start() {
	b.t.Helper()
	if err := b.tryStart(); err != nil {
		b.t.Fatal(err)
	}
}

func (b *Broker) tryStart() error {
	cfg, err := config.LoadBroker("", b.opts)
	if err != nil {
		return err
	}
	srv, err := broker.New(cfg, broker.Options{Logger: logger()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Serve(ctx); err != nil {
		srv.Close()
		return err
	}
	b.srv, b.addr = srv, srv.Addr()
	return nil
}

// Addr is the client listener's host:port.
func (b *Broker) Addr() string { return b.addr }

// Stop closes the broker cleanly; Start registers it as cleanup.
func (b *Broker) Stop() {
	if b.srv != nil {
		if err := b.srv.Close(); err != nil {
			b.t.Errorf("closing broker: %v", err)
		}
		b.srv = nil
	}
}

// Restart stops the broker and starts it again on the same dir and port.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	for i := range b.opts {
		var cport int
		if n, _ := fmt.Sscanf(b.opts[i], "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:%d", &cport); n == 1 {
			b.opts[i] = fmt.Sprintf("listeners=PLAINTEXT://%s,CONTROLLER://127.0.0.1:%d", b.addr, cport)
		}
	}
	b.start()
}

// Client is a franz-go client seeded with the broker, closed at cleanup.
func (b *Broker) Client(opts ...kgo.Opt) *kgo.Client {
	b.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr)}, opts...)...)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(cl.Close)
	return cl
}

// Admin is a kadm client on a new Client.
func (b *Broker) Admin() *kadm.Client { return kadm.NewClient(b.Client()) }

// FreePort asks the kernel for a free loopback port.
func FreePort(t testing.TB) int { return testports.Free(t) }

// logger is quiet unless SAMSA_TEST_LOG is set.
func logger() *slog.Logger {
	if os.Getenv("SAMSA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
