package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/config"
)

// testBroker is a real broker on loopback ports in a temp dir.
type testBroker struct {
	t    testing.TB
	dir  string
	opts []string
	srv  *Server
}

// freePort asks the kernel for a free loopback port. The controller port
// must be known before start because the voters list names it.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func testLogger() *slog.Logger {
	if os.Getenv("SAMSA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startBroker starts a broker in a new temp dir; overrides are key=value.
// The controller port must be chosen before start (the voters list names
// it), so another process may take it in between: a start that fails to
// bind is retried with a new port.
func startBroker(t testing.TB, overrides ...string) *testBroker {
	t.Helper()
	tb := &testBroker{t: t, dir: t.TempDir()}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		cport := freePort(t)
		tb.opts = append([]string{
			"listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:" + fmt.Sprint(cport),
			"controller.quorum.voters=1@127.0.0.1:" + fmt.Sprint(cport),
			"log.dirs=" + tb.dir,
			"samsa.http.listener=127.0.0.1:0",
		}, overrides...)
		if err = tb.tryStart(); err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
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
