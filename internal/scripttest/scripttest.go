// Package scripttest runs scripted scenario tests, in the style of
// etcd-raft's and pebble's datadriven tests: a text file holds a sequence
// of commands, each followed by the output it must produce, and a small
// function per test package turns one command into its output. A scenario
// then reads as a story, and a change of behaviour shows as a diff of the
// script.
//
// # Format
//
//	# A comment: lines starting with '#' between cases are ignored.
//	fetch id=2 offset=110 t=1500ms
//	optional input lines, passed to the command as they are
//	----
//	expected output lines
//	<blank line: the case ends>
//
// The first line of a case is the command: a name and arguments separated
// by spaces, each key=value or a bare key (a flag). Values contain no
// spaces; a list is written [1,2,3] (or 1,2,3; [] is the empty list).
// Lines up to "----" are the case's input (none may be blank); the
// expected output follows, up to a blank line or the end of the file.
// Output therefore cannot contain a blank line (Run fails a case whose
// output does), and it is compared with trailing newlines removed.
//
// An argument the command did not read fails the case: a misspelled
// argument must not be silently ignored.
//
// # Rewriting
//
// With -rewrite (go test ./pkg -run Test -rewrite) or SAMSA_REWRITE=1 in
// the environment (for go test ./..., where packages that do not import
// this one would refuse the flag), Run writes the actual output of every
// case into the script instead of comparing it. Review the diff: a
// rewrite records behaviour, it does not make it right.
package scripttest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var rewriteFlag = flag.Bool("rewrite", false, "scripttest: write the actual output into the scripts instead of comparing")

func rewriting() bool { return *rewriteFlag || os.Getenv("SAMSA_REWRITE") == "1" }

// Arg is one argument of a command; Val is "" for a bare key.
type Arg struct {
	Key, Val string
}

// Case is one command of a script.
type Case struct {
	// Pos is file:line of the command line, for messages.
	Pos string
	// Line is the command line as written.
	Line string
	Cmd  string
	Args []Arg
	// Input holds the lines between the command and "----".
	Input []string
	// Expected is the expected output, each line ending in "\n".
	Expected string

	t    testing.TB
	used []bool
	// The expected output's lines in the file, [expStart, expEnd).
	expStart, expEnd int
}

// T returns the test running the case.
func (c *Case) T() testing.TB { return c.t }

// Fatalf fails the test with a message that names the case.
func (c *Case) Fatalf(format string, args ...any) {
	c.t.Helper()
	c.t.Fatalf("%s: %s: %s", c.Pos, c.Line, fmt.Sprintf(format, args...))
}

// lookup returns the value of key and marks it read.
func (c *Case) lookup(key string) (string, bool) {
	for i, a := range c.Args {
		if a.Key == key {
			c.used[i] = true
			return a.Val, true
		}
	}
	return "", false
}

func (c *Case) need(key string) string {
	c.t.Helper()
	v, ok := c.lookup(key)
	if !ok {
		c.Fatalf("missing argument %s", key)
	}
	return v
}

// Has reports whether the argument is present (a flag).
func (c *Case) Has(key string) bool {
	_, ok := c.lookup(key)
	return ok
}

// String returns a required argument.
func (c *Case) String(key string) string {
	c.t.Helper()
	return c.need(key)
}

// StringOr returns an argument, def when it is absent.
func (c *Case) StringOr(key, def string) string {
	if v, ok := c.lookup(key); ok {
		return v
	}
	return def
}

// Int returns a required integer argument.
func (c *Case) Int(key string) int64 {
	c.t.Helper()
	return c.parseInt(key, c.need(key))
}

// IntOr returns an integer argument, def when it is absent.
func (c *Case) IntOr(key string, def int64) int64 {
	c.t.Helper()
	if v, ok := c.lookup(key); ok {
		return c.parseInt(key, v)
	}
	return def
}

func (c *Case) parseInt(key, v string) int64 {
	c.t.Helper()
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		c.Fatalf("argument %s: %v", key, err)
	}
	return n
}

// Int32s returns a required list of integers: [1,2,3], 1,2,3 or [].
func (c *Case) Int32s(key string) []int32 {
	c.t.Helper()
	return c.parseInt32s(key, c.need(key))
}

// Int32sOr returns a list argument, def when it is absent.
func (c *Case) Int32sOr(key string, def []int32) []int32 {
	c.t.Helper()
	if v, ok := c.lookup(key); ok {
		return c.parseInt32s(key, v)
	}
	return def
}

