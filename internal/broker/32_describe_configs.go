package broker

import (
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
)

// DescribeConfigs v1-v4.
//
// v1 adds synonyms and the config source, v3 the type and documentation,
// v4 is flexible. Entries come from the one declaration of every config
// (package config): value from the highest-precedence source, with its
// synonyms in precedence order when asked. Topics and this broker (by id, or
// "" for the cluster-wide dynamic defaults) can be described.
func init() { register(kmsg.DescribeConfigs, 1, 4, handleDescribeConfigs) }

func handleDescribeConfigs(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	img := s.meta.Image()
	dyn := dynamicConfigs(img, s.nodeID)
	for _, rr := range req.Resources {
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []config.Entry
		var err error
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t := img.Topics[rr.ResourceName]
			if t == nil {
				err = fmt.Errorf("%w: topic %q", errUnknownTopicOrPartition, rr.ResourceName)
				break
			}
			entries = config.DescribeTopic(s.cfg, dyn, t.Configs)
		case kmsg.ConfigResourceTypeBroker:
			switch rr.ResourceName {
			case "":
				entries = config.DescribeClusterDefault(dyn)
			case strconv.Itoa(int(s.nodeID)):
				entries = config.DescribeBroker(s.cfg, dyn)
			default:
				err = fmt.Errorf("%w: broker %q: ask that broker", kerr.InvalidRequest, rr.ResourceName)
			}
		default:
			err = fmt.Errorf("%w: resource type %d is not supported", kerr.InvalidRequest, rr.ResourceType)
		}
		if err != nil {
			res.ErrorCode, res.ErrorMessage = errCode(err), errMessage(err)
			resp.Resources = append(resp.Resources, res)
			continue
		}
		want := map[string]bool{}
		for _, n := range rr.ConfigNames {
			want[n] = true
		}
		for _, e := range entries {
			if rr.ConfigNames != nil && !want[e.Name] {
				continue
			}
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name, c.Value, c.ReadOnly, c.IsSensitive = e.Name, e.Value, e.ReadOnly, e.Sensitive
			c.Source = e.Source
			c.IsDefault = e.Source == kmsg.ConfigSourceDefaultConfig
			c.ConfigType = e.Type
			if req.IncludeDocumentation {
				doc := e.Doc
				c.Documentation = &doc
			}
			if req.IncludeSynonyms {
				for _, syn := range e.Synonyms {
					cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
					cs.Name, cs.Value, cs.Source = syn.Name, syn.Value, syn.Source
					c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
				}
			}
			res.Configs = append(res.Configs, c)
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp
}
