package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Broker configs. Names, types, defaults and bounds are Kafka 4.x's unless
// the Note says otherwise; update modes follow Kafka's DynamicBrokerConfig
// (the first broker synonym of every topic config is cluster-wide dynamic,
// listeners and TLS stores are per-broker, the rest read-only).

const (
	maxLong = "9223372036854775807"
	maxInt  = "2147483647"
)

var brokerDeclarations = []*Def{
	// --- node and roles ---
	{
		Name: "node.id", Type: Int, Default: ptr("1"), rule: atLeast(0), Importance: High,
		Doc:  "The node id of this server, unique in the cluster. It names the broker in metadata and, on a controller, the voter in controller.quorum.voters.",
		Note: "Kafka has no default and requires it; Samsa defaults to 1 so that a single node starts without setup.",
	},
	{
		Name: "broker.id", Type: Int, rule: atLeast(0), Importance: High,
		Doc: "The old name of node.id, kept so that older server.properties load. When set, it must equal node.id, or gives node.id when that is not set.",
	},
	{
		Name: "process.roles", Type: List, Default: ptr("broker,controller"), rule: listOf(true, "broker", "controller"), Importance: High,
		Doc:  "The roles this node plays: broker, controller, or both (combined mode).",
		Note: "Kafka has no default; Samsa defaults to combined mode.",
	},
	{
		Name: "broker.rack", Type: String, Importance: Medium,
		Doc: "The rack of this broker, used for rack-aware replica assignment and for fetching from the closest replica (KIP-392).",
	},

	// --- listeners ---
	{
		Name: "listeners", Type: List, Default: ptr("PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"), rule: custom("NAME://host:port, ...", checkListeners), Importance: High, Scope: PerBroker,
		Doc:  "The addresses this node listens on, as NAME://host:port with a listener name mapped to a security protocol by listener.security.protocol.map. An empty host binds all interfaces; an IPv6 host is written in brackets; port 0 picks a free port.",
		Note: "Kafka's default is PLAINTEXT://:9092; Samsa binds the loopback interface and adds the controller listener of combined mode.",
	},
	{
		Name: "advertised.listeners", Type: List, rule: custom("NAME://host:port, ...", checkListeners), Importance: High, Scope: PerBroker,
		Doc: "The addresses clients are told to connect to, when they differ from listeners. When null, the listeners are advertised, less the controller listeners on a node with the broker role.",
	},
	{
		Name: "controller.listener.names", Type: List, Default: ptr("CONTROLLER"), Importance: High,
		Doc:  "The names of the listeners used by the controller quorum. A listener named here and missing from listener.security.protocol.map uses PLAINTEXT.",
		Note: "Kafka has no default; Samsa defaults to CONTROLLER.",
	},
	{
		Name: "listener.security.protocol.map", Type: String, Default: ptr("CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"),
		rule: custom("NAME:PROTOCOL, ...", checkProtocolMap), Importance: Low, Scope: PerBroker,
		Doc: "Maps listener names to security protocols (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), as NAME:PROTOCOL pairs separated by commas.",
	},
	{
		Name: "inter.broker.listener.name", Type: String, Importance: Medium,
		Doc: "The listener brokers use to talk to each other. When null, the listener named after security.inter.broker.protocol is used. Must not be set together with security.inter.broker.protocol.",
	},
	{
		Name: "security.inter.broker.protocol", Type: String, Default: ptr("PLAINTEXT"), rule: oneOf(securityProtocols...), Importance: Medium,
		Doc: "The security protocol brokers use to talk to each other when inter.broker.listener.name is not set.",
	},

	// --- controller quorum ---
	{
		Name: "controller.quorum.voters", Type: List, Default: ptr(""), rule: custom("id@host:port, ...", checkVoters), Importance: High,
		Doc:  "The static set of controller voters, as id@host:port entries separated by commas.",
		Note: "When both this and controller.quorum.bootstrap.servers are empty on a node with the controller role, Samsa derives a single voter from node.id and the first controller listener (1@127.0.0.1:9093 by default), so a single node needs no setup.",
	},
	{
		Name: "broker.heartbeat.interval.ms", Type: Int, Default: ptr("500"), rule: atLeast(1), Importance: Medium,
		Doc:  "How often a broker heartbeats to the active controller, in milliseconds.",
		Note: "Kafka's default is 2000; Samsa's is shorter so that a dead broker is noticed within its shorter session timeout.",
	},
	{
		Name: "broker.session.timeout.ms", Type: Int, Default: ptr("2000"), rule: atLeast(1), Importance: Medium,
		Doc:  "How long the active controller waits without a heartbeat before it fences a broker (moves its leaderships away and takes it out of the ISRs), in milliseconds.",
		Note: "Kafka's default is 9000; Samsa's 2000 moves leadership off a dead broker in about two seconds.",
	},
	{
		Name: "controller.quorum.bootstrap.servers", Type: List, Default: ptr(""), rule: custom("host:port, ...", checkHostPorts), Importance: High,
		Doc: "The host:port addresses used to discover the controller quorum when the voters are not listed statically.",
	},

	// --- log directories ---
	{
		Name: "log.dir", Type: String, Default: ptr("./samsa-data"), Importance: High,
		Doc:  "The directory holding the log data; used when log.dirs is not set.",
		Note: "Kafka's default is /tmp/kafka-logs.",
	},
	{
		Name: "log.dirs", Type: List, Importance: High,
		Doc: "The directories holding the log data, separated by commas. When null, log.dir is used.",
	},
	{
		Name: "metadata.log.dir", Type: String, Importance: High,
		Doc: "The directory of the cluster metadata log. When null, the first log directory is used.",
	},
	{
		Name: "num.recovery.threads.per.data.dir", Type: Int, Default: ptr("2"), rule: atLeast(1), Importance: High, Scope: ReadOnly,
		Doc: "How many partitions of one data directory are opened (and recovered, after a crash) in parallel at start. Read at start only (dynamic in Kafka).",
	},

	// --- topics ---
	{
		Name: "num.partitions", Type: Int, Default: ptr("1"), rule: atLeast(1), Importance: Medium,
		Doc: "The default number of partitions of a topic created without a partition count (including auto-created topics).",
	},
	{
		Name: "default.replication.factor", Type: Int, Default: ptr("1"), rule: atLeast(1), Importance: Medium,
		Doc: "The default replication factor of a topic created without one (including auto-created topics).",
	},
	{
		Name: "auto.create.topics.enable", Type: Boolean, Default: ptr("true"), Importance: High,
		Doc: "Whether a Metadata request for an unknown topic creates it.",
	},
	{
		Name: "delete.topic.enable", Type: Boolean, Default: ptr("true"), Importance: High,
		Doc: "Whether topics can be deleted; when false, DeleteTopics fails.",
	},

	// --- log segments, retention, flush (defaults of topic configs) ---
	{
		Name: "log.segment.bytes", Type: Int, Default: ptr("1073741824"), rule: atLeast(1 << 20), Importance: High, Scope: ClusterWide,
		Doc: "The maximum size of a log segment file; a segment that would grow past it is rolled.",
	},
	{
		Name: "log.roll.ms", Type: Long, rule: atLeast(1), Importance: High, Scope: ClusterWide,
		Doc: "The maximum age of the active segment before it is rolled, in milliseconds. When null, log.roll.hours is used.",
	},
	{
		Name: "log.roll.hours", Type: Int, Default: ptr("168"), rule: atLeast(1), Importance: High,
		Doc: "The maximum age of the active segment before it is rolled, in hours; secondary to log.roll.ms.",
	},
	{
		Name: "log.roll.jitter.ms", Type: Long, rule: atLeast(0), Importance: High, Scope: ClusterWide, Unused: true,
		Doc: "The maximum random jitter subtracted from the roll time, in milliseconds, so that segments do not all roll at once. When null, log.roll.jitter.hours is used.",
	},
	{
		Name: "log.roll.jitter.hours", Type: Int, Default: ptr("0"), rule: atLeast(0), Importance: High, Unused: true,
		Doc: "The maximum random jitter subtracted from the roll time, in hours; secondary to log.roll.jitter.ms.",
	},
	{
		Name: "log.retention.ms", Type: Long, rule: atLeast(-1), Importance: High, Scope: ClusterWide,
		Doc: "How long a log segment is kept before it is deleted, in milliseconds; -1 keeps it forever. When null, log.retention.minutes is used.",
	},
	{
		Name: "log.retention.minutes", Type: Int, rule: atLeast(-1), Importance: High,
		Doc: "How long a log segment is kept, in minutes; secondary to log.retention.ms. When null, log.retention.hours is used.",
	},
	{
		Name: "log.retention.hours", Type: Int, Default: ptr("168"), rule: atLeast(-1), Importance: High,
		Doc: "How long a log segment is kept, in hours; tertiary to log.retention.ms.",
	},
	{
		Name: "log.retention.bytes", Type: Long, Default: ptr("-1"), Importance: High, Scope: ClusterWide,
		Doc: "The maximum size of a partition's log before old segments are deleted; -1 means no size limit.",
	},
	{
		Name: "log.retention.check.interval.ms", Type: Long, Default: ptr("300000"), rule: atLeast(1), Importance: Medium,
		Doc: "How often the broker checks for segments to delete by retention, in milliseconds.",
	},
	{
		Name: "log.cleanup.policy", Type: List, Default: ptr("delete"), rule: listOf(true, "compact", "delete"), Importance: Medium, Scope: ClusterWide,
		Doc: "The default cleanup policy of segments past the retention window: delete, compact, or both.",
	},
	{
		Name: "log.index.size.max.bytes", Type: Int, Default: ptr("10485760"), rule: atLeast(4), Importance: Medium, Scope: ClusterWide,
		Doc: "The maximum size of an offset or time index file; a segment whose index is full is rolled.",
	},
	{
		Name: "log.index.interval.bytes", Type: Int, Default: ptr("4096"), rule: atLeast(0), Importance: Medium, Scope: ClusterWide,
		Doc: "How many bytes of log are appended between two entries of the offset index.",
	},
	{
		Name: "log.flush.interval.messages", Type: Long, Default: ptr(maxLong), rule: atLeast(1), Importance: High, Scope: ClusterWide,
		Doc: "How many messages accumulate in a partition before it is fsynced. The default leaves durability to replication and the OS.",
	},
	{
		Name: "log.flush.interval.ms", Type: Long, rule: atLeast(0), Importance: High, Scope: ClusterWide,
		Doc: "The maximum time a message stays in memory before it is fsynced, in milliseconds. When null, log.flush.scheduler.interval.ms is used.",
	},
	{
		Name: "log.flush.scheduler.interval.ms", Type: Long, Default: ptr(maxLong), rule: atLeast(0), Importance: High,
		Doc: "How often the flusher checks whether a log needs an fsync, in milliseconds; also the fallback of log.flush.interval.ms.",
	},
	{
		Name: "log.flush.offset.checkpoint.interval.ms", Type: Int, Default: ptr("60000"), rule: atLeast(0), Importance: High, Unused: true,
		Doc: "How often the recovery-point checkpoint file is written, in milliseconds.",
	},
	{
		Name: "log.flush.start.offset.checkpoint.interval.ms", Type: Int, Default: ptr("60000"), rule: atLeast(0), Importance: High, Unused: true,
		Doc: "How often the log-start-offset checkpoint file is written, in milliseconds.",
	},
	{
		Name: "log.segment.delete.delay.ms", Type: Long, Default: ptr("60000"), rule: atLeast(0), Importance: High, Scope: ClusterWide,
		Doc: "How long a segment removed from the log is kept on disk before its files are deleted, in milliseconds.",
	},
	{
		Name: "log.preallocate", Type: Boolean, Default: ptr("false"), Importance: Medium, Scope: ClusterWide, Unused: true,
		Doc: "Whether segment files are preallocated when created.",
	},
	{
		Name: "log.message.timestamp.type", Type: String, Default: ptr("CreateTime"), rule: oneOf("CreateTime", "LogAppendTime"), Importance: Medium, Scope: ClusterWide,
		Doc: "Whether record timestamps are the producer's (CreateTime) or the broker's at append (LogAppendTime).",
	},
	{
		Name: "log.message.timestamp.before.max.ms", Type: Long, Default: ptr(maxLong), rule: atLeast(0), Importance: Medium, Scope: ClusterWide,
		Doc: "With CreateTime, how far in the past a record's timestamp may be compared to the broker's clock, in milliseconds; older batches are rejected.",
	},
	{
		Name: "log.message.timestamp.after.max.ms", Type: Long, Default: ptr("3600000"), rule: atLeast(0), Importance: Medium, Scope: ClusterWide,
		Doc: "With CreateTime, how far in the future a record's timestamp may be compared to the broker's clock, in milliseconds; later batches are rejected.",
	},

	// --- log cleaner (compaction) ---
	{
		Name: "log.cleaner.enable", Type: Boolean, Default: ptr("true"), Importance: Medium, Unused: true,
		Doc: "Whether the log cleaner runs, compacting topics with cleanup.policy=compact.",
	},
	{
		Name: "log.cleaner.threads", Type: Int, Default: ptr("1"), rule: atLeast(0), Importance: Medium, Scope: ClusterWide, Unused: true,
		Doc: "The number of log cleaner threads.",
	},
	{
		Name: "log.cleaner.backoff.ms", Type: Long, Default: ptr("15000"), rule: atLeast(0), Importance: Medium, Scope: ClusterWide, Unused: true,
		Doc: "How long the cleaner sleeps when no log needs cleaning, in milliseconds.",
	},
	{
		Name: "log.cleaner.dedupe.buffer.size", Type: Long, Default: ptr("134217728"), rule: atLeast(1), Importance: Medium, Scope: ReadOnly,
		Doc: "The memory the cleaner may use for its key-to-offset map. A pass cleans as much of a log's dirty part as its keys fit in it; the next pass goes on from there. Read at start only (dynamic in Kafka).",
	},
	{
		Name: "log.cleaner.delete.retention.ms", Type: Long, Default: ptr("86400000"), rule: atLeast(0), Importance: Medium, Scope: ClusterWide,
		Doc: "How long tombstones, and the transaction markers whose transaction has no data left, are kept in compacted topics, in milliseconds.",
	},
	{
		Name: "log.cleaner.min.compaction.lag.ms", Type: Long, Default: ptr("0"), rule: atLeast(0), Importance: Medium, Scope: ClusterWide,
		Doc: "The minimum time a record stays uncompacted, in milliseconds.",
	},
	{
		Name: "log.cleaner.max.compaction.lag.ms", Type: Long, Default: ptr(maxLong), rule: atLeast(1), Importance: Medium, Scope: ClusterWide, Unused: true,
		Doc: "The maximum time a record may stay uncompacted, in milliseconds.",
	},
	{
		Name: "log.cleaner.min.cleanable.ratio", Type: Double, Default: ptr("0.5"), rule: betweenFloat(0, 1), Importance: Medium, Scope: ClusterWide,
		Doc: "The minimum ratio of dirty log to total log for a log to be eligible for cleaning.",
	},

	// --- records ---
	{
		Name: "message.max.bytes", Type: Int, Default: ptr("1048588"), rule: atLeast(0), Importance: High, Scope: ClusterWide,
		Doc: "The largest record batch the broker accepts (after compression); the default of max.message.bytes.",
	},
	{
		Name: "compression.type", Type: String, Default: ptr("producer"), rule: oneOf(compressionTypes...), Importance: High, Scope: ClusterWide,
		Doc: "The final compression of topics: gzip, snappy, lz4, zstd, uncompressed, or producer to keep the producer's.",
	},
	{
		Name: "compression.gzip.level", Type: Int, Default: ptr("-1"), rule: orValue(between(1, 9), -1), Importance: Medium, Scope: ClusterWide, Unused: true,
		Doc: "The gzip level used when compression.type is gzip; -1 is the codec's default.",
	},
	{
		Name: "compression.lz4.level", Type: Int, Default: ptr("9"), rule: between(1, 17), Importance: Medium, Scope: ClusterWide, Unused: true,
		Doc: "The lz4 level used when compression.type is lz4.",
	},
	{
		Name: "compression.zstd.level", Type: Int, Default: ptr("3"), rule: between(-131072, 22), Importance: Medium, Scope: ClusterWide, Unused: true,
		Doc: "The zstd level used when compression.type is zstd.",
	},

	// --- replication ---
	{
		Name: "min.insync.replicas", Type: Int, Default: ptr("1"), rule: atLeast(1), Importance: High, Scope: ClusterWide,
		Doc: "The minimum number of in-sync replicas for a produce with acks=all to succeed; fewer fail with NOT_ENOUGH_REPLICAS.",
	},
	{
		Name: "unclean.leader.election.enable", Type: Boolean, Default: ptr("false"), Importance: High, Scope: ClusterWide,
		Doc: "Whether a replica outside the ISR may become leader when no in-sync replica is left, at the risk of losing data.",
	},
	{
		Name: "replica.selector.class", Type: String, rule: custom("null or org.apache.kafka.common.replica.RackAwareReplicaSelector", checkReplicaSelector), Importance: Medium,
		Doc: "The selector that picks the replica a consumer reads from (KIP-392). Null: always the leader. org.apache.kafka.common.replica.RackAwareReplicaSelector: an in-sync replica in the consumer's client.rack when there is one.",
	},
	{
		Name: "replica.lag.time.max.ms", Type: Long, Default: ptr("30000"), rule: atLeast(0), Importance: High,
		Doc: "A follower that has not caught up with the leader's log end for this long, in milliseconds, is removed from the ISR.",
	},
	{
		Name: "replica.fetch.max.bytes", Type: Int, Default: ptr("1048576"), rule: atLeast(0), Importance: Medium,
		Doc: "The bytes a follower asks per partition in a fetch; a larger first batch is still returned.",
	},
	{
		Name: "replica.fetch.response.max.bytes", Type: Int, Default: ptr("10485760"), rule: atLeast(0), Importance: Medium,
		Doc: "The bytes a follower asks for a whole fetch response.",
	},
	{
		Name: "replica.fetch.min.bytes", Type: Int, Default: ptr("1"), Importance: High,
		Doc: "The bytes a follower fetch waits for, up to replica.fetch.wait.max.ms.",
	},
	{
		Name: "replica.fetch.wait.max.ms", Type: Int, Default: ptr("500"), Importance: Medium,
		Doc: "The longest a follower fetch waits for replica.fetch.min.bytes, in milliseconds; keep it below replica.lag.time.max.ms.",
	},
	{
		Name: "leader.replication.throttled.rate", Type: Long, Default: ptr("9223372036854775807"), rule: atLeast(0), Importance: Medium, Scope: ClusterWide,
		Doc: "The bytes per second this broker sends, as a leader, to out-of-sync followers of the replicas listed in leader.replication.throttled.replicas.",
	},
	{
		Name: "follower.replication.throttled.rate", Type: Long, Default: ptr("9223372036854775807"), rule: atLeast(0), Importance: Medium, Scope: ClusterWide,
		Doc: "The bytes per second this broker fetches, as an out-of-sync follower, for the replicas listed in follower.replication.throttled.replicas.",
	},
	{
		Name: "replica.fetch.backoff.ms", Type: Int, Default: ptr("1000"), rule: atLeast(0), Importance: Medium,
		Doc: "How long a follower waits after a fetch error, in milliseconds.",
	},
	{
		Name: "replica.socket.timeout.ms", Type: Int, Default: ptr("30000"), Importance: High,
		Doc: "The network timeout of follower fetches, in milliseconds.",
	},
	{
		Name: "num.replica.fetchers", Type: Int, Default: ptr("1"), rule: atLeast(1), Importance: High, Scope: ClusterWide, Unused: true,
		Doc: "The number of fetcher threads per source broker.",
	},
	{
		Name: "replica.high.watermark.checkpoint.interval.ms", Type: Long, Default: ptr("5000"), rule: atLeast(1), Importance: High, Unused: true,
		Doc: "How often the high watermarks are checkpointed to disk, in milliseconds.",
	},
	{
		Name: "auto.leader.rebalance.enable", Type: Boolean, Default: ptr("true"), Importance: High,
		Doc: "Whether the controller moves leadership back to the preferred replicas periodically.",
	},
	{
		Name: "leader.imbalance.check.interval.seconds", Type: Long, Default: ptr("300"), rule: atLeast(1), Importance: High,
		Doc: "How often the controller checks for leadership imbalance, in seconds.",
	},
	{
		Name: "leader.imbalance.per.broker.percentage", Type: Int, Default: ptr("10"), rule: atLeast(0), Importance: High,
		Doc: "The share, in percent, of a broker's preferred partitions that may be led elsewhere before auto leader rebalancing moves them back.",
	},

	// --- network ---
	{
		Name: "socket.request.max.bytes", Type: Int, Default: ptr("104857600"), rule: atLeast(1), Importance: High,
		Doc: "The largest request the broker reads; a larger size prefix closes the connection.",
	},
	{
		Name: "socket.send.buffer.bytes", Type: Int, Default: ptr("102400"), Importance: High, Unused: true,
		Doc: "The SO_SNDBUF of the broker's sockets; -1 uses the OS default.",
	},
	{
		Name: "socket.receive.buffer.bytes", Type: Int, Default: ptr("102400"), Importance: High, Unused: true,
		Doc: "The SO_RCVBUF of the broker's sockets; -1 uses the OS default.",
	},
	{
		Name: "num.network.threads", Type: Int, Default: ptr("3"), rule: atLeast(1), Importance: High, Scope: ClusterWide, Unused: true,
		Doc: "The number of network threads (Samsa serves each connection on its own goroutine).",
	},
	{
		Name: "num.io.threads", Type: Int, Default: ptr("8"), rule: atLeast(1), Importance: High, Scope: ClusterWide, Unused: true,
		Doc: "The number of request handler threads (Samsa serves each connection on its own goroutine).",
	},
	{
		Name: "background.threads", Type: Int, Default: ptr("10"), rule: atLeast(1), Importance: High, Scope: ClusterWide, Unused: true,
		Doc: "The number of threads for background work.",
	},
	{
		Name: "queued.max.requests", Type: Int, Default: ptr("500"), rule: atLeast(1), Importance: High, Unused: true,
		Doc: "The number of requests queued before the network threads stop reading.",
	},
	{
		Name: "max.connections", Type: Int, Default: ptr("2147483647"), rule: atLeast(0), Importance: Medium, Scope: ClusterWide,
		Doc: "The most connections the broker keeps open at once; past it, listeners stop accepting until one closes. The inter-broker listener is exempt, so replication and the controller always get through.",
	},
	{
		Name: "max.connections.per.ip", Type: Int, Default: ptr("2147483647"), rule: atLeast(0), Importance: Medium, Scope: ClusterWide,
		Doc: "The most connections one IP address may hold open; a new one past it is closed at once.",
	},
	{
		Name: "max.connections.per.ip.overrides", Type: String, Default: ptr(""), rule: custom("host:count,... (an IP or hostname, a number >= 0)", checkConnOverrides), Importance: Medium, Scope: ClusterWide,
		Doc: "Per-IP or hostname exceptions to max.connections.per.ip, as host:count,host:count.",
	},
	{
		Name: "connections.max.idle.ms", Type: Long, Default: ptr("600000"), Importance: Medium,
		Doc: "Connections idle for this long are closed, in milliseconds.",
	},
	{
		Name: "fetch.max.bytes", Type: Int, Default: ptr("57671680"), rule: atLeast(1024), Importance: Medium,
		Doc: "The most bytes the broker returns in one fetch response, whatever the request asks.",
	},
	{
		Name: "max.incremental.fetch.session.cache.slots", Type: Int, Default: ptr("1000"), rule: atLeast(0), Importance: Medium,
		Doc: "The maximum number of incremental fetch sessions the broker keeps (KIP-227).",
	},

	// --- consumer groups and offsets ---
	{
		Name: "offsets.topic.num.partitions", Type: Int, Default: ptr("50"), rule: atLeast(1), Importance: High,
		Doc: "The number of partitions of __consumer_offsets; fixed once the topic exists.",
	},
	{
		Name: "offsets.topic.replication.factor", Type: Short, Default: ptr("1"), rule: atLeast(1), Importance: High,
		Doc:  "The replication factor of __consumer_offsets. Creating the topic fails until this many brokers are alive.",
		Note: "Kafka's default is 3; Samsa's is 1 so that a single node works without setup. Set 3 in production.",
	},
	{
		Name: "offsets.topic.segment.bytes", Type: Int, Default: ptr("104857600"), rule: atLeast(1), Importance: High,
		Doc: "The segment size of __consumer_offsets, kept small for fast compaction and loading.",
	},
	{
		Name: "offsets.retention.minutes", Type: Int, Default: ptr("10080"), rule: atLeast(1), Importance: High,
		Doc: "How long the committed offsets of a group without members are kept, in minutes.",
	},
	{
		Name: "offsets.retention.check.interval.ms", Type: Long, Default: ptr("600000"), rule: atLeast(1), Importance: High,
		Doc: "How often expired offsets are looked for, in milliseconds.",
	},
	{
		Name: "offsets.commit.timeout.ms", Type: Int, Default: ptr("5000"), rule: atLeast(1), Importance: High,
		Doc: "How long an offset commit waits for the replicas of __consumer_offsets, in milliseconds.",
	},
	{
		Name: "offset.metadata.max.bytes", Type: Int, Default: ptr("4096"), Importance: High,
		Doc: "The largest metadata string of an offset commit.",
	},
	{
		Name: "group.initial.rebalance.delay.ms", Type: Int, Default: ptr("3000"), Importance: Medium,
		Doc: "How long the coordinator waits for more members before the first rebalance of an empty classic group, in milliseconds.",
	},
	{
		Name: "group.min.session.timeout.ms", Type: Int, Default: ptr("6000"), Importance: Medium,
		Doc: "The smallest session timeout a classic group member may ask for, in milliseconds.",
	},
	{
		Name: "group.max.session.timeout.ms", Type: Int, Default: ptr("1800000"), Importance: Medium,
		Doc: "The largest session timeout a classic group member may ask for, in milliseconds.",
	},
	{
		Name: "group.max.size", Type: Int, Default: ptr(maxInt), rule: atLeast(1), Importance: Medium,
		Doc: "The maximum number of members of a classic group.",
	},
	{
		Name: "group.coordinator.rebalance.protocols", Type: List, Default: ptr("classic,consumer"), rule: listOf(true, "classic", "consumer", "share", "streams"), Importance: Medium, Unused: true,
		Doc: "The group protocols the coordinator serves: classic (JoinGroup/SyncGroup), consumer (KIP-848), share (KIP-932), streams.",
	},
	{
		Name: "group.consumer.session.timeout.ms", Type: Int, Default: ptr("45000"), rule: atLeast(1), Importance: Medium,
		Doc: "The session timeout of consumer-protocol (KIP-848) group members, in milliseconds.",
	},
	{
		Name: "group.consumer.heartbeat.interval.ms", Type: Int, Default: ptr("5000"), rule: atLeast(1), Importance: Medium,
		Doc: "The heartbeat interval given to consumer-protocol (KIP-848) group members, in milliseconds.",
	},
	{
		Name: "group.consumer.max.size", Type: Int, Default: ptr(maxInt), rule: atLeast(1), Importance: Medium,
		Doc: "The maximum number of members of a consumer-protocol group.",
	},

	// --- transactions and idempotence ---
	{
		Name: "transaction.state.log.num.partitions", Type: Int, Default: ptr("50"), rule: atLeast(1), Importance: High,
		Doc: "The number of partitions of __transaction_state; fixed once the topic exists.",
	},
	{
		Name: "transaction.state.log.replication.factor", Type: Short, Default: ptr("1"), rule: atLeast(1), Importance: High,
		Doc:  "The replication factor of __transaction_state.",
		Note: "Kafka's default is 3; Samsa's is 1 for the single node. Set 3 in production.",
	},
	{
		Name: "transaction.state.log.min.isr", Type: Int, Default: ptr("1"), rule: atLeast(1), Importance: High,
		Doc:  "The min.insync.replicas of __transaction_state.",
		Note: "Kafka's default is 2; Samsa's is 1 for the single node.",
	},
	{
		Name: "transaction.state.log.segment.bytes", Type: Int, Default: ptr("104857600"), rule: atLeast(1), Importance: High,
		Doc: "The segment size of __transaction_state.",
	},
	{
		Name: "transactional.id.expiration.ms", Type: Int, Default: ptr("604800000"), rule: atLeast(1), Importance: High,
		Doc: "How long the coordinator keeps a transactional id that sends no transaction status update, in milliseconds.",
	},
	{
		Name: "transaction.max.timeout.ms", Type: Int, Default: ptr("900000"), rule: atLeast(1), Importance: High,
		Doc: "The largest transaction timeout a producer may ask for, in milliseconds.",
	},
	{
		Name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", Type: Int, Default: ptr("10000"), rule: atLeast(1), Importance: Low,
		Doc: "How often the coordinator looks for transactions past their timeout to abort, in milliseconds.",
	},
	{
		Name: "transaction.remove.expired.transaction.cleanup.interval.ms", Type: Int, Default: ptr("3600000"), rule: atLeast(1), Importance: Low,
		Doc: "How often the coordinator removes transactional ids past transactional.id.expiration.ms, in milliseconds.",
	},
	{
		Name: "transaction.partition.verification.enable", Type: Boolean, Default: ptr("true"), Importance: Low, Scope: ClusterWide,
		Doc: "Whether a partition leader verifies with the transaction coordinator that a transaction is ongoing before it appends a transactional batch (KIP-890 part 1).",
	},
	{
		Name: "producer.id.expiration.ms", Type: Int, Default: ptr("86400000"), rule: atLeast(1), Importance: Low, Scope: ClusterWide,
		Doc: "How long the state of an idle producer id is kept by a partition leader, in milliseconds.",
	},
	{
		Name: "producer.id.expiration.check.interval.ms", Type: Int, Default: ptr("600000"), rule: atLeast(1), Importance: Low, Unused: true,
		Doc: "How often expired producer ids are removed, in milliseconds.",
	},

	// --- TLS (declared so that server.properties written for Kafka loads) ---
	{
		Name: "ssl.keystore.location", Type: String, Importance: High, Scope: PerBroker, Unused: true,
		Doc: "The path of the key store file.",
	},
	{
		Name: "ssl.keystore.password", Type: Password, Importance: High, Scope: PerBroker, Sensitive: true, Unused: true,
		Doc: "The password of the key store file.",
	},
	{
		Name: "ssl.key.password", Type: Password, Importance: High, Scope: PerBroker, Sensitive: true, Unused: true,
		Doc: "The password of the private key in the key store.",
	},
	{
		Name: "ssl.truststore.location", Type: String, Importance: High, Scope: PerBroker, Unused: true,
		Doc: "The path of the trust store file.",
	},
	{
		Name: "ssl.truststore.password", Type: Password, Importance: High, Scope: PerBroker, Sensitive: true, Unused: true,
		Doc: "The password of the trust store file.",
	},

	// --- Samsa's own: the HTTP endpoint for metrics and health ---
	{
		Name: "samsa.http.listener", Type: String, Default: ptr("127.0.0.1:9404"), rule: custom("host:port or empty", checkHTTPListener), Importance: Medium,
		Doc:  "The host:port of the broker's HTTP endpoint serving /metrics (Prometheus text format), /healthz and /readyz. Empty disables it. If the address is taken the broker logs an error and runs without it.",
		Note: "Samsa only: Kafka exposes JMX and leaves Prometheus to an exporter.",
	},
	{
		Name: "samsa.http.pprof.enable", Type: Boolean, Default: ptr("false"), Importance: Low,
		Doc:  "Whether the HTTP endpoint also serves Go's profiler under /debug/pprof/.",
		Note: "Samsa only.",
	},
}

