package metadata

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// ReadImage rebuilds the image of a metadata log directory (the
// __cluster_metadata-0 directory of a node that is not running: its raft
// store is opened read-only, and is locked while the node runs): the
// latest snapshot, then every log entry after it. Entries that were not
// yet committed when the node stopped are applied too, so the image may
// be a little ahead of what the quorum agreed on. It is what
// metadata-shell browses offline.
func ReadImage(dir string) (*Image, error) {
	if _, err := os.Stat(filepath.Join(dir, "raft.db")); err != nil {
		return nil, fmt.Errorf("%s is not a metadata log directory: %w", dir, err)
	}
	im := emptyImage()
	var from uint64 = 1
	if _, err := os.Stat(filepath.Join(dir, "snapshots")); err == nil {
		snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, hclog.NewNullLogger())
		if err != nil {
			return nil, err
		}
		list, err := snaps.List()
		if err != nil {
			return nil, err
		}
		if len(list) > 0 {
			meta, rc, err := snaps.Open(list[0].ID)
			if err != nil {
				return nil, err
			}
			var snap snapshotImage
			err = json.NewDecoder(rc).Decode(&snap)
			rc.Close()
			if err != nil {
				return nil, fmt.Errorf("decode metadata snapshot %s: %w", meta.ID, err)
			}
			if im, err = snap.image(); err != nil {
				return nil, err
			}
			from = meta.Index + 1
		}
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(dir, "raft.db"),
		BoltOptions: &bbolt.Options{ReadOnly: true, Timeout: time.Second},
	})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("%s is in use (is the node running?): %w", dir, err)
		}
		return nil, err
	}
	defer store.Close()
	first, err := store.FirstIndex()
	if err != nil {
		return nil, err
	}
	last, err := store.LastIndex()
	if err != nil {
		return nil, err
	}
	var l raft.Log
	for i := max(from, first); i <= last && i > 0; i++ {
		if err := store.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				continue
			}
			return nil, err
		}
		if l.Type != raft.LogCommand {
			continue
		}
		recs, err := DecodeBatch(l.Data)
		if err != nil {
			continue // as the node does: an entry it cannot read changes nothing
		}
		if next, _, err := applyBatch(im, l.Index, recs); err == nil {
			im = next
		} else {
			im.Offset = l.Index
		}
	}
	return im, nil
}
