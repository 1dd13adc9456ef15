package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// UnregisterBroker v0 (KIP-631): removes a decommissioned broker's
// registration, after taking it out of every ISR and leadership. Its
// partitions keep it among their replicas until they are reassigned; a
// broker that is still running registers again at its next heartbeat.
// Forwarded to the controller from any broker.
func init() { registerAdmin(kmsg.UnregisterBroker, 0, 0, handleUnregisterBroker) }

func handleUnregisterBroker(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.UnregisterBrokerRequest)
	resp := req.ResponseKind().(*kmsg.UnregisterBrokerResponse)
	ctx, cancel := s.requestContext(0)
	defer cancel()
	err := s.meta.UnregisterBroker(ctx, req.BrokerID)
	resp.ErrorCode, resp.ErrorMessage = errCode(err), errMessage(err)
	return resp
}
