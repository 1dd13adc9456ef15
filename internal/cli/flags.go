package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/samsa-streaming/samsa/internal/config"
)

// Kafka's tools parse their options with joptsimple: long names after two
// dashes, a value either as the next argument or after '=', options that
// may repeat (--config, --property), and a few whose value is optional
// (consumer-groups' --state). The test-harness tools (producer-perf-test
// ...) use argparse4j instead, whose nargs='+' options take every
// following argument up to the next option (--producer-props a=1 b=2).
// Go's flag package does neither, and its error text names the Go syntax,
// so every tool uses this small parser instead. One dash is accepted as
// well as two.

// errHelp is returned by parse when --help was asked for; the usage has
// been written to stdout and the command exits 0.
var errHelp = errors.New("help requested")

type flagKind int

const (
	kindBool     flagKind = iota // --name
	kindValue                    // --name VALUE
	kindOptValue                 // --name [VALUE]
	kindMulti                    // --name VALUE [VALUE ...]
)

type flagDef struct {
	name  string
	arg   string // the value's placeholder in the help text
	help  string
	kind  flagKind
	set   bool
	apply func(string) error
}

// flagSet is one command's options.
type flagSet struct {
	cmd      string // "topics"
	synopsis string // the lines after "Usage:"
	examples string // the Examples section
	defs     []*flagDef
	byName   map[string]*flagDef
	args     []string // positional arguments, in order
}

func newFlagSet(cmd, synopsis, examples string) *flagSet {
	return &flagSet{cmd: cmd, synopsis: synopsis, examples: examples, byName: map[string]*flagDef{}}
}

func (f *flagSet) add(d *flagDef) {
	if _, dup := f.byName[d.name]; dup {
		panic("cli: option defined twice: " + d.name)
	}
	f.defs = append(f.defs, d)
	f.byName[d.name] = d
}

// Bool defines --name.
func (f *flagSet) Bool(p *bool, name, help string) {
	f.add(&flagDef{name: name, help: help, kind: kindBool, apply: func(string) error { *p = true; return nil }})
}

// String defines --name VALUE; the last occurrence wins.
func (f *flagSet) String(p *string, name, arg, help string) {
	f.add(&flagDef{name: name, arg: arg, help: help, kind: kindValue, apply: func(v string) error { *p = v; return nil }})
}

// OptString defines --name [VALUE]: the value is taken only when the next
// argument does not look like an option.
func (f *flagSet) OptString(p *string, name, arg, help string) {
	f.add(&flagDef{name: name, arg: arg, help: help, kind: kindOptValue, apply: func(v string) error { *p = v; return nil }})
}

// Strings defines a repeatable --name VALUE.
func (f *flagSet) Strings(p *[]string, name, arg, help string) {
	f.add(&flagDef{name: name, arg: arg, help: help, kind: kindValue, apply: func(v string) error { *p = append(*p, v); return nil }})
}

// Multi defines --name VALUE [VALUE ...], argparse's nargs='+': the values
// are the following arguments up to the next one starting with '-'
// (--name=VALUE takes just the one). It may repeat; values accumulate.
func (f *flagSet) Multi(p *[]string, name, arg, help string) {
	f.add(&flagDef{name: name, arg: arg, help: help, kind: kindMulti, apply: func(v string) error { *p = append(*p, v); return nil }})
}

// Int defines --name N.
func (f *flagSet) Int(p *int, name, arg, help string) {
	f.add(&flagDef{name: name, arg: arg, help: help, kind: kindValue, apply: func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("not a number: %q", v)
		}
		*p = n
		return nil
	}})
}

// PropInt defines --name N that sets the client property key in m.
func (f *flagSet) PropInt(m map[string]string, name, key, arg, help string) {
	f.add(&flagDef{name: name, arg: arg, help: help, kind: kindValue, apply: func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("not a non-negative number: %q", v)
		}
		m[key] = strconv.FormatInt(n, 10)
		return nil
	}})
}

