package storage

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/samsa-streaming/samsa/internal/storage/vfs"
)

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	FS     vfs.FS // nil: vfs.OS
	Dirs   []string
	Logger *slog.Logger // nil: slog.Default()
	Now    time.Time    // the time at open (segment ages, deletion delays)
	// ConfigFor returns the config of a partition found on disk at open.
	// nil: DefaultLogConfig for all.
	ConfigFor func(TopicPartition) LogConfig
	// ProducerIDExpirationMs is producer.id.expiration.ms (default 1 day):
	// producers idle that long, with no open transaction, are forgotten.
	ProducerIDExpirationMs int64
	// RecoveryThreadsPerDir is num.recovery.threads.per.data.dir (default 2):
	// how many partitions of one dir are opened (recovered) in parallel.
	RecoveryThreadsPerDir int
	// CleanerDedupeBufferBytes is log.cleaner.dedupe.buffer.size (default
	// 128 MiB): the memory a cleaner pass may use for its key map; a pass
	// cleans as much of the dirty part of a log as its keys fit in it,
	// and the next pass goes on from there.
	CleanerDedupeBufferBytes int64
	// MaxOpenSegmentFiles bounds the files of sealed segments (.log,
	// .index, .timeindex) held open at once across all logs; the least
	// recently used are closed and reopened on demand. The active
	// segment's .log (one per partition) is not counted. 0 means
	// DefaultMaxOpenSegmentFiles (4096); negative means unlimited.
	MaxOpenSegmentFiles int
}

// DirInfo describes one log dir for DescribeLogDirs.
type DirInfo struct {
	Path        string
	TotalBytes  int64 // -1 when unknown
	UsableBytes int64 // -1 when unknown
	Partitions  []PartitionDirInfo
}

// PartitionDirInfo is one partition's entry in a DirInfo.
type PartitionDirInfo struct {
	TopicPartition TopicPartition
	Size           int64
	OffsetLag      int64 // always 0: no future replicas yet
}

// Manager owns every partition log of a broker, across its log dirs, and
// the checkpoint files at the root of each dir.
//
// Manager.mu guards maps only: no file I/O happens under it and no Log.mu
// is taken while it is held, so logs are created (GetOrCreate) in parallel.
type Manager struct {
	fs     vfs.FS
	dirs   []string
	logger *slog.Logger
	cfg    ManagerConfig
	cache  *fileCache // open files of sealed segments, shared by all logs

	ckptMu      sync.Mutex        // serializes checkpoint writes; taken before any Log.mu
	lastWritten map[string][]byte // checkpoint path -> content last written (under ckptMu)

	creates sync.WaitGroup // GetOrCreate calls creating a log; Close waits for them

	mu struct {
		sync.Mutex
		logs     map[TopicPartition]*Log
		roots    map[*Log]string                  // log -> its log dir
		counts   map[string]int                   // log dir -> number of logs in it (being created included)
		creating map[TopicPartition]chan struct{} // logs being created; closed when done
		closed   bool
		toRemove []string // renamed *-delete partition dirs awaiting removal
	}
}

