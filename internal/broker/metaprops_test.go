package broker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samsa-streaming/samsa/internal/config"
)

// TestLogDirOfAnotherNodeRefused formats a dir by starting a broker, then
// starts another node id on it: start-up must fail naming both ids.
func TestLogDirOfAnotherNodeRefused(t *testing.T) {
	tb := startBroker(t)
	tb.stop()
	props, err := os.ReadFile(filepath.Join(tb.dir, metaPropertiesFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cluster.id=", "node.id=1", "version=1", "directory.id="} {
		if !strings.Contains(string(props), want) {
			t.Fatalf("meta.properties lacks %q:\n%s", want, props)
		}
	}
	opts := append(append([]string{}, tb.opts...), "node.id=2", "controller.quorum.voters=2@"+controllerAddr(tb.opts))
	cfg, err := config.LoadBroker("", opts)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, Options{Logger: testLogger()})
	if err == nil {
		srv.Close()
		t.Fatal("a broker started on a log dir formatted for another node")
	}
	if !strings.Contains(err.Error(), "node.id 1") || !strings.Contains(err.Error(), "node.id 2") {
		t.Fatalf("error does not name both node ids: %v", err)
	}
}

// TestLogDirLockedWhileInUse starts a second broker on a running broker's
// dir: it must refuse before touching the logs.
func TestLogDirLockedWhileInUse(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "locked", 1, nil)
	produceN(t, tb.client(), "locked", 5)
	opts := append(append([]string{}, tb.opts...), "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0", "controller.quorum.voters=1@127.0.0.1:1")
	cfg, err := config.LoadBroker("", opts)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, Options{Logger: testLogger()})
	if err == nil {
		srv.Close()
		t.Fatal("a second broker opened a log dir in use")
	}
	if !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("error: %v", err)
	}
	consumeAll(t, tb, "locked", 5)
}
