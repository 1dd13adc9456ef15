package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRealClients runs kcat, confluent-kafka-python and kafka-python against
// the binary, as a user would. Each part skips when its client is not
// installed (CI installs them: see .ci/run).
func TestRealClients(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := samsaBinary(t)
	_, port, _ := startFreshProc(t, bin, t.TempDir())
	bootstrap := fmt.Sprintf("127.0.0.1:%d", port)

	run := func(t *testing.T, name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(cmd.Environ(), "BOOTSTRAP="+bootstrap)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	t.Run("kcat", func(t *testing.T) {
		if _, err := exec.LookPath("kcat"); err != nil {
			t.Skip("kcat not installed")
		}
		if out := run(t, "kcat", "-b", bootstrap, "-L"); !strings.Contains(out, "1 brokers") {
			t.Fatalf("kcat -L: %s", out)
		}
		produce := func(input string, args ...string) {
			cmd := exec.Command("kcat", append([]string{"-b", bootstrap, "-P", "-t", "kcat"}, args...)...)
			cmd.Stdin = strings.NewReader(input)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kcat -P %v: %v\n%s", args, err, out)
			}
		}
		produce("k1:hello\nk2:world\n", "-K:")
		for _, z := range []string{"gzip", "snappy", "lz4", "zstd"} {
			produce("via-"+z+"\n", "-z", z)
		}
		out := run(t, "kcat", "-b", bootstrap, "-C", "-t", "kcat", "-o", "beginning", "-e", "-q", "-f", "%k=%s@%o\n")
		want := "k1=hello@0\nk2=world@1\n=via-gzip@2\n=via-snappy@3\n=via-lz4@4\n=via-zstd@5\n"
		if out != want {
			t.Fatalf("kcat consumed:\n%s\nwant:\n%s", out, want)
		}
	})

	t.Run("kcat-group", func(t *testing.T) {
		if _, err := exec.LookPath("kcat"); err != nil {
			t.Skip("kcat not installed")
		}
		produce := func(input string) {
			cmd := exec.Command("kcat", "-b", bootstrap, "-P", "-t", "kcat-group", "-p", "0")
			cmd.Stdin = strings.NewReader(input)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kcat -P: %v\n%s", err, out)
			}
		}
		consume := func() string {
			return run(t, "kcat", "-b", bootstrap, "-G", "kcat-readers", "kcat-group", "-e", "-q", "-f", "%s@%o\n",
				"-X", "auto.offset.reset=earliest", "-X", "log_level=3")
		}
		produce("a\nb\n")
		if out := consume(); out != "a@0\nb@1\n" {
			t.Fatalf("kcat -G first run:\n%s", out)
		}
		// The group committed its offsets: a second run reads only
		// what is new.
		produce("c\n")
		if out := consume(); out != "c@2\n" {
			t.Fatalf("kcat -G second run:\n%s", out)
		}
	})

	scripts, _ := filepath.Abs("../../scripts/clients")
	t.Run("kafkajs", func(t *testing.T) {
		if _, err := os.Stat(filepath.Join(scripts, "node_modules", "kafkajs")); err != nil {
			t.Skip("kafkajs not installed (npm install --prefix scripts/clients)")
		}
		if out := run(t, "node", filepath.Join(scripts, "kafkajs_check.js")); !strings.Contains(out, "kafkajs OK") {
			t.Fatalf("kafkajs: %s", out)
		}
	})
	for _, c := range []struct{ name, module, script string }{
		{"confluent-kafka-python", "confluent_kafka", "confluent_kafka_check.py"},
		{"kafka-python", "kafka", "kafka_python_check.py"},
		{"groups", "confluent_kafka", "groups_check.py"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := exec.Command("/usr/bin/python3", "-c", "import "+c.module).Run(); err != nil {
				t.Skipf("python module %s not installed", c.module)
			}
			if out := run(t, "/usr/bin/python3", filepath.Join(scripts, c.script)); !strings.Contains(out, " OK") {
				t.Fatalf("%s: %s", c.script, out)
			}
		})
	}
}
