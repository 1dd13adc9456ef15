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

// TestRealClients runs kcat, kafkajs, confluent-kafka-python and
// kafka-python against the binary, as a user would: produce, consume,
// groups and transactions. Each part skips when its client is not
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
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
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

	// kcat 1.7's transactional producer (-X transactional.id=...) sends
	// all of its input in one transaction, committed when stdin closes and
	// aborted when kcat is interrupted; its consumer reads with
	// -X isolation.level.
	t.Run("kcat-txn", func(t *testing.T) {
		if _, err := exec.LookPath("kcat"); err != nil {
			t.Skip("kcat not installed")
		}
		if out, _ := exec.Command("kcat", "-h").CombinedOutput(); !strings.Contains(string(out), "transactional.id") {
			t.Skip("this kcat has no transactional producer")
		}
		const topic = "kcat-txn"
		producer := func(id string) *exec.Cmd {
			return exec.Command("kcat", "-b", bootstrap, "-P", "-t", topic, "-p", "0",
				"-X", "transactional.id="+id, "-X", "log_level=4")
		}
		commit := func(id, input string) {
			cmd := producer(id)
			cmd.Stdin = strings.NewReader(input)
			if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Transaction successfully committed") {
				t.Fatalf("kcat -P -X transactional.id=%s: %v\n%s", id, err, out)
			}
		}
		consume := func(isolation string) string {
			return run(t, "kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
				"-f", "%s@%o\n", "-X", "isolation.level="+isolation)
		}
		commit("kcat-txn-1", "c1\nc2\n")

		// A transaction aborted by interrupting kcat once some of its
		// records are in the log. kcat reads its input in blocks, so it
		// gets enough for a few blocks.
		cmd := producer("kcat-txn-2")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		var input strings.Builder
		for i := range 2000 {
			fmt.Fprintf(&input, "aborted-%04d-%s\n", i, strings.Repeat("x", 50))
		}
		if _, err := stdin.Write([]byte(input.String())); err != nil {
			t.Fatal(err)
		}
		var open string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if open = consume("read_uncommitted"); strings.Contains(open, "aborted-") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the open transaction's records never reached the log:\n%s\nkcat: %s", open, out.String())
			}
		}
		// While the transaction is open, read_committed stops before it.
		if got := consume("read_committed"); got != "c1@0\nc2@1\n" {
			t.Fatalf("read_committed with an open transaction:\n%s", got)
		}
		// kcat notes the signal and aborts when its read of stdin
		// returns: at the end of its input.
		cmd.Process.Signal(os.Interrupt)
		time.Sleep(200 * time.Millisecond)
		stdin.Close()
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("kcat did not exit after SIGINT and the end of its input:\n%s", out.String())
		}
		if !strings.Contains(out.String(), "Aborting transaction") {
			t.Fatalf("kcat did not abort:\n%s", out.String())
		}
		commit("kcat-txn-1", "c3\n")

		// Offset 2 is the commit marker; the aborted records follow from
		// 3, then the abort marker, c3, and its commit marker.
		all := consume("read_uncommitted")
		aborted := strings.Count(all, "aborted-")
		if aborted < strings.Count(open, "aborted-") || !strings.HasPrefix(all, "c1@0\nc2@1\naborted-0000-") {
			t.Fatalf("read_uncommitted: %d aborted records (%d while open):\n%.300s", aborted, strings.Count(open, "aborted-"), all)
		}
		if want := fmt.Sprintf("c3@%d\n", 3+aborted+1); !strings.HasSuffix(all, "\n"+want) {
			t.Fatalf("read_uncommitted ends with\n%s\nwant %s", all[max(0, len(all)-200):], want)
		}
		if got, want := consume("read_committed"), fmt.Sprintf("c1@0\nc2@1\nc3@%d\n", 3+aborted+1); got != want {
			t.Fatalf("read_committed:\n%s\nwant:\n%s", got, want)
		}
	})

	scripts, _ := filepath.Abs("../../scripts/clients")
	for _, c := range []struct{ name, script, want string }{
		{"kafkajs", "kafkajs_check.js", "kafkajs OK"},
		{"kafkajs-groups", "kafkajs_groups_check.js", "kafkajs groups OK"},
		{"kafkajs-txn", "kafkajs_txn_check.js", "kafkajs transactions OK"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(scripts, "node_modules", "kafkajs")); err != nil {
				t.Skip("kafkajs not installed (npm install --prefix scripts/clients)")
			}
			if out := run(t, "node", filepath.Join(scripts, c.script)); !strings.Contains(out, c.want) {
				t.Fatalf("%s: %s", c.script, out)
			}
		})
	}
	for _, c := range []struct{ name, module, script string }{
		{"confluent-kafka-python", "confluent_kafka", "confluent_kafka_check.py"},
		{"kafka-python", "kafka", "kafka_python_check.py"},
		{"groups", "confluent_kafka", "groups_check.py"},
		{"confluent-kafka-python-txn", "confluent_kafka", "confluent_kafka_txn_check.py"},
		{"kafka-python-txn", "kafka", "kafka_python_txn_check.py"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := exec.Command("/usr/bin/python3", "-c", "import "+c.module).Run(); err != nil {
				t.Skipf("python module %s not installed", c.module)
			}
			out := run(t, "/usr/bin/python3", filepath.Join(scripts, c.script))
			// A script whose client lacks the feature says so on a
			// line of its own.
			for _, line := range strings.Split(out, "\n") {
				if reason, ok := strings.CutPrefix(line, "SKIP: "); ok {
					t.Skip(reason)
				}
			}
			if !strings.Contains(out, " OK") {
				t.Fatalf("%s: %s", c.script, out)
			}
		})
	}
}
