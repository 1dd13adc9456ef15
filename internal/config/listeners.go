package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Listener is one entry of listeners or advertised.listeners.
type Listener struct {
	// Name is the listener name, upper-cased (Kafka compares names
	// case-insensitively and normalizes them to upper case).
	Name string
	// Host is empty for "all interfaces" (NAME://:9092). An IPv6 address is
	// given without brackets.
	Host string
	// Port 0 asks for a free port when binding.
	Port int
	// SecurityProtocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, from
	// listener.security.protocol.map.
	SecurityProtocol string
}

// Addr returns host:port for net.Listen or a client ("[::1]:9092" for IPv6,
// ":9092" for all interfaces).
func (l Listener) Addr() string {
	return net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
}

// String returns the listener in config syntax, NAME://host:port.
func (l Listener) String() string {
	return l.Name + "://" + l.Addr()
}

// parseListeners parses NAME://host:port entries without resolving their
// security protocols.
func parseListeners(v string) ([]Listener, error) {
	var out []Listener
	for _, item := range splitList(v) {
		l, err := parseListener(item)
		if err != nil {
			return nil, err
		}
		for _, o := range out {
			if o.Name == l.Name {
				return nil, fmt.Errorf("listener name %s is used twice", l.Name)
			}
			if o.Port == l.Port && l.Port != 0 && o.Host == l.Host {
				return nil, fmt.Errorf("listeners %s and %s use the same address %s", o.Name, l.Name, l.Addr())
			}
		}
		out = append(out, l)
	}
	return out, nil
}

func parseListener(s string) (Listener, error) {
	bad := func(why string) (Listener, error) {
		return Listener{}, fmt.Errorf("listener %q: %s (want NAME://host:port)", s, why)
	}
	name, addr, ok := strings.Cut(s, "://")
	if !ok {
		return bad(`missing "://"`)
	}
	if !validListenerName(name) {
		return bad("the name must be letters, digits, '_', '-' or '.'")
	}
	host, portText, err := splitHostPort(addr)
	if err != nil {
		return bad(err.Error())
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return bad("the port must be a number in [0,65535]")
	}
	return Listener{Name: strings.ToUpper(name), Host: host, Port: port}, nil
}

// splitHostPort splits host:port, [ipv6]:port or :port; an IPv6 address
// must be in brackets.
func splitHostPort(addr string) (host, port string, err error) {
	if strings.HasPrefix(addr, "[") {
		end := strings.IndexByte(addr, ']')
		if end < 0 || end+1 >= len(addr) || addr[end+1] != ':' {
			return "", "", errors.New("an IPv6 host must be written [addr]:port")
		}
		host, port = addr[1:end], addr[end+2:]
		if net.ParseIP(host) == nil || !strings.Contains(host, ":") {
			return "", "", fmt.Errorf("%q is not an IPv6 address", host)
		}
		return host, port, nil
	}
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", "", errors.New("missing :port")
	}
	host, port = addr[:i], addr[i+1:]
	if strings.ContainsAny(host, ":[]/ ") {
		return "", "", fmt.Errorf("bad host %q (write an IPv6 address in brackets)", host)
	}
	return host, port, nil
}

func validListenerName(n string) bool {
	if n == "" {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func checkListeners(v string) error {
	_, err := parseListeners(v)
	return err
}

// parseProtocolMap parses listener.security.protocol.map; names are
// upper-cased.
func parseProtocolMap(v string) (map[string]string, error) {
	m := map[string]string{}
	for _, item := range splitList(v) {
		name, proto, ok := strings.Cut(item, ":")
		name, proto = strings.ToUpper(strings.TrimSpace(name)), strings.ToUpper(strings.TrimSpace(proto))
		if !ok || !validListenerName(name) {
			return nil, fmt.Errorf("entry %q is not NAME:PROTOCOL", item)
		}
		if !slices.Contains(securityProtocols, proto) {
			return nil, fmt.Errorf("entry %q: unknown security protocol %q (want one of %s)", item, proto, strings.Join(securityProtocols, ", "))
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("listener name %s is mapped twice", name)
		}
		m[name] = proto
	}
	return m, nil
}

func checkProtocolMap(v string) error {
	_, err := parseProtocolMap(v)
	return err
}

// parseVoters parses controller.quorum.voters: id@host:port entries.
func parseVoters(v string) (map[int32]string, error) {
	voters := map[int32]string{}
	for _, item := range splitList(v) {
		idText, addr, ok := strings.Cut(item, "@")
		if !ok {
			return nil, fmt.Errorf("voter %q is not id@host:port", item)
		}
		id, err := strconv.ParseInt(idText, 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("voter %q: the id must be a node id (an int >= 0)", item)
		}
		hp, err := checkHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("voter %q: %v", item, err)
		}
		if _, dup := voters[int32(id)]; dup {
			return nil, fmt.Errorf("voter id %d is listed twice", id)
		}
		voters[int32(id)] = hp
	}
	return voters, nil
}

func checkVoters(v string) error {
	_, err := parseVoters(v)
	return err
}

// checkHostPort validates a host:port with a non-empty host and a port in
// [1,65535], returning it in net.JoinHostPort form.
func checkHostPort(addr string) (string, error) {
	host, portText, err := splitHostPort(addr)
	if err != nil {
		return "", err
	}
	if host == "" {
		return "", errors.New("the host is empty")
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return "", fmt.Errorf("the port of %q must be a number in [1,65535]", addr)
	}
	return net.JoinHostPort(host, portText), nil
}

func checkHostPorts(v string) error {
	for _, item := range splitList(v) {
		if _, err := checkHostPort(item); err != nil {
			return fmt.Errorf("%q: %v", item, err)
		}
	}
	return nil
}
