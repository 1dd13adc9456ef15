package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteRecords v0-v2.
//
// v1 changes nothing on the wire, v2 is flexible. Moves each partition's log
// start offset to the given offset (-1 means the high watermark); whole
// segments below it are deleted by the log. Offsets above the high
// watermark are OFFSET_OUT_OF_RANGE.
func init() { register(kmsg.DeleteRecords, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			low, err := s.deleteRecords(rt.Topic, rp.Partition, rp.Offset)
			sp.LowWatermark, sp.ErrorCode = low, errCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (s *Server) deleteRecords(topic string, part int32, offset int64) (int64, error) {
	p := s.replicas.Get(topic, part)
	if p == nil {
		return -1, s.absentPartitionError(topic, part)
	}
	if err := p.CheckLeader(-1); err != nil {
		return -1, err
	}
	if offset == -1 {
		offset = p.Log.HighWatermark()
	}
	return p.Log.DeleteRecordsBefore(offset)
}
