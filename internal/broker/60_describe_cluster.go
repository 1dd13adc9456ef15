package broker

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster v0-v1.
//
// v1 adds the endpoint type (1 brokers, 2 controllers, KIP-919). Brokers are
// listed with the endpoint of the listener the client came through.
// Describing the controllers through a broker listener is refused with
// UNSUPPORTED_ENDPOINT_TYPE, as Kafka does.
func init() { register(kmsg.DescribeCluster, 0, 1, handleDescribeCluster) }

func handleDescribeCluster(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return resp
	}
	img := s.meta.Image()
	resp.ClusterID = img.ClusterID
	resp.ControllerID = clientControllerID(img)
	resp.ClusterAuthorizedOperations = authorizedOperationsOmitted
	for id, b := range img.Brokers {
		if b.Fenced {
			continue
		}
		ep, ok := endpointFor(b, r.c.listener)
		if !ok {
			continue
		}
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack = id, ep.Host, ep.Port, b.Rack
		resp.Brokers = append(resp.Brokers, rb)
	}
	sort.Slice(resp.Brokers, func(i, j int) bool { return resp.Brokers[i].NodeID < resp.Brokers[j].NodeID })
	return resp
}
