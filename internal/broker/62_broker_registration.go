package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/metadata"
)

// BrokerRegistration v0-v4 (KIP-631), on the CONTROLLER listener only.
//
// A broker registers with its node id, a random incarnation id per
// process, its cluster id (from meta.properties) and its listeners. The
// answer is its broker epoch. A second process with the same node id
// while the first still heartbeats gets DUPLICATE_BROKER_REGISTRATION;
// log dirs of another cluster INCONSISTENT_CLUSTER_ID; a broker that does
// not support a finalized feature level UNSUPPORTED_VERSION (its supported
// levels are kept in its registration and bound UpdateFeatures). v1 adds
// the ZK migration flag, v2 log dirs, v3 the previous broker epoch, v4
// nothing that matters here.
func init() { registerController(kmsg.BrokerRegistration, 0, 4, handleBrokerRegistration) }

func handleBrokerRegistration(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.BrokerRegistrationRequest)
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	reg := metadata.BrokerRegistration{
		ID:            req.BrokerID,
		IncarnationID: req.IncarnationID,
		ClusterID:     req.ClusterID,
		Rack:          req.Rack,
	}
	for _, f := range req.Features {
		if reg.Features == nil {
			reg.Features = map[string]metadata.FeatureRange{}
		}
		reg.Features[f.Name] = metadata.FeatureRange{Min: f.MinSupportedVersion, Max: f.MaxSupportedVersion}
	}
	for _, l := range req.Listeners {
		reg.Endpoints = append(reg.Endpoints, metadata.Endpoint{Name: l.Name, Host: l.Host, Port: int32(l.Port), SecurityProtocol: l.SecurityProtocol})
	}
	epoch, err := s.meta.RegisterBroker(ctx, reg)
	if err != nil {
		s.logger.Warn("broker registration refused", "broker", req.BrokerID, "err", err)
	}
	resp.ErrorCode, resp.BrokerEpoch = errCode(err), epoch
	return resp
}
