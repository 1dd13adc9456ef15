package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// defaultBootstrap is used when --bootstrap-server is not given: the
// address a `samsa server` with no configuration listens on. (Kafka's
// tools require the option; accepting its absence is a Samsa extra.)
const defaultBootstrap = "127.0.0.1:9092"

// defaultTimeout bounds each admin operation, so that an unreachable
// cluster fails in seconds rather than after the client's retries.
const defaultTimeout = 10 * time.Second

// conn is the connection options every tool shares.
type conn struct {
	bootstrap  string   // --bootstrap-server; "" when not given
	brokerList string   // --broker-list, the old name, where a tool has it
	configs    []string // --command-config (and the tool's own aliases)
	timeout    time.Duration
	props      *props // the properties files, then --*-property overrides

	cl *kgo.Client // set by newAdmin

	// known are the properties the tool maps beyond the common ones; a
	// console tool sets it and warns itself once its overrides are in.
	known map[string]bool
}

// addConnFlags registers --bootstrap-server, the properties-file options
// named in configFlags (e.g. "command-config") and, if timeoutFlag is not
// empty, the operation timeout.
func (c *conn) addConnFlags(fs *flagSet, timeoutFlag string, configFlags ...string) {
	c.timeout = defaultTimeout
	c.props = newProps()
	fs.String(&c.bootstrap, "bootstrap-server", "host:port[,host:port]",
		"the brokers to connect to (default "+defaultBootstrap+")")
	for _, name := range configFlags {
		fs.Strings(&c.configs, name, "file", "a Kafka client properties file (security.protocol, sasl.*, client.id ...)")
	}
	if timeoutFlag != "" {
		fs.Duration(&c.timeout, timeoutFlag, "ms|duration",
			"how long to wait for the cluster, as milliseconds or a duration like 10s (default 10s)")
	}
}

// addBrokerListFlag registers --broker-list, the deprecated name of
// --bootstrap-server that some of Kafka's tools still take. As in Kafka,
// --bootstrap-server wins when both are given.
func (c *conn) addBrokerListFlag(fs *flagSet) {
	fs.String(&c.brokerList, "broker-list", "host:port[,host:port]", "old name of --bootstrap-server")
}

// loadProps reads the properties files into c.props. An admin tool (no
// c.known) warns on w about properties it does not use.
func (c *conn) loadProps(w io.Writer) error {
	for _, f := range c.configs {
		if err := c.props.loadFile(f); err != nil {
			return err
		}
	}
	c.props.trimValues()
	if c.known == nil {
		c.warnUnused(w)
	}
	return nil
}

// commonProps are the client properties every tool maps.
var commonProps = map[string]bool{
	"bootstrap.servers": true, "client.id": true, "request.timeout.ms": true, "metadata.max.age.ms": true,
	"security.protocol": true, "sasl.mechanism": true, "sasl.jaas.config": true,
	"ssl.truststore.type": true, "ssl.truststore.location": true, "ssl.truststore.certificates": true,
}

// javaOnlyProps are settings of Java clients that have no meaning here
// (serializers, JKS passwords); they are ignored without a word.
var javaOnlyProps = map[string]bool{
	"key.serializer": true, "value.serializer": true, "key.deserializer": true, "value.deserializer": true,
	"ssl.truststore.password": true, "ssl.key.password": true, "ssl.keystore.password": true,
	"default.api.timeout.ms": true, "retry.backoff.ms": true, "reconnect.backoff.ms": true,
}

// warnUnused reports, as Kafka's clients do, each property that is set but
// not used.
func (c *conn) warnUnused(w io.Writer) {
	for _, k := range c.props.keys {
		if commonProps[k] || javaOnlyProps[k] || c.known[k] {
			continue
		}
		fmt.Fprintf(w, "WARN: The configuration '%s' was supplied but isn't a known config (ignored).\n", k)
	}
}

// seeds are the brokers to bootstrap from: --bootstrap-server, else
// --broker-list, else bootstrap.servers from the properties, else
// defaultBootstrap.
func (c *conn) seeds() []string {
	list := c.bootstrap
	if list == "" {
		list = c.brokerList
	}
	if list == "" {
		list = c.props.getOr("bootstrap.servers", "")
	}
	var out []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		out = []string{defaultBootstrap}
	}
	return out
}

