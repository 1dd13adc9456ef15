package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Broker is the static configuration of one node: server.properties plus
// --override values, validated. It is immutable; runtime (dynamic) values
// live in the metadata and are combined with it by Lookup, ResolveTopic and
// the Describe functions.
type Broker struct {
	// explicit holds the values set in the file or by an override,
	// normalized (trimmed except passwords).
	explicit map[string]string

	nodeID      int32
	roles       []string
	listeners   []Listener
	advertised  []Listener
	controllers []string
	interBroker string
	voters      map[int32]string
	logDirs     []string
}

// LoadBroker reads the static broker config. path "" means no file: every
// config has its default, which is Samsa's embedded single-node setup.
// overrides are "key=value" strings (samsa server --override) applied
// after the file, so they win over it.
//
// Every problem is reported, joined: an unknown key (wrapping
// ErrUnknownConfig, naming the key, where it was set and the closest
// declared name), a bad value (wrapping ErrInvalidConfig, naming key, value,
// rule and where it was set), and inconsistent settings (listeners,
// controller listeners, voters).
func LoadBroker(path string, overrides []string) (*Broker, error) {
	b := &Broker{explicit: map[string]string{}}
	var errs []error
	set := func(key, value, where string) {
		d, ok := brokerDefs[key]
		if !ok {
			errs = append(errs, unknown(key, where, brokerDefs))
			return
		}
		if m := d.violation(value); m != "" {
			errs = append(errs, invalid(key, displayValue(d, value), m, where))
			return
		}
		b.explicit[key] = normalize(d.Type, value)
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		props, err := ParseProperties(data)
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
		for _, p := range props {
			set(p.Key, p.Value, fmt.Sprintf("%s line %d", path, p.Line))
		}
	}
	for _, o := range overrides {
		key, value, ok := strings.Cut(o, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("%w: override %q is not key=value", ErrInvalidConfig, o))
			continue
		}
		set(strings.TrimSpace(key), value, fmt.Sprintf("override %q", o))
	}
	if len(errs) == 0 {
		errs = b.derive()
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return b, nil
}

// unknown builds the error for an undeclared name, suggesting the closest
// declared one.
func unknown(name, where string, defs map[string]*Def) error {
	msg := fmt.Sprintf("%q", name)
	if where != "" {
		msg += " in " + where
	}
	if s := closest(name, defs); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return fmt.Errorf("%w %s", ErrUnknownConfig, msg)
}

func displayValue(d *Def, v string) string {
	if d.Sensitive {
		return "[hidden]"
	}
	return v
}

