// Package compat holds no code: its tests drive a real in-process broker
// with the other Go Kafka clients, IBM/sarama and segmentio/kafka-go, the
// way their users do (admin, idempotent producers with every codec,
// partition consumers, consumer groups), so that a change which only
// franz-go would tolerate shows up. Each client speaks its own protocol
// versions: sarama at Kafka 2.1, its default and its newest; kafka-go its
// fixed set.
package compat
