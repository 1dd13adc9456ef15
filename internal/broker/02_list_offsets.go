package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/records"
	"github.com/samsa-streaming/samsa/internal/storage"
)

// ListOffsets v1-v9.
//
// v1 answers one offset per partition (v0's list is gone in 4.x), v2 adds
// the isolation level, v4 the leader epoch, v6 is flexible, v7 adds the max
// timestamp query (-3, KIP-734), v8 earliest-local (-4, KIP-405) and v9
// latest-tiered (-5, KIP-1005). Without tiered storage the local log is the
// whole log, so -4 is the earliest offset and -5 has no answer (-1).
// Latest (-1) and timestamp lookups end at the last stable offset for
// read_committed, at the high watermark for read_uncommitted.
func init() { register(kmsg.ListOffsets, 1, 9, handleListOffsets) }

// Special timestamps of ListOffsets.
const (
	listLatest        = -1
	listEarliest      = -2
	listMaxTimestamp  = -3
	listEarliestLocal = -4
	listLatestTiered  = -5
)

func handleListOffsets(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			if err := s.listOffset(rt.Topic, rp, req.IsolationLevel, &sp); err != nil {
				sp.ErrorCode = errCode(err)
				sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (s *Server) listOffset(topic string, rp kmsg.ListOffsetsRequestTopicPartition, isolation int8, sp *kmsg.ListOffsetsResponseTopicPartition) error {
	p := s.replicas.Get(topic, rp.Partition)
	if p == nil {
		return s.absentPartitionError(topic, rp.Partition)
	}
	if err := p.CheckLeader(rp.CurrentLeaderEpoch); err != nil {
		return err
	}
	l := p.Log
	sp.LeaderEpoch = l.LatestEpoch()
	// The last offset a consumer of the isolation level may fetch (Kafka's
	// lastFetchableOffset): the last stable offset (the first offset of
	// the earliest open transaction, or the high watermark) for
	// read_committed, the high watermark for read_uncommitted.
	fetchable := l.HighWatermark
	if isolation == readCommitted {
		fetchable = l.LastStableOffset
	}
	switch rp.Timestamp {
	case listLatest:
		sp.Offset = fetchable()
	case listEarliest, listEarliestLocal:
		sp.Offset = l.LogStartOffset()
	case listLatestTiered:
		sp.Offset = -1
	case listMaxTimestamp:
		ts, off := l.MaxTimestampOffset()
		sp.Timestamp, sp.Offset = ts, off
		if off < 0 {
			sp.LeaderEpoch = -1
		}
	default:
		if rp.Timestamp < 0 {
			return kerr.InvalidRequest
		}
		off, ts, ok, err := l.OffsetForTimestamp(rp.Timestamp)
		if err != nil {
			return err
		}
		if !ok || off >= fetchable() {
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			return nil
		}
		sp.Offset, sp.Timestamp = exactOffsetForTimestamp(l, off, ts, rp.Timestamp)
	}
	return nil
}

// exactOffsetForTimestamp refines the log's batch-level answer (the first
// batch whose max timestamp reaches target) to the first record in that
// batch whose own timestamp does, as Kafka answers.
func exactOffsetForTimestamp(l *storage.Log, off, batchTs, target int64) (int64, int64) {
	rr, err := l.Read(off, 1, -1, true)
	if err != nil || len(rr.Records) == 0 {
		return off, batchTs
	}
	h, err := records.ParseHeader(rr.Records)
	if err != nil || h.LogAppendTime() {
		return off, batchTs // LogAppendTime: every record has the batch's time
	}
	foundOff, foundTs := off, batchTs
	errFound := errors.New("found")
	err = records.Records(rr.Records[:h.Size()], 0, func(r *records.Record) error {
		o, ts := h.BaseOffset+int64(r.OffsetDelta), h.FirstTimestamp+r.TimestampDelta
		if o >= off && ts >= target {
			foundOff, foundTs = o, ts
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return off, batchTs
	}
	return foundOff, foundTs
}
