// Package cli holds the `samsa` subcommands other than `server`: the
// operator tools (topics, console producer and consumer, configs, groups,
// records, offsets, perf tests ...). Each tool lives in its own file and
// registers itself with Register, so cmd/samsa dispatches without knowing
// the list. Tools are plain Kafka clients (franz-go kgo/kadm) and accept
// Kafka's flag names, so they work against Apache Kafka as well as Samsa.
package cli

import (
	"fmt"
	"io"
	"sort"
)

// Command is one subcommand.
type Command struct {
	Name    string // e.g. "topics"
	Summary string // one line for `samsa help`
	// Kafka names the Kafka tool this command stands for, e.g.
	// "kafka-topics.sh"; it is also accepted as the command name.
	Kafka string
	// Run runs the command with the arguments after its name. It writes
	// results to stdout and diagnostics to stderr and returns an error
	// for a non-zero exit; the error is printed as one line.
	Run func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]*Command{}

// Register adds a command; tools call it from init.
func Register(c *Command) {
	if _, dup := commands[c.Name]; dup {
		panic("cli: command registered twice: " + c.Name)
	}
	commands[c.Name] = c
}

// Lookup finds a command by its name or by the Kafka tool name it stands
// for (with or without ".sh").
func Lookup(name string) (*Command, bool) {
	if c, ok := commands[name]; ok {
		return c, true
	}
	for _, c := range commands {
		if c.Kafka != "" && (name == c.Kafka || name+".sh" == c.Kafka) {
			return c, true
		}
	}
	return nil, false
}

// Commands lists the registered commands by name.
func Commands() []*Command {
	out := make([]*Command, 0, len(commands))
	for _, c := range commands {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Usage writes the command list.
func Usage(w io.Writer) {
	for _, c := range Commands() {
		fmt.Fprintf(w, "  %-22s %s\n", c.Name, c.Summary)
	}
}
