package metadata

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testLogger discards unless SAMSA_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("SAMSA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// fakeTopicConfig accepts a few topic configs, like internal/config would.
func fakeTopicConfig(name string, value *string) error {
	switch name {
	case "cleanup.policy":
		if value == nil {
			return nil
		}
		for _, p := range strings.Split(*value, ",") {
			if p != "delete" && p != "compact" {
				return fmt.Errorf("cleanup.policy: %q is not delete or compact", p)
			}
		}
		return nil
	case "retention.ms", "segment.bytes", "log.retention.ms":
		if value == nil {
			return nil
		}
		if _, err := strconv.ParseInt(*value, 10, 64); err != nil {
			return fmt.Errorf("%s: %q is not a number", name, *value)
		}
		return nil
	}
	return fmt.Errorf("unknown config %q", name)
}

func fakeListDefault(_ int8, name string) (string, bool) {
	if name == "cleanup.policy" {
		return "delete", true
	}
	return "", false
}

func testConfig(t *testing.T, dir string, id int32) Config {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		NodeID:               id,
		Dir:                  dir,
		Listener:             ln,
		Logger:               testLogger().With("test", t.Name()),
		ValidateTopicConfig:  fakeTopicConfig,
		ValidateBrokerConfig: fakeTopicConfig,
		ListConfigDefault:    fakeListDefault,
	}
}

// openReady opens a single-voter node and waits until it is ready.
func openReady(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkLeaks fails the test if goroutines started during it are still
// running shortly after its cleanups. Call it first in a test.
func checkLeaks(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				var b strings.Builder
				_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
				t.Errorf("%d goroutines left, %d before the test:\n%s", runtime.NumGoroutine(), base, b.String())
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