// Int64 defines --name N.
func (f *flagSet) Int64(p *int64, name, arg, help string) {
	f.add(&flagDef{name: name, arg: arg, help: help, kind: kindValue, apply: func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", v)
		}
		*p = n
		return nil
	}})
}

// Float64 defines --name X.
func (f *flagSet) Float64(p *float64, name, arg, help string) {
	f.add(&flagDef{name: name, arg: arg, help: help, kind: kindValue, apply: func(v string) error {
		x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", v)
		}
		*p = x
		return nil
	}})
}

// Duration defines --name D, where D is a Go duration ("10s", "1m") or,
// as in Kafka's tools, a plain number of milliseconds.
func (f *flagSet) Duration(p *time.Duration, name, arg, help string) {
	f.add(&flagDef{name: name, arg: arg, help: help, kind: kindValue, apply: func(v string) error {
		d, err := parseDuration(v)
		if err != nil {
			return err
		}
		*p = d
		return nil
	}})
}

func parseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(n) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("not a duration (e.g. 5000 for milliseconds, or 5s): %q", v)
	}
	return d, nil
}

// Has reports whether the option was given.
func (f *flagSet) Has(name string) bool {
	d, ok := f.byName[name]
	return ok && d.set
}

// parse parses args. On --help it writes the usage to stdout and returns
// errHelp. Errors are one line and name the option.
func (f *flagSet) parse(args []string, stdout io.Writer) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			f.args = append(f.args, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			f.args = append(f.args, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		value, hasValue := "", false
		if eq := strings.IndexByte(name, '='); eq >= 0 {
			name, value, hasValue = name[:eq], name[eq+1:], true
		}
		if name == "help" || name == "h" {
			f.usage(stdout)
			return errHelp
		}
		d, ok := f.byName[name]
		if !ok {
			return fmt.Errorf("unknown option %s (see samsa %s --help)", a, f.cmd)
		}
		switch d.kind {
		case kindBool:
			if hasValue {
				b, err := strconv.ParseBool(value)
				if err != nil {
					return fmt.Errorf("option --%s takes no value", name)
				}
				if !b {
					d.set = false
					continue
				}
			}
		case kindValue:
			if !hasValue {
				if i+1 >= len(args) {
					return fmt.Errorf("option --%s needs a value: %s", name, d.arg)
				}
				i++
				value = args[i]
			}
		case kindOptValue:
			if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
				value = args[i]
			}
		case kindMulti:
			if !hasValue {
				if i+1 >= len(args) || strings.HasPrefix(args[i+1], "-") {
					return fmt.Errorf("option --%s needs a value: %s", name, d.arg)
				}
				// All but the last value here; the last goes through
				// the common apply below.
				for i+2 < len(args) && !strings.HasPrefix(args[i+2], "-") {
					i++
					if err := d.apply(args[i]); err != nil {
						return fmt.Errorf("option --%s: %v", name, err)
					}
				}
				i++
				value = args[i]
			}
		}
		if err := d.apply(value); err != nil {
			return fmt.Errorf("option --%s: %v", name, err)
		}
		d.set = true
	}
	return nil
}

func (f *flagSet) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n%s\n\nOptions:\n", strings.TrimRight(f.synopsis, "\n"))
	defs := append([]*flagDef(nil), f.defs...)
	sort.Slice(defs, func(i, j int) bool { return defs[i].name < defs[j].name })
	for _, d := range defs {
		left := "--" + d.name
		switch d.kind {
		case kindValue:
			left += " <" + d.arg + ">"
		case kindOptValue:
			left += " [" + d.arg + "]"
		case kindMulti:
			left += " <" + d.arg + "> ..."
		}
		fmt.Fprintf(w, "  %-36s %s\n", left, d.help)
	}
	if f.examples != "" {
		fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(f.examples, "\n"))
	}
}

// parseNoArgs is parse for a command that takes no positional arguments.
func (f *flagSet) parseNoArgs(args []string, stdout io.Writer) error {
	if err := f.parse(args, stdout); err != nil {
		return err
	}
	if len(f.args) > 0 {
		return fmt.Errorf("unexpected argument %q (see samsa %s --help)", f.args[0], f.cmd)
	}
	return nil
}