// checkHTTPListener accepts "" or host:port.
func checkHTTPListener(v string) error {
	if v == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(v); err != nil {
		return err
	}
	return nil
}

// ParseConnOverrides parses max.connections.per.ip.overrides: host:count
// pairs, comma separated (an IPv6 address's colons are fine: the count is
// after the last one).
func ParseConnOverrides(v string) (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		i := strings.LastIndexByte(part, ':')
		if i <= 0 {
			return nil, fmt.Errorf("%q is not host:count", part)
		}
		n, err := strconv.Atoi(part[i+1:])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q: the count must be a number >= 0", part)
		}
		out[strings.Trim(part[:i], "[]")] = n
	}
	return out, nil
}

func checkConnOverrides(v string) error {
	_, err := ParseConnOverrides(v)
	return err
}

var securityProtocols = []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}

var compressionTypes = []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}

// rackAwareSelectorClass is Kafka's rack-aware replica selector, the one
// replica.selector.class Samsa implements.
const rackAwareSelectorClass = "org.apache.kafka.common.replica.RackAwareReplicaSelector"

func checkReplicaSelector(v string) error {
	if v == "" || RackAwareSelector(v) {
		return nil
	}
	return fmt.Errorf("replica selector %q is not supported; use %s or leave it unset", v, rackAwareSelectorClass)
}

