package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

func init() {
	Register(&Command{
		Name:    "get-offsets",
		Summary: "print the earliest, latest or by-time offsets of partitions (kafka-get-offsets.sh)",
		Kafka:   "kafka-get-offsets.sh",
		Run:     runGetOffsets,
	})
}

const getOffsetsSynopsis = `  samsa get-offsets --bootstrap-server HOST:PORT [--topic REGEX] [--partitions LIST] [--time T]
  Prints one topic:partition:offset line per partition, sorted.
  --time is -1 or latest (the default: the high watermark), -2 or earliest
  (the log start offset), -3 or max-timestamp (the record with the largest
  timestamp), -4 or earliest-local, -5 or latest-tiered, or a timestamp in
  milliseconds (the first offset whose timestamp is at or after it; the end
  offset when there is none). An offset the broker cannot give prints empty.`

const getOffsetsExamples = `  samsa get-offsets --bootstrap-server 127.0.0.1:9092 --topic events
  samsa get-offsets --topic events --time earliest
  samsa get-offsets --topic 'events.*' --partitions 0,2-3 --time 1700000000000
  samsa get-offsets --topic-partitions events:0-1,audit --time -1`

// offsetSpec is a --time value.
type offsetSpec struct {
	name string // latest, earliest, max-timestamp, earliest-local, latest-tiered, or "" for a timestamp
	ms   int64
}

func parseOffsetTime(s string) (offsetSpec, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "-1", "latest":
		return offsetSpec{name: "latest"}, nil
	case "-2", "earliest":
		return offsetSpec{name: "earliest"}, nil
	case "-3", "max-timestamp":
		return offsetSpec{name: "max-timestamp"}, nil
	case "-4", "earliest-local":
		return offsetSpec{name: "earliest-local"}, nil
	case "-5", "latest-tiered":
		return offsetSpec{name: "latest-tiered"}, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return offsetSpec{}, fmt.Errorf("option --time: %q is not -1, -2, -3, -4, -5, a name (latest, earliest, max-timestamp, earliest-local, latest-tiered) or a timestamp in ms", s)
	}
	return offsetSpec{ms: n}, nil
}

// partitionFilter selects partitions of matching topics: a topic regex (or
// nil for any) and a partition predicate.
type partitionFilter struct {
	topic *regexp.Regexp
	parts func(int32) bool
}

// parsePartitionsSpec parses "0,2-4,7-" (open ranges allowed, "-3" means up to 3).
func parsePartitionsSpec(s string) (func(int32) bool, error) {
	if strings.TrimSpace(s) == "" {
		return func(int32) bool { return true }, nil
	}
	type rng struct{ lo, hi int64 }
	var rs []rng
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		var r rng
		var err error
		if !isRange {
			if r.lo, err = strconv.ParseInt(part, 10, 32); err != nil || r.lo < 0 {
				return nil, fmt.Errorf("invalid partition %q", part)
			}
			r.hi = r.lo
		} else {
			r.lo, r.hi = 0, 1<<31-1
			if lo != "" {
				if r.lo, err = strconv.ParseInt(lo, 10, 32); err != nil {
					return nil, fmt.Errorf("invalid partition range %q", part)
				}
			}
			if hi != "" {
				if r.hi, err = strconv.ParseInt(hi, 10, 32); err != nil || r.hi < r.lo {
					return nil, fmt.Errorf("invalid partition range %q", part)
				}
			}
		}
		rs = append(rs, r)
	}
	return func(p int32) bool {
		for _, r := range rs {
			if int64(p) >= r.lo && int64(p) <= r.hi {
				return true
			}
		}
		return false
	}, nil
}

