package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/metadata"
	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/replica"
	"github.com/samsa-streaming/samsa/internal/storage"
)

// errorMapping lists, in order, which sentinel error becomes which Kafka
// error. It is the only place where package errors meet Kafka codes: the
// lower packages return sentinels wrapped with %w and context, the handlers
// call errCode.
var errorMapping = []struct {
	err  error
	kerr *kerr.Error
}{
	// records: what a producer sent
	{records.ErrRecordTooLarge, kerr.MessageTooLarge},
	{records.ErrInvalidRecord, kerr.InvalidRecord},
	{records.ErrInvalidTimestamp, kerr.InvalidTimestamp},
	// Produce v3+ may carry only magic v2; Kafka calls others invalid.
	{records.ErrUnsupportedMagic, kerr.InvalidRecord},
	{records.ErrUnsupportedCompression, kerr.UnsupportedCompressionType},
	{records.ErrCorrupt, kerr.CorruptMessage},
	{records.ErrTruncated, kerr.CorruptMessage},

	// storage
	{storage.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{storage.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{storage.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	{storage.ErrInvalidTxnState, kerr.InvalidTxnState},
	{storage.ErrTransactionCoordinatorFenced, kerr.TransactionCoordinatorFenced},
	{storage.ErrLogClosed, kerr.NotLeaderForPartition},
	{storage.ErrKafkaStorage, kerr.KafkaStorageError},

	// metadata / controller
	{metadata.ErrTopicExists, kerr.TopicAlreadyExists},
	{metadata.ErrInvalidTopic, kerr.InvalidTopicException},
	{metadata.ErrTopicCollision, kerr.InvalidTopicException},
	{metadata.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	{metadata.ErrUnknownTopicID, kerr.UnknownTopicID},
	{metadata.ErrInvalidPartitions, kerr.InvalidPartitions},
	{metadata.ErrInvalidReplicationFactor, kerr.InvalidReplicationFactor},
	{metadata.ErrInvalidReplicaAssignment, kerr.InvalidReplicaAssignment},
	{metadata.ErrInvalidConfig, kerr.InvalidConfig},
	{metadata.ErrNotController, kerr.NotController},
	{metadata.ErrInvalidRequest, kerr.InvalidRequest},
	{metadata.ErrStaleBrokerEpoch, kerr.StaleBrokerEpoch},
	{metadata.ErrBrokerNotRegistered, kerr.BrokerIDNotRegistered},
	{metadata.ErrDuplicateBrokerRegistration, kerr.DuplicateBrokerRegistration},
	{metadata.ErrInconsistentClusterID, kerr.InconsistentClusterID},
	{metadata.ErrNotLeader, kerr.NotLeaderForPartition},
	{metadata.ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
	{metadata.ErrInvalidUpdateVersion, kerr.InvalidUpdateVersion},
	{metadata.ErrIneligibleReplica, kerr.IneligibleReplica},
	{metadata.ErrElectionNotNeeded, kerr.ElectionNotNeeded},
	{metadata.ErrNoReassignmentInProgress, kerr.NoReassignmentInProgress},
	{metadata.ErrDuplicateVoter, kerr.DuplicateVoter},
	{metadata.ErrVoterNotFound, kerr.VoterNotFound},
	{metadata.ErrInvalidFeatureUpdate, kerr.InvalidUpdateVersion},
	{metadata.ErrUnsupportedFeatures, kerr.UnsupportedVersion},
	{metadata.ErrPreferredLeaderNotAvailable, kerr.PreferredLeaderNotAvailable},
	{metadata.ErrEligibleLeadersNotAvailable, kerr.EligibleLeadersNotAvailable},

	// replica
	{replica.ErrNotLeader, kerr.NotLeaderForPartition},
	{replica.ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
	{replica.ErrUnknownLeaderEpoch, kerr.UnknownLeaderEpoch},
	{replica.ErrNotEnoughReplicas, kerr.NotEnoughReplicas},
	{replica.ErrNotEnoughReplicasAfterAppend, kerr.NotEnoughReplicasAfterAppend},
	// Kafka answers a fetch from a broker that is not a replica with
	// NOT_LEADER_OR_FOLLOWER.
	{replica.ErrUnknownReplica, kerr.NotLeaderForPartition},

	// config
	{config.ErrUnknownConfig, kerr.InvalidConfig},
	{config.ErrInvalidConfig, kerr.InvalidConfig},
	{config.ErrReadOnlyConfig, kerr.InvalidConfig},

	// broker
	{errNotLeader, kerr.NotLeaderForPartition},
	{errUnknownTopicOrPartition, kerr.UnknownTopicOrPartition},
	// As Kafka answers with group.version 0.
	{errConsumerProtocolDisabled, kerr.UnsupportedVersion},
	{errShuttingDown, kerr.NotLeaderForPartition},
	{errNoController, kerr.NotController},
	{errReplicationFactorChange, kerr.InvalidReplicationFactor},
	{context.DeadlineExceeded, kerr.RequestTimedOut},
}

var (
	errNotLeader                = errors.New("this broker is not the partition's leader")
	errUnknownTopicOrPartition  = errors.New("unknown topic or partition")
	errShuttingDown             = errors.New("broker is shutting down")
	errConsumerProtocolDisabled = errors.New("the consumer group protocol (KIP-848) is disabled: the cluster's group.version is 0")
	errReplicationFactorChange  = errors.New("the reassignment changes the replication factor and the request does not allow it")
)

// errCode maps an error to its Kafka error code; nil is 0 and anything
// unknown is UNKNOWN_SERVER_ERROR.
func errCode(err error) int16 {
	if err == nil {
		return 0
	}
	if ke := (*kerr.Error)(nil); errors.As(err, &ke) {
		return ke.Code
	}
	for _, m := range errorMapping {
		if errors.Is(err, m.err) {
			return m.kerr.Code
		}
	}
	return kerr.UnknownServerError.Code
}

// errMessage is the error message sent next to a code, nil when there is no
// error.
func errMessage(err error) *string {
	if err == nil {
		return nil
	}
	m := err.Error()
	return &m
}
