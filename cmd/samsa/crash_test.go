package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/testbroker/testports"
)

// buildSamsa compiles the binary once per test run.
var buildOnce struct {
	sync.Once
	path string
	err  error
}

func samsaBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "samsa-bin")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "samsa")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// freePort is a port below the ephemeral range (see testports.Free):
// these brokers are restarted on the same ports after SIGKILL.
func freePort(t *testing.T) int { return testports.Free(t) }

// brokerProc is `samsa server` as a child process.
type brokerProc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been waited for
	addr   string
}

// startProc starts `samsa server` on the given ports and data dir and
// waits until it logs that it serves.
func startProc(t *testing.T, bin, dir string, port, cport int, overrides ...string) *brokerProc {
	t.Helper()
	p, err := tryStartProc(t, bin, dir, port, cport, overrides...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startFreshProc starts a broker on new ports, retrying with other ports
// if one chosen was taken before the broker could bind it.
func startFreshProc(t *testing.T, bin, dir string, overrides ...string) (p *brokerProc, port, cport int) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		port, cport = freePort(t), freePort(t)
		if p, err = tryStartProc(t, bin, dir, port, cport, overrides...); err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return p, port, cport
}

func tryStartProc(t *testing.T, bin, dir string, port, cport int, overrides ...string) (*brokerProc, error) {
	t.Helper()
	args := []string{"server",
		"--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", port, cport),
		"--override", fmt.Sprintf("controller.quorum.voters=1@127.0.0.1:%d", cport),
		"--override", "log.dirs=" + dir,
		"--override", "samsa.http.listener=127.0.0.1:0",
		"--override", "log.segment.bytes=1048576", // several segments, so recovery crosses rolls
	}
	for _, o := range overrides {
		args = append(args, "--override", o)
	}
	cmd := exec.Command(bin, args...)
	logPath := filepath.Join(t.TempDir(), "broker.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	p := &brokerProc{cmd: cmd, exited: exited, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	t.Cleanup(func() {
		p.kill()
		logf.Close()
	})
	// Ready is the broker's own "broker serving" line, not a successful
	// dial: another process could hold the port.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := os.ReadFile(logPath)
		if strings.Contains(string(out), "broker serving") {
			return p, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("broker exited during start-up; its log:\n%s", out)
		case <-time.After(50 * time.Millisecond):
		}
	}
	out, _ := os.ReadFile(logPath)
	return nil, fmt.Errorf("broker did not start serving on %s; its log:\n%s", p.addr, out)
}

func (p *brokerProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// TestSIGKILLKeepsAcknowledgedRecords produces with acks=all from several
// goroutines, SIGKILLs the broker in the middle, restarts it on the same
// data dir, and checks that every acknowledged record is there at the
// offset it was acknowledged with, and that the log continues after them.
// Kafka's default of no fsync per write holds here: a killed process loses
// nothing the kernel already has; power loss is what fsync would be for.
func TestSIGKILLKeepsAcknowledgedRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := samsaBinary(t)
	dir := t.TempDir()
	p, port, cport := startFreshProc(t, bin, dir)

	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(3), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 4, 1, nil, "crash"); err != nil {
		t.Fatal(err)
	}

	type acked struct {
		part  int32
		off   int64
		value string
	}
	var mu sync.Mutex
	var acks []acked
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				v := fmt.Sprintf("w%d-%06d-%s", w, i, make([]byte, 200))
				cl.Produce(ctx, &kgo.Record{Topic: "crash", Value: []byte(v)}, func(r *kgo.Record, err error) {
					if err == nil {
						mu.Lock()
						acks = append(acks, acked{r.Partition, r.Offset, string(r.Value)})
						mu.Unlock()
					}
				})
				if i%100 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}(w)
	}
	// let it write a few MB, then kill it mid-stream
	for {
		mu.Lock()
		n := len(acks)
		mu.Unlock()
		if n > 40000 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.kill()
	close(stop)
	wg.Wait()
	cl.Close()

	mu.Lock()
	want := append([]acked(nil), acks...)
	mu.Unlock()
	t.Logf("%d records acknowledged before SIGKILL", len(want))

	p = startProc(t, bin, dir, port, cport)
	cons, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.ConsumeTopics("crash"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	adm := kadm.NewClient(cons)
	ends, err := adm.ListEndOffsets(ctx, "crash")
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	starts, _ := adm.ListStartOffsets(ctx, "crash")
	starts.Each(func(o kadm.ListedOffset) {
		e, _ := ends.Lookup("crash", o.Partition)
		t.Logf("partition %d after restart: start %d end %d", o.Partition, o.Offset, e.Offset)
	})
	got := map[[2]int64]string{}
	for int64(len(got)) < total {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records after restart", len(got), total)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		fs.EachRecord(func(r *kgo.Record) {
			k := [2]int64{int64(r.Partition), r.Offset}
			if _, dup := got[k]; dup {
				t.Fatalf("offset %v read twice", k)
			}
			got[k] = string(r.Value)
		})
	}
	for _, a := range want {
		v, ok := got[[2]int64{int64(a.part), a.off}]
		if !ok {
			t.Fatalf("acknowledged record at partition %d offset %d lost", a.part, a.off)
		}
		if v != a.value {
			t.Fatalf("partition %d offset %d holds another value after restart", a.part, a.off)
		}
	}

	// the log goes on after the recovered tail
	pcl, err := kgo.NewClient(kgo.SeedBrokers(p.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	r := &kgo.Record{Topic: "crash", Value: []byte("after")}
	if err := pcl.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if end, _ := ends.Lookup("crash", r.Partition); r.Offset != end.Offset {
		t.Fatalf("first record after restart got offset %d, want %d", r.Offset, end.Offset)
	}
}
