// Command samsa is the Samsa broker and its tools in one binary.
//
//	samsa server [--config server.properties] [--override key=value ...]
//
// With no config file the broker starts as a single node that is both
// broker and controller, listening on 127.0.0.1:9092 with its data under
// ./samsa-data.
package main

import (
	"fmt"
	"os"

	"github.com/samsa-streaming/samsa/internal/cli"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = runServer(os.Args[2:])
	case "local-cluster":
		err = runLocalCluster(os.Args[2:])
	case "help", "-h", "--help":
		usage()
		return
	case "version", "--version":
		fmt.Println("samsa", version)
		return
	default:
		c, ok := cli.Lookup(os.Args[1])
		if !ok {
			fmt.Fprintf(os.Stderr, "samsa: unknown command %q\n\n", os.Args[1])
			usage()
			os.Exit(2)
		}
		err = c.Run(os.Args[2:], os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "samsa:", err)
		os.Exit(1)
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func usage() {
	fmt.Fprint(os.Stderr, `Samsa: a Kafka-compatible event-streaming broker.

Usage:
  samsa server [--config FILE] [--override key=value ...]   run a broker
  samsa local-cluster [CONFIG_FILE ...]                     run a 3-node cluster on this machine
  samsa version                                             print the version
  samsa COMMAND --help                                      a tool's flags and examples

Tools:
`)
	cli.Usage(os.Stderr)
}