// parseTopicPartitions parses --topic-partitions "t1:0-2,t2,t3:1"; the
// topic part is a regular expression.
func parseTopicPartitions(s string) ([]partitionFilter, error) {
	var out []partitionFilter
	// As in Kafka, each comma-separated entry is TOPIC[:RANGE] with one
	// partition or range (N, N-M, N-, -M).
	entries := strings.Split(s, ",")
	for _, e := range entries {
		topic, parts, _ := strings.Cut(e, ":")
		var f partitionFilter
		var err error
		if strings.TrimSpace(topic) != "" {
			if f.topic, err = topicFilter(topic); err != nil {
				return nil, err
			}
		}
		if f.parts, err = parsePartitionsSpec(parts); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func runGetOffsets(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var (
			c                               conn
			topic, partitions, tps, timeArg string
			excludeInternal                 bool
		)
		fs := newFlagSet("get-offsets", getOffsetsSynopsis, getOffsetsExamples)
		c.addConnFlags(fs, "timeout", "command-config")
		c.addBrokerListFlag(fs)
		fs.String(&topic, "topic", "regex", "the topics (a regular expression; default all)")
		fs.String(&partitions, "partitions", "list", "partitions, e.g. 0,2-4 (default all)")
		fs.String(&tps, "topic-partitions", "t:p,...", "topic:partitions entries, e.g. events:0-1,audit (not with --topic or --partitions)")
		fs.String(&timeArg, "time", "t", "-1/latest (default), -2/earliest, -3/max-timestamp, -4, -5 or a timestamp in ms")
		fs.Bool(&excludeInternal, "exclude-internal-topics", "leave internal topics out")
		if err := fs.parseNoArgs(args, stdout); err != nil {
			return err
		}
		spec := offsetSpec{name: "latest"}
		if timeArg != "" {
			var err error
			if spec, err = parseOffsetTime(timeArg); err != nil {
				return err
			}
		}
		var filters []partitionFilter
		if tps != "" {
			if topic != "" || partitions != "" {
				return errors.New("option --topic-partitions cannot be used with --topic or --partitions")
			}
			var err error
			if filters, err = parseTopicPartitions(tps); err != nil {
				return err
			}
		} else {
			re, err := topicFilter(topic)
			if err != nil {
				return err
			}
			pf, err := parsePartitionsSpec(partitions)
			if err != nil {
				return err
			}
			filters = []partitionFilter{{topic: re, parts: pf}}
		}
		adm, ctx, done, err := c.adminSession(stderr)
		if err != nil {
			return err
		}
		defer done()
		tds, err := adm.ListTopicsWithInternal(ctx)
		if err != nil {
			return c.describeErr("listing topics", err)
		}
		type tp struct {
			t string
			p int32
		}
		want := map[tp]bool{}
		var topics []string
		for _, td := range tds.Sorted() {
			if excludeInternal && (td.IsInternal || internalTopics[td.Topic]) {
				continue
			}
			matched := false
			for _, p := range td.Partitions.Numbers() {
				for _, f := range filters {
					if (f.topic == nil || f.topic.MatchString(td.Topic)) && f.parts(p) {
						want[tp{td.Topic, p}] = true
						matched = true
					}
				}
			}
			if matched {
				topics = append(topics, td.Topic)
			}
		}
		if len(want) == 0 {
			return errors.New("could not match any topic-partitions with the specified filters")
		}
		listed, err := listOffsets(ctx, adm, spec, topics)
		if err != nil {
			return c.describeErr("listing offsets", err)
		}
		var keys []tp
		for k := range want {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].t != keys[j].t {
				return keys[i].t < keys[j].t
			}
			return keys[i].p < keys[j].p
		})
		var failed []string
		for _, k := range keys {
			lo, ok := listed.Lookup(k.t, k.p)
			if !ok || lo.Err != nil {
				if ok {
					failed = append(failed, fmt.Sprintf("%s-%d: %s", k.t, k.p, kafkaErr(lo.Err, "")))
				}
				continue
			}
			off := ""
			if lo.Offset >= 0 {
				off = strconv.FormatInt(lo.Offset, 10)
			}
			fmt.Fprintf(stdout, "%s:%d:%s\n", k.t, k.p, off)
		}
		if len(failed) > 0 {
			return fmt.Errorf("listing offsets failed for %s", strings.Join(failed, "; "))
		}
		return nil
	})
}

func listOffsets(ctx context.Context, adm *kadm.Client, spec offsetSpec, topics []string) (kadm.ListedOffsets, error) {
	switch spec.name {
	case "latest":
		return adm.ListEndOffsets(ctx, topics...)
	case "earliest":
		return adm.ListStartOffsets(ctx, topics...)
	case "max-timestamp":
		return adm.ListMaxTimestampOffsets(ctx, topics...)
	case "earliest-local":
		return adm.ListLocalLogStartOffsets(ctx, topics...)
	case "latest-tiered":
		return adm.ListLatestRemoteOffsets(ctx, topics...)
	default:
		return adm.ListOffsetsAfterMilli(ctx, spec.ms, topics...)
	}
}
