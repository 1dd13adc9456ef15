// Package metadata owns the cluster metadata: the records that describe
// brokers, topics, partitions, configs and producer-id blocks; the
// immutable Image they build; the replicated metadata log they live in
// (hashicorp/raft, the role KRaft's __cluster_metadata plays in Kafka); and
// the controller operations that validate requests and propose records.
//
// # Records
//
// A record is one fact: ClusterIDRecord (written once, by the first
// controller of a new cluster), RegisterBrokerRecord, TopicRecord,
// PartitionRecord, PartitionChangeRecord (leader/ISR/replica changes),
// RemoveTopicRecord, ConfigRecord (set or delete one config of a topic, a
// broker or the cluster-wide broker default) and ProducerIDsRecord (the
// next free producer-id block). One raft log entry holds a batch of records
// that is applied atomically; a topic with its partitions and configs is one
// batch. The encoding (EncodeBatch) is a JSON array of {"type", "v",
// "data"} objects: a type tag and a version per record keep it readable
// with any JSON tool and let a record evolve. The metadata log is small and
// written rarely, so JSON's size costs nothing that matters.
//
// # Image
//
// An Image is the state at one raft index. It is never modified: applying a
// batch copies the image struct and, on first write within the batch, only
// the maps, topics and config sets the batch touches; everything else is
// shared with the previous image. A 10,000-partition cluster therefore does
// not copy its partitions on each change (a partition change copies one
// topic's partition slice and the topic maps). Readers take Node.Image(), an
// atomic pointer load, and never lock; they must treat the image as
// read-only. Apply re-checks the invariants a batch relies on (topic name
// free, topic known, partitions appended in order, leader and ISR within the
// replicas, producer ids only growing) so that even a record the controller
// should not have proposed leaves every node with the same image: the whole
// batch is refused everywhere and its proposer gets the error.
//
// # Apply path and subscriptions
//
// raft commits an entry; its FSM goroutine calls fsm.Apply, which decodes
// the batch, builds the next image, stores it and calls every subscriber
// with (prev, next) before it returns - so a controller operation that
// waited for its entry to be applied finds the new image in place, and the
// broker's subscriber (which creates and deletes local partition logs) has
// run. Snapshot restores and controller changes (Image.ControllerID, which
// each node sets from its own view of raft) go through the same path. A
// subscriber is first called with (nil, current image), so nothing is
// missed between Open and Subscribe. Raft snapshots serialise the whole image as
// JSON (snapshotImage); Restore rebuilds it. Snapshots live in Dir beside
// raft.db (bolt: raft's log and stable store).
//
// # Controller operations
//
// CreateTopics, DeleteTopics, CreatePartitions, AlterConfigs,
// AllocateProducerIDs and RegisterBroker run on the raft leader. They are
// serialised by a semaphore; the first operation of each leader term waits
// for a raft barrier so that the image holds everything committed by earlier
// leaders (and the first leader of a new cluster writes the ClusterID
// record). Each validates against the image (sentinel errors wrapped with
// a message; the broker maps them to Kafka error codes), proposes its
// batches and waits until they are applied locally. Topic config values are
// validated by Config.ValidateTopicConfig, which the broker wires to
// internal/config; this package does not know config names or defaults.
//
// On a node that is not the leader the operations return ErrNotController.
// Forwarding will plug in at Node.begin (controller.go): instead of failing,
// a non-leader will send the operation to the node named by ControllerID
// (KRaft's forwarding over the CONTROLLER listener) and return its result.
//
// # Quorum
//
// Every node in Config.Voters is a raft voter; raft's NetworkTransport runs
// over the CONTROLLER listener, server ids are node ids. A node with an
// empty store bootstraps the quorum only if its id is the lowest voter id;
// the others wait for it to contact them. Nothing assumes a single node:
// with one voter the node elects itself after a short timeout and is ready
// in a fraction of a second.
package metadata
