package replica

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/scripttest"
)

// TestLeaderScripts runs the scenarios of testdata/leader_*.txt against
// leaderState. The harness plays the part of Partition around it: it
// keeps the leader's log end offset and high watermark, moves the high
// watermark after every call that may move it (never back, as
// Partition.advanceHWLocked does) and, after a follower fetch or an ISR
// check, proposes the ISR change isrChange asks for, as
// Partition.maybeProposeLocked does. Time is given as t=<duration since
// the scenario's start> and stays until a command moves it.
//
// Commands:
//
//	become-leader self= replicas= isr= leader-epoch= partition-epoch= leo= hw= lag= [t=]
//	append n= [t=]                       the leader appends n records
//	fetch id= offset= [t=]               a follower fetch
//	check [t=]                           the periodic ISR check
//	alter-done [leader-epoch=] [partition-epoch=] [isr=] [err=]
//	                                     the AlterPartition answer; by
//	                                     default the pending ISR committed
//	                                     at the next partition epoch; err
//	                                     is a Kafka error name or timeout
//	metadata [replicas=] isr= partition-epoch= [t=]
//	unusable ids=                        brokers that may not join an ISR
//	progress                             the followers' fetch state
//
// Every command but progress prints the state: the high watermark, the
// log end offset and leaderState.String, after a line for a proposal or
// an error when there is one.
func TestLeaderScripts(t *testing.T) {
	scripttest.RunFiles(t, "testdata/leader_*.txt", func(t *testing.T, path string) {
		h := &leaderHarness{base: time.Unix(1_000_000, 0), unusable: map[int32]bool{}}
		scripttest.Run(t, path, h.run)
	})
}

type leaderHarness struct {
	ls       *leaderState
	base     time.Time
	now      time.Time
	leo, hw  int64
	unusable map[int32]bool
}

func (h *leaderHarness) run(c *scripttest.Case) string {
	if c.Cmd != "become-leader" && h.ls == nil && c.Cmd != "unusable" {
		c.Fatalf("no leader yet: start with become-leader")
	}
	if d := c.DurationOr("t", -1); d >= 0 {
		h.now = h.base.Add(d)
	}
	var out strings.Builder
	switch c.Cmd {
	case "become-leader":
		h.leo, h.hw = c.Int("leo"), c.Int("hw")
		h.ls = newLeaderState(int32(c.Int("self")), c.Int32s("replicas"), c.Int32s("isr"),
			int32(c.Int("leader-epoch")), int32(c.Int("partition-epoch")), h.leo, c.Duration("lag"), h.now)
		h.advanceHW()
	case "append":
		h.leo += c.Int("n")
		h.advanceHW()
	case "fetch":
		if err := h.ls.followerFetch(int32(c.Int("id")), c.Int("offset"), h.leo, h.now); err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
			break
		}
		h.advanceHW()
		h.maybePropose(&out)
	case "check":
		h.maybePropose(&out)
	case "alter-done":
		var err error
		if name := c.StringOr("err", ""); name != "" {
			err = kafkaError(c, name)
		}
		h.ls.alterDone(int32(c.IntOr("leader-epoch", int64(h.ls.leaderEpoch))),
			int32(c.IntOr("partition-epoch", int64(h.ls.partitionEpoch)+1)),
			c.Int32sOr("isr", h.ls.pending), err)
		h.advanceHW()
	case "metadata":
		h.ls.updateMetadata(c.Int32sOr("replicas", h.ls.replicas), c.Int32s("isr"), int32(c.Int("partition-epoch")), h.now)
		h.advanceHW()
	case "unusable":
		clear(h.unusable)
		for _, id := range c.Int32s("ids") {
			h.unusable[id] = true
		}
		return ""
	case "progress":
		return h.progress()
	default:
		c.Fatalf("unknown command")
	}
	fmt.Fprintf(&out, "hw=%d leo=%d %s", h.hw, h.leo, h.ls)
	return out.String()
}

// advanceHW is Partition.advanceHWLocked.
func (h *leaderHarness) advanceHW() {
	if hw := h.ls.highWatermark(h.leo, h.hw); hw > h.hw {
		h.hw = hw
	}
}

// maybePropose is Partition.maybeProposeLocked.
func (h *leaderHarness) maybePropose(out *strings.Builder) {
	isr := h.ls.isrChange(h.hw, h.now, func(id int32) bool { return !h.unusable[id] })
	if isr == nil {
		return
	}
	h.ls.propose(isr)
	fmt.Fprintf(out, "propose isr=%v\n", isr)
}

// progress renders each follower's fetch state, times as offsets from the
// scenario's start ("never" for none).
func (h *leaderHarness) progress() string {
	at := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Sub(h.base).String()
	}
	var b strings.Builder
	ids := make([]int32, 0, len(h.ls.followers))
	for id := range h.ls.followers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		pr := h.ls.followers[id]
		fmt.Fprintf(&b, "%d: leo=%d last-fetch=%s leader-leo-then=%d caught-up=%s\n",
			id, pr.leo, at(pr.lastFetch), pr.lastFetchLeaderLEO, at(pr.lastCaughtUp))
	}
	return b.String()
}

// kafkaError is the error an AlterPartition answer carries as the replica
// manager gets it: a Kafka error by name (from the controller's answer) or
// "timeout" (no answer: the request's outcome is unknown).
func kafkaError(c *scripttest.Case, name string) error {
	if name == "timeout" {
		return context.DeadlineExceeded
	}
	for code := int16(1); code < 200; code++ {
		var ke *kerr.Error
		if errors.As(kerr.ErrorForCode(code), &ke) && ke.Message == name {
			return ke
		}
	}
	c.Fatalf("unknown Kafka error %s", name)
	return nil
}
