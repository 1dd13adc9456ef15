package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The network lab of the cluster chaos test: one network namespace per
// node, each with two veth links into the root namespace, whose root ends
// are ports of two bridges:
//
//	client network   10.231.1.0/24, bridge smcbrc (10.231.1.254 in the
//	                 root namespace, where the test's clients run)
//	internal network 10.231.2.0/24, bridge smcbri (no address in the root
//	                 namespace: only the nodes talk on it)
//
// Node n is 10.231.1.n and 10.231.2.n. Its client listener (CLIENT, with
// PLAINTEXT security) and metrics endpoint are on the client network; the
// inter-broker listener (INTERNAL) and the raft/controller listener
// (CONTROLLER) on the internal one. The namespaces have no default route,
// so nothing crosses from one network to the other, and taking the root
// end of a node's internal veth down (ip link set smc<n>i down) cuts the
// node off from the other brokers and the controller quorum (its packets
// are dropped silently, as in a real partition, not refused) while
// clients still reach it. tc netem does not work on the machines this
// runs on, so faults are links down, not delays or losses.
//
// Every name starts with "smc" (namespaces smc1..smc3, bridges smcbrc and
// smcbri, veths smc<n>c / smc<n>i); a run first removes what a crashed
// run left behind (after taking a host-wide lock, so two runs never share
// the names), and removes everything it made in t.Cleanup.

const (
	labPrefix     = "smc"
	labClientNet  = "10.231.1."
	labInternal   = "10.231.2."
	labClientBr   = "smcbrc"
	labInternalBr = "smcbri"
	labLockFile   = "/tmp/samsa-cluster-chaos.lock"

	nodeClientPort     = 9092
	nodeInternalPort   = 9093
	nodeControllerPort = 9094
	nodeMetricsPort    = 9404
)

// netLab is the set of namespaces, veths and bridges of one test run.
type netLab struct {
	nodes int
}

func labNS(n int) string          { return fmt.Sprintf("%s%d", labPrefix, n) }
func labClientVeth(n int) string  { return fmt.Sprintf("%s%dc", labPrefix, n) }
func labInternVeth(n int) string  { return fmt.Sprintf("%s%di", labPrefix, n) }
func labClientAddr(n int) string  { return fmt.Sprintf("%s%d", labClientNet, n) }
func labInternAddr(n int) string  { return fmt.Sprintf("%s%d", labInternal, n) }
func labClientHost(n int) string  { return fmt.Sprintf("%s:%d", labClientAddr(n), nodeClientPort) }
func labMetricsHost(n int) string { return fmt.Sprintf("%s:%d", labClientAddr(n), nodeMetricsPort) }

// ipCmd runs ip(8) with args and returns its error with its output.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// labUsable says why the lab cannot be built here ("" if it can).
func labUsable() string {
	if os.Geteuid() != 0 {
		return "needs root (network namespaces, veths, bridges)"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "needs ip(8) (iproute2)"
	}
	probe := labPrefix + "probe"
	_ = ipCmd("netns", "del", probe)
	if err := ipCmd("netns", "add", probe); err != nil {
		return fmt.Sprintf("ip netns does not work here: %v", err)
	}
	defer ipCmd("netns", "del", probe)
	if err := ipCmd("-n", probe, "link", "set", "lo", "up"); err != nil {
		return fmt.Sprintf("ip netns does not work here: %v", err)
	}
	return ""
}

// newNetLab takes the host-wide lock, removes what a crashed run left and
// builds the lab; t.Cleanup tears it down (also on failure).
func newNetLab(t *testing.T, nodes int) *netLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("cluster chaos test skipped: needs root (network namespaces, veths, bridges)")
	}
	lockLab(t)
	lab := &netLab{nodes: nodes}
	labRemoveStale(t)
	if why := labUsable(); why != "" {
		t.Skip("cluster chaos test skipped: " + why)
	}
	// Registered before any process starts, so it runs after their
	// cleanups (t.Cleanup is last in, first out).
	t.Cleanup(func() { labRemoveStale(t) })
	// go test's -timeout panics without running cleanups: shortly before
	// it, take the lab down (the brokers die with the test process
	// anyway, by their parent-death signal).
	if dl, ok := t.Deadline(); ok {
		wd := time.AfterFunc(time.Until(dl)-20*time.Second, func() {
			fmt.Fprintf(os.Stderr, "%s cluster chaos: the test's deadline is near: removing the network lab\n", stamp())
			labRemoveStale(nil)
		})
		t.Cleanup(func() { wd.Stop() })
	}
	if err := lab.build(); err != nil {
		t.Fatalf("building the network lab: %v", err)
	}
	return lab
}

// lockLab serializes runs on this host: the names and addresses are fixed.
// The lock is a flock, released by the kernel if the process dies.
func lockLab(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(labLockFile, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("lock file: %v", err)
	}
	deadline := time.Now().Add(15 * time.Minute)
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			f.Close()
			t.Skipf("another cluster chaos run holds %s since 15 minutes", labLockFile)
		}
		if !logged {
			t.Logf("waiting for another cluster chaos run to finish (%s)", labLockFile)
			logged = true
		}
		time.Sleep(time.Second)
	}
	t.Cleanup(func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}

