// Package group is the group coordinator's state machine: the classic
// consumer-group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
// static membership), the KIP-848 consumer protocol
// (ConsumerGroupHeartbeat with server-side assignors and incremental
// reconciliation, ConsumerGroupDescribe; consumer.go, assignor.go) and
// committed offsets (OffsetCommit, OffsetFetch, OffsetDelete,
// DeleteGroups, offset retention, and TxnOffsetCommit's transactional
// offsets, pending until their transaction's marker; txn_offsets.go) for
// the groups of one __consumer_offsets partition, which Kafka calls a
// coordinator shard.
//
// The package does no I/O, starts no goroutine and reads no clock. Every
// call takes the time as an argument; timers (session timeouts, rebalance
// timeouts, the initial rebalance delay, pending syncs, offset retention)
// are deadlines that Tick(now) checks and NextDeadline reports. Calls return
// Effects: the records to append to the shard's __consumer_offsets
// partition and the replies that wait on that append. The caller (the
// broker) appends the records, waits until they are committed (acks=all),
// then calls Effects.Complete with the outcome, which runs the replies in
// order, synchronously. Replies may belong to other requests than the one
// being served: a JoinGroup that completes a rebalance answers every member
// that was waiting. A Shard is not safe for concurrent use; the caller
// serialises calls and completions per shard.
//
// Records use Kafka's own key and value schemas (kmsg.OffsetCommitKey and
// OffsetCommitValue for key versions 0 and 1, kmsg.GroupMetadataKey and
// GroupMetadataValue for key version 2, the ConsumerGroup* records of
// Kafka's new coordinator for key versions 3 and 5-8, encoded in
// consumer_records.go as kmsg lacks them, a null value as a tombstone), so
// Kafka's tools decode the topic. Consumer-protocol groups also need the
// topics' ids and partition counts: the broker passes them in with
// SetTopics when the metadata image changes. Replay rebuilds a shard from those
// records, which is how a coordinator loads a partition it starts leading;
// ReplayBatch also takes the record's batch (a transactional batch's offsets
// are pending for its producer) and ReplayEndTxnMarker the COMMIT and ABORT
// markers among them. The broker writes a TxnOffsetCommit's records as one
// transactional batch of the Effects' Producer, and calls
// ReplayEndTxnMarker for the markers it writes to the partition too.
//
// Trade-offs: the state is one map per shard and Tick and NextDeadline scan
// every group; that is simple and fine for thousands of groups per shard,
// not for millions. Offsets are applied to the state only once their append
// succeeded; group changes are applied at once and a failed append of a
// group record answers with an error and starts a new rebalance, as Kafka
// does. Mixed classic/consumer groups are not implemented.
package group
