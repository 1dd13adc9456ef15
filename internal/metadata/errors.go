package metadata

import "errors"

// Sentinel errors returned by the controller operations. They are wrapped
// with %w and a message saying what is wrong; the broker maps them to Kafka
// error codes (errors.Is) and sends err.Error() as the error message.
var (
	// ErrTopicExists: TOPIC_ALREADY_EXISTS.
	ErrTopicExists = errors.New("topic already exists")
	// ErrInvalidTopic: INVALID_TOPIC_EXCEPTION (bad name, reserved name).
	ErrInvalidTopic = errors.New("invalid topic")
	// ErrTopicCollision: INVALID_TOPIC_EXCEPTION; the name equals an
	// existing one once '.' is replaced by '_'.
	ErrTopicCollision = errors.New("topic name collision")
	// ErrUnknownTopic: UNKNOWN_TOPIC_OR_PARTITION.
	ErrUnknownTopic = errors.New("unknown topic or partition")
	// ErrUnknownTopicID: UNKNOWN_TOPIC_ID.
	ErrUnknownTopicID = errors.New("unknown topic id")
	// ErrInvalidPartitions: INVALID_PARTITIONS.
	ErrInvalidPartitions = errors.New("invalid partitions")
	// ErrInvalidReplicationFactor: INVALID_REPLICATION_FACTOR.
	ErrInvalidReplicationFactor = errors.New("invalid replication factor")
	// ErrInvalidReplicaAssignment: INVALID_REPLICA_ASSIGNMENT.
	ErrInvalidReplicaAssignment = errors.New("invalid replica assignment")
	// ErrInvalidConfig: INVALID_CONFIG. The validator's error is wrapped
	// too, so errors.Is also finds the validator's own sentinels.
	ErrInvalidConfig = errors.New("invalid config")
	// ErrNotController: NOT_CONTROLLER. Returned when this node is not the
	// raft leader, when leadership is lost while an operation is in flight
	// (its outcome is then unknown), and when the node is shutting down.
	ErrNotController = errors.New("this node is not the active controller")
	// ErrInvalidRequest: INVALID_REQUEST (duplicates in a request,
	// contradictory fields, unsupported resource types).
	ErrInvalidRequest = errors.New("invalid request")
	// ErrInvalidRecord is returned by the apply path for a record that does
	// not fit the image (it never reaches a client when the controller
	// validated first). The whole batch is skipped on every node alike.
	ErrInvalidRecord = errors.New("invalid metadata record")
	// ErrStaleBrokerEpoch: STALE_BROKER_EPOCH; a broker request carries
	// an epoch other than its current registration's.
	ErrStaleBrokerEpoch = errors.New("stale broker epoch")
	// ErrBrokerNotRegistered: BROKER_ID_NOT_REGISTERED.
	ErrBrokerNotRegistered = errors.New("broker not registered")
	// ErrDuplicateBrokerRegistration: DUPLICATE_BROKER_REGISTRATION;
	// another process with this node.id holds a live session.
	ErrDuplicateBrokerRegistration = errors.New("another broker with this id is registered and alive")
	// ErrInconsistentClusterID: INCONSISTENT_CLUSTER_ID; the broker's log
	// dirs belong to another cluster.
	ErrInconsistentClusterID = errors.New("cluster id does not match")
	// ErrNotLeader: NOT_LEADER_OR_FOLLOWER; an AlterPartition from a
	// broker that is not the partition's leader.
	ErrNotLeader = errors.New("not the partition leader")
	// ErrFencedLeaderEpoch: FENCED_LEADER_EPOCH.
	ErrFencedLeaderEpoch = errors.New("fenced leader epoch")
	// ErrInvalidUpdateVersion: INVALID_UPDATE_VERSION; an AlterPartition
	// based on a partition epoch that is not the current one.
	ErrInvalidUpdateVersion = errors.New("stale partition epoch")
	// ErrIneligibleReplica: INELIGIBLE_REPLICA; an AlterPartition adds a
	// fenced or shutting-down broker to the ISR.
	ErrIneligibleReplica = errors.New("ineligible replica")
	// ErrElectionNotNeeded: ELECTION_NOT_NEEDED.
	ErrElectionNotNeeded = errors.New("election not needed")
	// ErrPreferredLeaderNotAvailable: PREFERRED_LEADER_NOT_AVAILABLE.
	ErrPreferredLeaderNotAvailable = errors.New("preferred leader not available")
	// ErrEligibleLeadersNotAvailable: ELIGIBLE_LEADERS_NOT_AVAILABLE.
	ErrEligibleLeadersNotAvailable = errors.New("no eligible leader")
	// ErrNoReassignmentInProgress: NO_REASSIGNMENT_IN_PROGRESS.
	ErrNoReassignmentInProgress = errors.New("no reassignment in progress")
	// ErrDuplicateVoter: DUPLICATE_VOTER.
	ErrDuplicateVoter = errors.New("already a voter")
	// ErrInvalidFeatureUpdate: INVALID_UPDATE_VERSION; an UpdateFeatures
	// level that is not supported or not allowed (control_features.go).
	ErrInvalidFeatureUpdate = errors.New("invalid update version")
	// ErrUnsupportedFeatures: UNSUPPORTED_VERSION; a broker registers that
	// does not support a finalized feature level.
	ErrUnsupportedFeatures = errors.New("unsupported feature level")
	// ErrVoterNotFound: VOTER_NOT_FOUND.
	ErrVoterNotFound = errors.New("not a voter")
)
