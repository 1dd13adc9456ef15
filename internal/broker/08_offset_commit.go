package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/group"
)

// OffsetCommit v2-v9.
//
// v2-v4 carry a retention time (honoured per offset), v3 adds throttle
// time, v5 drops the retention time, v6 adds each partition's leader
// epoch, v7 group.instance.id, v8 is flexible, v9 answers
// GROUP_ID_NOT_FOUND instead of ILLEGAL_GENERATION for a member commit to
// an unknown group. v0-v1 were removed in Kafka 4.0; v10 (topic ids) is
// Kafka 4.1 and not served.
//
// A member of a consumer-protocol (KIP-848) group commits with v9+ and its
// member epoch in the generation field: UNKNOWN_MEMBER_ID,
// STALE_MEMBER_EPOCH, UNSUPPORTED_VERSION below v9, as Kafka 4.0 does.
//
// Offsets are records of __consumer_offsets; the answer waits for their
// append to be committed. Partitions of topics that do not exist get
// UNKNOWN_TOPIC_OR_PARTITION, as in Kafka.
func init() { register(kmsg.OffsetCommit, 2, 9, handleOffsetCommit) }

func handleOffsetCommit(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.OffsetCommitRequest)
	// As Kafka, commits for topics that do not exist are refused here;
	// the coordinator sees only the others.
	img := s.meta.Image()
	var unknown []kmsg.OffsetCommitResponseTopic
	known := *req
	known.Topics = nil
	for _, rt := range req.Topics {
		if img.Topics[rt.Topic] != nil {
			known.Topics = append(known.Topics, rt)
			continue
		}
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, kerr.UnknownTopicOrPartition.Code
			st.Partitions = append(st.Partitions, sp)
		}
		unknown = append(unknown, st)
	}
	err := s.groups.do(req.Group, func(now time.Time, sm *group.Shard) group.Effects {
		return sm.OffsetCommit(now, &known, func(resp *kmsg.OffsetCommitResponse) {
			resp.Topics = append(resp.Topics, unknown...)
			r.done(resp)
		})
	})
	if err != nil {
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		code := errCode(err)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}
	return nil
}