func (c *Case) parseInt32s(key, v string) []int32 {
	c.t.Helper()
	v = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	out := []int32{}
	if v == "" {
		return out
	}
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.ParseInt(f, 10, 32)
		if err != nil {
			c.Fatalf("argument %s: %v", key, err)
		}
		out = append(out, int32(n))
	}
	return out
}

// Duration returns a required duration argument (time.ParseDuration).
func (c *Case) Duration(key string) time.Duration {
	c.t.Helper()
	return c.parseDuration(key, c.need(key))
}

// DurationOr returns a duration argument, def when it is absent.
func (c *Case) DurationOr(key string, def time.Duration) time.Duration {
	c.t.Helper()
	if v, ok := c.lookup(key); ok {
		return c.parseDuration(key, v)
	}
	return def
}

func (c *Case) parseDuration(key, v string) time.Duration {
	c.t.Helper()
	d, err := time.ParseDuration(v)
	if err != nil {
		c.Fatalf("argument %s: %v", key, err)
	}
	return d
}

// RunFiles runs f, as a subtest named after the file, for each file that
// matches pattern (filepath.Glob), in name order. It fails when none
// matches, so that a wrong pattern does not pass silently.
func RunFiles(t *testing.T, pattern string, f func(t *testing.T, path string)) {
	t.Helper()
	paths, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no script matches %s", pattern)
	}
	slices.Sort(paths)
	for _, p := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(p), filepath.Ext(p)), func(t *testing.T) { f(t, p) })
	}
}

// Run runs the cases of the script at path in order, calling f for each
// and comparing what it returns with the expected output (or rewriting
// the script, see the package comment). The cases share whatever state f
// keeps: a script is one scenario. A mismatch fails the test but the
// following cases still run, so one run shows every difference.
func Run(t testing.TB, path string, f func(c *Case) string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines, cases, err := parse(path, string(data))
	if err != nil {
		t.Fatal(err)
	}
	rewrite := rewriting()
	actual := make([]string, len(cases))
	for i, c := range cases {
		c.t = t
		out := normalize(f(c))
		for j, a := range c.Args {
			if !c.used[j] {
				t.Errorf("%s: %s: unknown argument %q", c.Pos, c.Line, a.Key)
			}
		}
		if strings.Contains(out, "\n\n") {
			t.Errorf("%s: %s: the output has a blank line, which would end the case:\n%s", c.Pos, c.Line, out)
			out = c.Expected // keep the script readable
		}
		actual[i] = out
		if !rewrite && out != c.Expected {
			t.Errorf("%s: %s\nexpected:\n%sgot:\n%s", c.Pos, c.Line, c.Expected, out)
		}
	}
	if !rewrite {
		return
	}
	// Splice from the end, so that the earlier cases' line numbers hold.
	for i := len(cases) - 1; i >= 0; i-- {
		c := cases[i]
		out := strings.Split(strings.TrimSuffix(actual[i], "\n"), "\n")
		if actual[i] == "" {
			out = nil
		}
		lines = slices.Concat(lines[:c.expStart], out, lines[c.expEnd:])
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// normalize makes an output end in exactly one newline (none when empty).
func normalize(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return s + "\n"
}

const separator = "----"

func isBlank(line string) bool { return strings.TrimSpace(line) == "" }

// parse splits a script into its lines and cases.
func parse(path, text string) ([]string, []*Case, error) {
	lines := strings.Split(text, "\n")
	var cases []*Case
	for i := 0; i < len(lines); {
		line := lines[i]
		if isBlank(line) || strings.HasPrefix(strings.TrimSpace(line), "#") {
			i++
			continue
		}
		c := &Case{Pos: fmt.Sprintf("%s:%d", path, i+1), Line: strings.TrimSpace(line)}
		fields := strings.Fields(line)
		c.Cmd = fields[0]
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(f, "=")
			c.Args = append(c.Args, Arg{Key: k, Val: v})
		}
		c.used = make([]bool, len(c.Args))
		// The input ends at the separator; a blank line or the end of the
		// file first means the separator was forgotten, which must not
		// swallow the next case.
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != separator; i++ {
			if isBlank(lines[i]) {
				break
			}
			c.Input = append(c.Input, lines[i])
		}
		if i == len(lines) || isBlank(lines[i]) {
			return nil, nil, fmt.Errorf("%s: %s: no %q line after the command", c.Pos, c.Line, separator)
		}
		i++
		c.expStart = i
		for ; i < len(lines) && !isBlank(lines[i]); i++ {
			c.Expected += lines[i] + "\n"
		}
		c.expEnd = i
		cases = append(cases, c)
	}
	return lines, cases, nil
}
