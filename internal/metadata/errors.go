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
)
