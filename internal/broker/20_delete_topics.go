package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteTopics v1-v6.
//
// v4 is flexible, v5 adds error messages, v6 names topics by name or id.
// Deletion removes the topic from the metadata image; every broker then
// deletes its local logs of it when it applies that image.
func init() { registerAdmin(kmsg.DeleteTopics, 1, 6, handleDeleteTopics) }

func handleDeleteTopics(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	ctx, cancel := s.requestContext(req.TimeoutMillis)
	defer cancel()

	type want struct {
		name *string
		id   [16]byte
	}
	var wants []want
	if req.Version >= 6 {
		for _, t := range req.Topics {
			wants = append(wants, want{t.Topic, t.TopicID})
		}
	} else {
		for i := range req.TopicNames {
			wants = append(wants, want{name: &req.TopicNames[i]})
		}
	}
	enabled := s.cfg.Bool("delete.topic.enable")
	for _, w := range wants {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID = w.name, w.id
		var err error
		switch {
		case !enabled:
			err = kerr.TopicDeletionDisabled
		case w.name != nil && isInternalTopic(*w.name):
			err = fmt.Errorf("%w: internal topic %s cannot be deleted", kerr.InvalidTopicException, *w.name)
		case w.name != nil && *w.name != "":
			res := s.meta.DeleteTopics(ctx, []string{*w.name}, nil)
			err = res[0].Err
			rt.TopicID = res[0].ID
		case w.id != [16]byte{}:
			res := s.meta.DeleteTopics(ctx, nil, [][16]byte{w.id})
			err = res[0].Err
			if res[0].Name != "" {
				n := res[0].Name
				rt.Topic = &n
			}
		default:
			err = fmt.Errorf("%w: neither a topic name nor a topic id", kerr.InvalidRequest)
		}
		rt.ErrorCode = errCode(err)
		if req.Version >= 5 {
			rt.ErrorMessage = errMessage(err)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
