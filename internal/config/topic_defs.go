package config

// Topic configs (Kafka's TopicConfig), each with the broker configs that
// give its default (Synonyms, in precedence order) and the unit factor of
// each synonym. Defaults are Kafka 4.x's; they apply only when no broker
// synonym has a value, which for the declared synonyms never happens.

const (
	hourMs   = 3600000
	minuteMs = 60000
)

var topicDeclarations = []*Def{
	{
		Name: "cleanup.policy", Type: List, Default: ptr("delete"), rule: listOf(true, "compact", "delete"), Importance: Medium,
		Synonyms: []string{"log.cleanup.policy"},
		Doc:      "What happens to segments past the retention window: delete removes them, compact keeps the latest record of each key; both may be given.",
	},
	{
		Name: "compression.type", Type: String, Default: ptr("producer"), rule: oneOf(compressionTypes...), Importance: Medium,
		Synonyms: []string{"compression.type"},
		Doc:      "The final compression of the topic's batches: gzip, snappy, lz4, zstd, uncompressed, or producer to keep the producer's.",
	},
	{
		Name: "compression.gzip.level", Type: Int, Default: ptr("-1"), rule: orValue(between(1, 9), -1), Importance: Medium, Unused: true,
		Synonyms: []string{"compression.gzip.level"},
		Doc:      "The gzip level used when compression.type is gzip; -1 is the codec's default.",
	},
	{
		Name: "compression.lz4.level", Type: Int, Default: ptr("9"), rule: between(1, 17), Importance: Medium, Unused: true,
		Synonyms: []string{"compression.lz4.level"},
		Doc:      "The lz4 level used when compression.type is lz4.",
	},
	{
		Name: "compression.zstd.level", Type: Int, Default: ptr("3"), rule: between(-131072, 22), Importance: Medium, Unused: true,
		Synonyms: []string{"compression.zstd.level"},
		Doc:      "The zstd level used when compression.type is zstd.",
	},
	{
		Name: "delete.retention.ms", Type: Long, Default: ptr("86400000"), rule: atLeast(0), Importance: Medium,
		Synonyms: []string{"log.cleaner.delete.retention.ms"},
		Doc:      "How long tombstones, and the transaction markers whose transaction has no data left, are kept in a compacted topic, in milliseconds; a consumer reading from offset 0 must finish within it to see a consistent snapshot.",
	},
	{
		Name: "file.delete.delay.ms", Type: Long, Default: ptr("60000"), rule: atLeast(0), Importance: Medium,
		Synonyms: []string{"log.segment.delete.delay.ms"},
		Doc:      "How long a removed segment's files stay on disk before deletion, in milliseconds.",
	},
	{
		Name: "flush.messages", Type: Long, Default: ptr(maxLong), rule: atLeast(1), Importance: Medium,
		Synonyms: []string{"log.flush.interval.messages"},
		Doc:      "Force an fsync after this many messages; 1 syncs every batch. The default leaves durability to replication.",
	},
	{
		Name: "flush.ms", Type: Long, Default: ptr(maxLong), rule: atLeast(0), Importance: Medium,
		Synonyms: []string{"log.flush.interval.ms", "log.flush.scheduler.interval.ms"},
		Doc:      "Force an fsync when the oldest unsynced message is this old, in milliseconds.",
	},
	{
		Name: "index.interval.bytes", Type: Int, Default: ptr("4096"), rule: atLeast(0), Importance: Medium,
		Synonyms: []string{"log.index.interval.bytes"},
		Doc:      "How many bytes of log are appended between two offset index entries.",
	},
	{
		Name: "max.compaction.lag.ms", Type: Long, Default: ptr(maxLong), rule: atLeast(1), Importance: Medium, Unused: true,
		Synonyms: []string{"log.cleaner.max.compaction.lag.ms"},
		Doc:      "The maximum time a record may stay uncompacted in a compacted topic, in milliseconds.",
	},
	{
		Name: "max.message.bytes", Type: Int, Default: ptr("1048588"), rule: atLeast(0), Importance: Medium,
		Synonyms: []string{"message.max.bytes"},
		Doc:      "The largest record batch the topic accepts, after compression.",
	},
	{
		Name: "message.timestamp.type", Type: String, Default: ptr("CreateTime"), rule: oneOf("CreateTime", "LogAppendTime"), Importance: Medium,
		Synonyms: []string{"log.message.timestamp.type"},
		Doc:      "Whether record timestamps are the producer's (CreateTime) or the broker's at append (LogAppendTime).",
	},
	{
		Name: "message.timestamp.before.max.ms", Type: Long, Default: ptr(maxLong), rule: atLeast(0), Importance: Medium,
		Synonyms: []string{"log.message.timestamp.before.max.ms"},
		Doc:      "With CreateTime, how far before the broker's clock a batch's timestamps may be, in milliseconds.",
	},
	{
		Name: "message.timestamp.after.max.ms", Type: Long, Default: ptr("3600000"), rule: atLeast(0), Importance: Medium,
		Synonyms: []string{"log.message.timestamp.after.max.ms"},
		Doc:      "With CreateTime, how far after the broker's clock a batch's timestamps may be, in milliseconds.",
	},
	{
		Name: "min.cleanable.dirty.ratio", Type: Double, Default: ptr("0.5"), rule: betweenFloat(0, 1), Importance: Medium,
		Synonyms: []string{"log.cleaner.min.cleanable.ratio"},
		Doc:      "The ratio of uncompacted log to total log above which the cleaner compacts the log.",
	},
	{
		Name: "min.compaction.lag.ms", Type: Long, Default: ptr("0"), rule: atLeast(0), Importance: Medium,
		Synonyms: []string{"log.cleaner.min.compaction.lag.ms"},
		Doc:      "The minimum time a record stays uncompacted, in milliseconds.",
	},
	{
		Name: "min.insync.replicas", Type: Int, Default: ptr("1"), rule: atLeast(1), Importance: Medium,
		Synonyms: []string{"min.insync.replicas"},
		Doc:      "The minimum number of in-sync replicas for a produce with acks=all to succeed.",
	},
	{
		Name: "preallocate", Type: Boolean, Default: ptr("false"), Importance: Medium, Unused: true,
		Synonyms: []string{"log.preallocate"},
		Doc:      "Whether segment files are preallocated when created.",
	},
	{
		Name: "retention.bytes", Type: Long, Default: ptr("-1"), Importance: Medium,
		Synonyms: []string{"log.retention.bytes"},
		Doc:      "The maximum size of a partition before old segments are deleted (cleanup.policy=delete); -1 means no size limit.",
	},
	{
		Name: "retention.ms", Type: Long, Default: ptr("604800000"), rule: atLeast(-1), Importance: Medium,
		Synonyms: []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
		factors:  []int64{1, minuteMs, hourMs},
		Doc:      "How long a segment is kept before it is deleted (cleanup.policy=delete), in milliseconds; -1 keeps it forever.",
	},
	{
		Name: "segment.bytes", Type: Int, Default: ptr("1073741824"), rule: atLeast(1 << 20), Importance: Medium,
		Synonyms: []string{"log.segment.bytes"},
		Doc:      "The size at which a segment is rolled.",
	},
	{
		Name: "segment.index.bytes", Type: Int, Default: ptr("10485760"), rule: atLeast(4), Importance: Medium,
		Synonyms: []string{"log.index.size.max.bytes"},
		Doc:      "The size of a segment's offset and time index files; a full index rolls the segment.",
	},
	{
		Name: "segment.jitter.ms", Type: Long, Default: ptr("0"), rule: atLeast(0), Importance: Medium, Unused: true,
		Synonyms: []string{"log.roll.jitter.ms", "log.roll.jitter.hours"},
		factors:  []int64{1, hourMs},
		Doc:      "The maximum random jitter subtracted from segment.ms, in milliseconds.",
	},
	{
		Name: "segment.ms", Type: Long, Default: ptr("604800000"), rule: atLeast(1), Importance: Medium,
		Synonyms: []string{"log.roll.ms", "log.roll.hours"},
		factors:  []int64{1, hourMs},
		Doc:      "The age at which the active segment is rolled even if not full, so that retention can delete or compact it, in milliseconds.",
	},
	{
		Name: "leader.replication.throttled.replicas", Type: List, Default: ptr(""), rule: custom("[partition]:[broker],... or *", checkThrottledReplicas), Importance: Medium, Standalone: true,
		Doc: "The replicas whose replication is throttled on the leader side (leader.replication.throttled.rate), as partition:broker pairs naming the broker that sends, or * for all; only followers outside the ISR are throttled.",
	},
	{
		Name: "follower.replication.throttled.replicas", Type: List, Default: ptr(""), rule: custom("[partition]:[broker],... or *", checkThrottledReplicas), Importance: Medium, Standalone: true,
		Doc: "The replicas whose replication is throttled on the follower side (follower.replication.throttled.rate), as partition:broker pairs naming the broker that fetches, or * for all; only followers outside the ISR are throttled.",
	},
	{
		Name: "unclean.leader.election.enable", Type: Boolean, Default: ptr("false"), Importance: Medium,
		Synonyms: []string{"unclean.leader.election.enable"},
		Doc:      "Whether a replica outside the ISR may become leader as a last resort, at the risk of losing data.",
	},
}
