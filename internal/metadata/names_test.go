package metadata

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateTopicName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"", false},
		{".", false},
		{"..", false},
		{"...", true},
		{strings.Repeat("a", 249), true},
		{strings.Repeat("a", 250), false},
		{"a b", false},
		{"a/b", false},
		{"ä", false},
		{"ok.name_-1", true},
		{"__consumer_offsets", true},
	} {
		err := ValidateTopicName(tc.name)
		if tc.ok != (err == nil) {
			t.Errorf("%q: %v", tc.name, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("%q: %v is not ErrInvalidTopic", tc.name, err)
		}
	}
}

func TestTopicCollision(t *testing.T) {
	im := emptyImage()
	im.Topics["a.b"] = &Topic{Name: "a.b"}
	im.Topics["plain"] = &Topic{Name: "plain"}
	idx := newCollisionIndex(im)
	err := idx.check("a_b")
	if !errors.Is(err, ErrTopicCollision) || !strings.Contains(err.Error(), `"a.b"`) {
		t.Fatalf("a_b: %v", err)
	}
	for _, ok := range []string{"a.b", "a-b", "plain", "a.c"} {
		if err := idx.check(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	idx.add("x_y")
	if err := idx.check("x.y"); !errors.Is(err, ErrTopicCollision) || !strings.Contains(err.Error(), `"x_y"`) {
		t.Fatalf("x.y: %v", err)
	}
}
