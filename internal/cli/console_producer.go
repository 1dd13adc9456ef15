package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	Register(&Command{
		Name:    "console-producer",
		Summary: "produce lines from stdin or a file as records (kafka-console-producer.sh)",
		Kafka:   "kafka-console-producer.sh",
		Run: func(args []string, stdout, stderr io.Writer) error {
			return runConsoleProducer(args, os.Stdin, stdout, stderr)
		},
	})
}

const producerSynopsis = `  samsa console-producer --bootstrap-server HOST:PORT --topic TOPIC [options] < lines
  Each line is one record. With --property parse.key=true a line is
  KEY<key.separator>VALUE; with parse.headers=true it starts with
  h1:v1,h2:v2<headers.delimiter>. The producer is idempotent with acks=all
  unless told otherwise, and exits non-zero if any record was not delivered.

  Reader properties (--property name=value), as Kafka's LineMessageReader:
    parse.key (false), key.separator (\t), parse.headers (false),
    headers.delimiter (\t), headers.separator (,), headers.key.separator (:),
    null.marker (none: a key, value or header value equal to it is sent as
    null), ignore.error (false: a line without a separator is an error)`

const producerExamples = `  samsa console-producer --bootstrap-server 127.0.0.1:9092 --topic events
  printf 'k1:hello\nk2:world\n' | samsa console-producer --topic events --property parse.key=true --property key.separator=:
  printf 'trace:abc\tk1\tv1\n' | samsa console-producer --topic events --property parse.headers=true --property parse.key=true
  samsa console-producer --topic events --file events.txt --compression-codec zstd --request-required-acks 1
  samsa console-producer --topic events --partition 2 --producer-property linger.ms=50`

// lineReader turns input lines into records, as Kafka's LineMessageReader.
type lineReader struct {
	parseKey, parseHeaders, ignoreError bool
	keySep, headersDelim, headersSep    string
	headerKeySep                        string
	nullMarker                          string
	hasNullMarker                       bool
}

func newLineReader(p *props) (*lineReader, error) {
	r := &lineReader{
		keySep:       unescapeSeparator(p.getOr("key.separator", "\t")),
		headersDelim: unescapeSeparator(p.getOr("headers.delimiter", "\t")),
		headersSep:   unescapeSeparator(p.getOr("headers.separator", ",")),
		headerKeySep: unescapeSeparator(p.getOr("headers.key.separator", ":")),
	}
	var err error
	if r.parseKey, err = p.bool("parse.key", false); err != nil {
		return nil, err
	}
	if r.parseHeaders, err = p.bool("parse.headers", false); err != nil {
		return nil, err
	}
	if r.ignoreError, err = p.bool("ignore.error", false); err != nil {
		return nil, err
	}
	r.nullMarker, r.hasNullMarker = p.get("null.marker")
	if r.hasNullMarker && r.nullMarker == "" {
		return nil, errors.New("null.marker must not be empty")
	}
	if r.parseHeaders && r.headersDelim == r.headersSep {
		return nil, errors.New("headers.delimiter and headers.separator may not be equal")
	}
	if r.parseHeaders && r.headersSep == r.headerKeySep {
		return nil, errors.New("headers.separator and headers.key.separator may not be equal")
	}
	return r, nil
}

func (r *lineReader) bytes(s string) []byte {
	if r.hasNullMarker && s == r.nullMarker {
		return nil
	}
	return []byte(s)
}

// record parses one line (without its line ending); n is its number for
// error messages.
func (r *lineReader) record(line string, n int) (*kgo.Record, error) {
	rec := &kgo.Record{}
	if r.parseHeaders {
		i := strings.Index(line, r.headersDelim)
		if i < 0 {
			if !r.ignoreError {
				return nil, fmt.Errorf("no headers delimiter found on line number %d: '%s'", n, line)
			}
		} else {
			hs := line[:i]
			line = line[i+len(r.headersDelim):]
			if hs != "" {
				for _, h := range strings.Split(hs, r.headersSep) {
					k, v, ok := strings.Cut(h, r.headerKeySep)
					if r.hasNullMarker && k == r.nullMarker {
						return nil, fmt.Errorf("header keys cannot be equal to the null marker '%s' on line number %d", r.nullMarker, n)
					}
					hdr := kgo.RecordHeader{Key: k}
					if ok {
						hdr.Value = r.bytes(v)
					}
					rec.Headers = append(rec.Headers, hdr)
				}
			}
		}
	}
	if r.parseKey {
		i := strings.Index(line, r.keySep)
		if i < 0 {
			if !r.ignoreError {
				return nil, fmt.Errorf("no key separator found on line number %d: '%s'", n, line)
			}
			rec.Value = r.bytes(line)
			return rec, nil
		}
		rec.Key = r.bytes(line[:i])
		line = line[i+len(r.keySep):]
	}
	rec.Value = r.bytes(line)
	return rec, nil
}

