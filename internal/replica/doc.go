// Package replica owns the partition replicas a broker hosts (Kafka's
// ReplicaManager and Partition): their role as leader or follower, the
// in-sync replica set and the high watermark on the leader, the follower
// fetchers that copy the leaders' logs, the periodic ISR check and the
// AlterPartition requests that change an ISR through the controller.
//
// # Data path
//
// Partition data is replicated as Kafka does it, not through raft: a
// follower fetches from its leader (one fetcher per source broker, one
// Fetch for all its partitions, from each log's end with the epoch of its
// last batch) and appends the batches as they are, offsets and producer
// state included (storage.Log.AppendAsFollower), so idempotence survives
// a leader change. The leader records each fetch as the follower's log
// end offset; the high watermark is the least log end offset over the
// maximal ISR (leader.go), and moving it wakes acks=all produces and
// delayed consumer fetches. A produce with acks=all is refused before the
// append when the ISR is smaller than min.insync.replicas
// (NOT_ENOUGH_REPLICAS) and answered once the high watermark passed it,
// with NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below the
// minimum meanwhile; a change of leader epoch while it waits answers
// NOT_LEADER_OR_FOLLOWER, since the log may have been truncated.
//
// # ISR changes
//
// The leader proposes an ISR change (one at a time per partition) when a
// follower has not caught up with its log end for replica.lag.time.max.ms
// (checked every half of it) or when an out-of-sync follower has reached
// the high watermark and the start of the leader's epoch. The proposal is
// sent to the controller (AlterPartition, batched) with the leader and
// partition epochs it is based on, so the change of a leader that lost its
// leadership, or of stale state, is refused. Until the controller answers,
// the high watermark counts the union of both ISRs.
//
// # Truncation
//
// Each follower fetch carries the epoch of the follower's last batch; when
// the leader's epoch history does not have that epoch ending at or after
// the fetch offset, it answers with the diverging epoch and its end offset
// (KIP-320) and no records, and the follower truncates (fetcher.go,
// Kafka's getOffsetTruncationState), repeating until the logs agree. A
// replica coming back after a leader change thus never keeps a divergent
// tail. A new leader first records its epoch at its log end
// (storage.Log.AssignEpoch) so it can answer those checks at once.
//
// # Locking
//
// Partition.roleMu is held shared by every append (as leader, and a
// follower's append and truncation) and exclusively by a change of role or
// leader epoch, so nothing is written under an epoch the partition no
// longer has. Partition.mu guards the replica state. Order: Manager.mu,
// then Partition.roleMu, then Partition.mu, then the storage log's own
// lock.
package replica
