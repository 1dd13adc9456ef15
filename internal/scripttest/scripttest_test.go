package scripttest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// calc is the command set of testdata/calc.txt: a stack of integers.
type calc struct{ stack []int64 }

func (k *calc) run(c *Case) string {
	switch c.Cmd {
	case "push":
		for _, x := range c.Int32s("x") {
			k.stack = append(k.stack, int64(x))
		}
		return fmt.Sprintf("stack=%v", k.stack)
	case "sum":
		var s int64
		for _, x := range k.stack {
			s += x
		}
		return fmt.Sprint(s)
	case "echo":
		return strings.Join(c.Input, "\n")
	case "wait":
		d := c.Duration("d")
		if c.Has("verbose") {
			return fmt.Sprintf("waited %v", d)
		}
		return ""
	case "clear":
		k.stack = nil
		return ""
	}
	c.Fatalf("unknown command")
	return ""
}

func TestScripts(t *testing.T) {
	RunFiles(t, "testdata/*.txt", func(t *testing.T, path string) {
		Run(t, path, (&calc{}).run)
	})
}

// TestRewrite checks that a rewrite replaces wrong and missing outputs and
// keeps everything else of the script, and that the result then passes.
func TestRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.txt")
	script := `# comment
push x=1
----
wrong

push x=2
----

sum
----
1
2
`
	want := `# comment
push x=1
----
stack=[1]

push x=2
----
stack=[1 2]

sum
----
3
`
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SAMSA_REWRITE", "1")
	Run(t, path, (&calc{}).run)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("rewritten:\n%s\nwant:\n%s", got, want)
	}
	noRewrite(t)
	Run(t, path, (&calc{}).run)
}

// noRewrite makes Run compare for the rest of the test, whatever the
// command line or the environment say.
func noRewrite(t *testing.T) {
	t.Setenv("SAMSA_REWRITE", "")
	old := *rewriteFlag
	*rewriteFlag = false
	t.Cleanup(func() { *rewriteFlag = old })
}

func TestParseErrors(t *testing.T) {
	for _, script := range []string{
		"push x=1\n",                     // no separator at all
		"push x=1\n\nsum\n----\n1\n",     // a blank line before it
		"push x=1\n1\n----\nstack=[1]\n", // fine: an input line
	} {
		_, _, err := parse("s.txt", script)
		if strings.HasPrefix(script, "push x=1\n1\n") {
			if err != nil {
				t.Errorf("%q: %v", script, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "s.txt:1") {
			t.Errorf("%q: error %v, want one at s.txt:1", script, err)
		}
	}
}

// recorder is a testing.TB that keeps the errors reported to it.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestUnknownArgument checks that an argument the command does not read,
// a typo, fails the case, and that a wrong output does too.
func TestUnknownArgument(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.txt")
	if err := os.WriteFile(path, []byte("push x=1 y=2\n----\nstack=[1]\n\nsum\n----\n2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noRewrite(t)
	r := &recorder{TB: t}
	Run(r, path, (&calc{}).run)
	if len(r.errs) != 2 || !strings.Contains(r.errs[0], `unknown argument "y"`) || !strings.Contains(r.errs[1], "s.txt:5") {
		t.Fatalf("errors %q", r.errs)
	}
}
