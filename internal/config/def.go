package config

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Sentinel errors. Every error this package returns about a config name or
// value wraps one of them, so the broker maps them to Kafka error codes
// (INVALID_CONFIG) with errors.Is; the message names the config, the value
// and the rule, and is meant for the client's error message.
var (
	// ErrUnknownConfig: the name is not declared.
	ErrUnknownConfig = errors.New("unknown config")
	// ErrInvalidConfig: the value does not parse as the declared type, breaks
	// the declared bounds, or is not one of the allowed values.
	ErrInvalidConfig = errors.New("invalid config")
	// ErrReadOnlyConfig: the config exists but cannot be altered at runtime
	// (at this level).
	ErrReadOnlyConfig = errors.New("read-only config")
)

// Type is the declared type of a config. The names and the parsing rules
// are Kafka's ConfigDef types.
type Type int

const (
	Boolean  Type = iota + 1 // "true" or "false", case-insensitive
	String                   // trimmed text
	Int                      // 32-bit signed integer
	Short                    // 16-bit signed integer
	Long                     // 64-bit signed integer
	Double                   // 64-bit float
	List                     // comma-separated, items trimmed; "" is the empty list
	Class                    // a Java class name; accepted as text
	Password                 // text, never trimmed, never shown
)

// String returns the type's name as Kafka's docs print it ("int", "list").
func (t Type) String() string {
	switch t {
	case Boolean:
		return "boolean"
	case String:
		return "string"
	case Int:
		return "int"
	case Short:
		return "short"
	case Long:
		return "long"
	case Double:
		return "double"
	case List:
		return "list"
	case Class:
		return "class"
	case Password:
		return "password"
	}
	return "unknown"
}

// Kmsg maps the type to the DescribeConfigs ConfigType enum.
func (t Type) Kmsg() kmsg.ConfigType {
	switch t {
	case Boolean:
		return kmsg.ConfigTypeBoolean
	case String:
		return kmsg.ConfigTypeString
	case Int:
		return kmsg.ConfigTypeInt
	case Short:
		return kmsg.ConfigTypeShort
	case Long:
		return kmsg.ConfigTypeLong
	case Double:
		return kmsg.ConfigTypeDouble
	case List:
		return kmsg.ConfigTypeList
	case Class:
		return kmsg.ConfigTypeClass
	case Password:
		return kmsg.ConfigTypePassword
	}
	return kmsg.ConfigTypeUnknown
}

// Scope says whether and where a broker config can be changed at runtime
// (Kafka's "update mode"). Topic configs are always alterable per topic.
type Scope int

const (
	// ReadOnly configs are read from server.properties at start only.
	ReadOnly Scope = iota
	// PerBroker configs can be altered for one broker (resource name "<node.id>").
	PerBroker
	// ClusterWide configs can be altered as the cluster default (resource
	// name "") and, as Kafka allows, for one broker.
	ClusterWide
)

// String returns Kafka's name of the update mode.
func (s Scope) String() string {
	switch s {
	case PerBroker:
		return "per-broker"
	case ClusterWide:
		return "cluster-wide"
	}
	return "read-only"
}

// Importance is Kafka's doc-only importance rank.
const (
	High   = "high"
	Medium = "medium"
	Low    = "low"
)

// Def declares one config. It is the only place a config's name, type,
// default, rule and doc are written; parsing, validation, DescribeConfigs and
// docs/CONFIG.md all read it.
type Def struct {
	Name string
	Type Type
	// Default is the value used when nothing sets the config; nil is Kafka's
	// null (no value; the code using the config says what null means).
	Default *string
	Doc     string
	// Validate checks a non-null value: that it parses as Type and keeps the
	// declared rule. The error wraps ErrInvalidConfig and names the rule, not
	// the config (callers add the name and value). Set when the registry is
	// built; nil never.
	Validate func(string) error
	// ValidValues is the rule in words, as Kafka's docs print it ("[1,...]",
	// "[delete, compact]"); empty when any value of the type is valid.
	ValidValues string
	Importance  string
	// Scope applies to broker configs only.
	Scope     Scope
	Sensitive bool
	// Synonyms of a topic config are the broker configs that give its
	// default, in precedence order (retention.ms: log.retention.ms,
	// log.retention.minutes, log.retention.hours). Synonyms of a broker
	// config are the group it belongs to, in the same order, itself
	// included; nil when it has none.
	Synonyms []string
	// Standalone marks a topic config that no broker config defaults
	// (Kafka has a few: the throttled replicas lists); its default is its
	// own.
	Standalone bool
	// Unused marks a config that is accepted and validated but not yet acted
	// on by Samsa. The docs say so.
	Unused bool
	// Note is a Samsa-specific remark shown in the docs (a default that
	// differs from Kafka's, a derived value).
	Note string

	rule rule
	// factors[i] converts a value of Synonyms[i] to this topic config's
	// unit (3600000 for log.retention.hours); 0 means 1.
	factors []int64
}

