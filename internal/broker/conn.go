package broker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/wire"
)

// maxInFlight bounds the requests of one connection that are read but not
// yet answered; past it the connection stops reading (backpressure).
const maxInFlight = 64

// conn is one client connection. Requests are read and handed to their
// handler one at a time, in order, on the read goroutine, so that pipelined
// produce requests to one partition append in the order they were sent. A
// handler may answer later (long-polling fetch, acks=all produce); the write
// goroutine sends responses strictly in request order whatever order they
// complete in.
type conn struct {
	s        *Server
	nc       net.Conn
	listener string
	apis     apiTable // handlers or controllerHandlers
	// controller: a connection of the CONTROLLER listener (or this
	// node's own controller requests), where brokers talk.
	controller bool
	logger     *slog.Logger

	slots     chan *slot
	closed    chan struct{}
	closeOnce sync.Once

	outMu   sync.Mutex
	outDone bool // the writer has stopped: deliver releases responses
}

// slot holds the encoded response of one request, or an empty outFrame for
// a request that gets no response (acks=0 produce).
type slot struct{ ch chan outFrame }

// outFrame is an encoded response: frame, or (a fetch answer whose record
// bytes are not copied) the buffers of vec, written in order, which refer
// to frame and to payload: pooled buffers (written with writev) and file
// regions (sent with sendfile where vec holds their stand-in). The writer
// gives frame and payload back once written, or dropped.
type outFrame struct {
	frame   []byte
	vec     net.Buffers
	payload fetchPayload
}

func (o *outFrame) release() {
	o.payload.release()
	if o.frame != nil {
		putFrameBuf(o.frame)
		o.frame = nil
	}
}

// request is one decoded request on its way through a handler.
type request struct {
	hdr   wire.RequestHeader
	req   kmsg.Request
	c     *conn
	once  sync.Once
	sl    *slot
	start time.Time // arrival, for the request duration metric
	// payload is what the response refers to outside its frame (a
	// fetch's record buffers and file regions); done hands it to the
	// writer with the encoded response.
	payload fetchPayload
}

// done answers the request; only the first call counts. A nil response means
// the request gets none.
func (r *request) done(resp kmsg.Response) {
	r.once.Do(func() {
		if r.req != nil {
			r.c.s.metrics.observeRequest(r.hdr.Key, time.Since(r.start))
		}
		if resp == nil {
			r.c.deliver(r.sl, outFrame{})
			return
		}
		if f, ok := resp.(*kmsg.FetchResponse); ok && !r.payload.empty() {
			// The record bytes go out from the read buffers (writev) and
			// the segment files (sendfile) instead of being copied into
			// the frame.
			if frame, vec, ok := wire.AppendFetchResponseVec(getFrameBuf(), r.hdr.CorrelationID, f, r.payload.extLen); ok {
				r.c.deliver(r.sl, outFrame{frame: frame, vec: vec, payload: r.payload.take()})
				return
			}
			if err := r.payload.materialize(f); err != nil {
				r.c.logger.Warn("closing connection: fetch answer unreadable", "err", err)
				r.payload.release()
				r.c.close()
				r.c.deliver(r.sl, outFrame{})
				return
			}
		}
		frame := wire.AppendResponse(getFrameBuf(), r.hdr.CorrelationID, resp)
		r.payload.release()
		r.c.deliver(r.sl, outFrame{frame: frame})
	})
}

// deliver hands a response to the writer, or releases it once the writer
// is gone (the connection closed while the request was in a handler).
func (c *conn) deliver(sl *slot, out outFrame) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if c.outDone {
		out.release()
		return
	}
	sl.ch <- out // buffered, and written once per slot: never blocks
}

func (c *conn) close() {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.nc.Close()
	})
}

func (c *conn) serve() {
	c.s.metrics.connections.Inc()
	defer c.s.metrics.connections.Dec()
	defer c.close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.writeLoop()
	}()
	defer wg.Wait()
	defer close(c.slots)

	br := bufio.NewReaderSize(c.nc, 64<<10)
	idle := time.Duration(c.s.cfg.Int("connections.max.idle.ms")) * time.Millisecond
	maxSize := int32(c.s.cfg.Int("socket.request.max.bytes"))
	for {
		if idle > 0 {
			c.nc.SetReadDeadline(time.Now().Add(idle))
		}
		frame, err := wire.ReadFramePooled(br, maxSize)
		if err != nil {
			c.logReadError(err)
			return
		}
		if !c.handle(frame) {
			return
		}
		if h, err := wire.PeekHeader(frame); err == nil && frameReusable(h.Key) {
			wire.PutBuf(frame)
		}
	}
}

// frameReusable tells whether nothing refers to the frame of a request of
// this key once its handler returned: true for the data path. A produce
// request's records alias the frame but are written to the log before the
// handler returns (an acks=all answer waits with its response, which holds
// no part of the request); kmsg copies strings. Other requests may keep
// byte fields (group member metadata, for instance), so their frames are
// left to the GC.
func frameReusable(key int16) bool {
	return key == int16(kmsg.Produce) || key == int16(kmsg.Fetch)
}

