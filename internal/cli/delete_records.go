package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
)

func init() {
	Register(&Command{
		Name:    "delete-records",
		Summary: "move partitions' log start offsets forward (kafka-delete-records.sh)",
		Kafka:   "kafka-delete-records.sh",
		Run:     runDeleteRecords,
	})
}

const deleteRecordsSynopsis = `  samsa delete-records --bootstrap-server HOST:PORT --offset-json-file FILE
  Deletes the records before the given offset of each partition (offset -1
  means the high watermark: everything). The file is Kafka's format:
    {"partitions":[{"topic":"events","partition":0,"offset":10}],"version":1}
  Prints each partition's new low watermark, or its error; exits non-zero
  if any partition failed.`

const deleteRecordsExamples = `  echo '{"partitions":[{"topic":"events","partition":0,"offset":10}],"version":1}' > offsets.json
  samsa delete-records --bootstrap-server 127.0.0.1:9092 --offset-json-file offsets.json`

type deleteRecordsFile struct {
	Version    *int `json:"version"`
	Partitions []struct {
		Topic     *string `json:"topic"`
		Partition *int32  `json:"partition"`
		Offset    *int64  `json:"offset"`
	} `json:"partitions"`
}

// parseDeleteRecordsJSON parses Kafka's offsets file into kadm offsets,
// rejecting duplicates and missing fields.
func parseDeleteRecordsJSON(data []byte) (kadm.Offsets, error) {
	var f deleteRecordsFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("the offset json file is not valid JSON: %v", err)
	}
	if f.Version != nil && *f.Version != 1 {
		return nil, fmt.Errorf("not supported offset json file version %d", *f.Version)
	}
	if f.Partitions == nil {
		return nil, errors.New(`the offset json file has no "partitions" list`)
	}
	os := make(kadm.Offsets)
	for i, p := range f.Partitions {
		if p.Topic == nil || p.Partition == nil || p.Offset == nil {
			return nil, fmt.Errorf("partition entry %d needs topic, partition and offset", i)
		}
		if _, dup := os.Lookup(*p.Topic, *p.Partition); dup {
			return nil, fmt.Errorf("offset json file contains duplicate topic partitions: %s-%d", *p.Topic, *p.Partition)
		}
		if *p.Offset < -1 {
			return nil, fmt.Errorf("invalid offset %d for %s-%d", *p.Offset, *p.Topic, *p.Partition)
		}
		os.Add(kadm.Offset{Topic: *p.Topic, Partition: *p.Partition, At: *p.Offset, LeaderEpoch: -1})
	}
	return os, nil
}

func runDeleteRecords(args []string, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var c conn
		var file string
		fs := newFlagSet("delete-records", deleteRecordsSynopsis, deleteRecordsExamples)
		c.addConnFlags(fs, "timeout", "command-config")
		fs.String(&file, "offset-json-file", "file", "REQUIRED: the partitions and offsets, in Kafka's JSON format")
		if err := fs.parse(args, stdout); err != nil {
			return err
		}
		if file == "" {
			return errors.New("option --offset-json-file is required")
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("reading --offset-json-file: %w", err)
		}
		offsets, err := parseDeleteRecordsJSON(data)
		if err != nil {
			return err
		}
		adm, ctx, done, err := c.adminSession(stderr)
		if err != nil {
			return err
		}
		defer done()
		fmt.Fprintln(stdout, "Executing records delete operation")
		resps, err := adm.DeleteRecords(ctx, offsets)
		if err != nil && len(resps) == 0 {
			return c.describeErr("deleting records", err)
		}
		fmt.Fprintln(stdout, "Records delete operation completed:")
		var list []kadm.Offset
		offsets.Each(func(o kadm.Offset) { list = append(list, o) })
		sort.Slice(list, func(i, j int) bool {
			if list[i].Topic != list[j].Topic {
				return list[i].Topic < list[j].Topic
			}
			return list[i].Partition < list[j].Partition
		})
		failed := 0
		for _, o := range list {
			r, ok := resps.Lookup(o.Topic, o.Partition)
			switch {
			case !ok:
				failed++
				msg := "no response"
				if err != nil {
					msg = oneLine(err)
				}
				fmt.Fprintf(stdout, "partition: %s-%d\terror: %s\n", o.Topic, o.Partition, msg)
			case r.Err != nil:
				failed++
				fmt.Fprintf(stdout, "partition: %s-%d\terror: %s\n", o.Topic, o.Partition, kafkaErr(r.Err, ""))
			default:
				fmt.Fprintf(stdout, "partition: %s-%d\tlow_watermark: %d\n", o.Topic, o.Partition, r.LowWatermark)
			}
		}
		if failed > 0 {
			return fmt.Errorf("deleting records failed for %d of %d partitions", failed, len(list))
		}
		return nil
	})
}
