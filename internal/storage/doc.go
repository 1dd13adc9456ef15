// Package storage is the partition log on disk, in Apache Kafka's layout:
// segments with their offset and time indexes, the leader-epoch checkpoint,
// producer state (idempotence) and its snapshots, recovery after a crash,
// roll, retention, flush policy and the log start offset. A Manager owns
// every log of a broker across its log dirs and the checkpoint files at the
// root of each dir. All file access goes through the vfs.FS seam. Time
// enters as arguments; nothing here reads the clock.
//
// # Layout
//
// A log dir (log.dirs) holds:
//
//	recovery-point-offset-checkpoint   0\n<n>\n<topic> <partition> <offset>\n...
//	log-start-offset-checkpoint        same format
//	replication-offset-checkpoint      same format: high watermarks
//	cleaner-offset-checkpoint          same format: compacted logs' cleaner offsets
//	.kafka_cleanshutdown               written by Manager.Close, removed at open
//	<topic>-<partition>/               one directory per partition
//	<topic>-<partition>.<32 hex>-delete/  a deleted partition awaiting removal
//
// The clean-shutdown marker lives at the root of the log dir (one per dir):
// Close writes it only when every log of the dir closed cleanly, and
// OpenManager removes it once all partitions are open, so a crash later is
// detected. Checkpoint files are written atomically (temporary file, fsync,
// rename, fsync of the directory) by Manager.Maintain when their content
// changed, and by Manager.Close.
//
// A partition directory holds:
//
//	<base>.log        record batches exactly as appended (base = 20-digit, zero-padded offset)
//	<base>.index      sparse offset index: 8-byte entries (relative offset int32, position int32)
//	<base>.timeindex  time index: 12-byte entries (timestamp int64, relative offset int32)
//	<base>.txnindex   aborted transactions whose ABORT marker is in the segment (see Transactions)
//	<offset>.snapshot producer state after every batch below offset (format in producerstate.go)
//	leader-epoch-checkpoint  0\n<n>\n<epoch> <start offset>\n...
//	partition.metadata       version: 0\ntopic_id: <base64url uuid>
//
// An offset index entry is added, as in Kafka's LogSegment.append, before a
// batch once more than index.interval.bytes were written since the last
// entry: (last offset of the batch, its position). At the same moment a
// time index entry (max timestamp so far, offset of the batch that has it)
// is added if the max timestamp grew; a final one is added when the segment
// rolls or the log closes. The active segment's entries are kept in memory
// (up to segment.index.bytes, which bounds them as in Kafka) and written to
// the files at flush, roll and close, through a descriptor opened for the
// write and closed after it (Kafka maps the file instead); an index file
// holds exactly its entries, it is never preallocated, and the active
// segment's may not exist before its first flush. Sealed indexes are read
// with ReadAt, leaving them to the page cache rather than the heap.
//
// A segment rolls when the append would take it past segment.bytes, when
// segment.ms passed since its first append (for a reopened segment: its
// first batch's timestamp), when either index is full, or when the
// relative offset of the append would overflow int32.
//
// # Appends and reads
//
// AppendAsLeader parses only batch headers (no per-record work), checks
// producer state, writes the base offset and partition leader epoch into
// the caller's bytes in place (the CRC does not cover them) and writes the
// whole set with one WriteAt. A failed write is cut back off the file; if
// that fails too, the log refuses further writes (ErrKafkaStorage).
// flush.messages fsyncs from the append path, after the mutex is released;
// flush.ms and the flush of rolled segments run from Maintain. The
// recovery point moves only after an fsync.
//
// Every MiB an active segment grows, the append queues a request to the
// Manager's write-out goroutine (writeback.go), which asks the kernel to
// start writing those pages out (sync_file_range with
// SYNC_FILE_RANGE_WRITE, see vfs.StartWriteback): no waiting and no
// durability promise, only the write-out of the page cache spread at the
// produce rate; a full queue drops the request (the kernel writes those
// pages later). Without it the
// kernel's flusher found gigabytes dirty for 30 s at once and wrote them in
// a burst that stalled appends for 0.1-1.4 s (end-to-end p99 of 0.1-1.2 s at
// 50 MB/s on a 2-CPU machine).
//
// ReadAlloc lets the caller supply the read buffer (the broker pools them
// and gives them back once the fetch answer is encoded); Read allocates.
//
// Read finds the segment and the index position under the mutex, then reads
// the file without it, bounded by the segment size it observes (bytes below
// it are completely written). One read returns batches of one segment. Data
// is never cached by the application: reads go to the page cache.
//
// # Leader epochs
//
// Every appended batch carries its partition leader epoch (stamped by
// AppendAsLeader, kept by AppendAsFollower), so the epoch cache is derived
// data: it is the list of (epoch, first offset) pairs of the batches in the
// log. An append that starts a new epoch (the first append to a partition,
// or the first after a leader change) only updates the cache in memory and
// marks it dirty; leader-epoch-checkpoint is written (atomically, with
// fsync) by the next flush, just before the recovery point moves, and by
// Close. This is Kafka's KAFKA-15046: the checkpoint's two fsyncs used to
// run under the log's mutex on the produce path, once per partition and
// leader epoch, which cost producing to 10,000 new partitions 20,000
// fsyncs in a row and stalled every append of a partition behind them.
//
// Why a crash loses nothing: the invariant is that every epoch whose start
// offset is below the recovery point is in the file on disk, because the
// file is fsynced before the recovery point passes it (flushUpTo), and the
// recovery-point checkpoint is written only after that (Manager.Maintain
// reads the value flushUpTo set). After a crash, recovery scans every
// segment from the one holding the recovery point on and assigns the
// epochs of the batches it finds, so the epochs that started at or after
// the recovery point, the only ones the file may lack, are rebuilt from the
// batches themselves; epochs the file holds past the recovered log end
// (written for data that did not survive) are truncated at open. The
// rebuilt cache is then persisted before the log is used. A crash in the
// middle of a write leaves the previous file (temporary file and rename).
// Truncations (TruncateTo, retention, DeleteRecords) still persist at once:
// they are rare and not on the produce path.
//
// # File descriptors
//
// A log holds one file descriptor of its own: its active segment's .log,
// opened when the segment is created and closed when it rolls (or the log
// closes). The active indexes hold none (see above); the leader-epoch
// checkpoint, producer snapshots and partition.metadata are written
// through short-lived descriptors. So a broker with N partitions needs N
// descriptors for them, plus the file cache's.
//
// The files of sealed segments (.log, .index, .timeindex) are opened on
// first use through a Manager-wide cache (filecache.go) that keeps at most
// ManagerConfig.MaxOpenSegmentFiles of them open (default 4096, negative:
// unlimited) and closes the least recently used. A reader takes a
// reference on a file for the time it uses it (acquire/release), so a file
// in use is never closed under it; capacity is exceeded while more files
// than that are in use at once, and idle ones are closed as soon as they
// are released. A closed file is reopened on the next read, by its current
// name: a segment deleted by retention is renamed to *.deleted and stays
// readable until file.delete.delay.ms passes; only then do its files go
// for good, and a read of them fails with ErrLogClosed (which Read turns
// into ErrOffsetOutOfRange), as before. A rolled segment's .log goes from
// pinned to the cache without being closed. fsyncs of sealed files use the
// open descriptor if there is one, else one opened for the fsync (fsync
// covers every write to the file, whichever descriptor made it).
//
// With the defaults, 10,000 partitions need about 10,000 + 4,096
// descriptors, within a 20,000 RLIMIT_NOFILE with room for client sockets;
// Kafka instead recommends a limit of 100,000 or more.
//
// # Retention
//
// Maintain deletes the oldest segments, never the active one and never one
// holding offsets at or above the high watermark, while they are wholly
// below the log start offset, older than retention.ms by their largest
// timestamp, or not needed to stay within retention.bytes. Deleted segments
// leave the log at once; their files are renamed to *.deleted and removed
// after file.delete.delay.ms so that reads in flight can finish.
// DeleteRecordsBefore moves the log start offset (checkpointed) and deletes
// the segments below it at once; when it reaches the log end offset the
// active segment is rolled and deleted too.
//
// # Compaction
//
// For a log with cleanup.policy=compact (LogConfig.Compact), Maintain runs
// a simplified Kafka LogCleaner (cleaner.go) after retention. The cleanable
// segments are the longest prefix of sealed segments below the last stable
// offset (so below the high watermark, and holding nothing of an open
// transaction) whose largest timestamp is older than
// min.compaction.lag.ms; the active segment is never cleaned. A pass runs when some of them are
// dirty (at or past the cleaner offset) and the dirty ratio (bytes of
// sealed segments at or past the cleaner offset / bytes of all sealed
// segments) reaches min.cleanable.dirty.ratio. It builds a map key →
// highest offset over the dirty cleanable segments, from the cleaner
// offset on, as far as their keys fit in log.cleaner.dedupe.buffer.size
// (Kafka's bound; the next pass goes on from where this one stopped, and
// a log whose first dirty segment does not fit is not cleaned), then
// rewrites every segment below the map's end: a record whose key the map
// holds survives only at the mapped offset, one whose key it lacks (the
// clean part holds each key once already) survives; tombstones (null
// value) whose batch's max timestamp is more than delete.retention.ms
// before now are dropped too. The cleaner offset then moves to the map's
// end, or back to a segment the pass had to leave out (its previous
// files still waiting for deletion), so no key is left twice below it.
// Records without a key are kept.
//
// Transactions follow Kafka's cleaner (cleaner_txn.go, after its
// CleanedTransactionMetadata). Every transaction with data in the
// cleanable segments is decided, so a pass knows the aborted ones ahead of
// reading, from the transaction indexes (AbortedTransactions, which also
// finds an ABORT in a later, uncleaned segment). Batches of aborted
// transactions are removed whatever their keys and stay out of the key
// map; committed ones are compacted like any other. The rewrite follows
// the transactions from the first segment on (a segment left out of the
// runs is read for them too): a COMMIT or ABORT marker is kept as long as
// a batch of its transaction was read in the pass, an ABORT with its
// .txnindex entry; the first pass that finds its transaction without
// batches rewrites the marker with a delete horizon (KIP-534: the
// delete-horizon attribute bit, now + delete.retention.ms as the first
// timestamp, the record's timestamp delta rebased so that its timestamp
// stays) and drops the ABORT's entry; a pass at or past the horizon
// removes it, so that a consumer that read the transaction's data has
// delete.retention.ms to reach its marker. A marker keeps its record while
// a producer snapshot at or below it exists (a replay from that snapshot
// must see it close the transaction; in practice the two kept snapshots
// are past it by then). Control batches that are not COMMIT or ABORT are
// kept.
//
// The batch that holds a producer's state (as Kafka's
// lastRecordsOfActiveProducers: the last data batch of each producer in
// the state, by last offset, or, when its epoch has no data batch, its
// markers of that epoch) is filtered like the others but, if nothing of
// it survives (an aborted batch, shadowed records, a marker past its
// horizon), kept as an empty batch, Kafka's header without records
// (uncompressed, first timestamp -1; offset range, producer fields and max
// timestamp kept), so that producer state rebuilt from the log still
// knows the last sequence and epoch. Read in every pass, it keeps its
// transaction's marker too. A rewritten batch keeps its base offset, last
// offset delta, producer fields, timestamps, leader epoch and codec
// (compressed batches are decompressed, filtered and recompressed); its
// records keep their offset deltas (gaps are legal in v2) and the CRC is
// recomputed. Another batch left without records is dropped; a segment
// left without batches stays (empty) until the next open drops it.
//
// The cleanable segments are rewritten in runs, as Kafka's
// groupSegmentsBySize does: consecutive segments whose sizes add up to at
// most segment.bytes, and whose offsets fit one segment's 32-bit relative
// range, become one segment named after the first. Without merging, a
// compacted topic (__consumer_offsets among them) would keep one ever
// smaller segment per roll, and its file count would grow without bound.
//
// The cleaner offset (the sealed segments below it are clean) is written
// with the other checkpoints to the log dir's cleaner-offset-checkpoint,
// for compacted logs that were cleaned, and read back at open (cut to the
// log end offset if recovery cut the log), so a restart does not make the
// whole log dirty again.
//
// Crash safety follows Kafka's swap protocol, per run: the new content is
// written to <base>.log.cleaned (base of the run's first segment) and
// fsynced, renamed to <base>.log.swap (the decision) and the directory
// fsynced; then, under the log's mutex, the old segments' files are
// renamed to *.deleted (removed after file.delete.delay.ms, so reads in
// flight finish, as for retention), the swap file is renamed to
// <base>.log, its indexes are rebuilt and the new segment replaces the run
// in the list, with the entries of the ABORT markers kept with data
// written to its .txnindex before its offset index (a crash in between
// leaves it without indexes, and recovery rebuilds the entries from its
// ABORT markers; one for a marker without data is harmless). Reading and rewriting run without the mutex; a run with a
// segment that was removed, truncated or made active meanwhile is not
// swapped in. At open a *.cleaned file is deleted and a <base>.log.swap
// completes its swap: the files of segment base, and of every segment
// whose base lies within the swap file's offsets (the rest of a merged
// run, if the crash came before all of them were renamed), are deleted,
// and the swap file becomes <base>.log (indexes, the transaction index
// included, rebuilt by recovery).
//
// # Recovery
//
// At open, leftovers (*.deleted, *.tmp, *.cleaned, indexes without a log)
// are removed, a cleaner's *.swap file completes its swap (see Compaction),
// and every segment's indexes are sanity-checked (size a
// multiple of the entry size, entries increasing, positions inside the
// log). Without the clean-shutdown marker, every segment from the one
// holding the recovery point on is recovered: its batches are read from the
// start and validated (header, CRC-32C, offsets increasing); the file is cut
// at the first torn or corrupt batch and any later segment is deleted; the
// indexes are rebuilt from the scan; the leader epochs of the batches go
// into the epoch cache. A segment with a missing or corrupt index is
// recovered the same way even after a clean shutdown. The log end offset is
// the end of the last valid batch. Producer state is loaded from the latest
// readable snapshot in [log start, log end] (newer ones are deleted: the
// data they describe is gone) and the batches after it are replayed. A
// recovered segment's .txnindex is emptied and rebuilt by that replay,
// which then starts from a snapshot at or below the first recovered
// segment (from the log start if there is none), so that it sees each
// ABORT marker with the transactions open before it; a .txnindex that
// fails its check at open (size not a multiple of 34, bad version, offsets
// out of order or outside the segment) makes its segment recovered too.
//
// # Idempotence
//
// Per producer id the log keeps its epoch and the sequence and offset
// ranges of its last five batches (Kafka's ProducerStateManager). For a
// batch with a producer id:
//
//   - an epoch older than the producer's is ErrInvalidProducerEpoch;
//   - a newer epoch must start at sequence 0 (else ErrOutOfOrderSequence)
//     and resets the producer's batches;
//   - in the same epoch, a batch whose sequence range equals a remembered
//     batch's is a duplicate: it is not appended and AppendAsLeader answers
//     with the original offsets and Duplicate set; otherwise its base
//     sequence must follow the last one (wrapping from MaxInt32 to 0), else
//     ErrOutOfOrderSequence;
//   - an unknown producer id (new, or whose state expired or went with
//     retention) is accepted at any sequence, as Kafka 3.x/4.x does.
//
// A producer with an open transaction may only write transactional
// batches (ErrInvalidTxnState). AppendAsLeader refuses control batches:
// markers are written by AppendMarker (see Transactions). All batches of
// one append are checked against staged copies of the producer entries,
// so a set is accepted or rejected as a whole; once written, the batches
// update producer state by the same replay a follower and recovery use. A snapshot is written when a segment
// rolls and when the log closes; the last two are kept, and those below the
// log start offset are deleted. Producers idle longer than
// producer.id.expiration.ms without an open transaction are forgotten by
// Maintain.
//
// # Transactions
//
// The log side of Kafka's transactions (the coordinator is package txn).
// Nothing reaches it from clients yet: the broker refuses transactional
// produce until the whole feature is wired.
//
// Markers. AppendMarker writes, as leader, the COMMIT or ABORT marker of a
// producer's transaction: a control batch (records.BuildMarker: control and
// transactional bits, producer id and epoch, base sequence -1, one record
// with key (version 0, type 0 ABORT / 1 COMMIT) and value (version 0,
// coordinator epoch)). A marker whose producer epoch is older than the
// producer's is ErrInvalidProducerEpoch; one whose coordinator epoch is
// older than the last marker's of that producer is
// ErrTransactionCoordinatorFenced. A follower replays markers unchecked.
//
// Producer state. The first transactional batch of a producer without an
// open transaction opens one at its base offset (CurrentTxnFirstOffset); a
// marker closes it and records its coordinator epoch; a marker without an
// open transaction is a transaction of its own offset, as in Kafka. The
// snapshot keeps both fields, so open transactions survive restarts.
// The partition keeps its open transactions, and the completed ones whose
// marker is not yet below the high watermark, each ordered by first offset
// (Kafka's ongoingTxns and unreplicatedTxns). Leader appends, follower
// appends and recovery's replay all go through producerState.replay, so
// their state and transaction indexes are the same; TruncateTo reloads
// state from the last snapshot at or below the new end, which reopens the
// transactions whose markers were cut.
//
// Last stable offset. LastStableOffset = min(max(first offset of the
// earliest open or unreplicated transaction, log start offset), high
// watermark): one atomic, recomputed under the mutex whenever the high
// watermark, the log start offset or the transactions change. Retention
// and DeleteRecords may delete the start of an open transaction (they stop
// at the high watermark, not at the last stable offset, as in Kafka): the
// transaction stays open and the log start offset is the first unstable
// one.
//
// Transaction index. Each segment's <base>.txnindex lists, in marker
// order, the aborted transactions whose ABORT marker it holds, in Kafka's
// format: 34-byte big-endian entries (version int16 = 0, producer id int64,
// first offset int64, last offset int64 = the marker's, last stable
// offset int64 = the first offset of the earliest transaction of another
// producer still open after the marker, else the marker's offset + 1).
// The file exists once the segment has an entry; an entry is written
// through (under the mutex) when the marker is appended and fsynced with
// the segment. It is renamed and deleted with its segment (retention,
// truncation, log deletion), cut by TruncateTo to the entries below the new
// end, and rebuilt by recovery. AbortedTransactions(fetchOffset,
// upperBound) reads the indexes of the segment holding fetchOffset and the
// later ones (without the mutex; the segments list knows which have
// entries) and returns every entry whose marker is at or after fetchOffset
// and whose first offset is below upperBound, stopping at the first entry
// whose last stable offset reaches upperBound (Kafka's
// collectAbortedTransactions): Fetch's aborted_transactions for
// read_committed, with ReadResult.NextOffset of the read as upperBound
// (the offset after the last batch read; for a sendfile Region, whose
// batches are not read, the end of its segment's offsets below maxOffset,
// Kafka's fallback too).
//
// # Locking
//
// Each Log has one mutex (Log.mu) guarding its segments list, producer
// state, epoch cache and configuration; there is no lock across partitions.
// The log end offset, high watermark and log start offset are atomics
// written under the mutex, so their getters do not lock. The segments list
// is replaced, never modified in place, so a reader can keep using the
// slice it saw. No file I/O on record data happens under the mutex except
// the append's own write (and, on a cache miss, the open of a sealed
// index for a lookup); fsyncs of segments run outside it (the
// leader-epoch checkpoint, written once per new epoch at flush, is
// written under it). Index entries are written
// under it (they change under it), at flush, roll and close.
//
// Manager.mu guards the Manager's maps only (logs, their dirs, the count
// of logs per dir, the logs being created). GetOrCreate reserves the
// partition and picks the dir with the fewest logs under it (no work
// proportional to the number of partitions), then creates the directory,
// partition.metadata (fsynced, with its directory) and the first segment
// without it, so the broker can create logs from a worker pool in
// parallel; a concurrent call for the same partition waits for the first,
// Delete waits for a creation in flight, and Close waits for all of them,
// then closes the logs 16 at a time (each close fsyncs).
//
// The file cache has one mutex (fileCache.mu) for its LRU list and the
// reference counts, held for a few pointer updates and never during a
// syscall; each cached file has openMu, which serializes its open and its
// rename so that an open always uses its current name.
//
// Lock order: Manager.ckptMu, then Log.mu, then cachedFile.openMu, then
// fileCache.mu. writebacker.mu (taken under Log.mu to queue a write-out)
// is a leaf. Manager.mu is a leaf: it is never held while another of
// these is taken (nor during file I/O). A Log never calls into its
// Manager.
package storage
