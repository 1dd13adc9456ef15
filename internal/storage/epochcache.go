package storage

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// epochCache is Kafka's LeaderEpochFileCache: the leader epochs of the log
// and the first offset of each, persisted to leader-epoch-checkpoint.
// A new epoch learnt from an append only marks the cache dirty: the file is
// written (with fsync) by the next flush, before the recovery point moves
// past the epoch's start offset, and at close (see "Leader epochs" in the
// package documentation). Truncations persist at once. Guarded by the
// owning Log's mutex.
type epochCache struct {
	fs      vfs.FS
	path    string
	entries []epochEntry // epochs and start offsets strictly increasing
	dirty   bool         // entries differ from the file
}

// newEpochCache returns the empty cache of a new partition directory.
func newEpochCache(fsys vfs.FS, dir string) *epochCache {
	return &epochCache{fs: fsys, path: filepath.Join(dir, leaderEpochCheckpointFile)}
}

func loadEpochCache(fsys vfs.FS, dir string) (*epochCache, error) {
	c := newEpochCache(fsys, dir)
	data, err := vfs.ReadFile(fsys, c.path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	entries, err := parseEpochCheckpoint(data)
	if err != nil {
		// A torn checkpoint: start empty; the recovery scan re-assigns the
		// epochs it sees in the batches.
		return c, nil
	}
	c.entries = entries
	return c, nil
}

func (c *epochCache) persist() error {
	if err := writeFileAtomic(c.fs, c.path, encodeEpochCheckpoint(c.entries)); err != nil {
		return err
	}
	c.dirty = false
	return nil
}

// persistIfDirty writes the checkpoint if an append changed the cache since
// the last write.
func (c *epochCache) persistIfDirty() error {
	if !c.dirty {
		return nil
	}
	return c.persist()
}

// latest returns the latest epoch, or -1.
func (c *epochCache) latest() int32 {
	if len(c.entries) == 0 {
		return -1
	}
	return c.entries[len(c.entries)-1].Epoch
}

// assign records that epoch starts at startOffset, if epoch is newer than the
// latest. Entries at or past startOffset (left by a truncated leader) are
// dropped first. It reports whether the cache changed.
func (c *epochCache) assign(epoch int32, startOffset int64) bool {
	if epoch < 0 || epoch <= c.latest() {
		return false
	}
	c.truncateFromEnd(startOffset)
	c.entries = append(c.entries, epochEntry{Epoch: epoch, StartOffset: startOffset})
	c.dirty = true
	return true
}

// truncateFromEnd drops the entries whose start offset is >= endOffset.
func (c *epochCache) truncateFromEnd(endOffset int64) bool {
	i := len(c.entries)
	for i > 0 && c.entries[i-1].StartOffset >= endOffset {
		i--
	}
	changed := i != len(c.entries)
	c.entries = c.entries[:i]
	return changed
}

// truncateFromStart drops the entries wholly below startOffset; the last of
// them is kept, moved to start at startOffset (Kafka's semantics).
func (c *epochCache) truncateFromStart(startOffset int64) bool {
	i := 0
	for i < len(c.entries) && c.entries[i].StartOffset < startOffset {
		i++
	}
	if i == 0 {
		return false
	}
	// entries[i-1] is the epoch in effect at startOffset.
	kept := epochEntry{Epoch: c.entries[i-1].Epoch, StartOffset: startOffset}
	rest := append([]epochEntry{kept}, c.entries[i:]...)
	c.entries = rest
	return true
}

// endOffsetFor answers OffsetForLeaderEpoch as Kafka's
// LeaderEpochFileCache.endOffsetFor does: for the latest epoch, the log end
// offset; for an older one, the start offset of the first later epoch,
// paired with the largest known epoch <= the requested one (or the
// requested one when it is below every known epoch); (-1, -1) when the
// requested epoch is undefined or above every known epoch.
func (c *epochCache) endOffsetFor(epoch int32, logEndOffset int64) (int32, int64) {
	if epoch < 0 || len(c.entries) == 0 {
		return -1, -1
	}
	if epoch == c.latest() {
		return epoch, logEndOffset
	}
	// First entry with Epoch > epoch.
	hi := 0
	for hi < len(c.entries) && c.entries[hi].Epoch <= epoch {
		hi++
	}
	if hi == len(c.entries) {
		return -1, -1
	}
	if hi == 0 {
		return epoch, c.entries[0].StartOffset
	}
	return c.entries[hi-1].Epoch, c.entries[hi].StartOffset
}
