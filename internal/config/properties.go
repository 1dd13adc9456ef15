package config

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Property is one key=value pair of a properties file.
type Property struct {
	Key, Value string
	// Line is the 1-based line where the pair starts (a value continued
	// over several lines reports its first).
	Line int
}

// ParseProperties parses the Java properties format (java.util.Properties
// load), which server.properties uses:
//
//   - a line whose first non-blank character is '#' or '!' is a comment;
//     blank lines are skipped;
//   - the key ends at the first unescaped '=', ':' or blank; blanks around
//     the separator are skipped; the value is the rest of the line, trailing
//     blanks included (typed configs trim them later);
//   - a line ending in an odd number of backslashes continues on the next
//     line, whose leading blanks are dropped;
//   - escapes: \t \n \r \f, \uXXXX, and a backslash before any other
//     character stands for that character (\=, \:, \#, \\, \ ).
//
// Blanks are space, tab and form feed. The input is read as UTF-8 (Java's
// Properties.load(InputStream) reads ISO-8859-1; ASCII files are the same).
// Pairs are returned in file order; a repeated key appears twice (the last
// wins when loaded). The only error is a malformed \u escape.
func ParseProperties(data []byte) ([]Property, error) {
	lines := naturalLines(string(data))
	var props []Property
	for i := 0; i < len(lines); {
		s := trimBlankLeft(lines[i])
		start := i + 1
		i++
		if s == "" || s[0] == '#' || s[0] == '!' {
			continue
		}
		var logical strings.Builder
		for {
			if !continues(s) {
				logical.WriteString(s)
				break
			}
			logical.WriteString(s[:len(s)-1])
			if i >= len(lines) {
				break
			}
			s = trimBlankLeft(lines[i])
			i++
		}
		p, err := splitProperty(logical.String())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", start, err)
		}
		p.Line = start
		props = append(props, p)
	}
	return props, nil
}

// naturalLines splits at \n, \r and \r\n.
func naturalLines(s string) []string {
	var lines []string
	for len(s) > 0 {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			lines = append(lines, s)
			break
		}
		lines = append(lines, s[:i])
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
	return lines
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

func trimBlankLeft(s string) string {
	i := 0
	for i < len(s) && isBlank(s[i]) {
		i++
	}
	return s[i:]
}

// continues reports whether the line ends in an odd number of backslashes.
func continues(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func splitProperty(l string) (Property, error) {
	keyEnd, valStart := len(l), len(l)
	hasSep, escaped := false, false
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !escaped && (c == '=' || c == ':') {
			keyEnd, valStart, hasSep = i, i+1, true
			break
		}
		if !escaped && isBlank(c) {
			keyEnd, valStart = i, i+1
			break
		}
		escaped = c == '\\' && !escaped
	}
	for valStart < len(l) {
		c := l[valStart]
		if !isBlank(c) {
			if hasSep || (c != '=' && c != ':') {
				break
			}
			hasSep = true
		}
		valStart++
	}
	key, err := unescape(l[:keyEnd])
	if err != nil {
		return Property{}, err
	}
	val, err := unescape(l[valStart:])
	if err != nil {
		return Property{}, err
	}
	return Property{Key: key, Value: val}, nil
}

func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			break // a lone trailing backslash (continuation at end of input)
		}
		switch c = s[i]; c {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			r, err := hex4(s, i+1)
			if err != nil {
				return "", err
			}
			i += 4
			if utf16.IsSurrogate(r) && i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				if r2, err := hex4(s, i+3); err == nil {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					}
				}
			}
			b.WriteRune(r)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// hex4 decodes the four hex digits of a \u escape starting at s[i].
func hex4(s string, i int) (rune, error) {
	if i+4 > len(s) {
		return 0, fmt.Errorf(`malformed \uXXXX escape %q`, s[i-2:])
	}
	n, err := strconv.ParseUint(s[i:i+4], 16, 16)
	if err != nil {
		return 0, fmt.Errorf(`malformed \uXXXX escape %q`, s[i-2:i+4])
	}
	return rune(n), nil
}

// escapeProperty writes a pair back in properties syntax so that
// ParseProperties returns it unchanged (the fuzz target checks the round
// trip; it is also how Samsa would write a properties file).
func escapeProperty(key, value string) string {
	return escapeText(key, true) + "=" + escapeText(value, false)
}

func escapeText(s string, isKey bool) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			b.WriteByte(s[i]) // not UTF-8: kept as the byte
			i++
			continue
		}
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == ' ' && (isKey || i == 0):
			b.WriteString(`\ `)
		case (r == '=' || r == ':') && isKey:
			b.WriteByte('\\')
			b.WriteRune(r)
		case (r == '#' || r == '!') && i == 0:
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