// onlyOne checks that exactly one of the action options was given.
func (f *flagSet) onlyOne(actions ...string) (string, error) {
	var got []string
	for _, a := range actions {
		if f.Has(a) {
			got = append(got, a)
		}
	}
	if len(got) != 1 {
		return "", fmt.Errorf("command must include exactly one action: --%s", strings.Join(actions, ", --"))
	}
	return got[0], nil
}

// --- properties ---------------------------------------------------------

// props is an ordered set of Kafka client properties.
type props struct {
	keys []string
	m    map[string]string
}

func newProps() *props { return &props{m: map[string]string{}} }

func (p *props) set(k, v string) {
	if _, ok := p.m[k]; !ok {
		p.keys = append(p.keys, k)
	}
	p.m[k] = v
}

func (p *props) get(k string) (string, bool) { v, ok := p.m[k]; return v, ok }

// getOr returns the property or def.
func (p *props) getOr(k, def string) string {
	if v, ok := p.m[k]; ok {
		return v
	}
	return def
}

// bool reads a boolean property; a bad value is an error naming the key.
func (p *props) bool(k string, def bool) (bool, error) {
	v, ok := p.m[k]
	if !ok {
		return def, nil
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, fmt.Errorf("property %s: not a boolean: %q", k, v)
	}
	return b, nil
}

// int reads an integer property.
func (p *props) int(k string, def int64) (int64, error) {
	v, ok := p.m[k]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("property %s: not a number: %q", k, v)
	}
	return n, nil
}

// trimValues drops the blanks around every value. Kafka's clients trim
// the values of their settings (ConfigDef), while a properties file keeps
// a value's trailing blanks, so this is for client properties only, not
// for formatter or line reader properties, where a blank may be the
// separator.
func (p *props) trimValues() {
	for k, v := range p.m {
		p.m[k] = strings.TrimSpace(v)
	}
}

// addKV adds "k=v" items (from --property, --producer-property ...).
func (p *props) addKV(items []string) error {
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("invalid property %q: want key=value", it)
		}
		p.set(strings.TrimSpace(k), v)
	}
	return nil
}

// loadFile adds the properties of a Java properties file.
func (p *props) loadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading config file: %w", err)
	}
	defer f.Close()
	if err := p.read(f); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// read adds the properties of r, in the Java properties format
// (config.ParseProperties, the parser of server.properties: comments,
// "k=v", "k:v" or "k v", continued lines, \t and \uXXXX escapes). A
// repeated key keeps its first position in p.keys and its last value, as
// java.util.Properties does.
func (p *props) read(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	pairs, err := config.ParseProperties(data)
	if err != nil {
		return err
	}
	for _, kv := range pairs {
		p.set(kv.Key, kv.Value)
	}
	return nil
}

// unescapeSeparator turns the escapes people type on a command line
// ("\t", "\n") into the characters, as Kafka's tools do for separators.
func unescapeSeparator(s string) string {
	r := strings.NewReplacer(`\t`, "\t", `\n`, "\n", `\r`, "\r", `\\`, `\`)
	return r.Replace(s)
}

// parseIntList parses "0,1,5-7" into partition numbers.
func parseIntList(s string) ([]int32, error) {
	var out []int32
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if lo, hi, ok := strings.Cut(part, "-"); ok && lo != "" {
			a, err1 := strconv.ParseInt(strings.TrimSpace(lo), 10, 32)
			b, err2 := strconv.ParseInt(strings.TrimSpace(hi), 10, 32)
			if err1 != nil || err2 != nil || b < a {
				return nil, fmt.Errorf("invalid partition range %q", part)
			}
			for n := a; n <= b; n++ {
				out = append(out, int32(n))
			}
			continue
		}
		n, err := strconv.ParseInt(part, 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("invalid partition %q", part)
		}
		out = append(out, int32(n))
	}
	return out, nil
}
