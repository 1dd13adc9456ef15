package broker

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// Metadata v0-v12.
//
// v1 adds the controller, rack and internal flag; v2 the cluster id; v4
// lets the client ask for auto-creation; v5 offline replicas; v7 leader
// epochs; v8 authorized operations; v9 is flexible; v10 topic ids; v11 drops
// cluster authorized operations. Brokers are listed with the endpoint of the
// listener the client connected through.
//
// A null topic list means every topic (an empty one at v0 too); an empty one
// at v1+ means none. A requested topic that does not exist is created when
// auto.create.topics.enable is on and the client allows it (always before
// v4), and answered in full at once, since creation is synchronous here.
func init() { register(kmsg.Metadata, 0, 12, handleMetadata) }

// authorizedOperationsOmitted is Kafka's "not requested" value.
const authorizedOperationsOmitted = -2147483648

func handleMetadata(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	img := s.meta.Image()

	ids := make([]int32, 0, len(img.Brokers))
	for id, b := range img.Brokers {
		if !b.Fenced {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		b := img.Brokers[id]
		ep, ok := endpointFor(b, r.c.listener)
		if !ok {
			continue
		}
		rb := kmsg.NewMetadataResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack = id, ep.Host, ep.Port, b.Rack
		resp.Brokers = append(resp.Brokers, rb)
	}
	clusterID := img.ClusterID
	resp.ClusterID = &clusterID
	resp.ControllerID = clientControllerID(img)
	resp.AuthorizedOperations = authorizedOperationsOmitted

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		names := make([]string, 0, len(img.Topics))
		for n := range img.Topics {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			resp.Topics = append(resp.Topics, s.metadataTopic(img, img.Topics[n], req.IncludeTopicAuthorizedOperations))
		}
		return resp
	}

	autoCreate := req.Version < 4 || req.AllowAutoTopicCreation
	for _, rt := range req.Topics {
		var t *metadata.Topic
		switch {
		case rt.Topic != nil:
			t = img.Topics[*rt.Topic]
			if t == nil && autoCreate && s.cfg.Bool("auto.create.topics.enable") {
				if err := s.maybeAutoCreate(*rt.Topic); err != nil {
					resp.Topics = append(resp.Topics, errorTopic(rt, errCode(err)))
					continue
				}
				img = s.meta.Image()
				t = img.Topics[*rt.Topic]
			}
		case rt.TopicID != [16]byte{}:
			t = img.TopicsByID[rt.TopicID]
			if t == nil {
				resp.Topics = append(resp.Topics, errorTopic(rt, kerr.UnknownTopicID.Code))
				continue
			}
		}
		if t == nil {
			resp.Topics = append(resp.Topics, errorTopic(rt, kerr.UnknownTopicOrPartition.Code))
			continue
		}
		resp.Topics = append(resp.Topics, s.metadataTopic(img, t, req.IncludeTopicAuthorizedOperations))
	}
	return resp
}

func errorTopic(rt kmsg.MetadataRequestTopic, code int16) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.ErrorCode = code
	mt.Topic = rt.Topic
	mt.TopicID = rt.TopicID
	mt.AuthorizedOperations = authorizedOperationsOmitted
	return mt
}

func (s *Server) metadataTopic(img *metadata.Image, t *metadata.Topic, _ bool) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = isInternalTopic(t.Name)
	mt.AuthorizedOperations = authorizedOperationsOmitted
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.Partition
		mp.Leader = p.Leader
		mp.LeaderEpoch = p.LeaderEpoch
		mp.Replicas = p.Replicas
		mp.ISR = p.ISR
		mp.OfflineReplicas = []int32{}
		for _, id := range p.Replicas {
			if b := img.Brokers[id]; b == nil || b.Fenced {
				mp.OfflineReplicas = append(mp.OfflineReplicas, id)
			}
		}
		if p.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// isInternalTopic reports Kafka's internal topics.
func isInternalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}
