// Command load is the benchmark's one load generator: the same workloads
// against Kafka-protocol brokers (Samsa, kfake) with franz-go's kgo client
// and against NATS JetStream with nats.go, at the same record size and
// count. Each run prints one JSON result line on stdout; `load report`
// turns the lines into the table and the PNG chart.
//
//	load produce  -kind kafka|nats -addr A -topic T -partitions 8 -records N -size 1024
//	load consume  -kind kafka|nats -addr A -topic T -records N
//	load e2e      -kind kafka|nats -addr A -topic T -partitions 8 -records N -size 1024 -mbps 50
//	load many     -addr A -partitions 10000 -records-per-partition K -pid PID
//	load fill     -addr A -topic T -partitions 8 -bytes B -size 16384
//	load ready    -addr A -topic T -since UNIXNANO
//	load failover -addr A,B,C -nodes 1=PID,2=PID,3=PID -signal KILL|TERM -topic T -replicas 3 -min-insync 2
//	load report   -in results.jsonl -png out.png -meta "machine line"
//	load evict    -dir D (drops D's files from the page cache)
//	load freeport [N] (prints N free loopback ports, default 1)
//
// LOAD_CPUPROFILE=file writes a CPU profile of the load generator itself
// (to see how much of the machine the client takes).
package main

import (
	"fmt"
	"net"
	"os"
	"runtime/pprof"
	"strconv"
)

// result is one JSON line: a workload's figures for one broker.
type result struct {
	Workload string             `json:"workload"`
	Broker   string             `json:"broker"`
	Metrics  map[string]float64 `json:"metrics"`
	Note     string             `json:"note,omitempty"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: load produce|consume|e2e|many|fill|ready|failover|report [flags]")
		os.Exit(2)
	}
	if p := os.Getenv("LOAD_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	err := run(os.Args[1], os.Args[2:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(cmd string, args []string) error {
	var err error
	switch cmd {
	case "produce":
		err = runProduce(args)
	case "consume":
		err = runConsume(args)
	case "e2e":
		err = runE2E(args)
	case "many":
		err = runMany(args)
	case "fill":
		err = runFill(args)
	case "ready":
		err = runReady(args)
	case "failover":
		err = runFailover(args)
	case "txn":
		err = runTxn(args)
	case "report":
		err = runReport(args)
	case "evict":
		err = runEvict(args)
	case "freeport":
		err = runFreePort(args)
	default:
		err = fmt.Errorf("unknown subcommand %q", cmd)
	}
	return err
}

// runFreePort prints loopback ports nothing listens on (the script starts
// brokers on ports of its own rather than fixed ones, which other work on
// the machine may hold), one per line: N distinct ports, all held open
// until every one is chosen.
func runFreePort(args []string) error {
	n := 1
	if len(args) > 0 {
		var err error
		if n, err = strconv.Atoi(args[0]); err != nil || n < 1 {
			return fmt.Errorf("freeport %q: a count", args[0])
		}
	}
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	}
	return nil
}