// derive computes and cross-checks the values other configs depend on.
func (b *Broker) derive() []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	b.nodeID = int32(b.Int("node.id"))
	if v, ok := b.Explicit("broker.id"); ok {
		id, _ := strconv.ParseInt(v, 10, 32)
		if n, set := b.Explicit("node.id"); set && n != v {
			fail("broker.id %s and node.id %s differ", v, n)
		}
		b.nodeID = int32(id)
	}
	b.roles = b.List("process.roles")
	for _, n := range b.List("controller.listener.names") {
		b.controllers = append(b.controllers, strings.ToUpper(n))
	}
	if len(b.controllers) == 0 {
		fail("controller.listener.names must name at least one listener")
	}
	isBroker, isController := b.HasRole("broker"), b.HasRole("controller")

	protos, _ := parseProtocolMap(b.String("listener.security.protocol.map")) // validated
	resolve := func(key string, ls []Listener) []Listener {
		for i := range ls {
			p, ok := protos[ls[i].Name]
			if !ok && slices.Contains(b.controllers, ls[i].Name) {
				p, ok = "PLAINTEXT", true
			}
			if !ok {
				fail("%s: listener %s has no security protocol in listener.security.protocol.map", key, ls[i].Name)
			}
			ls[i].SecurityProtocol = p
		}
		return ls
	}
	b.listeners, _ = parseListeners(b.String("listeners"))
	b.listeners = resolve("listeners", b.listeners)
	if len(b.listeners) == 0 {
		fail("listeners must not be empty")
	}

	var ctl, data []Listener
	for _, l := range b.listeners {
		if slices.Contains(b.controllers, l.Name) {
			ctl = append(ctl, l)
		} else {
			data = append(data, l)
		}
	}
	switch {
	case isController && len(ctl) == 0:
		fail("listeners must contain a controller listener (one of controller.listener.names: %s) when process.roles contains controller", strings.Join(b.controllers, ","))
	case !isController && len(ctl) > 0:
		fail("listeners must not contain the controller listener %s when process.roles does not contain controller", ctl[0].Name)
	case !isBroker && len(data) > 0:
		fail("listeners must contain only controller listeners when process.roles is controller; %s is not one", data[0].Name)
	}

	if v, ok := b.Explicit("advertised.listeners"); ok {
		b.advertised, _ = parseListeners(v)
		b.advertised = resolve("advertised.listeners", b.advertised)
		for _, a := range b.advertised {
			if !slices.ContainsFunc(b.listeners, func(l Listener) bool { return l.Name == a.Name }) {
				fail("advertised.listeners: %s is not one of the listeners", a.Name)
			}
		}
	} else if isBroker {
		b.advertised = slices.Clone(data)
	} else {
		b.advertised = slices.Clone(ctl)
	}
	for _, a := range b.advertised {
		if a.Host == "0.0.0.0" || a.Host == "::" {
			fail("advertised listener %s has the non-routable address %s; set advertised.listeners to a routable host", a.Name, a.Host)
		}
	}

	if isBroker {
		name, named := b.Explicit("inter.broker.listener.name")
		_, protoSet := b.Explicit("security.inter.broker.protocol")
		switch {
		case named && protoSet:
			fail("inter.broker.listener.name and security.inter.broker.protocol must not both be set")
		case named:
			b.interBroker = strings.ToUpper(name)
		default:
			b.interBroker = b.String("security.inter.broker.protocol")
		}
		if slices.Contains(b.controllers, b.interBroker) {
			fail("the inter-broker listener %s must not be a controller listener", b.interBroker)
		} else if !slices.ContainsFunc(b.advertised, func(l Listener) bool { return l.Name == b.interBroker }) {
			fail("the inter-broker listener %s is not one of the advertised listeners (set inter.broker.listener.name)", b.interBroker)
		}
	}

	b.voters, _ = parseVoters(b.String("controller.quorum.voters"))
	bootstrap := b.List("controller.quorum.bootstrap.servers")
	switch {
	case len(b.voters) > 0:
		if _, ok := b.voters[b.nodeID]; isController && !ok {
			fail("controller.quorum.voters must contain node.id %d when process.roles contains controller", b.nodeID)
		}
	case len(bootstrap) > 0:
	case isController && len(ctl) > 0:
		host := ctl[0].Host
		switch host {
		case "", "0.0.0.0":
			host = "127.0.0.1"
		case "::":
			host = "::1"
		}
		b.voters = map[int32]string{b.nodeID: Listener{Host: host, Port: ctl[0].Port}.Addr()}
	case !isController:
		fail("controller.quorum.voters or controller.quorum.bootstrap.servers must be set on a node without the controller role")
	}

	if v, ok := b.Explicit("log.dirs"); ok {
		b.logDirs = splitList(v)
	} else {
		b.logDirs = []string{b.String("log.dir")}
	}
	if len(b.logDirs) == 0 || b.logDirs[0] == "" {
		fail("log.dirs must name at least one directory")
	}
	return errs
}

// def returns the declaration of a broker config and panics if there is
// none: asking for an undeclared name is a programming error.
func (b *Broker) def(name string) *Def {
	d, ok := brokerDefs[name]
	if !ok {
		panic("config: undeclared broker config " + strconv.Quote(name))
	}
	return d
}

// Explicit returns the value set in server.properties or by an override.
func (b *Broker) Explicit(name string) (string, bool) {
	b.def(name)
	v, ok := b.explicit[name]
	return v, ok
}

// Value returns the static value (explicit, else default); nil is null.
func (b *Broker) Value(name string) *string {
	d := b.def(name)
	if v, ok := b.explicit[name]; ok {
		return &v
	}
	return d.Default
}

