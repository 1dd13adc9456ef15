package replica

import (
	"errors"
	"fmt"
)

// Sentinel errors; the broker maps them to Kafka codes (errors.go there).
var (
	// ErrNotLeader: NOT_LEADER_OR_FOLLOWER. A NotLeaderError carries
	// the leader this broker knows of (KIP-951).
	ErrNotLeader = errors.New("this broker is not the partition's leader")
	// ErrFencedLeaderEpoch: FENCED_LEADER_EPOCH.
	ErrFencedLeaderEpoch = errors.New("the request's leader epoch is older than the partition's")
	// ErrUnknownLeaderEpoch: UNKNOWN_LEADER_EPOCH.
	ErrUnknownLeaderEpoch = errors.New("the request's leader epoch is newer than this broker knows")
	// ErrNotEnoughReplicas: NOT_ENOUGH_REPLICAS.
	ErrNotEnoughReplicas = errors.New("fewer in-sync replicas than min.insync.replicas")
	// ErrNotEnoughReplicasAfterAppend: NOT_ENOUGH_REPLICAS_AFTER_APPEND.
	ErrNotEnoughReplicasAfterAppend = errors.New("the records were written but the ISR fell below min.insync.replicas")
	// ErrUnknownReplica: a fetch from a broker that is not a replica of
	// the partition (Kafka answers NOT_LEADER_OR_FOLLOWER).
	ErrUnknownReplica = errors.New("not a replica of the partition")

	errPending = errors.New("waiting for the replicas")
)

// NotLeaderError is ErrNotLeader with the partition's current leader as
// this broker knows it, for the KIP-951 CurrentLeader fields of Produce and
// Fetch answers.
type NotLeaderError struct {
	Leader      int32
	LeaderEpoch int32
}

func (e *NotLeaderError) Error() string {
	if e.Leader < 0 {
		return fmt.Sprintf("%v (the partition has no leader, epoch %d)", ErrNotLeader, e.LeaderEpoch)
	}
	return fmt.Sprintf("%v (broker %d leads it at epoch %d)", ErrNotLeader, e.Leader, e.LeaderEpoch)
}

func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }
