package broker

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/txn"
)

// ListTransactions v0-v2 (KIP-664): the transactional ids of the shards
// this broker leads, filtered by state, producer id, v1's minimum running
// duration (KIP-994) and v2's id pattern (KIP-1152; a Go regexp here, as
// ListGroups' patterns are). The admin client asks every broker and
// merges. While a shard is still loading the answer is
// COORDINATOR_LOAD_IN_PROGRESS, as Kafka's, so a retry sees it whole.
func init() { register(kmsg.ListTransactions, 0, 2, handleListTransactions) }

func handleListTransactions(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	shards, loading := s.txns.loadedShards()
	if loading {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return resp
	}
	now := s.now()
	for _, name := range req.StateFilters {
		if _, ok := txn.ParseState(name); !ok {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
		}
	}
	for _, sh := range shards {
		sh.mu.Lock()
		if sh.mu.closed {
			sh.mu.Unlock()
			continue
		}
		states, _, err := sh.mu.sm.List(now, req)
		sh.mu.Unlock()
		if err != nil {
			resp.ErrorCode, resp.TransactionStates = err.Code, nil
			return resp
		}
		resp.TransactionStates = append(resp.TransactionStates, states...)
	}
	sort.Slice(resp.TransactionStates, func(i, j int) bool {
		return resp.TransactionStates[i].TransactionalID < resp.TransactionStates[j].TransactionalID
	})
	return resp
}
