package broker

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The child consumer of TestGroupMemberKilled: the test binary re-executed
// with these variables set runs only TestGroupChildConsumer, which
// consumes in the group and prints the partitions it owns.
const (
	childAddrEnv  = "SAMSA_GROUP_CHILD_ADDR"
	childGroupEnv = "SAMSA_GROUP_CHILD_GROUP"
	childTopicEnv = "SAMSA_GROUP_CHILD_TOPIC"
)

const killedSessionTimeout = 3 * time.Second

func TestGroupChildConsumer(t *testing.T) {
	addr := os.Getenv(childAddrEnv)
	if addr == "" {
		t.Skip("runs only as the child process of TestGroupMemberKilled")
	}
	topic := os.Getenv(childTopicEnv)
	var mu sync.Mutex
	owned := map[int32]bool{}
	report := func() {
		var ps []string
		for p := range owned {
			ps = append(ps, strconv.Itoa(int(p)))
		}
		sort.Strings(ps)
		fmt.Printf("OWNED %s\n", strings.Join(ps, ","))
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumerGroup(os.Getenv(childGroupEnv)),
		kgo.ConsumeTopics(topic),
		kgo.SessionTimeout(killedSessionTimeout),
		kgo.HeartbeatInterval(200*time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range a[topic] {
				owned[p] = true
			}
			report()
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range r[topic] {
				delete(owned, p)
			}
			report()
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	for {
		cl.PollFetches(context.Background()) // until killed
	}
}

// TestGroupMemberKilled kills (SIGKILL) a consumer process of a group of
// three and checks that its partitions move to the two others within the
// session timeout.
func TestGroupMemberKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	tb := groupBroker(t)
	createTopic(t, tb, "killed", 6, nil)
	a := startMember(t, tb, "a", "kill-group", "killed", kgo.SessionTimeout(killedSessionTimeout))
	b := startMember(t, tb, "b", "kill-group", "killed", kgo.SessionTimeout(killedSessionTimeout))

	cmd := exec.Command(os.Args[0], "-test.run=^TestGroupChildConsumer$")
	cmd.Env = append(os.Environ(), childAddrEnv+"="+tb.srv.Addr(), childGroupEnv+"=kill-group", childTopicEnv+"=killed")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	child := &groupMember{name: "child", owned: map[int32]bool{}}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "OWNED ")
			if !ok {
				continue
			}
			child.mu.Lock()
			child.owned = map[int32]bool{}
			for _, f := range strings.Split(line, ",") {
				if p, err := strconv.Atoi(f); err == nil {
					child.owned[int32(p)] = true
				}
			}
			child.mu.Unlock()
		}
	}()
	waitSplit(t, 6, 2, a, b, child)

	killed := time.Now()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitSplit(t, 6, 3, a, b)
	took := time.Since(killed)
	// The session must expire first; after that, the survivors learn of
	// the rebalance at their next heartbeat and rejoin at once.
	if took > killedSessionTimeout+3*time.Second {
		t.Fatalf("partitions of the killed member moved after %v, session timeout %v", took, killedSessionTimeout)
	}
	t.Logf("partitions moved %v after SIGKILL (session timeout %v)", took, killedSessionTimeout)
}
