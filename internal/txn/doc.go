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
// # Wiring (not done yet; the broker still refuses transactions)
//
// Wired so far: internal/broker/txn_coordinator.go runs a Shard per led
// __transaction_state partition on the coordinator runtime, with the
// Config from the broker's config and image, the markers of LoadComplete
// and Complete handed to the marker sender and its reports fed back
// through MarkerWritten; it is not reachable from clients, and nothing
// but tests creates the topic yet (ensureTxnTopic).
//
// The broker will run one Shard per __transaction_state partition it
// leads on the coordinator runtime the group coordinator runs on
// (internal/broker/coordinator_runtime.go: load on leadership by replaying
// the log into a new Shard, unload when the leader epoch changes, a shard
// mutex held across a call, its append and its replies, a tick loop
// calling Tick when NextDeadline is due; machineOps.new already gets the
// leader epoch, and producerIDs.tryNext already never waits). It must
// provide:
//
//   - Appends to __transaction_state with acks=all under the shard's leader
//     epoch (as appendLocked does for __consumer_offsets), mapping
//     failures as coordinatorAppendError does, except that MESSAGE_TOO_LARGE
//     is UNKNOWN_SERVER_ERROR for transactions. The topic is created on the
//     first FindCoordinator of type transaction with
//     transaction.state.log.num.partitions, .replication.factor,
//     .min.isr, .segment.bytes, compaction and no compression.
//   - NewShard(cfg, leaderEpoch): the leader epoch is the coordinator epoch
//     every marker carries.
//   - Config.ProducerIDs: the broker's producer id blocks, through
//     producerIDs.tryNext (internal/broker/producer_ids.go), which is
//     called under the shard mutex and so never blocks on the controller:
//     COORDINATOR_LOAD_IN_PROGRESS while no block is at hand, the next
//     block prefetched at 90% use.
//   - Config.OffsetsPartition: group.PartitionFor over the partition count
//     of __consumer_offsets; Config.PartitionExists from the metadata image.
//   - A marker sender: the Markers returned by Complete and LoadComplete (and
//     Outstanding after a restart of the sender) grouped by partition leader
//     into WriteTxnMarkers requests (coordinator epoch, transaction version),
//     retried on retriable errors and leader changes; each written partition
//     (or one that no longer exists) reported with MarkerWritten, whose
//     Effects are applied like a request's. TRANSACTION_COORDINATOR_FENCED
//     or INVALID_PRODUCER_EPOCH mean a newer coordinator: stop, the shard is
//     being unloaded. Built: internal/broker/txn_markers.go (the sender,
//     with a per-partition callback), the WriteTxnMarkers handler, and the
//     coordinator feeding it (txn_coordinator.go); left: Outstanding is
//     not used (the sender only restarts with the server), and a marker
//     failing with a non-retriable error other than fencing is only logged.
//   - KIP-890 part 1 on the partition leaders: before appending a
//     transactional batch whose producer has no ongoing transaction on the
//     partition, send AddPartitionsToTxn v4/v5 with VerifyOnly to the
//     coordinator and map TRANSACTION_ABORTABLE to INVALID_TXN_STATE for
//     older produce versions, as Kafka's AddPartitionsToTxnManager does.
//   - Config values: transaction.max.timeout.ms,
//     transactional.id.expiration.ms (declared), and
//     transaction.abort.timed.out.transaction.cleanup.interval.ms and
//     transaction.remove.expired.transaction.cleanup.interval.ms (to
//     declare); TransactionVersion from the finalized transaction.version
//     (SetConfig when it changes). EndTxn v5 and AddPartitionsToTxn v5 may
//     only be advertised at transaction.version 2.
//   - The handlers map a nil transactional id of InitProducerId to the
//     idempotent path, and split a v4+ AddPartitionsToTxn by shard.
//
// Trade-offs: one map per shard, and Tick scans it; fine for many
// thousands of ids per shard. A fenced abort with transaction.version 2
// bumps the epoch twice (the fence and EndTxn's own bump), as the Kafka
// code this follows does.
package txn
