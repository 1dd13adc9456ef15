package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// runTool runs a command body: --help exits 0, an error becomes one line
// (cmd/samsa prints it and exits 1), and a panic becomes an error rather
// than a stack trace.
func runTool(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	err = fn()
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return errors.New(oneLine(err))
	}
	return nil
}

// table is a Kafka-style text table: each column but the last is
// left-aligned and padded to its width (at least its minimum, at least its
// widest cell), columns are separated by one space, the last column is not
// padded. This is the layout of kafka-consumer-groups.sh and friends.
type table struct {
	min  []int
	rows [][]string
}

func newTable(min []int, header ...string) *table {
	t := &table{min: min}
	t.rows = append(t.rows, header)
	return t
}

func (t *table) add(cols ...string) { t.rows = append(t.rows, cols) }

// len is the number of data rows.
func (t *table) len() int { return len(t.rows) - 1 }

func (t *table) write(w io.Writer) {
	widths := append([]int(nil), t.min...)
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			if len(c) > widths[i] {
				widths[i] = len(c)
			}
		}
	}
	for _, r := range t.rows {
		var b strings.Builder
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			fmt.Fprintf(&b, "%-*s ", widths[i], c)
		}
		fmt.Fprintln(w, b.String())
	}
}

// orDash is Kafka's missing-column value.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinInt32(ns []int32) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = itoa32(n)
	}
	return strings.Join(parts, ",")
}
