package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// runLocalCluster starts one `samsa server` process per config file and
// keeps them running until interrupted: a cluster on one machine for
// trying things out (docs, quick start). Each process's log lines are
// prefixed with its file's name. A node that exits is reported and the
// others go on, so a node can be killed (kill -9 <pid>) to watch the
// cluster fail over, and started again by hand with the command printed
// for it at start.
func runLocalCluster(args []string) error {
	fs := flag.NewFlagSet("local-cluster", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: samsa local-cluster [CONFIG_FILE ...]

Starts a Samsa cluster on this machine: one "samsa server --config FILE"
process per file, all stopped together by Ctrl-C (SIGINT or SIGTERM, which
each node turns into a controlled shutdown). Without files it uses
config/cluster/node-*.properties: three combined nodes, clients on
127.0.0.1:9092, 9093 and 9094, controllers on 9192-9194, data under
./samsa-cluster, replication factor 3 and min.insync.replicas=2.

Examples:
  samsa local-cluster
  samsa local-cluster config/cluster/node-1.properties config/cluster/node-2.properties config/cluster/node-3.properties
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		var err error
		files, err = filepath.Glob(filepath.Join("config", "cluster", "node-*.properties"))
		if err != nil || len(files) == 0 {
			return errors.New("no config files given and none found at config/cluster/node-*.properties (run from the repository root, or name the files)")
		}
		sort.Strings(files)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	type node struct {
		name string
		cmd  *exec.Cmd
		done chan struct{}
	}
	var nodes []*node
	var out sync.Mutex
	stopAll := func(sig os.Signal) {
		for _, n := range nodes {
			if n.cmd.Process != nil {
				n.cmd.Process.Signal(sig)
			}
		}
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		cmd := exec.Command(self, "server", "--config", f)
		stdout, _ := cmd.StdoutPipe()
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			stopAll(syscall.SIGTERM)
			return fmt.Errorf("starting %s: %w", f, err)
		}
		n := &node{name: name, cmd: cmd, done: make(chan struct{})}
		nodes = append(nodes, n)
		var wg sync.WaitGroup
		for _, r := range []io.Reader{stdout, stderr} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sc := bufio.NewScanner(r)
				sc.Buffer(make([]byte, 64<<10), 1<<20)
				for sc.Scan() {
					out.Lock()
					fmt.Fprintf(os.Stderr, "[%s] %s\n", name, sc.Text())
					out.Unlock()
				}
			}()
		}
		go func() {
			wg.Wait()
			err := cmd.Wait()
			out.Lock()
			fmt.Fprintf(os.Stderr, "[%s] exited: %v\n", name, exitText(err))
			out.Unlock()
			close(n.done)
		}()
		fmt.Fprintf(os.Stderr, "[%s] pid %d: %s server --config %s\n", name, cmd.Process.Pid, self, f)
	}

	allDone := make(chan struct{})
	go func() {
		for _, n := range nodes {
			<-n.done
		}
		close(allDone)
	}()
	select {
	case sig := <-sigs:
		fmt.Fprintf(os.Stderr, "local-cluster: %v: stopping every node\n", sig)
		stopAll(syscall.SIGTERM)
	case <-allDone:
		return errors.New("every node exited")
	}
	select {
	case <-allDone:
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "local-cluster: nodes still running after 30 s: killing them")
		stopAll(syscall.SIGKILL)
		<-allDone
	}
	return nil
}

func exitText(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}
