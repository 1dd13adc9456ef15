// Command kfake-server runs franz-go's kfake Kafka-protocol broker as a
// standalone process for the benchmark: one broker on a fixed loopback
// port, with kfake's disk persistence (DataDir) on. Writes go to the page
// cache and are synced on segment roll and shutdown (kfake's default, like
// Kafka's and Samsa's), unless -sync is given.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 29192, "client port on 127.0.0.1")
	dir := flag.String("data-dir", "", "persistence directory (empty: in memory)")
	sync := flag.Bool("sync", false, "fsync every batch (kfake.SyncWrites)")
	flag.Parse()
	opts := []kfake.Opt{kfake.Ports(*port), kfake.ClusterID("bench-kfake")}
	if *dir != "" {
		opts = append(opts, kfake.DataDir(*dir))
	}
	if *sync {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake-server:", err)
		os.Exit(1)
	}
	fmt.Println("kfake listening on", c.ListenAddrs())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	c.Close()
}
