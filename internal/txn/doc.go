// Package txn is the transaction coordinator's state machine (Kafka's
// TransactionCoordinator, TransactionMetadata and TransactionStateManager)
// for the transactional ids of one __transaction_state partition: a
// coordinator shard, with the same shape as internal/group's.
//
// It does no I/O, starts no goroutine and reads no clock. Every call takes
// the time; timers (transaction timeouts, id expiry, the retry of a failed
// Complete record) are checked by Tick(now) and reported by NextDeadline.
// A request is a call that returns Effects: the records to append to the
// shard's partition and the replies that wait on that append. The caller
// appends the records with acks=all, then calls Effects.Complete with the
// outcome, which runs the replies in order and returns the markers now to
// be sent. Replay rebuilds the state from the partition (on load, and on a
// follower if it ever keeps one warm); LoadComplete ends it.
//
// # States
//
// Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit,
// CompleteAbort, Dead and PrepareEpochFence, with Kafka's ids and
// transitions (state.go, CanTransition):
//
//	Empty, Complete* --AddPartitions/AddOffsets--> Ongoing --EndTxn--> Prepare*
//	Prepare* --every marker written--> Complete* --InitProducerId--> Empty
//	Ongoing --timeout or InitProducerId--> (PrepareEpochFence) --> PrepareAbort
//	Empty, Complete* --transactional.id.expiration.ms idle--> (Dead) --> tombstone
//
// Dead and PrepareEpochFence are only ever pending states. While a write
// of an id is in flight its metadata has a pending state (Kafka's
// pendingState) and every other request for the id gets
// CONCURRENT_TRANSACTIONS; a failed write drops the pending state and
// leaves the id as it was. While the markers of an ended transaction are
// written, the pending state is the Complete state: InitProducerId,
// AddPartitionsToTxn and EndTxn retries get CONCURRENT_TRANSACTIONS
// until the transaction completes, as in Kafka.
//
// # Records
//
// Kafka's TransactionLogKey (version 0: transactional_id) and
// TransactionLogValue (version 0; version 1, flexible, adds the tagged
// previous_producer_id, next_producer_id and client_transaction_version,
// written from transaction.version 1 on), through kmsg's TxnMetadataKey
// and TxnMetadataValue, so Kafka's tools and dump-log read the topic. An
// Empty value has null partitions; an expired id gets a tombstone (a key
// with a null value). The last epoch is not in the log (as in Kafka, a
// loaded id has none). A transactional id's partition is
// PartitionFor: Java's String.hashCode, as for group ids
// (group.PartitionFor).
//
// # Operations
//
// InitProducerID (a new id gets an id from Config.ProducerIDs; an existing
// one an epoch bump, a new id once the epoch reaches Short.MAX_VALUE - 1;
// KIP-360's producer id and epoch; an ongoing transaction is aborted with
// a fencing epoch bump first and the client is answered
// CONCURRENT_TRANSACTIONS, so it retries), AddPartitions (the client's
// v0-v3 form through ClientTransaction/ClientTopics, the brokers' v4+
// form one transaction per call, VerifyOnly for KIP-890 part 1),
// AddOffsets (the group's partition from Config.OffsetsPartition), EndTxn
// (KIP-890 part 2's epoch bump per transaction when transaction.version 2
// is finalized and the client sends EndTxn v5+; off by default),
// MarkerWritten, Describe and List.
//
// # Wiring
//
// The broker runs a Shard per __transaction_state partition it leads on
// the coordinator runtime the group coordinator runs on
// (internal/broker/coordinator_runtime.go and txn_coordinator.go: load on
// leadership by replaying the log into a new Shard at the partition's
// leader epoch, which is the coordinator epoch every marker carries;
// unload when the leader epoch changes; a shard mutex held across a call,
// its append and its replies; a tick loop calling Tick when NextDeadline
// is due). What the broker provides:
//
//   - Appends to __transaction_state with acks=all under the shard's leader
//     epoch, failures mapped as coordinatorAppendError does. The topic is
//     created on the first FindCoordinator of key type 1 with
//     transaction.state.log.num.partitions, .replication.factor,
//     .min.isr, .segment.bytes, compaction and no recompression
//     (ensureTxnTopic).
//   - Config from the broker's config and image: transaction.max.timeout.ms,
//     transactional.id.expiration.ms, the two cleanup intervals,
//     TransactionVersion from the finalized transaction.version (SetConfig
//     when it changes), ProducerIDs through producerIDs.tryNext (called
//     under the shard mutex, so it never waits on the controller:
//     COORDINATOR_LOAD_IN_PROGRESS while no block is at hand),
//     OffsetsPartition over __consumer_offsets' partition count, and
//     PartitionExists from the image.
//   - The client handlers (22_init_producer_id.go, 24-26, 65, 66), each
//     one call through txnAnswer; a nil transactional id of InitProducerId
//     is the idempotent path; a v4 AddPartitionsToTxn is split by shard.
//     EndTxn v5 and AddPartitionsToTxn v5 are served; EndTxn v5 bumps
//     the epoch only with transaction.version 2 finalized (KIP-890 part
//     2), as do the implicit adds of Produce v12 and TxnOffsetCommit v5
//     (txn_verify.go, 28_txn_offset_commit.go).
//   - The marker sender (txn_markers.go): the Markers returned by Complete
//     and LoadComplete grouped by partition leader into WriteTxnMarkers
//     requests, retried on retriable errors and leader changes; each
//     written partition (or one that no longer exists) reported with
//     MarkerWritten. TRANSACTION_COORDINATOR_FENCED or
//     INVALID_PRODUCER_EPOCH mean a newer coordinator or producer epoch:
//     the report is dropped. Any other non-retriable error is logged and
//     the transaction stays in PrepareCommit/PrepareAbort until the
//     partition reloads, when LoadComplete resends it; Kafka treats those
//     errors as fatal bugs too. Outstanding is not used (the sender only
//     restarts with the server, and a reload resends).
//   - KIP-890 part 1 on the partition leaders (txn_verify.go): a
//     transactional batch whose producer has no ongoing transaction on the
//     partition is checked with AddPartitionsToTxn v4 VerifyOnly first,
//     under the storage's verification guard.
//
// Trade-offs: one map per shard, and Tick scans it; fine for many
// thousands of ids per shard. A fenced abort with transaction.version 2
// bumps the epoch twice (the fence and EndTxn's own bump), as the Kafka
// code this follows does.
package txn
