package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func init() {
	Register(&Command{
		Name:    "leader-election",
		Summary: "elect preferred or unclean leaders (kafka-leader-election.sh)",
		Kafka:   "kafka-leader-election.sh",
		Run:     runLeaderElection,
	})
}

const leaderElectionSynopsis = `  samsa leader-election --bootstrap-server HOST:PORT --election-type preferred|unclean
      (--topic T --partition P | --all-topic-partitions | --path-to-json-file FILE)
  Asks the controller to elect leaders: "preferred" moves leadership back to
  each partition's first replica when it is live and in the ISR; "unclean"
  gives a partition with no leader any live replica, even one outside the
  ISR, at the risk of losing records. The JSON file is Kafka's:
    {"partitions": [{"topic": "foo", "partition": 1}]}
  Prints, as Kafka does, the partitions elected, those whose leader was
  already the right one, and the failures; exits non-zero on a failure.`

const leaderElectionExamples = `  samsa leader-election --bootstrap-server 127.0.0.1:9092 --election-type preferred --all-topic-partitions
  samsa leader-election --bootstrap-server 127.0.0.1:9092 --election-type unclean --topic events --partition 0`

type electionFile struct {
	Partitions []struct {
		Topic     *string `json:"topic"`
		Partition *int32  `json:"partition"`
	} `json:"partitions"`
}

func parseElectionJSON(data []byte) (kadm.TopicsSet, error) {
	var f electionFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("the partitions json file is not valid JSON: %v", err)
	}
	if f.Partitions == nil {
		return nil, errors.New(`the partitions json file has no "partitions" list`)
	}
	s := kadm.TopicsSet{}
	for i, p := range f.Partitions {
		if p.Topic == nil || p.Partition == nil {
			return nil, fmt.Errorf("partition entry %d needs topic and partition", i)
		}
		if s.Lookup(*p.Topic, *p.Partition) {
			return nil, fmt.Errorf("replica election data contains duplicate partitions: %s-%d", *p.Topic, *p.Partition)
		}
		s.Add(*p.Topic, *p.Partition)
	}
	if len(s) == 0 {
		return nil, errors.New("the partitions json file lists no partition")
	}
	return s, nil
}

func runLeaderElection(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var c conn
		var typ, topic, file string
		var partition int
		var all bool
		fs := newFlagSet("leader-election", leaderElectionSynopsis, leaderElectionExamples)
		c.addConnFlags(fs, "timeout", "admin.config")
		fs.String(&typ, "election-type", "type", "REQUIRED: preferred or unclean")
		fs.String(&topic, "topic", "topic", "the topic of the one partition to elect")
		fs.Int(&partition, "partition", "id", "the partition to elect (with --topic)")
		fs.Bool(&all, "all-topic-partitions", "every partition that needs the election")
		fs.String(&file, "path-to-json-file", "file", "the partitions to elect, in Kafka's JSON format")
		if err := fs.parse(args, stdout); err != nil {
			return err
		}
		var how kadm.ElectLeadersHow
		var name string
		switch strings.ToLower(typ) {
		case "preferred":
			how, name = kadm.ElectPreferredReplica, "PREFERRED"
		case "unclean":
			how, name = kadm.ElectLiveReplica, "UNCLEAN"
		case "":
			return errors.New("missing required option(s): --election-type")
		default:
			return fmt.Errorf("--election-type %q: use preferred or unclean", typ)
		}
		n := 0
		for _, set := range []bool{fs.Has("topic"), all, fs.Has("path-to-json-file")} {
			if set {
				n++
			}
		}
		if n != 1 {
			return errors.New("one and only one of the following options is required: --topic, --all-topic-partitions, --path-to-json-file")
		}
		if fs.Has("topic") != fs.Has("partition") {
			if fs.Has("topic") {
				return errors.New("missing required option(s): --partition")
			}
			return errors.New("option --partition is only allowed if --topic is used")
		}
		var parts kadm.TopicsSet // nil: all
		switch {
		case fs.Has("topic"):
			parts = kadm.TopicsSet{}
			parts.Add(topic, int32(partition))
		case file != "":
			data, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("reading --path-to-json-file: %w", err)
			}
			if parts, err = parseElectionJSON(data); err != nil {
				return err
			}
		}
		adm, ctx, done, err := c.adminSession(stderr)
		if err != nil {
			return err
		}
		defer done()
		res, err := adm.ElectLeaders(ctx, how, parts)
		if err != nil {
			return c.describeErr("electing leaders", err)
		}
		var elected, noop, failed []kadm.ElectLeadersResult
		for _, ps := range res {
			for _, r := range ps {
				switch {
				case r.Err == nil:
					elected = append(elected, r)
				case errors.Is(r.Err, kerr.ElectionNotNeeded):
					noop = append(noop, r)
				default:
					failed = append(failed, r)
				}
			}
		}
		list := func(rs []kadm.ElectLeadersResult) string {
			sort.Slice(rs, func(i, j int) bool {
				if rs[i].Topic != rs[j].Topic {
					return rs[i].Topic < rs[j].Topic
				}
				return rs[i].Partition < rs[j].Partition
			})
			names := make([]string, len(rs))
			for i, r := range rs {
				names[i] = fmt.Sprintf("%s-%d", r.Topic, r.Partition)
			}
			return strings.Join(names, ", ")
		}
		if len(elected) > 0 {
			fmt.Fprintf(stdout, "Successfully completed leader election (%s) for partitions %s\n", name, list(elected))
		}
		if len(noop) > 0 {
			fmt.Fprintf(stdout, "Valid replica already elected for partitions %s\n", list(noop))
		}
		if len(failed) > 0 {
			list(failed)
			for _, r := range failed {
				fmt.Fprintf(stdout, "Error completing leader election (%s) for partition: %s-%d: %s\n", name, r.Topic, r.Partition, kafkaErr(r.Err, r.ErrMessage))
			}
			return fmt.Errorf("%d replica(s) could not be elected", len(failed))
		}
		return nil
	})
}