// DefaultString returns the default for display: the value, or "null".
func (d *Def) DefaultString() string {
	if d.Default == nil {
		return "null"
	}
	return *d.Default
}

// rule is a check plus its description for the docs.
type rule struct {
	desc  string
	check func(string) error
}

func ptr(s string) *string { return &s }

// violation returns why a non-null value is invalid (it does not parse as
// the type, or breaks the rule), or "" when it is valid.
func (d *Def) violation(v string) string {
	if m := typeViolation(d.Type, v); m != "" {
		return m
	}
	if d.rule.check != nil {
		if err := d.rule.check(v); err != nil {
			return err.Error()
		}
	}
	return ""
}

// validate is Def.Validate: the violation wrapped in ErrInvalidConfig.
func (d *Def) validate(v string) error {
	if m := d.violation(v); m != "" {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, m)
	}
	return nil
}

// invalid builds the error for a bad value, naming config, value, rule and,
// when known, where the value came from.
func invalid(name, value, why, where string) error {
	if where != "" {
		return fmt.Errorf("%w %q = %q in %s: %s", ErrInvalidConfig, name, value, where, why)
	}
	return fmt.Errorf("%w %q = %q: %s", ErrInvalidConfig, name, value, why)
}

func typeViolation(t Type, v string) string {
	s := strings.TrimSpace(v)
	var err error
	switch t {
	case Boolean:
		if !strings.EqualFold(s, "true") && !strings.EqualFold(s, "false") {
			return `must be "true" or "false"`
		}
	case Int:
		_, err = strconv.ParseInt(s, 10, 32)
	case Short:
		_, err = strconv.ParseInt(s, 10, 16)
	case Long:
		_, err = strconv.ParseInt(s, 10, 64)
	case Double:
		var f float64
		f, err = strconv.ParseFloat(s, 64)
		if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return "must be a finite number"
		}
	}
	if err == nil {
		return ""
	}
	var ne *strconv.NumError
	if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
		return "out of range for type " + t.String()
	}
	return "not a valid " + t.String()
}

// normalize returns the stored form of a valid value: trimmed for all types
// but Password, Kafka's way.
func normalize(t Type, v string) string {
	if t == Password {
		return v
	}
	return strings.TrimSpace(v)
}

// splitList splits a List value: comma-separated, items trimmed, empty
// items dropped; "" is the empty list.
func splitList(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// --- rules ---

func atLeast(min int64) rule {
	return between(min, math.MaxInt64)
}

func between(min, max int64) rule {
	desc := fmt.Sprintf("[%d,...,%d]", min, max)
	if max == math.MaxInt64 {
		desc = fmt.Sprintf("[%d,...]", min)
	}
	return rule{desc: desc, check: func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return errors.New("not an integer")
		}
		if n < min || n > max {
			return fmt.Errorf("must be in %s", desc)
		}
		return nil
	}}
}

// orValue accepts one extra integer besides the range (compression.gzip.level: -1).
func orValue(r rule, extra int64) rule {
	desc := fmt.Sprintf("%d or %s", extra, r.desc)
	return rule{desc: desc, check: func(v string) error {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n == extra {
			return nil
		}
		if r.check(v) != nil {
			return fmt.Errorf("must be %s", desc)
		}
		return nil
	}}
}

func betweenFloat(min, max float64) rule {
	desc := fmt.Sprintf("[%g,...,%g]", min, max)
	return rule{desc: desc, check: func(v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < min || f > max {
			return fmt.Errorf("must be in %s", desc)
		}
		return nil
	}}
}

// oneOf: a String that must be one of the values (case-sensitive, Kafka's
// ValidString).
func oneOf(values ...string) rule {
	desc := "[" + strings.Join(values, ", ") + "]"
	return rule{desc: desc, check: func(v string) error {
		if !slices.Contains(values, strings.TrimSpace(v)) {
			return fmt.Errorf("must be one of %s", desc)
		}
		return nil
	}}
}

// listOf: a List whose items are each one of the values, without
// duplicates; nonEmpty rejects the empty list.
func listOf(nonEmpty bool, values ...string) rule {
	desc := "[" + strings.Join(values, ", ") + "]"
	return rule{desc: desc, check: func(v string) error {
		items := splitList(v)
		if nonEmpty && len(items) == 0 {
			return fmt.Errorf("must be a non-empty list of %s", desc)
		}
		seen := map[string]bool{}
		for _, it := range items {
			if !slices.Contains(values, it) {
				return fmt.Errorf("item %q is not one of %s", it, desc)
			}
			if seen[it] {
				return fmt.Errorf("item %q is listed twice", it)
			}
			seen[it] = true
		}
		return nil
	}}
}

// custom wraps a checking function with its description.
func custom(desc string, check func(string) error) rule {
	return rule{desc: desc, check: check}
}
