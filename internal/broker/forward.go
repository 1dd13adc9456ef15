package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Admin requests that change the metadata (CreateTopics, DeleteTopics,
// CreatePartitions, AlterConfigs, IncrementalAlterConfigs, UpdateFeatures
// ...) are decided by
// the active controller. Any broker takes them: one that is not the
// controller forwards the request as it came to the controller's
// CONTROLLER listener, where the same handler runs, and answers with the
// controller's answer (Kafka wraps them in Envelope; here both ends are
// Samsa, so the request goes as it is). A forwarded CreateTopics answer
// waits, briefly, until this broker's own image has the topics, so that
// the client's next Metadata here finds them.

// registerAdmin registers an admin handler on both listeners: forwarded
// on the client listeners, run in place on the CONTROLLER listener.
func registerAdmin(key kmsg.Key, min, max int16, fn handlerFunc) {
	register(key, min, max, func(s *Server, r *request) kmsg.Response {
		var resp kmsg.Response
		if s.meta.IsController() {
			resp = fn(s, r)
		} else {
			resp = s.forward(r)
		}
		// The client's next request here should find the change applied
		// to this broker's partitions (its logs created or deleted).
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		s.waitLocalApply(ctx)
		cancel()
		return resp
	})
	registerController(key, min, max, fn)
}

// requestContext bounds a controller operation by the request's timeout.
func (s *Server) requestContext(timeoutMillis int32) (context.Context, context.CancelFunc) {
	d := time.Duration(timeoutMillis) * time.Millisecond
	if d <= 0 || d > 5*time.Minute {
		d = 30 * time.Second
	}
	return context.WithTimeout(s.ctx, d)
}

// forward sends an admin request to the controller and returns its answer,
// or an answer with every item failed when none could be had in time.
func (s *Server) forward(r *request) kmsg.Response {
	var timeout int32
	switch req := r.req.(type) {
	case *kmsg.CreateTopicsRequest:
		timeout = req.TimeoutMillis
	case *kmsg.DeleteTopicsRequest:
		timeout = req.TimeoutMillis
	case *kmsg.CreatePartitionsRequest:
		timeout = req.TimeoutMillis
	case *kmsg.ElectLeadersRequest:
		timeout = req.TimeoutMillis
	case *kmsg.AlterPartitionAssignmentsRequest:
		timeout = req.TimeoutMillis
	case *kmsg.ListPartitionReassignmentsRequest:
		timeout = req.TimeoutMillis
	case *kmsg.AddRaftVoterRequest:
		timeout = req.TimeoutMillis
	case *kmsg.UpdateFeaturesRequest:
		timeout = req.TimeoutMillis
	}
	ctx, cancel := s.requestContext(timeout)
	defer cancel()
	resp, err := s.adminChannel.request(ctx, r.req)
	if err != nil {
		s.logger.Warn("forwarding to the controller failed", "api", kmsg.NameForKey(r.req.Key()), "err", err)
		return failedAdminResponse(r.req, kerr.RequestTimedOut.Code, err)
	}
	if cr, ok := resp.(*kmsg.CreateTopicsResponse); ok {
		var names []string
		for _, t := range cr.Topics {
			if t.ErrorCode == 0 {
				names = append(names, t.Topic)
			}
		}
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		s.waitForTopics(wctx, names)
		wcancel()
	}
	return resp
}

// waitLocalApply waits until the replica manager has applied the image
// this broker has now.
func (s *Server) waitLocalApply(ctx context.Context) {
	_ = s.waitApplied(ctx, s.meta.Image().Offset)
}

// waitForTopics waits until the local image has every named topic.
func (s *Server) waitForTopics(ctx context.Context, names []string) {
	for {
		img := s.meta.Image()
		all := true
		for _, n := range names {
			if img.Topics[n] == nil {
				all = false
				break
			}
		}
		if all {
			return
		}
		t := time.NewTimer(5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// failedAdminResponse answers an admin request with code for every item.
func failedAdminResponse(req kmsg.Request, code int16, err error) kmsg.Response {
	msg := errMessage(err)
	switch req := req.(type) {
	case *kmsg.CreateTopicsRequest:
		resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewCreateTopicsResponseTopic()
			rt.Topic, rt.ErrorCode, rt.ErrorMessage = t.Topic, code, msg
			rt.NumPartitions, rt.ReplicationFactor = -1, -1
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.DeleteTopicsRequest:
		resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewDeleteTopicsResponseTopic()
			rt.Topic, rt.TopicID, rt.ErrorCode, rt.ErrorMessage = t.Topic, t.TopicID, code, msg
			resp.Topics = append(resp.Topics, rt)
		}
		for i := range req.TopicNames {
			rt := kmsg.NewDeleteTopicsResponseTopic()
			rt.Topic, rt.ErrorCode, rt.ErrorMessage = &req.TopicNames[i], code, msg
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.CreatePartitionsRequest:
		resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewCreatePartitionsResponseTopic()
			rt.Topic, rt.ErrorCode, rt.ErrorMessage = t.Topic, code, msg
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.AlterConfigsRequest:
		resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
		for _, rr := range req.Resources {
			res := kmsg.NewAlterConfigsResponseResource()
			res.ResourceType, res.ResourceName, res.ErrorCode, res.ErrorMessage = rr.ResourceType, rr.ResourceName, code, msg
			resp.Resources = append(resp.Resources, res)
		}
		return resp
	case *kmsg.ElectLeadersRequest:
		resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
		resp.ErrorCode = code
		return resp
	case *kmsg.AlterPartitionAssignmentsRequest:
		resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
		resp.ErrorCode, resp.ErrorMessage = code, msg
		return resp
	case *kmsg.ListPartitionReassignmentsRequest:
		resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
		resp.ErrorCode, resp.ErrorMessage = code, msg
		return resp
	case *kmsg.UnregisterBrokerRequest:
		resp := req.ResponseKind().(*kmsg.UnregisterBrokerResponse)
		resp.ErrorCode, resp.ErrorMessage = code, msg
		return resp
	case *kmsg.AddRaftVoterRequest:
		resp := req.ResponseKind().(*kmsg.AddRaftVoterResponse)
		resp.ErrorCode, resp.ErrorMessage = code, msg
		return resp
	case *kmsg.RemoveRaftVoterRequest:
		resp := req.ResponseKind().(*kmsg.RemoveRaftVoterResponse)
		resp.ErrorCode, resp.ErrorMessage = code, msg
		return resp
	case *kmsg.UpdateFeaturesRequest:
		resp := req.ResponseKind().(*kmsg.UpdateFeaturesResponse)
		resp.ErrorCode, resp.ErrorMessage = code, msg
		return resp
	case *kmsg.IncrementalAlterConfigsRequest:
		resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
		for _, rr := range req.Resources {
			res := kmsg.NewIncrementalAlterConfigsResponseResource()
			res.ResourceType, res.ResourceName, res.ErrorCode, res.ErrorMessage = rr.ResourceType, rr.ResourceName, code, msg
			resp.Resources = append(resp.Resources, res)
		}
		return resp
	}
	return nil
}

// createTopic creates a topic through the controller, for the broker's
// own needs (auto-creation, __consumer_offsets), and waits until the local
// image has it. An existing topic is kerr.TopicAlreadyExists.
func (s *Server) createTopic(ctx context.Context, name string, partitions int32, rf int16, configs map[string]string) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(7)
	req.TimeoutMillis = 10000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = name, partitions, rf
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, &v
		t.Configs = append(t.Configs, c)
	}
	req.Topics = append(req.Topics, t)
	resp, err := s.adminChannel.request(ctx, req)
	if err != nil {
		return err
	}
	cr := resp.(*kmsg.CreateTopicsResponse)
	if len(cr.Topics) != 1 {
		return fmt.Errorf("CreateTopics answered %d topics for one", len(cr.Topics))
	}
	if err := kerr.ErrorForCode(cr.Topics[0].ErrorCode); err != nil {
		if msg := cr.Topics[0].ErrorMessage; msg != nil {
			return fmt.Errorf("%w: %s", err, *msg)
		}
		return err
	}
	s.waitForTopics(ctx, []string{name})
	s.waitLocalApply(ctx)
	return nil
}
