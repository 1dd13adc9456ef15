package metadata

import (
	"fmt"
	"strings"
)

// MaxTopicNameLength is the longest legal topic name (Kafka's limit, so
// that "<topic>-<partition>" and its suffixes fit in a 255-byte file name).
const MaxTopicNameLength = 249

// Internal topic names. Only internal callers (TopicSpec.Internal) may
// create them.
const (
	ConsumerOffsetsTopic  = "__consumer_offsets"
	TransactionStateTopic = "__transaction_state"
)

// IsInternalTopic reports whether name is one of the reserved internal
// topics.
func IsInternalTopic(name string) bool {
	return name == ConsumerOffsetsTopic || name == TransactionStateTopic
}

// ValidateTopicName checks Kafka's topic name rules: not empty, not "." or
// "..", at most 249 characters of [a-zA-Z0-9._-]. The error wraps
// ErrInvalidTopic.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: topic name is empty", ErrInvalidTopic)
	case name == "." || name == "..":
		return fmt.Errorf("%w: topic name cannot be %q", ErrInvalidTopic, name)
	case len(name) > MaxTopicNameLength:
		return fmt.Errorf("%w: topic name is %d characters long, the limit is %d", ErrInvalidTopic, len(name), MaxTopicNameLength)
	}
	for i := 0; i < len(name); i++ {
		if !legalTopicByte(name[i]) {
			return fmt.Errorf("%w: topic name %q contains %q; legal characters are ASCII letters, digits, '.', '_' and '-'", ErrInvalidTopic, name, name[i])
		}
	}
	return nil
}

func legalTopicByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// collisionKey maps a topic name to the form in which '.' and '_' are the
// same: metric names replace '.' by '_', so Kafka forbids two topics that
// differ only there.
func collisionKey(name string) string {
	return strings.ReplaceAll(name, ".", "_")
}

// collisionIndex finds the topic a new name would collide with. It is built
// once per request from the image and extended with the names the request
// creates.
type collisionIndex map[string]string

func newCollisionIndex(im *Image) collisionIndex {
	idx := collisionIndex{}
	for name := range im.Topics {
		if strings.ContainsAny(name, "._") {
			idx[collisionKey(name)] = name
		}
	}
	return idx
}

// check returns an error wrapping ErrTopicCollision when name collides with
// a different topic.
func (idx collisionIndex) check(name string) error {
	if !strings.ContainsAny(name, "._") {
		return nil
	}
	if other, ok := idx[collisionKey(name)]; ok && other != name {
		return fmt.Errorf("%w: topic %q collides with existing topic %q (names may not differ only by '.' and '_')", ErrTopicCollision, name, other)
	}
	return nil
}

func (idx collisionIndex) add(name string) {
	if strings.ContainsAny(name, "._") {
		idx[collisionKey(name)] = name
	}
}
