package broker

import "github.com/samsa-streaming/samsa/internal/txn"

// StartTxnMarkerSender starts a transaction marker sender on s for the
// tests of package broker_test (nothing drives one outside tests yet); the
// returned func queues a marker. It stops with s.
func StartTxnMarkerSender(s *Server, done func(txn.Marker, txn.TopicPartition, error)) func(txn.Marker) {
	return newTxnMarkerSender(s, done).send
}
