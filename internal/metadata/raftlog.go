package metadata

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter sends hashicorp/raft's logging to slog. Raft is chatty at
// info level (every state change, every snapshot), so its Info and Debug
// lines become slog Debug and its Trace lines are dropped; Warn and Error
// keep their level. The node logs controller changes itself at Info.
//
// Raft logs an Error for every failed RPC to an unreachable peer, every few
// milliseconds while a voter is down: those (peerErrors) are logged as a
// Warn at most once per peer and message every peerErrorEvery, with the
// count of the ones left out.
type hclogAdapter struct {
	l       *slog.Logger
	name    string
	implied []any
	level   *atomic.Int32 // hclog.Level; shared by With/Named copies
	quiet   *peerErrorLimiter
}

func newHCLogAdapter(l *slog.Logger) hclog.Logger {
	lvl := &atomic.Int32{}
	lvl.Store(int32(hclog.Debug))
	return &hclogAdapter{l: l, name: "raft", level: lvl, quiet: &peerErrorLimiter{last: map[string]peerErrorState{}}}
}

// peerErrors are raft's messages about a peer it cannot reach.
var peerErrors = map[string]bool{
	"failed to heartbeat to":         true,
	"failed to appendEntries to":     true,
	"failed to make requestVote RPC": true,
	"failed to contact":              true,
}

const peerErrorEvery = 10 * time.Second

type peerErrorLimiter struct {
	mu   sync.Mutex
	last map[string]peerErrorState
}

type peerErrorState struct {
	at      time.Time
	dropped int
}

// admit reports whether a peer error is logged now, and how many like it
// were left out since the last one.
func (q *peerErrorLimiter) admit(msg string, args []any) (bool, int) {
	key := msg
	for i := 0; i+1 < len(args); i += 2 {
		if k, _ := args[i].(string); k == "peer" || k == "target" || k == "server-id" {
			key += " " + fmt.Sprint(args[i+1])
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	st := q.last[key]
	now := time.Now()
	if now.Sub(st.at) < peerErrorEvery {
		st.dropped++
		q.last[key] = st
		return false, 0
	}
	q.last[key] = peerErrorState{at: now}
	return true, st.dropped
}

func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelDebug
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	if level == hclog.Off || level <= hclog.Trace || level < hclog.Level(a.level.Load()) {
		return
	}
	sl := slogLevel(level)
	if peerErrors[msg] {
		ok, dropped := a.quiet.admit(msg, args)
		if !ok {
			return
		}
		sl = slog.LevelWarn
		if dropped > 0 {
			args = append(args, "repeated", dropped)
		}
	}
	ctx := context.Background()
	if !a.l.Enabled(ctx, sl) {
		return
	}
	all := make([]any, 0, len(a.implied)+len(args)+2)
	all = append(all, "component", a.name)
	all = append(all, a.implied...)
	all = append(all, args...)
	a.l.Log(ctx, sl, msg, all...)
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) enabled(level hclog.Level) bool {
	return level >= hclog.Level(a.level.Load()) && a.l.Enabled(context.Background(), slogLevel(level))
}

func (a *hclogAdapter) IsTrace() bool { return false }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

func (a *hclogAdapter) ImpliedArgs() []any { return a.implied }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.implied = append(append([]any(nil), a.implied...), args...)
	return &c
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	c := *a
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

func (a *hclogAdapter) SetLevel(level hclog.Level) { a.level.Store(int32(level)) }
func (a *hclogAdapter) GetLevel() hclog.Level      { return hclog.Level(a.level.Load()) }

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	level := slog.LevelDebug
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = slogLevel(opts.ForceLevel)
	}
	return slog.NewLogLogger(a.l.With("component", a.name).Handler(), level).Writer()
}