// OpenManager opens every log dir (creating missing ones), recovers every
// partition found in them, and removes the clean-shutdown markers so that a
// later crash is detected.
func OpenManager(cfg ManagerConfig) (*Manager, error) {
	if cfg.FS == nil {
		cfg.FS = vfs.OS
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CleanerDedupeBufferBytes <= 0 {
		cfg.CleanerDedupeBufferBytes = 128 << 20
	}
	if cfg.ProducerIDExpirationMs <= 0 {
		cfg.ProducerIDExpirationMs = 24 * 60 * 60 * 1000
	}
	if cfg.RecoveryThreadsPerDir <= 0 {
		cfg.RecoveryThreadsPerDir = 2
	}
	if cfg.MaxOpenSegmentFiles == 0 {
		cfg.MaxOpenSegmentFiles = DefaultMaxOpenSegmentFiles
	}
	if len(cfg.Dirs) == 0 {
		return nil, errors.New("storage: no log dirs")
	}
	m := &Manager{fs: cfg.FS, dirs: cfg.Dirs, logger: cfg.Logger, cfg: cfg, lastWritten: map[string][]byte{}}
	m.cache = newFileCache(cfg.FS, max(cfg.MaxOpenSegmentFiles, 0))
	m.mu.logs = map[TopicPartition]*Log{}
	m.mu.roots = map[*Log]string{}
	m.mu.counts = map[string]int{}
	m.mu.creating = map[TopicPartition]chan struct{}{}
	for _, root := range cfg.Dirs {
		if err := m.openDir(root); err != nil {
			for _, l := range m.mu.logs {
				l.mu.Lock()
				l.closeLocked(false)
				l.mu.Unlock()
			}
			return nil, err
		}
	}
	for _, root := range cfg.Dirs {
		if err := removeMissing(m.fs, filepath.Join(root, cleanShutdownFile)); err != nil {
			return nil, storageErr("remove clean-shutdown marker", err)
		}
		if err := m.fs.SyncDir(root); err != nil {
			return nil, storageErr("sync log dir", err)
		}
	}
	m.cache.wb = newWritebacker() // after recovery, before the first append; stopped by Close
	return m, nil
}

func (m *Manager) openDir(root string) error {
	fsys := m.fs
	if err := fsys.MkdirAll(root, 0o755); err != nil {
		return storageErr("create log dir", err)
	}
	_, err := fsys.Stat(filepath.Join(root, cleanShutdownFile))
	clean := err == nil
	read := func(name string) map[TopicPartition]int64 {
		c, err := readOffsetCheckpoint(fsys, filepath.Join(root, name))
		if err != nil {
			m.logger.Warn("unreadable checkpoint, ignoring it", "file", filepath.Join(root, name), "err", err)
			return map[TopicPartition]int64{}
		}
		return c
	}
	rps, starts, hws := read(recoveryPointCheckpointFile), read(logStartCheckpointFile), read(replicationCheckpointFile)
	cos := read(cleanerOffsetCheckpointFile)
	ents, err := fsys.ReadDir(root)
	if err != nil {
		return storageErr("read log dir", err)
	}
	var jobs []openParams
	for _, de := range ents {
		if !de.IsDir() {
			continue
		}
		name := de.Name()
		if strings.HasSuffix(name, "-delete") {
			m.mu.toRemove = append(m.mu.toRemove, filepath.Join(root, name))
			continue
		}
		if strings.HasSuffix(name, "-future") || strings.HasSuffix(name, "-stray") {
			continue
		}
		tp, ok := parsePartitionDir(name)
		if !ok {
			continue
		}
		if _, dup := m.mu.logs[tp]; dup {
			return fmt.Errorf("storage: partition %s found in more than one log dir", tp)
		}
		cfg := DefaultLogConfig()
		if m.cfg.ConfigFor != nil {
			cfg = m.cfg.ConfigFor(tp)
		}
		get := func(c map[TopicPartition]int64) int64 {
			if v, ok := c[tp]; ok {
				return v
			}
			return -1
		}
		jobs = append(jobs, openParams{
			fs: fsys, cache: m.cache, dir: filepath.Join(root, name), tp: tp, cfg: cfg, logger: m.logger, clean: clean,
			recoveryPoint: get(rps), logStart: get(starts), hw: get(hws), cleanerOffset: get(cos),
			nowMs: m.cfg.Now.UnixMilli(),
		})
	}
	if !clean && len(jobs) > 0 {
		m.logger.Info("no clean shutdown marker: recovering partitions", "dir", root, "partitions", len(jobs))
	}
	logs := make([]*Log, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, m.cfg.RecoveryThreadsPerDir)
	for i := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			logs[i], errs[i] = openLog(jobs[i])
		}()
	}
	wg.Wait()
	for i, l := range logs {
		if l != nil {
			m.mu.logs[jobs[i].tp] = l
			m.mu.roots[l] = root
			m.mu.counts[root]++
		}
	}
	return errors.Join(errs...)
}

// GetOrCreate returns the log of tp, creating it (in the log dir with the
// fewest partitions) if absent. cfg applies only to a new log (use
// UpdateConfig for an existing one). A topic id that contradicts the one on
// disk is ErrInconsistentTopicID; a log without one adopts it.
//
// It is safe to call from many goroutines: logs of different partitions
// are created in parallel (the file I/O runs without the Manager's
// mutex), and concurrent calls for the same partition wait for the one
// creating it.
func (m *Manager) GetOrCreate(tp TopicPartition, topicID [16]byte, cfg LogConfig, now time.Time) (*Log, error) {
	for {
		m.mu.Lock()
		if m.mu.closed {
			m.mu.Unlock()
			return nil, ErrLogClosed
		}
		if l := m.mu.logs[tp]; l != nil {
			m.mu.Unlock()
			return l, l.adoptTopicID(topicID)
		}
		if wait := m.mu.creating[tp]; wait != nil {
			m.mu.Unlock()
			<-wait
			continue // created, or failed: look again
		}
		root := m.pickDirLocked()
		m.mu.counts[root]++
		done := make(chan struct{})
		m.mu.creating[tp] = done
		m.creates.Add(1)
		m.mu.Unlock()

		l, err := createLog(openParams{
			fs: m.fs, cache: m.cache, dir: filepath.Join(root, partitionDirName(tp)), tp: tp, cfg: cfg,
			logger: m.logger, nowMs: now.UnixMilli(),
		}, topicID)

		m.mu.Lock()
		delete(m.mu.creating, tp)
		if err != nil {
			m.mu.counts[root]--
		} else {
			// Even when Close started meanwhile: it waits for us
			// (m.creates) before it closes the logs.
			m.mu.logs[tp] = l
			m.mu.roots[l] = root
		}
		m.mu.Unlock()
		close(done)
		m.creates.Done()
		return l, err
	}
}

