package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/group"
	"github.com/samsa-streaming/samsa/internal/metadata"
)

// ConsumerGroupHeartbeat v0-v1 (KIP-848, the consumer group protocol).
//
// v0 is the version of Kafka 3.7's early access: a joining member sends an
// empty member id and the coordinator names it. v1 (Kafka 4.0, GA) adds
// SubscribedTopicRegex (INVALID_REGULAR_EXPRESSION for a bad one) and
// makes the client generate its member id (INVALID_REQUEST when empty).
//
// One request joins (epoch 0), heartbeats and reconciles (the member's
// epoch, with the partitions it owns), or leaves (-1; -2 for a static
// member that comes back). The coordinator assigns with its server-side
// assignors ("uniform", "range"); see package group and docs/GROUPS.md.
// The answer waits for the group's records to be appended to
// __consumer_offsets. With the cluster's group.version at 0 (the feature
// disabled) it answers UNSUPPORTED_VERSION, as Kafka does.
func init() { register(kmsg.ConsumerGroupHeartbeat, 0, 1, handleConsumerGroupHeartbeat) }

func handleConsumerGroupHeartbeat(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.ConsumerGroupHeartbeatRequest)
	client := groupClient(r)
	err := s.consumerProtocolEnabled()
	if err == nil {
		err = s.groups.do(req.Group, func(now time.Time, sm *group.Shard) group.Effects {
			return sm.ConsumerGroupHeartbeat(now, client, req, func(resp *kmsg.ConsumerGroupHeartbeatResponse) { r.done(resp) })
		})
	}
	if err != nil {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = errCode(err)
		resp.ErrorMessage = errMessage(err)
		return resp
	}
	return nil
}

// consumerProtocolEnabled is nil when the cluster's group.version enables
// the consumer group protocol (KIP-848).
func (s *Server) consumerProtocolEnabled() error {
	if s.meta.Image().FeatureLevel(metadata.FeatureGroupVersion) < 1 {
		return errConsumerProtocolDisabled
	}
	return nil
}
