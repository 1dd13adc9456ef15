package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/metadata"
)

// CreateTopics v2-v7.
//
// v1 adds validate_only, v4 lets partitions and replication factor be -1
// (broker defaults, KIP-464), v5 returns the topic's configs, partition
// count and replication factor, and is flexible; v7 returns the topic id.
// The controller validates names, counts, assignments and configs and
// writes the topic to the metadata log; this handler fills in defaults and
// turns results into the answer.
func init() { registerAdmin(kmsg.CreateTopics, 2, 7, handleCreateTopics) }

func handleCreateTopics(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	ctx, cancel := s.requestContext(req.TimeoutMillis)
	defer cancel()

	seen := map[string]int{}
	for _, t := range req.Topics {
		seen[t.Topic]++
	}
	var specs []metadata.TopicSpec
	var idx []int
	for _, t := range req.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		resp.Topics = append(resp.Topics, rt)
		i := len(resp.Topics) - 1
		if seen[t.Topic] > 1 {
			setCreateErr(&resp.Topics[i], kerr.InvalidRequest, fmt.Errorf("topic %q appears more than once in the request", t.Topic))
			continue
		}
		spec, err := s.topicSpec(t, r.c.controller)
		if err != nil {
			setCreateErr(&resp.Topics[i], nil, err)
			continue
		}
		specs = append(specs, spec)
		idx = append(idx, i)
	}
	if len(specs) > 0 {
		results := s.meta.CreateTopics(ctx, specs, req.ValidateOnly)
		img := s.meta.Image()
		for j, res := range results {
			rt := &resp.Topics[idx[j]]
			if res.Err != nil {
				setCreateErr(rt, nil, res.Err)
				continue
			}
			rt.TopicID = res.ID
			spec := specs[j]
			rt.NumPartitions, rt.ReplicationFactor = spec.NumPartitions, spec.ReplicationFactor
			if len(spec.Assignment) > 0 {
				rt.NumPartitions = int32(len(spec.Assignment))
				for _, reps := range spec.Assignment {
					rt.ReplicationFactor = int16(len(reps))
					break
				}
			}
			if req.Version >= 5 {
				overrides := map[string]string{}
				for k, v := range spec.Configs {
					if v != nil {
						overrides[k] = *v
					}
				}
				for _, e := range config.DescribeTopic(s.cfg, dynamicConfigs(img, s.nodeID), overrides) {
					c := kmsg.NewCreateTopicsResponseTopicConfig()
					c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.Value, e.ReadOnly, int8(e.Source), e.Sensitive
					rt.Configs = append(rt.Configs, c)
				}
			}
		}
	}
	return resp
}

func setCreateErr(rt *kmsg.CreateTopicsResponseTopic, ke *kerr.Error, err error) {
	if ke != nil {
		rt.ErrorCode = ke.Code
	} else {
		rt.ErrorCode = errCode(err)
	}
	rt.ErrorMessage = errMessage(err)
}

// topicSpec turns a request topic into a controller spec, filling in the
// broker defaults for -1 counts.
// Internal topics may be created only by brokers, through the CONTROLLER
// listener.
func (s *Server) topicSpec(t kmsg.CreateTopicsRequestTopic, fromBroker bool) (metadata.TopicSpec, error) {
	spec := metadata.TopicSpec{Name: t.Topic, NumPartitions: t.NumPartitions, ReplicationFactor: t.ReplicationFactor, Internal: fromBroker && isInternalTopic(t.Topic)}
	if isInternalTopic(t.Topic) && !fromBroker {
		return spec, fmt.Errorf("%w: %q is reserved for the broker's internal use", metadata.ErrInvalidTopic, t.Topic)
	}
	if len(t.ReplicaAssignment) > 0 {
		if t.NumPartitions != -1 || t.ReplicationFactor != -1 {
			return spec, fmt.Errorf("%w: both replica assignment and partition count / replication factor given", metadata.ErrInvalidRequest)
		}
		spec.Assignment = map[int32][]int32{}
		for _, a := range t.ReplicaAssignment {
			spec.Assignment[a.Partition] = a.Replicas
		}
	} else {
		if spec.NumPartitions == -1 {
			spec.NumPartitions = int32(s.cfg.Int("num.partitions"))
		}
		if spec.ReplicationFactor == -1 {
			spec.ReplicationFactor = int16(s.cfg.Int("default.replication.factor"))
		}
	}
	if len(t.Configs) > 0 {
		spec.Configs = map[string]*string{}
		for _, c := range t.Configs {
			spec.Configs[c.Name] = c.Value
		}
	}
	return spec, nil
}
