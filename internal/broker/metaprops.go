package broker

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/samsa-streaming/samsa/internal/config"
)

// metaPropertiesFile is Kafka's per-log-dir identity file. Kafka needs
// `kafka-storage format` to write it before the first start; Samsa formats
// an empty directory itself, so a fresh broker starts with no set-up, and
// refuses to start on a directory formatted for another node or cluster.
const metaPropertiesFile = "meta.properties"

// newUUID returns a random 16-byte id in Kafka's base64url form (22 chars).
func newUUID() (string, [16]byte) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // variant
	return base64.RawURLEncoding.EncodeToString(id[:]), id
}

// lockFileName is Kafka's per-log-dir lock: a second broker process on the
// same dir must fail before it touches anything (recovery of a live log
// would truncate what the running broker is writing).
const lockFileName = ".lock"

// lockDir takes an exclusive, non-blocking flock on dir/.lock. The lock
// lives as long as the returned file is open (and dies with the process).
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("log dir %s is in use by another process (%s is locked): %w", dir, lockFileName, err)
	}
	return f, nil
}

// prepareLogDirs creates and locks the log dirs, checks or writes their
// meta.properties, and returns the cluster id they agree on. The locks are
// added to s.dirLocks, released by Close.
func (s *Server) prepareLogDirs(cfg *config.Broker) (string, error) {
	dirs := append([]string{}, cfg.LogDirs()...)
	if md := cfg.MetadataLogDir(); md != "" {
		dirs = append(dirs, md)
	}
	clusterID := ""
	var fresh []string
	seen := map[string]bool{}
	for _, d := range dirs {
		if seen[d] {
			continue
		}
		seen[d] = true
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("log dir %s: %w", d, err)
		}
		lock, err := lockDir(d)
		if err != nil {
			return "", err
		}
		s.dirLocks = append(s.dirLocks, lock)
		props, err := readProperties(filepath.Join(d, metaPropertiesFile))
		if errors.Is(err, os.ErrNotExist) {
			fresh = append(fresh, d)
			continue
		}
		if err != nil {
			return "", fmt.Errorf("log dir %s: %w", d, err)
		}
		if props["node.id"] != strconv.Itoa(int(cfg.NodeID())) {
			return "", fmt.Errorf("log dir %s belongs to node.id %s, this broker is node.id %d", d, props["node.id"], cfg.NodeID())
		}
		if clusterID != "" && props["cluster.id"] != clusterID {
			return "", fmt.Errorf("log dir %s has cluster.id %s, another log dir has %s", d, props["cluster.id"], clusterID)
		}
		clusterID = props["cluster.id"]
	}
	if clusterID == "" {
		// A new node: its id is a guess that holds only if it founds the
		// cluster; one joining an existing quorum adopts the quorum's
		// (checkClusterID), so no storage format step is needed.
		clusterID, _ = newUUID()
		s.newNode = true
	}
	s.propDirs = dirs
	for _, d := range fresh {
		dirID, _ := newUUID()
		var b bytes.Buffer
		fmt.Fprintf(&b, "#\n# Written by samsa on first start.\ncluster.id=%s\ndirectory.id=%s\nnode.id=%d\nversion=1\n", clusterID, dirID, cfg.NodeID())
		if err := writeFileAtomic(filepath.Join(d, metaPropertiesFile), b.Bytes()); err != nil {
			return "", fmt.Errorf("log dir %s: %w", d, err)
		}
	}
	return clusterID, nil
}

// adoptClusterID rewrites the meta.properties of every log dir with the
// cluster id of the quorum a new node joined.
func (s *Server) adoptClusterID(id string) error {
	seen := map[string]bool{}
	for _, d := range s.propDirs {
		if seen[d] {
			continue
		}
		seen[d] = true
		path := filepath.Join(d, metaPropertiesFile)
		props, err := readProperties(path)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "#\n# Written by samsa on first start.\ncluster.id=%s\ndirectory.id=%s\nnode.id=%s\nversion=1\n", id, props["directory.id"], props["node.id"])
		if err := writeFileAtomic(path, b.Bytes()); err != nil {
			return fmt.Errorf("log dir %s: %w", d, err)
		}
	}
	s.clusterID = id
	return nil
}

func readProperties(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	props, err := config.ParseProperties(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make(map[string]string, len(props))
	for _, p := range props {
		out[p.Key] = p.Value
	}
	return out, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
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
	return os.Rename(tmp, path)
}