// String returns the static value, "" when null.
func (b *Broker) String(name string) string {
	if v := b.Value(name); v != nil {
		return *v
	}
	return ""
}

// Int returns the static value of an Int, Short or Long config, 0 when
// null. It panics on another type.
func (b *Broker) Int(name string) int64 {
	if t := b.def(name).Type; !numeric(t) {
		panic("config: " + name + " is a " + t.String() + ", not an integer")
	}
	n, _ := strconv.ParseInt(b.String(name), 10, 64) // validated at load
	return n
}

// Double returns the static value of a Double config, 0 when null.
func (b *Broker) Double(name string) float64 {
	if t := b.def(name).Type; t != Double {
		panic("config: " + name + " is a " + t.String() + ", not a double")
	}
	f, _ := strconv.ParseFloat(b.String(name), 64)
	return f
}

// Bool returns the static value of a Boolean config, false when null.
func (b *Broker) Bool(name string) bool {
	if t := b.def(name).Type; t != Boolean {
		panic("config: " + name + " is a " + t.String() + ", not a boolean")
	}
	return strings.EqualFold(b.String(name), "true")
}

// List returns the static value of a List config split at commas, items
// trimmed; nil when null or empty.
func (b *Broker) List(name string) []string {
	return splitList(b.String(name))
}

// Explicits returns a copy of every explicitly set value.
func (b *Broker) Explicits() map[string]string { return maps.Clone(b.explicit) }

// NodeID returns node.id.
func (b *Broker) NodeID() int32 { return b.nodeID }

// HasRole reports whether process.roles contains role ("broker" or
// "controller").
func (b *Broker) HasRole(role string) bool { return slices.Contains(b.roles, role) }

// Listeners returns the listeners with their security protocols. The error
// is always nil: LoadBroker already checked them (it is kept so that a
// future dynamic update path can fail).
func (b *Broker) Listeners() ([]Listener, error) { return slices.Clone(b.listeners), nil }

// AdvertisedListeners returns advertised.listeners or, when null, the
// listeners less the controller listeners (on a node with the broker role;
// a controller-only node advertises its controller listeners). A listener
// with an empty host (all interfaces) or port 0 is returned as is: the
// broker substitutes its host name and bound port. The error is always nil,
// as for Listeners.
func (b *Broker) AdvertisedListeners() ([]Listener, error) {
	return slices.Clone(b.advertised), nil
}

// ControllerListenerNames returns controller.listener.names, upper-cased.
func (b *Broker) ControllerListenerNames() []string { return slices.Clone(b.controllers) }

// InterBrokerListenerName returns the listener brokers use between them:
// inter.broker.listener.name, else the listener named after
// security.inter.broker.protocol. Empty on a controller-only node.
func (b *Broker) InterBrokerListenerName() string { return b.interBroker }

// LogDirs returns log.dirs, or log.dir when log.dirs is not set.
func (b *Broker) LogDirs() []string { return slices.Clone(b.logDirs) }

// MetadataLogDir returns metadata.log.dir, or the first log dir.
func (b *Broker) MetadataLogDir() string {
	if v, ok := b.Explicit("metadata.log.dir"); ok && v != "" {
		return v
	}
	return b.logDirs[0]
}

// Voters returns controller.quorum.voters as node id -> host:port. When
// neither the voters nor controller.quorum.bootstrap.servers are set on a
// controller, it is the single voter node.id@<first controller listener>
// (an all-interfaces host becomes the loopback address; port 0 stays 0 and
// means the port the controller listener bound). It is empty when only
// bootstrap servers are given. The error is always nil (checked at load).
func (b *Broker) Voters() (map[int32]string, error) { return maps.Clone(b.voters), nil }

// closest returns the declared name nearest to name by edit distance, if
// near enough to be a typo.
func closest(name string, defs map[string]*Def) string {
	best, bestD := "", len(name)/3+1
	if bestD > 3 {
		bestD = 3
	}
	for n := range defs {
		if d := editDistance(name, n); d < bestD || d == bestD && best != "" && n < best {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