// handle serves one frame; false closes the connection.
func (c *conn) handle(frame []byte) bool {
	h, err := wire.PeekHeader(frame)
	if err != nil {
		c.logger.Warn("closing connection: bad request header", "err", err)
		return false
	}
	ah := c.apis[h.Key]
	if ah == nil {
		c.logger.Warn("closing connection: unknown API key", "api_key", h.Key, "version", h.Version)
		return false
	}
	sl := &slot{ch: make(chan outFrame, 1)}
	if h.Version < ah.min || h.Version > ah.max {
		if ah.key != kmsg.ApiVersions {
			c.s.metrics.requestErrors.WithLabelValues(ah.key.Name()).Inc()
			c.logger.Warn("closing connection: unsupported API version",
				"api", ah.key.Name(), "version", h.Version, "min", ah.min, "max", ah.max)
			return false
		}
		r := &request{hdr: h, c: c, sl: sl}
		if !c.enqueue(sl) {
			return false
		}
		r.done(unsupportedApiVersions(c.apis))
		return true
	}
	req := ah.key.Request()
	hdr, err := wire.ParseRequest(frame, req)
	if err != nil {
		c.s.metrics.requestErrors.WithLabelValues(ah.key.Name()).Inc()
		c.logger.Warn("closing connection: undecodable request", "api", ah.key.Name(), "version", h.Version, "err", err)
		return false
	}
	r := &request{hdr: hdr, req: req, c: c, sl: sl, start: time.Now()}
	if ah.key == kmsg.Produce || ah.key == kmsg.Fetch {
		c.s.lastDataRequest.Store(r.start.UnixNano())
	}
	if !c.enqueue(sl) {
		return false
	}
	resp, ok := c.dispatch(ah, r)
	if !ok {
		return false
	}
	if resp != nil {
		r.done(resp)
	}
	return true
}

func (c *conn) enqueue(sl *slot) bool {
	select {
	case c.slots <- sl:
		return true
	case <-c.closed:
		return false
	}
}

// dispatch runs a handler, turning a panic into a closed connection and a
// log line instead of a dead broker.
func (c *conn) dispatch(ah *apiHandler, r *request) (resp kmsg.Response, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			c.logger.Error("handler panic; closing connection",
				"api", ah.key.Name(), "version", r.hdr.Version, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			c.s.metrics.requestErrors.WithLabelValues(ah.key.Name()).Inc()
			ok = false
		}
	}()
	start := time.Now()
	resp = ah.fn(c.s, r)
	if d := time.Since(start); d > time.Second {
		c.logger.Debug("slow request", "api", ah.key.Name(), "took", d)
	}
	return resp, true
}

func (c *conn) writeLoop() {
	var cur *slot // the slot being waited for, if any
	defer func() { c.dropPending(cur) }()
	for sl := range c.slots {
		cur = sl
		var out outFrame
		select {
		case out = <-sl.ch:
		case <-c.closed:
			return
		}
		cur = nil
		if out.frame == nil {
			continue
		}
		err := c.write(&out)
		out.release()
		if err != nil {
			c.logger.Debug("write failed", "err", err)
			c.close()
			return
		}
	}
}

// write sends one response.
func (c *conn) write(out *outFrame) error {
	if out.vec == nil {
		_, err := c.nc.Write(out.frame)
		return err
	}
	if len(out.payload.regions) == 0 {
		_, err := out.vec.WriteTo(c.nc)
		return err
	}
	// Buffers go out with writev, regions with sendfile, in order.
	start := 0
	for i, b := range out.vec {
		rg := out.payload.region(b)
		if rg == nil {
			continue
		}
		if start < i {
			part := out.vec[start:i]
			if _, err := part.WriteTo(c.nc); err != nil {
				return err
			}
		}
		zeroCopy, err := sendRegion(c.nc, &out.payload, rg)
		if err != nil {
			return err
		}
		if zeroCopy {
			c.s.metrics.sendfileBytes.Add(float64(rg.Len))
		}
		start = i + 1
	}
	if start < len(out.vec) {
		part := out.vec[start:]
		_, err := part.WriteTo(c.nc)
		return err
	}
	return nil
}

// dropPending releases the responses that will not be written once the
// writer stops: the one it was waiting for and those of queued slots;
// responses delivered later are released by deliver.
func (c *conn) dropPending(cur *slot) {
	c.outMu.Lock()
	c.outDone = true
	c.outMu.Unlock()
	drain := func(sl *slot) {
		select {
		case out := <-sl.ch:
			out.release()
		default:
		}
	}
	if cur != nil {
		drain(cur)
	}
	for {
		select {
		case sl, ok := <-c.slots:
			if !ok {
				return
			}
			drain(sl)
		default:
			return
		}
	}
}

func (c *conn) logReadError(err error) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return
	case errors.Is(err, wire.ErrFrameSize):
		c.logger.Warn("closing connection: bad frame size", "err", err)
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.logger.Debug("closing idle connection")
			return
		}
		c.logger.Debug("connection read failed", "err", err)
	}
}

// Response frames are pooled (wire.GetBuf, wire.PutBuf): a fetch answer is
// up to a few MiB, and allocating (and zeroing) one per response is most of
// a consumer's cost.
func getFrameBuf() []byte { return wire.GetBuf(4096)[:0] }

func putFrameBuf(b []byte) { wire.PutBuf(b) }
