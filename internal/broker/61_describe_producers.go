package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeProducers v0.
//
// Lists the idempotent and transactional producers a replica of the
// partition tracks: id, epoch, last sequence and timestamp, coordinator
// epoch, and the first offset of an open transaction (-1: none). Any
// replica answers, as in Kafka (KIP-664): the admin client asks the
// leader, kafka-transactions.sh describe-producers --broker-id a chosen
// replica, whose state follows the leader's through replication.
func init() { register(kmsg.DescribeProducers, 0, 0, handleDescribeProducers) }

func handleDescribeProducers(s *Server, r *request) kmsg.Response {
	req := r.req.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		for _, part := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = part
			p := s.replicas.Get(rt.Topic, part)
			var err error
			switch {
			case p == nil:
				err = s.absentPartitionError(rt.Topic, part)
			default:
				for _, ap := range p.Log.ActiveProducers() {
					a := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					a.ProducerID, a.ProducerEpoch = ap.ProducerID, int32(ap.Epoch)
					a.LastSequence, a.LastTimestamp = ap.LastSequence, ap.LastTimestamp
					a.CoordinatorEpoch, a.CurrentTxnStartOffset = ap.CoordinatorEpoch, ap.CurrentTxnStartOffset
					sp.ActiveProducers = append(sp.ActiveProducers, a)
				}
			}
			sp.ErrorCode, sp.ErrorMessage = errCode(err), errMessage(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
