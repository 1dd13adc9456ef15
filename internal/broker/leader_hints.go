package broker

import (
	"errors"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/replica"
)

// leaderHints collects, for one Produce or Fetch answer, the current
// leaders named in its NOT_LEADER_OR_FOLLOWER errors (KIP-951): each
// partition gets CurrentLeader, and the answer lists those leaders'
// endpoints (NodeEndpoints), so a client moves to the new leader without
// a metadata round trip.
type leaderHints struct {
	s   *Server
	ids map[int32]bool
}

func newLeaderHints(s *Server) *leaderHints { return &leaderHints{s: s, ids: map[int32]bool{}} }

// hint returns the leader and epoch an error names, if it names one.
func (h *leaderHints) hint(err error) (leader, epoch int32, ok bool) {
	var nl *replica.NotLeaderError
	if !errors.As(err, &nl) || nl.Leader < 0 {
		return -1, -1, false
	}
	h.ids[nl.Leader] = true
	return nl.Leader, nl.LeaderEpoch, true
}

// endpoints lists the hinted leaders' endpoints for the listener of the
// answer (the inter-broker one when unknown).
func (h *leaderHints) endpoints(listener string) []hintEndpoint {
	if len(h.ids) == 0 {
		return nil
	}
	img := h.s.meta.Image()
	var out []hintEndpoint
	for id := range h.ids {
		b := img.Brokers[id]
		if b == nil {
			continue
		}
		ep, ok := endpointFor(b, listener)
		if !ok {
			continue
		}
		out = append(out, hintEndpoint{id, ep.Host, ep.Port, b.Rack})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

type hintEndpoint struct {
	id   int32
	host string
	port int32
	rack *string
}

func (h *leaderHints) produceBrokers(listener string) []kmsg.ProduceResponseBroker {
	var out []kmsg.ProduceResponseBroker
	for _, e := range h.endpoints(listener) {
		b := kmsg.NewProduceResponseBroker()
		b.NodeID, b.Host, b.Port, b.Rack = e.id, e.host, e.port, e.rack
		out = append(out, b)
	}
	return out
}

func (h *leaderHints) fetchBrokers(listener string) []kmsg.FetchResponseBroker {
	var out []kmsg.FetchResponseBroker
	for _, e := range h.endpoints(listener) {
		b := kmsg.NewFetchResponseBroker()
		b.NodeID, b.Host, b.Port, b.Rack = e.id, e.host, e.port, e.rack
		out = append(out, b)
	}
	return out
}
