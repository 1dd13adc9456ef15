package config

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated part of docs/CONFIG.md")

const configDoc = "../../docs/CONFIG.md"

// TestConfigDoc checks that docs/CONFIG.md holds exactly Markdown() between
// its markers, so the reference cannot drift from the declarations. Run
// `go test ./internal/config -run TestConfigDoc -update` after changing a
// declaration.
func TestConfigDoc(t *testing.T) {
	data, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	begin := strings.Index(doc, DocBegin)
	end := strings.Index(doc, DocEnd)
	if begin < 0 || end < begin {
		t.Fatalf("%s lacks the markers %q and %q", configDoc, DocBegin, DocEnd)
	}
	head, body, tail := doc[:begin+len(DocBegin)], doc[begin+len(DocBegin):end], doc[end:]
	want := "\n\n" + Markdown() + "\n"
	if body == want {
		return
	}
	if *update {
		if err := os.WriteFile(configDoc, []byte(head+want+tail), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date: run go test ./internal/config -run TestConfigDoc -update", configDoc)
}

func TestMarkdown(t *testing.T) {
	md := Markdown()
	for _, want := range []string{
		"| `log.retention.ms` | long | null | [-1,...] | cluster-wide |",
		"| `listeners` | list | `PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093` |",
		"| `retention.ms` | long | `604800000` | [-1,...] | `log.retention.ms`, `log.retention.minutes`, `log.retention.hours` |",
		"*Accepted, not yet used.* The SO_SNDBUF",
		"Sensitive: never shown.",
		"**Samsa:** Kafka's default is 3",
		"| `controller.quorum.voters` | list | \"\" |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown() lacks %q", want)
		}
	}
	if strings.Count(md, "\n| `") != len(brokerDefs)+len(topicDefs) {
		t.Error("one row per config")
	}
}
