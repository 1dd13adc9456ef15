package broker

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

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/testbroker/testports"
)

// testBroker is a real broker on loopback ports in a temp dir.
type testBroker struct {
	t    testing.TB
	dir  string
	opts []string
	srv  *Server
}

// freePort asks the kernel for a free loopback port.
func freePort(t testing.TB) int { return testports.Free(t) }

func testLogger() *slog.Logger {
	if os.Getenv("SAMSA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startBroker starts a broker in a new temp dir; overrides are key=value.
func startBroker(t testing.TB, overrides ...string) *testBroker {
	t.Helper()
	tb := &testBroker{t: t, dir: t.TempDir()}
	tb.opts = testports.Start(t, tb.dir, overrides, func(opts []string) error {
		tb.opts = opts
		return tb.tryStart()
	})
	t.Cleanup(func() { tb.stop() })
	return tb
}

func (tb *testBroker) start() {
	tb.t.Helper()
	if err := tb.tryStart(); err != nil {
		tb.t.Fatal(err)
	}
}

func (tb *testBroker) tryStart() error {
	cfg, err := config.LoadBroker("", tb.opts)
	if err != nil {
		return err
	}
	srv, err := New(cfg, Options{Logger: testLogger()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Serve(ctx); err != nil {
		srv.Close()
		return err
	}
	tb.srv = srv
	return nil
}

func (tb *testBroker) stop() {
	if tb.srv != nil {
		if err := tb.srv.Close(); err != nil {
			tb.t.Errorf("closing broker: %v", err)
		}
		tb.srv = nil
	}
}

// restart closes the broker cleanly and starts it again on the same dir,
// keeping the client port.
func (tb *testBroker) restart() {
	tb.t.Helper()
	addr := tb.srv.Addr()
	tb.stop()
	tb.opts = append(tb.opts, "listeners=PLAINTEXT://"+addr+",CONTROLLER://"+controllerAddr(tb.opts))
	tb.start()
}

func controllerAddr(opts []string) string {
	for i := len(opts) - 1; i >= 0; i-- {
		var id int
		var addr string
		if n, _ := fmt.Sscanf(opts[i], "controller.quorum.voters=%d@%s", &id, &addr); n == 2 {
			return addr
		}
	}
	return ""
}

func (tb *testBroker) client(opts ...kgo.Opt) *kgo.Client {
	tb.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tb.srv.Addr())}, opts...)...)
	if err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Cleanup(cl.Close)
	return cl
}

func (tb *testBroker) admin() *kadm.Client {
	return kadm.NewClient(tb.client())
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (tb *testBroker) topicID(name string) [16]byte {
	t := tb.srv.meta.Image().Topics[name]
	if t == nil {
		tb.t.Fatalf("no topic %q in the metadata image", name)
	}
	return t.ID
}