// labRemoveStale kills the processes left in smc* namespaces (a crashed
// run's brokers), deletes those namespaces and every smc* link. t may be
// nil (no logging).
func labRemoveStale(t *testing.T) {
	logf := func(format string, args ...any) {
		if t != nil {
			t.Logf(format, args...)
		}
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], labPrefix) {
			continue
		}
		ns := f[0]
		pids, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, p := range strings.Fields(string(pids)) {
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 {
				logf("killing process %d left in namespace %s", pid, ns)
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		for i := 0; i < 50; i++ {
			if pids, _ := exec.Command("ip", "netns", "pids", ns).Output(); len(bytes.TrimSpace(pids)) == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := ipCmd("netns", "del", ns); err != nil {
			logf("removing namespace %s: %v", ns, err)
		}
	}
	out, _ = exec.Command("ip", "-o", "link", "show").Output()
	for _, line := range strings.Split(string(out), "\n") {
		// "7: smc1c@if6: <BROADCAST,...": the name is the second field.
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if strings.HasPrefix(name, labPrefix) {
			if err := ipCmd("link", "del", name); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
				logf("removing link %s: %v", name, err)
			}
		}
	}
}

func (lab *netLab) build() error {
	// The subnets must be ours: a route to them through another device
	// would mean someone else uses them.
	for _, net := range []string{labClientNet, labInternal} {
		out, _ := exec.Command("ip", "-o", "route", "show", net+"0/24").Output()
		if s := strings.TrimSpace(string(out)); s != "" {
			return fmt.Errorf("%s0/24 is already routed on this host (%s): pick other subnets", net, s)
		}
	}
	steps := [][]string{
		{"link", "add", labClientBr, "type", "bridge"},
		{"link", "add", labInternalBr, "type", "bridge"},
		{"addr", "add", labClientNet + "254/24", "dev", labClientBr},
		{"link", "set", labClientBr, "up"},
		{"link", "set", labInternalBr, "up"},
	}
	for n := 1; n <= lab.nodes; n++ {
		ns := labNS(n)
		steps = append(steps,
			[]string{"netns", "add", ns},
			[]string{"-n", ns, "link", "set", "lo", "up"},
			[]string{"link", "add", labClientVeth(n), "type", "veth", "peer", "name", "ethc", "netns", ns},
			[]string{"link", "add", labInternVeth(n), "type", "veth", "peer", "name", "ethi", "netns", ns},
			[]string{"-n", ns, "addr", "add", labClientAddr(n) + "/24", "dev", "ethc"},
			[]string{"-n", ns, "addr", "add", labInternAddr(n) + "/24", "dev", "ethi"},
			[]string{"-n", ns, "link", "set", "ethc", "up"},
			[]string{"-n", ns, "link", "set", "ethi", "up"},
			[]string{"link", "set", labClientVeth(n), "master", labClientBr, "up"},
			[]string{"link", "set", labInternVeth(n), "master", labInternalBr, "up"},
		)
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			return err
		}
	}
	return nil
}

// setInternal takes node n's internal link down (cut) or up (heal).
func (lab *netLab) setInternal(n int, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return ipCmd("link", "set", labInternVeth(n), state)
}

// clusterNode is one `samsa server` of the cluster, run in its namespace
// by `ip netns exec` (which execs the binary: the child's pid is the
// broker's). Its log (every incarnation, appended) is node-<n>.log in the
// test's temp dir, its data dir data-<n>.
type clusterNode struct {
	id      int
	bin     string
	ns      string
	dataDir string
	logPath string
	extra   []string // more overrides
	peers   int

	mu          sync.Mutex
	proc        *brokerProc // nil while down
	stopped     bool        // SIGSTOPped
	expectExit  bool
	incarnation int
	unexpected  []string // exits nobody asked for
}

func (n *clusterNode) args() []string {
	var voters []string
	for i := 1; i <= n.peers; i++ {
		voters = append(voters, fmt.Sprintf("%d@%s:%d", i, labInternAddr(i), nodeControllerPort))
	}
	c, in := labClientAddr(n.id), labInternAddr(n.id)
	o := []string{
		fmt.Sprintf("node.id=%d", n.id),
		"process.roles=broker,controller",
		fmt.Sprintf("listeners=CLIENT://%s:%d,INTERNAL://%s:%d,CONTROLLER://%s:%d", c, nodeClientPort, in, nodeInternalPort, in, nodeControllerPort),
		fmt.Sprintf("advertised.listeners=CLIENT://%s:%d,INTERNAL://%s:%d", c, nodeClientPort, in, nodeInternalPort),
		"listener.security.protocol.map=CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"inter.broker.listener.name=INTERNAL",
		"controller.listener.names=CONTROLLER",
		"controller.quorum.voters=" + strings.Join(voters, ","),
		"log.dirs=" + n.dataDir,
		fmt.Sprintf("samsa.http.listener=%s:%d", c, nodeMetricsPort),
	}
	o = append(o, n.extra...)
	args := []string{"netns", "exec", n.ns, n.bin, "server"}
	for _, kv := range o {
		args = append(args, "--override", kv)
	}
	return args
}