// baseOpts maps the common client properties (connection, security,
// client.id) to kgo options.
func (c *conn) baseOpts() ([]kgo.Opt, error) {
	p := c.props
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.seeds()...),
		kgo.DialTimeout(minDuration(c.timeout, 10*time.Second)),
		kgo.RetryTimeout(c.timeout),
		kgo.ClientID(p.getOr("client.id", "samsa-cli")),
	}
	if ms, err := p.int("request.timeout.ms", 0); err != nil {
		return nil, err
	} else if ms > 0 {
		opts = append(opts, kgo.RequestTimeoutOverhead(time.Duration(ms)*time.Millisecond))
	}
	if ms, err := p.int("metadata.max.age.ms", 0); err != nil {
		return nil, err
	} else if ms > 0 {
		opts = append(opts, kgo.MetadataMaxAge(time.Duration(ms)*time.Millisecond))
	}
	proto := strings.ToUpper(p.getOr("security.protocol", "PLAINTEXT"))
	switch proto {
	case "PLAINTEXT", "SASL_PLAINTEXT":
	case "SSL", "SASL_SSL":
		tc, err := tlsConfig(p)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	default:
		return nil, fmt.Errorf("security.protocol %q is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL", proto)
	}
	if strings.HasPrefix(proto, "SASL_") {
		m, err := saslMechanism(p)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

func minDuration(a, b time.Duration) time.Duration {
	if a > 0 && a < b {
		return a
	}
	return b
}

// tlsConfig supports PEM trust stores (ssl.truststore.type=PEM with
// ssl.truststore.location or ssl.truststore.certificates); without one the
// system roots are used. Java keystores (JKS, PKCS12) are not read.
func tlsConfig(p *props) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	var pemData []byte
	if v, ok := p.get("ssl.truststore.certificates"); ok {
		pemData = []byte(v)
	} else if loc, ok := p.get("ssl.truststore.location"); ok {
		if t := strings.ToUpper(p.getOr("ssl.truststore.type", "PEM")); t != "PEM" {
			return nil, fmt.Errorf("ssl.truststore.type %s is not supported; use a PEM trust store", t)
		}
		b, err := os.ReadFile(loc)
		if err != nil {
			return nil, fmt.Errorf("reading ssl.truststore.location: %w", err)
		}
		pemData = b
	}
	if pemData != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, errors.New("no PEM certificates in the trust store")
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

var jaasOption = regexp.MustCompile(`(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"`)

func saslMechanism(p *props) (sasl.Mechanism, error) {
	jaas := p.getOr("sasl.jaas.config", "")
	var user, pass string
	for _, m := range jaasOption.FindAllStringSubmatch(jaas, -1) {
		switch m[1] {
		case "username":
			user = m[2]
		case "password":
			pass = m[2]
		}
	}
	switch mech := strings.ToUpper(p.getOr("sasl.mechanism", "GSSAPI")); mech {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	default:
		return nil, fmt.Errorf("sasl.mechanism %s is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)", mech)
	}
}

// newClient builds a client and checks that the cluster answers, so an
// unreachable cluster is one clear error instead of a hang.
func (c *conn) newClient(extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := c.baseOpts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, c.unreachable(err)
	}
	return cl, nil
}

// newAdmin is newClient wrapped for admin requests.
func (c *conn) newAdmin() (*kadm.Client, func(), error) {
	cl, err := c.newClient()
	if err != nil {
		return nil, nil, err
	}
	c.cl = cl
	return kadm.NewClient(cl), cl.Close, nil
}

// adminSession is what an admin tool does once its options are checked:
// read the properties files (warning about unused ones on w), connect,
// and bound the operation by the timeout. done closes both.
func (c *conn) adminSession(w io.Writer) (*kadm.Client, context.Context, func(), error) {
	if err := c.loadProps(w); err != nil {
		return nil, nil, nil, err
	}
	adm, closeFn, err := c.newAdmin()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := c.ctx()
	return adm, ctx, func() { cancel(); closeFn() }, nil
}

func (c *conn) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.timeout)
}

func (c *conn) unreachable(err error) error {
	return fmt.Errorf("cannot connect to the cluster at %s: %s", strings.Join(c.seeds(), ","), oneLine(err))
}

// describeErr turns a client error into one line a person can act on.
func (c *conn) describeErr(what string, err error) error {
	if err == nil {
		return nil
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: no answer from the cluster at %s within %s", what, strings.Join(c.seeds(), ","), c.timeout)
	case errors.As(err, &ne), errors.Is(err, kgo.ErrClientClosed):
		return fmt.Errorf("%s: cannot reach the cluster at %s: %s", what, strings.Join(c.seeds(), ","), oneLine(err))
	}
	return fmt.Errorf("%s: %s", what, kafkaErr(err, ""))
}

// kafkaErr formats a Kafka error code with the broker's message, if any.
func kafkaErr(err error, msg string) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		if msg != "" && msg != ke.Description {
			return ke.Message + ": " + msg
		}
		return ke.Message + ": " + ke.Description
	}
	if msg != "" {
		return oneLine(err) + ": " + msg
	}
	return oneLine(err)
}

// oneLine flattens an error to a single line.
func oneLine(err error) string {
	if err == nil {
		return ""
	}
	s := strings.TrimSpace(err.Error())
	s = strings.ReplaceAll(s, "\r", "")
	return strings.ReplaceAll(s, "\n", "; ")
}

// apiSupported reports whether every broker that answered ApiVersions
// serves the API key.
func apiSupported(ctx context.Context, adm *kadm.Client, key int16) (bool, error) {
	vs, err := adm.ApiVersions(ctx)
	if err != nil {
		return false, err
	}
	answered := false
	for _, v := range vs.Sorted() {
		if v.Err != nil {
			continue
		}
		if _, _, ok := v.KeyVersions(key); !ok {
			return false, nil
		}
		answered = true
	}
	return answered, nil
}

// itoa32 is strconv.Itoa for int32.
func itoa32(n int32) string { return strconv.Itoa(int(n)) }
