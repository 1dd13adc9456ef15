package metadata

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func TestOpenErrors(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	for name, cfg := range map[string]Config{
		"negative id": {NodeID: -1, Dir: dir},
		"no dir":      {NodeID: 0},
		"not a voter": {NodeID: 5, Dir: dir, Voters: map[int32]string{1: "127.0.0.1:1"}},
		"bad bind":    {NodeID: 0, Dir: dir, BindAddr: "256.0.0.1:99999"},
	} {
		if n, err := Open(cfg); err == nil {
			n.Close()
			t.Errorf("%s: opened", name)
		}
	}
	// A directory in use by another node fails (bolt's file lock) and
	// releases what it opened.
	n := openReady(t, testConfig(t, dir, 0))
	cfg := testConfig(t, dir, 0)
	if n2, err := Open(cfg); err == nil {
		n2.Close()
		t.Fatal("second node on one directory opened")
	}
	_ = n
}

func TestClosedAndCancelled(t *testing.T) {
	checkLeaks(t)
	n := openReady(t, testConfig(t, t.TempDir(), 0))
	registerBrokers(t, n, 0)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if r := n.CreateTopics(cancelled, []TopicSpec{{Name: "c", NumPartitions: 1, ReplicationFactor: 1}}, false)[0]; !errors.Is(r.Err, context.Canceled) {
		t.Fatalf("cancelled create: %v", r.Err)
	}
	if n.Image().Topic("c") != nil {
		t.Fatal("cancelled create went through")
	}
	n.Close()
	ctx := ctxT(t)
	if _, err := n.RegisterBroker(ctx, BrokerRegistration{ID: 1}); !errors.Is(err, ErrNotController) {
		t.Fatalf("register after close: %v", err)
	}
	if _, _, err := n.AllocateProducerIDs(ctx); !errors.Is(err, ErrNotController) {
		t.Fatalf("allocate after close: %v", err)
	}
	if err := n.WaitReady(ctx); !errors.Is(err, ErrNotController) {
		t.Fatalf("wait ready after close: %v", err)
	}
	if n.IsController() {
		t.Fatal("closed node is controller")
	}
}

// A voter that is not the lowest id does not bootstrap; alone it never
// becomes ready, and closes cleanly.
func TestNoBootstrapWithoutLowestVoter(t *testing.T) {
	checkLeaks(t)
	cfg := testConfig(t, t.TempDir(), 2)
	cfg.Voters = map[int32]string{1: "127.0.0.1:1", 2: cfg.Listener.Addr().String()}
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := n.WaitReady(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait ready: %v", err)
	}
	if n.ControllerID() != -1 || n.Image().ControllerID != -1 {
		t.Fatal("controller without a quorum")
	}
	if _, err := n.RegisterBroker(context.Background(), BrokerRegistration{ID: 2}); !errors.Is(err, ErrNotController) || !strings.Contains(err.Error(), "no controller") {
		t.Fatalf("register: %v", err)
	}
}

func TestHCLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLogAdapter(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Trace("trace-line")
	l.Info("info-line", "k", 1)
	l.Named("sub").With("a", "b").Warn("warn-line")
	l.Log(hclog.NoLevel, "nolevel-line")
	l.StandardLogger(nil).Print("std-line")
	out := buf.String()
	for _, want := range []string{"level=DEBUG msg=info-line component=raft k=1", "level=WARN msg=warn-line component=raft.sub a=b", "nolevel-line", "std-line"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "trace-line") || l.IsTrace() || !l.IsWarn() {
		t.Errorf("trace handling:\n%s", out)
	}
	l.SetLevel(hclog.Error)
	buf.Reset()
	l.Warn("hidden")
	if buf.Len() != 0 || l.GetLevel() != hclog.Error || l.ResetNamed("x").Name() != "x" {
		t.Errorf("level: %q", buf.String())
	}
}

func TestImageAccessors(t *testing.T) {
	im := baseImage(t)
	if im.Partition("a", 2) != nil || im.Partition("a", -1) != nil || im.Partition("zz", 0) != nil {
		t.Fatal("out of range partition")
	}
	if got := im.BrokerIDs(); len(got) != 3 || got[0] != 0 || got[2] != 2 {
		t.Fatalf("broker ids %v", got)
	}
	if FormatUUID([16]byte{}) != "AAAAAAAAAAAAAAAAAAAAAA" || len(NewClusterID()) != 22 {
		t.Fatal("uuid format")
	}
}
