package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/group"
	"github.com/samsa-streaming/samsa/internal/metadata"
	"github.com/samsa-streaming/samsa/internal/txn"
)

// FindCoordinator v0-v6.
//
// v1 adds the key type (0 group, 1 transaction) and error message, v3 is
// flexible, v4 batches keys (KIP-699), v5 and v6 change nothing for group
// and transaction keys (v6 adds share-group keys, type 2, KIP-932).
//
// A group's coordinator is the leader of its __consumer_offsets partition,
// a transactional id's the leader of its __transaction_state partition
// (Java hash of the key modulo the partition count, for both); the first
// lookup of each kind creates its topic, as Kafka does. Asked on the
// leader itself, the lookup also starts loading the partition, so the
// client's first request finds it loaded more often.
func init() { register(kmsg.FindCoordinator, 0, 6, handleFindCoordinator) }

// Kafka's coordinator key types.
const (
	coordinatorGroup       int8 = 0
	coordinatorTransaction int8 = 1
)

func handleFindCoordinator(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		co := s.findCoordinator(r, req.CoordinatorType, key)
		if req.Version < 4 {
			resp.ErrorCode, resp.ErrorMessage = co.ErrorCode, co.ErrorMessage
			resp.NodeID, resp.Host, resp.Port = co.NodeID, co.Host, co.Port
			return resp
		}
		resp.Coordinators = append(resp.Coordinators, co)
	}
	return resp
}

func (s *Server) findCoordinator(r *request, keyType int8, key string) kmsg.FindCoordinatorResponseCoordinator {
	co := kmsg.NewFindCoordinatorResponseCoordinator()
	co.Key, co.NodeID, co.Port = key, -1, -1
	fail := func(err error) kmsg.FindCoordinatorResponseCoordinator {
		co.ErrorCode = errCode(err)
		co.ErrorMessage = errMessage(err)
		return co
	}
	var (
		topic        string
		partitionFor func(string, int32) int32
		ensure       func(context.Context) error
		load         func(int32)
	)
	switch keyType {
	case coordinatorGroup:
		topic, partitionFor, ensure = metadata.ConsumerOffsetsTopic, group.PartitionFor, s.groups.ensureOffsetsTopic
		load = func(p int32) { s.groups.shard(p) }
	case coordinatorTransaction:
		topic, partitionFor, ensure = metadata.TransactionStateTopic, txn.PartitionFor, s.txns.ensureTxnTopic
		load = func(p int32) { s.txns.shard(p) }
	default:
		return fail(kerr.InvalidRequest)
	}
	if key == "" {
		return fail(kerr.InvalidRequest)
	}
	ctx, cancel := s.requestContext(0)
	defer cancel()
	if err := ensure(ctx); err != nil {
		return fail(kerr.CoordinatorNotAvailable)
	}
	img := s.meta.Image()
	t := img.Topics[topic]
	if t == nil || len(t.Partitions) == 0 {
		return fail(kerr.CoordinatorNotAvailable)
	}
	mp := t.Partitions[partitionFor(key, int32(len(t.Partitions)))]
	b := img.Brokers[mp.Leader]
	if mp.Leader < 0 || b == nil || b.Fenced {
		return fail(kerr.CoordinatorNotAvailable)
	}
	ep, ok := endpointFor(b, r.c.listener)
	if !ok {
		return fail(kerr.CoordinatorNotAvailable)
	}
	if mp.Leader == s.nodeID {
		load(mp.Partition) // start loading now
	}
	co.NodeID, co.Host, co.Port = mp.Leader, ep.Host, ep.Port
	return co
}
