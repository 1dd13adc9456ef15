package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDeclaredConfigsAreHonouredOrMarked checks that every declared config
// is either read by the code that acts on it or marked Unused (which
// CONFIG.md prints as "accepted, not yet used"): a config declared and
// never read would be a promise the docs make and the broker breaks.
//
// A broker config counts as read when its name appears as a string in a
// non-test Go file other than its declaration, or when it is the synonym
// (the default) of a topic config that is read. A topic config counts as
// read when the field of config.Topic it resolves to is used outside this
// package. A config marked Unused that is read is reported too, so the
// mark comes off when the feature lands.
func TestDeclaredConfigsAreHonouredOrMarked(t *testing.T) {
	root := filepath.Join("..", "..")
	var code strings.Builder    // every non-test Go file but the declarations
	var outside strings.Builder // the same, outside this package
	for _, dir := range []string{"internal", "cmd"} {
		err := filepath.Walk(filepath.Join(root, dir), func(path string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			if info.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			if strings.HasSuffix(path, "_defs.go") && strings.Contains(path, filepath.Join("internal", "config")) {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			// The tools read client properties of the same names
			// (ssl.truststore.location ...): not the broker's.
			if !strings.Contains(path, filepath.Join("internal", "cli")+string(filepath.Separator)) {
				code.Write(b)
			}
			if !strings.Contains(path, filepath.Join("internal", "config")+string(filepath.Separator)) {
				outside.Write(b)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	src, out := code.String(), outside.String()

	// The topic configs' fields, from ResolveTopic's table.
	topicSrc, err := os.ReadFile("topic.go")
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, m := range regexp.MustCompile(`(\w+):\s+\w*\(?(?:vals\[)?"([a-z0-9.]+)"`).FindAllStringSubmatch(string(topicSrc), -1) {
		fields[m[2]] = m[1]
	}
	// Derived fields read instead of their source.
	derived := map[string][]string{
		"cleanup.policy":                          {"Compact", "Delete", "CleanupPolicy"},
		"min.cleanable.dirty.ratio":               {"MinCleanableDirtyRatio"},
		"leader.replication.throttled.replicas":   {"LeaderThrottledReplicas"},
		"follower.replication.throttled.replicas": {"FollowerThrottledReplicas"},
	}
	topicRead := map[string]bool{}
	for _, d := range TopicDefs() {
		names := derived[d.Name]
		if f, ok := fields[d.Name]; ok {
			names = append(names, f)
		}
		for _, f := range names {
			if strings.Contains(out, "."+f) {
				topicRead[d.Name] = true
			}
		}
		switch {
		case !topicRead[d.Name] && !d.Unused:
			t.Errorf("topic config %s is declared, neither read outside internal/config (field %q) nor marked Unused", d.Name, fields[d.Name])
		case topicRead[d.Name] && d.Unused:
			t.Errorf("topic config %s is marked Unused but its field %s is read: take the mark off", d.Name, fields[d.Name])
		}
	}
	synonymOfRead, synonym := map[string]bool{}, map[string]bool{}
	for _, d := range TopicDefs() {
		for _, s := range d.Synonyms {
			synonym[s] = true
			synonymOfRead[s] = synonymOfRead[s] || topicRead[d.Name]
		}
	}
	for _, d := range BrokerDefs() {
		// A broker config that defaults a topic config is honoured with
		// it; its name appears in ResolveTopic's table either way.
		read := synonymOfRead[d.Name] || !synonym[d.Name] && strings.Contains(src, `"`+d.Name+`"`)
		switch {
		case !read && !d.Unused:
			t.Errorf("broker config %s is declared, never read and not marked Unused", d.Name)
		case read && d.Unused:
			t.Errorf("broker config %s is marked Unused but the code reads it: take the mark off", d.Name)
		}
	}
}