// pickDirLocked returns the log dir holding the fewest logs (the first
// such in log.dirs order).
func (m *Manager) pickDirLocked() string {
	root := m.dirs[0]
	for _, d := range m.dirs[1:] {
		if m.mu.counts[d] < m.mu.counts[root] {
			root = d
		}
	}
	return root
}

func (l *Log) adoptTopicID(id [16]byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id == ([16]byte{}) || id == l.mu.topicID || l.mu.closed {
		return nil
	}
	if l.mu.topicID != ([16]byte{}) {
		return fmt.Errorf("%w: %s has %x, asked for %x", ErrInconsistentTopicID, l.tp, l.mu.topicID, id)
	}
	if err := writeFileAtomic(l.fs, filepath.Join(l.dir, partitionMetadataFile), encodePartitionMetadata(id)); err != nil {
		return storageErr("write partition.metadata", err)
	}
	l.mu.topicID = id
	return nil
}

// Get returns the log of tp, or nil.
func (m *Manager) Get(tp TopicPartition) *Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.logs[tp]
}

// All returns every log, keyed by partition (a copy).
func (m *Manager) All() map[TopicPartition]*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[TopicPartition]*Log, len(m.mu.logs))
	for tp, l := range m.mu.logs {
		out[tp] = l
	}
	return out
}

// UpdateConfig changes the config of tp's log, if present.
func (m *Manager) UpdateConfig(tp TopicPartition, cfg LogConfig) {
	if l := m.Get(tp); l != nil {
		l.UpdateConfig(cfg)
	}
}

// Delete closes tp's log and renames its directory to
// <topic>-<partition>.<32 hex>-delete; the next Maintain removes it (as
// does the next OpenManager after a crash).
func (m *Manager) Delete(tp TopicPartition) error {
	m.mu.Lock()
	for m.mu.creating[tp] != nil {
		wait := m.mu.creating[tp]
		m.mu.Unlock()
		<-wait
		m.mu.Lock()
	}
	l := m.mu.logs[tp]
	if l == nil {
		m.mu.Unlock()
		return nil
	}
	root := m.mu.roots[l]
	delete(m.mu.logs, tp)
	delete(m.mu.roots, l)
	m.mu.counts[root]--
	m.mu.Unlock()
	l.mu.Lock()
	l.closeLocked(false)
	l.mu.Unlock()
	var id [16]byte
	rand.Read(id[:])
	target := filepath.Join(root, partitionDirName(tp)+"."+hex.EncodeToString(id[:])+"-delete")
	if err := m.fs.Rename(l.dir, target); err != nil {
		return storageErr("rename deleted partition", err)
	}
	if err := m.fs.SyncDir(root); err != nil {
		return storageErr("sync log dir", err)
	}
	m.mu.Lock()
	m.mu.toRemove = append(m.mu.toRemove, target)
	m.mu.Unlock()
	return nil
}

func (m *Manager) logsSnapshot() []*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Log, 0, len(m.mu.logs))
	for _, l := range m.mu.logs {
		out = append(out, l)
	}
	return out
}

// Maintain runs one pass of the periodic work: retention (time, size, log
// start offset) and the removal of deleted files whose delay passed, the
// flush of rolled segments and flush.ms, producer id expiry, removal of
// deleted partitions, and the checkpoint files (rewritten only when their
// content changed). Errors are logged.
func (m *Manager) Maintain(now time.Time) {
	nowMs := now.UnixMilli()
	for _, l := range m.logsSnapshot() {
		if err := l.maintain(nowMs, m.cfg.ProducerIDExpirationMs, m.cfg.CleanerDedupeBufferBytes); err != nil {
			m.logger.Error("log maintenance failed", "partition", l.tp, "err", err)
		}
	}
	m.removeDeletedDirs()
	if err := m.writeCheckpoints(); err != nil {
		m.logger.Error("writing checkpoints failed", "err", err)
	}
}

func (m *Manager) removeDeletedDirs() {
	m.mu.Lock()
	dirs := m.mu.toRemove
	m.mu.toRemove = nil
	m.mu.Unlock()
	var failed []string
	for _, d := range dirs {
		if err := m.fs.RemoveAll(d); err != nil {
			m.logger.Error("removing deleted partition dir failed", "dir", d, "err", err)
			failed = append(failed, d)
		}
	}
	if len(failed) > 0 {
		m.mu.Lock()
		m.mu.toRemove = append(m.mu.toRemove, failed...)
		m.mu.Unlock()
	}
}

