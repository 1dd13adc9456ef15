package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/testbroker"
)

// cliResult is one command run.
type cliResult struct {
	out, err string
	runErr   error
}

// run runs a registered command by name with captured output.
func cliRun(t *testing.T, name string, args ...string) cliResult {
	t.Helper()
	c, ok := Lookup(name)
	if !ok {
		t.Fatalf("command %s not registered", name)
	}
	var out, errb bytes.Buffer
	err := c.Run(args, &out, &errb)
	return cliResult{out.String(), errb.String(), err}
}

// execTool is cliRun for tests that want the three results apart.
func execTool(t *testing.T, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	r := cliRun(t, name, args...)
	return r.out, r.err, r.runErr
}

// runOK runs a command and fails the test on an error.
func cliOK(t *testing.T, name string, args ...string) string {
	t.Helper()
	r := cliRun(t, name, args...)
	if r.runErr != nil {
		t.Fatalf("samsa %s %s: %v\nstderr: %s", name, strings.Join(args, " "), r.runErr, r.err)
	}
	return r.out
}

// produce runs the console producer on the given input.
func cliProduce(t *testing.T, in string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	err := runConsoleProducer(args, strings.NewReader(in), &out, &errb)
	return cliResult{out.String(), errb.String(), err}
}

// consume runs the console consumer.
func cliConsume(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	err := runConsoleConsumer(ctx, args, &out, &errb)
	return cliResult{out.String(), errb.String(), err}
}

// oneLineErr checks that a failed run returned one line of error text.
func wantOneLineErr(t *testing.T, r cliResult, want string) {
	t.Helper()
	if r.runErr == nil {
		t.Fatalf("expected an error containing %q; stdout: %s", want, r.out)
	}
	msg := r.runErr.Error()
	if strings.Contains(msg, "\n") {
		t.Fatalf("error is not one line: %q", msg)
	}
	if !strings.Contains(msg, want) {
		t.Fatalf("error %q does not contain %q", msg, want)
	}
}

// cliBroker starts a broker for the test and returns its bootstrap flag.
func cliBroker(t *testing.T, overrides ...string) (*testbroker.Broker, []string) {
	t.Helper()
	b := testbroker.Start(t, overrides...)
	return b, []string{"--bootstrap-server", b.Addr()}
}

// kgoRecord is kgo.Record, named for the formatter tests.
type kgoRecord = kgo.Record
