package cli

// The JSON event lines of Kafka's verifiable producer and consumer
// (org.apache.kafka.tools.VerifiableProducer / VerifiableConsumer), which
// test harnesses such as Kafka's system tests parse. Every event starts
// with "timestamp" (ms) and "name"; the field names are Kafka's.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// eventWriter prints one JSON object per line; safe for concurrent use
// (delivery callbacks run on client goroutines).
type eventWriter struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

func newEventWriter(w io.Writer) *eventWriter { return &eventWriter{w: w, now: time.Now} }

// emit writes the event: ev's fields follow "timestamp" and "name".
func (e *eventWriter) emit(name string, ev any) {
	head := struct {
		Timestamp int64  `json:"timestamp"`
		Name      string `json:"name"`
	}{e.now().UnixMilli(), name}
	b, _ := json.Marshal(head)
	if ev != nil {
		body, err := json.Marshal(ev)
		if err != nil {
			body = []byte(fmt.Sprintf(`{"error":%q}`, "bad event: "+err.Error()))
		}
		if len(body) > 2 { // splice the objects: {"timestamp":..,"name":..,<body>}
			b = append(b[:len(b)-1], ',')
			b = append(b, body[1:]...)
		}
	}
	b = append(b, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	e.w.Write(b)
}

// Producer events.

type producerSendSuccess struct {
	Key       *string `json:"key"`
	Value     string  `json:"value"`
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Offset    int64   `json:"offset"`
}

type producerSendError struct {
	Exception string  `json:"exception"`
	Message   string  `json:"message"`
	Topic     string  `json:"topic"`
	Key       *string `json:"key"`
	Value     string  `json:"value"`
}

type producerToolData struct {
	Sent             int64   `json:"sent"`
	Acked            int64   `json:"acked"`
	TargetThroughput int64   `json:"target_throughput"`
	AvgThroughput    float64 `json:"avg_throughput"`
}

// Consumer events.

type topicPartitionJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

type partitionsEvent struct {
	Partitions []topicPartitionJSON `json:"partitions"`
}

type recordSetSummary struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Count     int64  `json:"count"`
	MinOffset int64  `json:"minOffset"`
	MaxOffset int64  `json:"maxOffset"`
}

type recordsConsumed struct {
	Count      int64              `json:"count"`
	Partitions []recordSetSummary `json:"partitions"`
}

type recordData struct {
	Key       *string `json:"key"`
	Value     *string `json:"value"`
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Offset    int64   `json:"offset"`
}

type commitData struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

type offsetsCommitted struct {
	Offsets []commitData `json:"offsets"`
	Error   string       `json:"error,omitempty"`
	Success bool         `json:"success"`
}

// exceptionName names an error the way Kafka's events name exception
// classes: the Kafka error code name when there is one.
func exceptionName(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return fmt.Sprintf("%T", err)
}

// jsonOptString turns a nullable byte slice into a JSON string or null.
func jsonOptString(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}
