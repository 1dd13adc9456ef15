package storage

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// Names of the files at the root of a log dir.
const (
	recoveryPointCheckpointFile = "recovery-point-offset-checkpoint"
	logStartCheckpointFile      = "log-start-offset-checkpoint"
	replicationCheckpointFile   = "replication-offset-checkpoint"
	cleanerOffsetCheckpointFile = "cleaner-offset-checkpoint"
	cleanShutdownFile           = ".kafka_cleanshutdown"

	leaderEpochCheckpointFile = "leader-epoch-checkpoint"
	partitionMetadataFile     = "partition.metadata"
)

var errBadCheckpoint = errors.New("malformed checkpoint file")

// writeFileAtomic writes data to path through a temporary file: write, fsync,
// rename over path, fsync the directory. A crash leaves either the old or the
// new content.
func writeFileAtomic(fsys vfs.FS, path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return err
	}
	return fsys.SyncDir(filepath.Dir(path))
}

// encodeOffsetCheckpoint renders Kafka's offset checkpoint format:
//
//	0
//	<count>
//	<topic> <partition> <offset>
//	...
//
// Entries are sorted so that equal maps give equal bytes.
func encodeOffsetCheckpoint(m map[TopicPartition]int64) []byte {
	tps := make([]TopicPartition, 0, len(m))
	for tp := range m {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(tps))
	for _, tp := range tps {
		fmt.Fprintf(&b, "%s %d %d\n", tp.Topic, tp.Partition, m[tp])
	}
	return b.Bytes()
}

// parseOffsetCheckpoint parses Kafka's offset checkpoint format.
func parseOffsetCheckpoint(data []byte) (map[TopicPartition]int64, error) {
	lines, err := checkpointLines(data)
	if err != nil {
		return nil, err
	}
	m := make(map[TopicPartition]int64, len(lines))
	for _, ln := range lines {
		f := strings.Fields(ln)
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: entry %q", errBadCheckpoint, ln)
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		off, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || p < 0 {
			return nil, fmt.Errorf("%w: entry %q", errBadCheckpoint, ln)
		}
		m[TopicPartition{Topic: f[0], Partition: int32(p)}] = off
	}
	return m, nil
}

// checkpointLines checks the version line (0) and the count line and
// returns exactly count entry lines.
func checkpointLines(data []byte) ([]string, error) {
	lines := strings.Split(string(data), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) < 2 {
		return nil, fmt.Errorf("%w: missing version or count", errBadCheckpoint)
	}
	if strings.TrimSpace(lines[0]) != "0" {
		return nil, fmt.Errorf("%w: unsupported version %q", errBadCheckpoint, lines[0])
	}
	n, err := strconv.Atoi(strings.TrimSpace(lines[1]))
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%w: count %q", errBadCheckpoint, lines[1])
	}
	if len(lines)-2 != n {
		return nil, fmt.Errorf("%w: count %d, %d entries", errBadCheckpoint, n, len(lines)-2)
	}
	return lines[2:], nil
}

// readOffsetCheckpoint reads one of the root checkpoint files; a missing file
// is an empty map.
func readOffsetCheckpoint(fsys vfs.FS, path string) (map[TopicPartition]int64, error) {
	data, err := vfs.ReadFile(fsys, path)
	if errors.Is(err, os.ErrNotExist) {
		return map[TopicPartition]int64{}, nil
	}
	if err != nil {
		return nil, err
	}
	return parseOffsetCheckpoint(data)
}

// epochEntry is one leader epoch and the first offset written in it.
type epochEntry struct {
	Epoch       int32
	StartOffset int64
}

func encodeEpochCheckpoint(entries []epochEntry) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(entries))
	for _, e := range entries {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return b.Bytes()
}

func parseEpochCheckpoint(data []byte) ([]epochEntry, error) {
	lines, err := checkpointLines(data)
	if err != nil {
		return nil, err
	}
	out := make([]epochEntry, 0, len(lines))
	for _, ln := range lines {
		f := strings.Fields(ln)
		if len(f) != 2 {
			return nil, fmt.Errorf("%w: entry %q", errBadCheckpoint, ln)
		}
		ep, err1 := strconv.ParseInt(f[0], 10, 32)
		off, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || ep < 0 || off < 0 {
			return nil, fmt.Errorf("%w: entry %q", errBadCheckpoint, ln)
		}
		if n := len(out); n > 0 && (int32(ep) <= out[n-1].Epoch || off < out[n-1].StartOffset) {
			return nil, fmt.Errorf("%w: entry %q not increasing", errBadCheckpoint, ln)
		}
		out = append(out, epochEntry{Epoch: int32(ep), StartOffset: off})
	}
	return out, nil
}

// encodePartitionMetadata renders partition.metadata as Kafka does; the
// topic id is base64url without padding (Kafka's Uuid.toString).
func encodePartitionMetadata(id [16]byte) []byte {
	return []byte("version: 0\ntopic_id: " + base64.RawURLEncoding.EncodeToString(id[:]) + "\n")
}

func parsePartitionMetadata(data []byte) ([16]byte, error) {
	var id [16]byte
	var version, topicID string
	for _, ln := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(ln, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "version":
			version = strings.TrimSpace(v)
		case "topic_id":
			topicID = strings.TrimSpace(v)
		}
	}
	if version != "0" {
		return id, fmt.Errorf("%w: partition.metadata version %q", errBadCheckpoint, version)
	}
	raw, err := base64.RawURLEncoding.DecodeString(topicID)
	if err != nil || len(raw) != 16 {
		return id, fmt.Errorf("%w: partition.metadata topic_id %q", errBadCheckpoint, topicID)
	}
	copy(id[:], raw)
	return id, nil
}
