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

// apiTable maps API keys to their handlers for one kind of listener.
type apiTable map[int16]*apiHandler

// handlers (client listeners) and controllerHandlers (the CONTROLLER
// listener: broker registration and heartbeats, AlterPartition, producer-id
// blocks, and the admin requests brokers forward) are filled by the init
// functions of the NN_name.go files, so the version range of each API sits
// next to its handler and ApiVersions is derived from the table of the
// listener it is asked on, never maintained by hand.
var (
	handlers           = apiTable{}
	controllerHandlers = apiTable{}
)

func register(key kmsg.Key, min, max int16, fn handlerFunc) { handlers.add(key, min, max, fn) }

func registerController(key kmsg.Key, min, max int16, fn handlerFunc) {
	controllerHandlers.add(key, min, max, fn)
}

func (t apiTable) add(key kmsg.Key, min, max int16, fn handlerFunc) {
	if _, dup := t[int16(key)]; dup {
		panic("broker: API key registered twice: " + key.Name())
	}
	if kmax := key.Request().MaxVersion(); max > kmax {
		panic("broker: " + key.Name() + " registered above the codec's max version")
	}
	t[int16(key)] = &apiHandler{key: key, min: min, max: max, fn: fn}
}

// supported lists the table's API keys in key order.
func (t apiTable) supported() []*apiHandler {
	out := make([]*apiHandler, 0, len(t))
	for _, h := range t {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}