// start launches a new incarnation; waitServing waits for it.
func (n *clusterNode) start(t *testing.T) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil {
		t.Fatalf("node %d started twice", n.id)
	}
	n.incarnation++
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== test: starting incarnation %d of node %d at %s\n", n.incarnation, n.id, stamp())
	cmd := exec.Command("ip", n.args()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The broker dies with the test process, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting node %d: %v", n.id, err)
	}
	p := &brokerProc{cmd: cmd, exited: make(chan struct{}), addr: labClientHost(n.id)}
	n.proc, n.stopped, n.expectExit = p, false, false
	inc := n.incarnation
	go func() {
		err := cmd.Wait()
		logf.Close()
		n.mu.Lock()
		defer n.mu.Unlock()
		if !n.expectExit && n.proc == p {
			msg := fmt.Sprintf("%s node %d incarnation %d exited by itself: %v", stamp(), n.id, inc, exitText(err))
			n.unexpected = append(n.unexpected, msg)
		}
		if n.proc == p {
			n.proc = nil
		}
		close(p.exited)
	}()
}

// waitServing waits until the current incarnation logs "broker serving".
func (n *clusterNode) waitServing(timeout time.Duration) error {
	n.mu.Lock()
	p, inc := n.proc, n.incarnation
	n.mu.Unlock()
	if p == nil {
		return fmt.Errorf("node %d is not running", n.id)
	}
	marker := fmt.Sprintf("=== test: starting incarnation %d of node %d ", inc, n.id)
	deadline := time.Now().Add(timeout)
	for {
		out, _ := os.ReadFile(n.logPath)
		if i := bytes.Index(out, []byte(marker)); i >= 0 && bytes.Contains(out[i:], []byte("broker serving")) {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("node %d exited during start-up:\n%s", n.id, tailLines(n.logPath, 40))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %d did not serve within %v:\n%s", n.id, timeout, tailLines(n.logPath, 40))
		}
	}
}

// running reports whether a process is up (possibly stopped).
func (n *clusterNode) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil
}

func (n *clusterNode) current() *brokerProc {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// kill SIGKILLs the node and waits for it.
func (n *clusterNode) kill() {
	n.mu.Lock()
	p := n.proc
	n.expectExit = true
	n.mu.Unlock()
	if p != nil {
		p.kill()
	}
	n.mu.Lock()
	n.stopped = false
	n.mu.Unlock()
}

// terminate asks for a clean shutdown (SIGTERM) and waits up to timeout,
// then kills. It reports whether the shutdown was clean.
func (n *clusterNode) terminate(timeout time.Duration) bool {
	n.mu.Lock()
	p := n.proc
	n.expectExit = true
	stopped := n.stopped
	n.mu.Unlock()
	if p == nil {
		return true
	}
	if stopped {
		n.cont()
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.cmd.ProcessState.Success()
	case <-time.After(timeout):
		p.kill()
		return false
	}
}

func (n *clusterNode) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil {
		n.proc.cmd.Process.Signal(syscall.SIGSTOP)
		n.stopped = true
	}
}

func (n *clusterNode) cont() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil {
		n.proc.cmd.Process.Signal(syscall.SIGCONT)
	}
	n.stopped = false
}

// takeUnexpectedExits returns the exits nobody asked for since the last
// call.
func (n *clusterNode) takeUnexpectedExits() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.unexpected
	n.unexpected = nil
	return out
}

// stamp is a wall-clock time in the brokers' log format (UTC), so test
// events and broker log lines can be matched.
func stamp() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

// tailLines returns the last n lines of a file.
func tailLines(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 4*n {
			lines = append(lines[:0:0], lines[len(lines)-n:]...)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// promSample is one sample of a Prometheus text exposition.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

// httpGetter scrapes the nodes' /metrics, without keep-alive (a node
// that was killed leaves dead connections behind).
type httpGetter struct{ cl *http.Client }

func newHTTPGetter() *httpGetter {
	return &httpGetter{cl: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}}
}

// metrics reads node n's /metrics.
func (g *httpGetter) metrics(ctx context.Context, n int) ([]promSample, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+labMetricsHost(n)+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := g.cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("node %d /metrics: %s", n, resp.Status)
	}
	return parseProm(body), nil
}

func parseProm(body []byte) []promSample {
	var out []promSample
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		s := promSample{labels: map[string]string{}, value: v}
		head := line[:i]
		if j := strings.IndexByte(head, '{'); j >= 0 {
			s.name = head[:j]
			for _, kv := range strings.Split(strings.TrimSuffix(head[j+1:], "}"), ",") {
				k, val, ok := strings.Cut(kv, "=")
				if ok {
					s.labels[k] = strings.Trim(val, `"`)
				}
			}
		} else {
			s.name = head
		}
		out = append(out, s)
	}
	return out
}

// copyTree copies dir src to dst with cp -a (kept evidence of a failure).
func copyTree(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := exec.Command("cp", "-a", src, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cp -a %s %s: %v: %s", src, dst, err, out)
	}
	return nil
}
