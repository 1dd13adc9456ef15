package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []Property
	}{
		{"empty", "", nil},
		{"equals", "a=b", []Property{{"a", "b", 1}}},
		{"colon", "a:b", []Property{{"a", "b", 1}}},
		{"blank separator", "a b", []Property{{"a", "b", 1}}},
		{"blanks around separator", "  a \t= \f b", []Property{{"a", "b", 1}}},
		{"trailing blanks kept", "a=b  ", []Property{{"a", "b  ", 1}}},
		{"blank then equals", "a   =b", []Property{{"a", "b", 1}}},
		{"second separator is value", "a==b", []Property{{"a", "=b", 1}}},
		{"colon in value", "listeners=PLAINTEXT://:9092", []Property{{"listeners", "PLAINTEXT://:9092", 1}}},
		{"key only", "a", []Property{{"a", "", 1}}},
		{"key with separator only", "a=", []Property{{"a", "", 1}}},
		{"comments", "# c\n! c\n  # indented\na=b # not a comment", []Property{{"a", "b # not a comment", 4}}},
		{"blank lines and CRLF", "\r\n\r\na=1\r\nb=2\rc=3\n", []Property{{"a", "1", 3}, {"b", "2", 4}, {"c", "3", 5}}},
		{"continuation", "a=one, \\\n    two, \\\n\tthree\nb=x", []Property{{"a", "one, two, three", 1}, {"b", "x", 4}}},
		{"continuation in key", "lo\\\n  ng=v", []Property{{"long", "v", 1}}},
		{"even backslashes do not continue", "a=x\\\\\nb=y", []Property{{"a", `x\`, 1}, {"b", "y", 2}}},
		{"comment does not continue", "# c \\\na=b", []Property{{"a", "b", 2}}},
		{"continued line starting with # is not a comment", "a=x\\\n#y", []Property{{"a", "x#y", 1}}},
		{"continuation ended by blank line", "a=x\\\n\nb=y", []Property{{"a", "x", 1}, {"b", "y", 3}}},
		{"continuation at end of input", "a=x\\", []Property{{"a", "x", 1}}},
		{"escapes", `a=\t\n\r\f\\\=\:\#\!\ \q`, []Property{{"a", "\t\n\r\f\\=:#! q", 1}}},
		{"escaped separator in key", `a\=b\:c\ d=e`, []Property{{"a=b:c d", "e", 1}}},
		{"unicode escape", `a=caf\u00e9 \u20AC`, []Property{{"a", "café €", 1}}},
		{"surrogate pair", `a=\uD83D\uDE00`, []Property{{"a", "😀", 1}}},
		{"utf-8", "a=naïve", []Property{{"a", "naïve", 1}}},
		{"repeated key kept in order", "a=1\na=2", []Property{{"a", "1", 1}, {"a", "2", 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProperties([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParsePropertiesErrors(t *testing.T) {
	for _, in := range []string{"a=\\u12", "a=\\uXYZW", "\n\nk\\u1=v"} {
		_, err := ParseProperties([]byte(in))
		if err == nil || !strings.Contains(err.Error(), `\uXXXX`) {
			t.Errorf("%q: got %v, want a malformed \\u error", in, err)
		}
	}
	_, err := ParseProperties([]byte("\n\nk\\u1=v"))
	if err == nil || !strings.HasPrefix(err.Error(), "line 3:") {
		t.Errorf("want the line number, got %v", err)
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	for _, p := range [][2]string{
		{"a", "b"}, {"", ""}, {" k=:", " v "}, {"#k", "#v"}, {"!k", "!v"}, {`\`, `\`},
		{"k\n", "line1\nline2\r\t\f"}, {"ключ", "значение"}, {"k", "\xff\xfe"},
	} {
		got, err := ParseProperties([]byte(escapeProperty(p[0], p[1])))
		if err != nil || len(got) != 1 || got[0].Key != p[0] || got[0].Value != p[1] {
			t.Errorf("%q: got %+v, %v", p, got, err)
		}
	}
}

// FuzzParseProperties checks that the parser never panics and that what it
// returns, written back, parses to the same pairs.
func FuzzParseProperties(f *testing.F) {
	for _, s := range []string{
		"a=b", "a:b\n# c\n! d\n", "a=x\\\n  y", `a=\u00e9\t\\`, "\r\n a b \\\r\n c", `k\ \=\:=v`,
		"listeners=PLAINTEXT://[::1]:9092,CONTROLLER://:9093", `a=\uD83D\uDE00`, "a=\\", "=\n:\n \\",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		props, err := ParseProperties(data)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, p := range props {
			b.WriteString(escapeProperty(p.Key, p.Value))
			b.WriteByte('\n')
		}
		again, err := ParseProperties([]byte(b.String()))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", b.String(), err)
		}
		if len(again) != len(props) {
			t.Fatalf("got %d pairs back, want %d (%q)", len(again), len(props), b.String())
		}
		for i := range props {
			if again[i].Key != props[i].Key || again[i].Value != props[i].Value {
				t.Fatalf("pair %d: got %q=%q back, want %q=%q", i, again[i].Key, again[i].Value, props[i].Key, props[i].Value)
			}
		}
	})
}
