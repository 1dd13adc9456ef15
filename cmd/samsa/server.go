package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/samsa-streaming/samsa/internal/broker"
	"github.com/samsa-streaming/samsa/internal/config"
)

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runServer(args []string) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: samsa server [--config FILE] [--override key=value ...]

Runs a broker. The config file uses Kafka's server.properties format and
names; --override sets one property and wins over the file. Without a file the
broker is a single node (broker and controller) on 127.0.0.1:9092 with its
data under ./samsa-data.

Examples:
  samsa server
  samsa server --config config/server.properties
  samsa server --override log.dirs=/var/lib/samsa --override num.partitions=3

Flags:
`)
		fs.PrintDefaults()
	}
	var cfgPath, logLevel string
	var overrides multiFlag
	fs.StringVar(&cfgPath, "config", "", "server.properties `file` (optional)")
	fs.Var(&overrides, "override", "set a property, `key=value` (repeatable)")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	// Kafka's kafka-server-start.sh takes the properties file as its
	// first argument; accept that too.
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cfgPath, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	cfg, err := config.LoadBroker(cfgPath, overrides)
	if err != nil {
		return err
	}
	srv, err := broker.New(cfg, broker.Options{Logger: logger})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = srv.Serve(startCtx)
	cancel()
	if err != nil {
		srv.Close()
		return err
	}
	<-ctx.Done()
	logger.Info("shutting down")
	return srv.Close()
}