// writeCheckpoints writes, per log dir, the recovery points, log start
// offsets and high watermarks of its logs, and the cleaner offsets of its
// compacted logs that were cleaned.
func (m *Manager) writeCheckpoints() error {
	m.ckptMu.Lock()
	defer m.ckptMu.Unlock()
	type vals struct{ rp, ls, hw, co map[TopicPartition]int64 }
	per := map[string]*vals{}
	for _, d := range m.dirs {
		per[d] = &vals{map[TopicPartition]int64{}, map[TopicPartition]int64{}, map[TopicPartition]int64{}, map[TopicPartition]int64{}}
	}
	m.mu.Lock()
	roots := make(map[*Log]string, len(m.mu.roots))
	for l, r := range m.mu.roots {
		roots[l] = r
	}
	m.mu.Unlock()
	for l, r := range roots {
		rp, ls, hw, co := l.checkpointValues()
		v := per[r]
		v.rp[l.tp], v.ls[l.tp], v.hw[l.tp] = rp, ls, hw
		if co > 0 {
			v.co[l.tp] = co
		}
	}
	var errs []error
	for d, v := range per {
		for _, f := range []struct {
			name string
			m    map[TopicPartition]int64
		}{{recoveryPointCheckpointFile, v.rp}, {logStartCheckpointFile, v.ls}, {replicationCheckpointFile, v.hw},
			{cleanerOffsetCheckpointFile, v.co}} {
			path := filepath.Join(d, f.name)
			data := encodeOffsetCheckpoint(f.m)
			if last, ok := m.lastWritten[path]; ok && string(last) == string(data) {
				continue
			}
			if err := writeFileAtomic(m.fs, path, data); err != nil {
				errs = append(errs, storageErr("write "+f.name, err))
				continue
			}
			m.lastWritten[path] = data
		}
	}
	return errors.Join(errs...)
}

// closeParallelism is how many logs Close closes at once.
const closeParallelism = 16

// Close closes every log (flush, producer snapshot), writes the checkpoint
// files and, in each log dir whose logs all closed cleanly, the
// clean-shutdown marker .kafka_cleanshutdown at the dir's root.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return nil
	}
	m.mu.closed = true
	m.mu.Unlock()
	m.creates.Wait() // logs being created join m.mu.logs first
	m.mu.Lock()
	roots := make(map[*Log]string, len(m.mu.roots))
	for l, r := range m.mu.roots {
		roots[l] = r
	}
	m.mu.Unlock()
	// Each close fsyncs (segments, producer snapshot): run them in
	// parallel, as Kafka does, or a broker with many partitions takes
	// minutes to stop.
	var errs []error
	dirty := map[string]bool{}
	var errMu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, closeParallelism)
	for l, r := range roots {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := l.Close(); err != nil {
				errMu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", l.tp, err))
				dirty[r] = true
				errMu.Unlock()
			}
		}()
	}
	wg.Wait()
	m.cache.wb.close() // no log appends any more
	m.removeDeletedDirs()
	if err := m.writeCheckpoints(); err != nil {
		errs = append(errs, err)
		return errors.Join(errs...)
	}
	for _, d := range m.dirs {
		if dirty[d] {
			continue
		}
		if err := writeFileAtomic(m.fs, filepath.Join(d, cleanShutdownFile), nil); err != nil {
			errs = append(errs, storageErr("write clean-shutdown marker", err))
		}
	}
	return errors.Join(errs...)
}

// DirInfos describes every log dir: its filesystem's capacity and the size
// of each partition in it.
func (m *Manager) DirInfos() []DirInfo {
	m.mu.Lock()
	roots := make(map[*Log]string, len(m.mu.roots))
	for l, r := range m.mu.roots {
		roots[l] = r
	}
	m.mu.Unlock()
	out := make([]DirInfo, 0, len(m.dirs))
	for _, d := range m.dirs {
		total, usable, err := m.fs.DiskUsage(d)
		if err != nil {
			total, usable = -1, -1
		}
		info := DirInfo{Path: d, TotalBytes: total, UsableBytes: usable}
		for l, r := range roots {
			if r == d {
				info.Partitions = append(info.Partitions, PartitionDirInfo{TopicPartition: l.tp, Size: l.Size()})
			}
		}
		sort.Slice(info.Partitions, func(i, j int) bool {
			a, b := info.Partitions[i].TopicPartition, info.Partitions[j].TopicPartition
			return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
		})
		out = append(out, info)
	}
	return out
}
