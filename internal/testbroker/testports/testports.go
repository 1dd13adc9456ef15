// Package testports starts test brokers on loopback ports. It does not
// import the broker, so both the broker's own tests and package testbroker
// use it.
package testports

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Free returns a loopback port that is free now, chosen below the
// kernel's ephemeral range. A port the kernel hands out for port 0 comes
// from that range, which every outgoing connection of every test process
// also draws its local port from: a broker restarted on the same port
// (crash tests) could find it taken by some client's connection in the
// meantime. Below the range, only another test's own choice can collide.
func Free(t testing.TB) int {
	t.Helper()
	lo := ephemeralLow()
	if lo > 2048 {
		base := max(1024, lo-16384)
		for range 64 {
			port := base + rand.IntN(lo-base)
			if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				ln.Close()
				return port
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read).
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 32768
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return lo
}

// Start builds the options of a single-node test broker with its data in
// dir (client listener and metrics endpoint on port 0, the controller on a
// port chosen now, since the voters list names it), appends overrides, and
// calls start with them. Another process may take the controller port
// before the broker binds it: a start that fails to bind is retried with a
// new port. It returns the options the broker started with.
func Start(t testing.TB, dir string, overrides []string, start func(opts []string) error) []string {
	t.Helper()
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		cport := Free(t)
		opts := append([]string{
			"listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:" + fmt.Sprint(cport),
			"controller.quorum.voters=1@127.0.0.1:" + fmt.Sprint(cport),
			"log.dirs=" + dir,
			"samsa.http.listener=127.0.0.1:0",
		}, overrides...)
		if err = start(opts); err == nil {
			return opts
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatal(err)
	return nil
}
