package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samsa-streaming/samsa/internal/testbroker"
)

// TestMetadataShell browses a cluster's metadata online and a stopped
// node's metadata log offline, in the ZooKeeper layout and the image's.
func TestMetadataShell(t *testing.T) {
	c := testbroker.StartCluster(t, 3, "broker.rack=rack-{id}")
	boot := "--bootstrap-server=" + strings.Join(c.Addrs(), ",")
	cliOK(t, "topics", boot, "--create", "--topic", "shelled", "--partitions", "2", "--replication-factor", "3", "--config", "retention.ms=1234")
	c.WaitSynced()

	if out := cliOK(t, "metadata-shell", boot, "ls", "/"); out != "admin\nbrokers\ncluster\nconfig\ncontroller\nimage\n" {
		t.Fatalf("ls /: %q", out)
	}
	if out := cliOK(t, "metadata-shell", boot, "ls", "/brokers/ids"); out != "1\n2\n3\n" {
		t.Fatalf("ls /brokers/ids: %q", out)
	}
	var broker struct {
		Rack string `json:"rack"`
		Port int    `json:"port"`
	}
	if err := json.Unmarshal([]byte(cliOK(t, "metadata-shell", boot, "cat", "/brokers/ids/2")), &broker); err != nil || broker.Rack != "rack-2" || broker.Port != c.Node(2).Port {
		t.Fatalf("cat /brokers/ids/2: %+v %v", broker, err)
	}
	var state struct {
		Leader int32   `json:"leader"`
		ISR    []int32 `json:"isr"`
	}
	if err := json.Unmarshal([]byte(cliOK(t, "metadata-shell", boot, "cat", "/brokers/topics/shelled/partitions/1/state")), &state); err != nil || state.Leader < 1 || len(state.ISR) != 3 {
		t.Fatalf("partition state: %+v %v", state, err)
	}
	if out := cliOK(t, "metadata-shell", boot, "cat", "/config/topics/shelled"); out != `{"config":{"retention.ms":"1234"},"version":1}`+"\n" {
		t.Fatalf("topic config: %q", out)
	}
	if out := cliOK(t, "metadata-shell", boot, "cat", "/controller"); !strings.HasPrefix(out, `{"version":2,"brokerid":`) {
		t.Fatalf("controller: %q", out)
	}
	if out := cliOK(t, "metadata-shell", boot, "find", "/image/topics/byName/shelled"); out != "/image/topics/byName/shelled\n/image/topics/byName/shelled/0\n/image/topics/byName/shelled/1\n/image/topics/byName/shelled/id\n/image/topics/byName/shelled/name\n" {
		t.Fatalf("find: %q", out)
	}
	if out := cliOK(t, "metadata-shell", boot, "ls", "/image/features"); out != "finalized_group.version\nfinalized_kraft.version\nmetadataVersion\n" {
		t.Fatalf("ls /image/features: %q", out)
	}
	if r := cliRun(t, "metadata-shell", boot, "cat", "/brokers/ids/9"); r.runErr == nil {
		t.Fatal("cat of a missing path succeeded")
	}

	// Offline: node 3's metadata log, the node stopped.
	nd := c.Node(3)
	nd.Stop()
	dir := filepath.Join(nd.Dir, "__cluster_metadata-0")
	out := cliOK(t, "metadata-shell", "--directory", dir, "cat", "/image/configs/TOPIC/shelled/retention.ms")
	if out != "1234\n" {
		t.Fatalf("offline config: %q", out)
	}
	if out := cliOK(t, "metadata-shell", "--directory", dir, "cat", "/image/features/metadataVersion"); out != "4.0-IV3\n" {
		t.Fatalf("offline metadata.version: %q", out)
	}
	out = cliOK(t, "metadata-shell", "--directory", dir, "cat", "/image/cluster/brokers/3/fenced")
	if out != "true\n" {
		t.Fatalf("offline: node 3 fenced after its controlled shutdown: %q", out)
	}
	out = cliOK(t, "metadata-shell", "--directory", dir, "tree", "/brokers/topics/shelled")
	if !strings.HasPrefix(out, "shelled: {") || !strings.Contains(out, "  partitions:\n    0:\n      state: {") {
		t.Fatalf("offline tree:\n%s", out)
	}
}
