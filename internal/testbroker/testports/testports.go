// Package testports starts test brokers on loopback ports. It does not
// import the broker, so both the broker's own tests and package testbroker
// use it.
package testports

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

// Free asks the kernel for a free loopback port.
func Free(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
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