// RackAwareSelector reports whether replica.selector.class names the
// rack-aware selector (its class name, or its simple name).
func RackAwareSelector(v string) bool {
	return v == rackAwareSelectorClass || v == "RackAwareReplicaSelector"
}

// checkThrottledReplicas checks a throttled replicas list: "*", or
// partition:broker pairs.
func checkThrottledReplicas(v string) error {
	v = strings.TrimSpace(v)
	if v == "" || v == "*" {
		return nil
	}
	for _, e := range strings.Split(v, ",") {
		p, b, ok := strings.Cut(strings.TrimSpace(e), ":")
		if !ok {
			return fmt.Errorf("%q is not partition:broker", e)
		}
		if _, err := strconv.ParseInt(p, 10, 32); err != nil {
			return fmt.Errorf("%q: partition %q is not a number", e, p)
		}
		if _, err := strconv.ParseInt(b, 10, 32); err != nil {
			return fmt.Errorf("%q: broker %q is not a number", e, b)
		}
	}
	return nil
}

// Throttled reports whether a throttled replicas list (parsed) names the
// replica of partition on broker.
func Throttled(list []string, partition, broker int32) bool {
	want := fmt.Sprintf("%d:%d", partition, broker)
	for _, e := range list {
		if e = strings.TrimSpace(e); e == "*" || e == want {
			return true
		}
	}
	return false
}
