package broker

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handlerFunc serves one request. It returns the response, or nil when it
// has taken over r.done and will answer later (delayed produce and fetch) or
// not at all (acks=0 produce).
type handlerFunc func(s *Server, r *request) kmsg.Response

// apiHandler is a registered API key with the version range we serve.
type apiHandler struct {
	key      kmsg.Key
	min, max int16
	fn       handlerFunc
}

// handlers is filled by the init functions of the NN_name.go files, so the
// version range of each API sits next to its handler and ApiVersions is
// derived from this table, never maintained by hand.
var handlers = map[int16]*apiHandler{}

func register(key kmsg.Key, min, max int16, fn handlerFunc) {
	if _, dup := handlers[int16(key)]; dup {
		panic("broker: API key registered twice: " + key.Name())
	}
	if kmax := key.Request().MaxVersion(); max > kmax {
		panic("broker: " + key.Name() + " registered above the codec's max version")
	}
	handlers[int16(key)] = &apiHandler{key: key, min: min, max: max, fn: fn}
}

// supportedAPIs lists the served API keys in key order.
func supportedAPIs() []*apiHandler {
	out := make([]*apiHandler, 0, len(handlers))
	for _, h := range handlers {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}
