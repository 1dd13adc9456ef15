package broker

import (
	"net"
	"sync"

	"github.com/samsa-streaming/samsa/internal/config"
)

// connQuotas enforces max.connections and max.connections.per.ip (with
// max.connections.per.ip.overrides) as Kafka's ConnectionQuotas does: a
// connection past its IP's limit is closed as soon as it is accepted; at
// the broker-wide limit the listeners stop accepting until a connection
// closes (the kernel's backlog holds the new ones), except the
// inter-broker listener when the broker has others, so that replication
// and the controller always get through. Unlike Kafka, an inter-broker connection over the limit
// does not close another listener's least recently used one. The limits
// are read at each accept, so a dynamic change applies to the next
// connection. Per-listener limits (listener.name.X.max.connections) and
// connection rate limits are not implemented.
type connQuotas struct {
	mu     sync.Mutex
	cond   *sync.Cond
	total  int
	perIP  map[string]int
	closed bool
}

func newConnQuotas() *connQuotas {
	q := &connQuotas{perIP: map[string]int{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// remoteIP is the address a connection's per-IP limit counts against.
func remoteIP(nc net.Conn) string {
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		return nc.RemoteAddr().String()
	}
	return host
}

// ipLimit is the per-IP limit of an address: its override, if any (by IP,
// as Kafka also matches), else max.connections.per.ip.
func ipLimit(cfg *config.Broker, ip string) int {
	if o, err := config.ParseConnOverrides(cfg.String("max.connections.per.ip.overrides")); err == nil {
		if n, ok := o[ip]; ok {
			return n
		}
	}
	return int(cfg.Int("max.connections.per.ip"))
}

// acquire counts a new connection from ip, waiting while the broker-wide
// limit is reached (unless exempt). It reports false when the IP is over
// its limit (the caller closes the connection) or the quotas are closed.
func (q *connQuotas) acquire(cfg *config.Broker, ip string, exempt bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.perIP[ip] >= ipLimit(cfg, ip) {
		return false
	}
	for !exempt && !q.closed && q.total >= int(cfg.Int("max.connections")) {
		q.cond.Wait()
	}
	if q.closed {
		return false
	}
	q.total++
	q.perIP[ip]++
	return true
}

// release uncounts a connection from ip.
func (q *connQuotas) release(ip string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.total--
	if q.perIP[ip]--; q.perIP[ip] <= 0 {
		delete(q.perIP, ip)
	}
	q.cond.Broadcast()
}

// close wakes the listeners waiting for a slot: the broker is stopping.
func (q *connQuotas) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