func runConsoleProducer(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runTool(func() error {
		var (
			c                             conn
			topic, file, acks, codec      string
			readerProps, producerProps    []string
			partition, maxBlockMs         = -1, -1
			syncSend                      bool
			readerConfig, lineReaderClass string
			ignored                       int
			set                           = map[string]string{} // producer properties set by options
		)
		fs := newFlagSet("console-producer", producerSynopsis, producerExamples)
		c.addConnFlags(fs, "", "producer.config", "command-config")
		fs.String(&topic, "topic", "topic", "REQUIRED: the topic to produce to")
		fs.String(&file, "file", "path", "read lines from this file instead of stdin (Samsa extra)")
		fs.Int(&partition, "partition", "n", "send every record to this partition (Samsa extra; default: the key's partition)")
		fs.String(&acks, "request-required-acks", "acks", "acks: all, -1, 1 or 0 (default all)")
		fs.String(&codec, "compression-codec", "codec", "none, gzip, snappy, lz4 or zstd (default none)")
		fs.PropInt(set, "timeout", "linger.ms", "ms", "linger.ms: how long a batch waits to fill (default 1000 as in Kafka)")
		fs.PropInt(set, "linger-ms", "linger.ms", "ms", "same as --timeout")
		fs.PropInt(set, "batch-size", "batch.size", "bytes", "batch.size: the largest batch in bytes")
		fs.PropInt(set, "message-send-max-retries", "retries", "n", "retries per record")
		fs.Int(&maxBlockMs, "max-block-ms", "ms", "how long to wait for the cluster at start-up (default 10000)")
		fs.PropInt(set, "request-timeout-ms", "request.timeout.ms", "ms", "request.timeout.ms for produce requests")
		fs.PropInt(set, "max-memory-bytes", "buffer.memory", "bytes", "buffer.memory: bytes buffered before sending blocks")
		fs.Int(&ignored, "max-partition-memory-bytes", "bytes", "accepted for compatibility (use --batch-size)")
		fs.PropInt(set, "metadata-expiry-ms", "metadata.max.age.ms", "ms", "metadata.max.age.ms")
		fs.Bool(&syncSend, "sync", "send each record synchronously, one at a time")
		fs.Strings(&readerProps, "property", "name=value", "a line reader property (see above); repeatable")
		fs.Strings(&producerProps, "producer-property", "name=value", "a producer property (acks, linger.ms, compression.type ...); repeatable")
		fs.Strings(&producerProps, "command-property", "name=value", "same as --producer-property (Kafka 4.1 name)")
		fs.String(&readerConfig, "reader-config", "file", "a properties file of line reader properties")
		fs.String(&lineReaderClass, "line-reader", "class", "only the default line reader is supported")
		if err := fs.parse(args, stdout); err != nil {
			return err
		}
		if topic == "" {
			return errors.New("option --topic is required")
		}
		if len(fs.args) > 0 {
			return fmt.Errorf("unexpected argument %q (see samsa console-producer --help)", fs.args[0])
		}
		if lineReaderClass != "" && !strings.HasSuffix(lineReaderClass, "LineMessageReader") {
			return fmt.Errorf("line reader %s is not supported; only the default line reader is", lineReaderClass)
		}
		// Kafka's console producer settings come after the config file
		// and before --producer-property, which wins.
		err := c.loadClientProps(stderr, knownProducerProps, func(pp *props) error {
			if acks != "" {
				pp.set("acks", acks)
			}
			if codec != "" {
				pp.set("compression.type", codec)
			}
			if _, ok := pp.get("linger.ms"); !ok {
				pp.set("linger.ms", "1000") // Kafka's console producer default
			}
			for k, v := range set {
				pp.set(k, v)
			}
			return pp.addKV(producerProps)
		})
		if err != nil {
			return err
		}
		if maxBlockMs > 0 {
			c.timeout = time.Duration(maxBlockMs) * time.Millisecond
		}
		rp := newProps()
		if readerConfig != "" {
			if err := rp.loadFile(readerConfig); err != nil {
				return err
			}
		}
		if err := rp.addKV(readerProps); err != nil {
			return err
		}
		lr, err := newLineReader(rp)
		if err != nil {
			return err
		}
		popts, err := producerOpts(c.props)
		if err != nil {
			return err
		}
		popts = append(popts, kgo.DefaultProduceTopic(topic))
		if partition >= 0 {
			popts = append(popts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		}
		in := stdin
		if file != "" {
			f, err := os.Open(file)
			if err != nil {
				return fmt.Errorf("reading --file: %w", err)
			}
			defer f.Close()
			in = f
		}
		cl, err := c.newClient(popts...)
		if err != nil {
			return err
		}
		defer cl.Close()
		return produceLines(cl, lr, in, int32(partition), syncSend, topic, stderr)
	})
}

// produceLines sends each line and waits for every delivery; it fails if
// any record failed.
func produceLines(cl *kgo.Client, lr *lineReader, in io.Reader, partition int32, syncSend bool, topic string, stderr io.Writer) error {
	ctx := context.Background()
	var (
		wg      sync.WaitGroup
		failed  atomic.Int64
		sent    int64
		errOnce sync.Once
		lastErr error
	)
	report := func(r *kgo.Record, err error) {
		if err == nil {
			return
		}
		failed.Add(1)
		errOnce.Do(func() { lastErr = err })
		fmt.Fprintf(stderr, "Error when sending message to topic %s with key: %s, value: %s with error: %s\n",
			topic, sizeOrNull(r.Key), sizeOrNull(r.Value), oneLine(err))
	}
	br := bufio.NewReaderSize(in, 64*1024)
	var readErr error
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			readErr = err
			break
		}
		if line == "" && err == io.EOF {
			break
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		rec, perr := lr.record(line, n)
		if perr != nil {
			readErr = perr
			break
		}
		if partition >= 0 {
			rec.Partition = partition
		}
		sent++
		if syncSend {
			res := cl.ProduceSync(ctx, rec)
			report(rec, res.FirstErr())
		} else {
			wg.Add(1)
			cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
				defer wg.Done()
				report(r, err)
			})
		}
		if err == io.EOF {
			break
		}
	}
	cl.Flush(ctx)
	wg.Wait()
	if readErr != nil {
		return readErr
	}
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d of %d records were not delivered; the first error: %s", f, sent, oneLine(lastErr))
	}
	return nil
}

func sizeOrNull(b []byte) string {
	if b == nil {
		return "null"
	}
	return fmt.Sprintf("%d bytes", len(b))
}
