// Command nats runs nats-server (as a Go module, in process) with
// JetStream on file storage in the given directory, on a loopback port,
// for the benchmark.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	port := flag.Int("port", 29222, "client port on 127.0.0.1")
	dir := flag.String("store-dir", "", "JetStream file store directory (required)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "nats: -store-dir is required")
		os.Exit(2)
	}
	s, err := server.NewServer(&server.Options{
		Host:                   "127.0.0.1",
		Port:                   *port,
		JetStream:              true,
		StoreDir:               *dir,
		JetStreamMaxStore:      64 << 30,
		JetStreamMaxMemory:     1 << 30,
		MaxPayload:             8 << 20,
		NoSigs:                 true,
		NoLog:                  true,
		DisableJetStreamBanner: true,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats:", err)
		os.Exit(1)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		fmt.Fprintln(os.Stderr, "nats: not ready after 30s")
		os.Exit(1)
	}
	fmt.Println("nats listening on", s.ClientURL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	s.Shutdown()
	s.WaitForShutdown()
}
