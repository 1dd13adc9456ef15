package broker

import (
	"container/list"
	"math/rand/v2"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch sessions (KIP-227) let a consumer send only what changed since its
// last fetch, and let the broker answer only the partitions that have
// something new. The cache is bounded by
// max.incremental.fetch.session.cache.slots; when it is full the least
// recently used session is evicted, and its client falls back to a full
// fetch when told FETCH_SESSION_ID_NOT_FOUND.
type fetchSessions struct {
	max int
	mu  struct {
		sync.Mutex
		byID map[int32]*list.Element // of *fetchSession, most recent first
		lru  *list.List
	}
}

// sessionKey names a partition in a session: by topic name before Fetch v13
// and by topic id from v13 on (then name is empty).
type sessionKey struct {
	id    [16]byte
	topic string
	part  int32
}

// sessionPart is what the session remembers of one partition: what the
// client asked for, and what it was last told (so an incremental answer can
// leave out what did not change).
type sessionPart struct {
	fetchOffset        int64
	maxBytes           int32
	currentLeaderEpoch int32
	lastFetchedEpoch   int32 // a follower's (v12+), -1: not said
	sentHW             int64
	sentLSO            int64
	sentLogStart       int64
}

type fetchSession struct {
	id    int32
	epoch int32 // the epoch the next request must carry
	parts map[sessionKey]*sessionPart
	order []sessionKey // insertion order; answers follow it
}

func newFetchSessions(max int) *fetchSessions {
	fs := &fetchSessions{max: max}
	fs.mu.byID = map[int32]*list.Element{}
	fs.mu.lru = list.New()
	return fs
}

// fetchPlan is the list of partitions a fetch reads, and how to answer.
type fetchPlan struct {
	session     *fetchSession // nil for a sessionless fetch
	incremental bool
	keys        []sessionKey
	parts       map[sessionKey]*sessionPart
}

func keyOf(version int16, t *kmsg.FetchRequestTopic, part int32) sessionKey {
	if version >= 13 {
		return sessionKey{id: t.TopicID, part: part}
	}
	return sessionKey{topic: t.Topic, part: part}
}

func forgottenKey(version int16, t *kmsg.FetchRequestForgottenTopic, part int32) sessionKey {
	if version >= 13 {
		return sessionKey{id: t.TopicID, part: part}
	}
	return sessionKey{topic: t.Topic, part: part}
}

// plan applies a fetch request to the session cache and returns what to
// read, or the top-level error code of the answer.
func (fs *fetchSessions) plan(req *kmsg.FetchRequest) (*fetchPlan, int16) {
	fromRequest := func() ([]sessionKey, map[sessionKey]*sessionPart) {
		parts := map[sessionKey]*sessionPart{}
		var keys []sessionKey
		for i := range req.Topics {
			t := &req.Topics[i]
			for _, p := range t.Partitions {
				k := keyOf(req.Version, t, p.Partition)
				if _, dup := parts[k]; !dup {
					keys = append(keys, k)
				}
				parts[k] = &sessionPart{fetchOffset: p.FetchOffset, maxBytes: p.PartitionMaxBytes,
					currentLeaderEpoch: p.CurrentLeaderEpoch, lastFetchedEpoch: p.LastFetchedEpoch, sentHW: -1, sentLSO: -1, sentLogStart: -1}
			}
		}
		return keys, parts
	}

	if req.Version < 7 {
		keys, parts := fromRequest()
		return &fetchPlan{keys: keys, parts: parts}, 0
	}

	fs.mu.Lock()
	defer fs.mu.Unlock()
	switch {
	case req.SessionEpoch == -1: // sessionless full fetch; closes the session if one is named
		if req.SessionID != 0 {
			fs.removeLocked(req.SessionID)
		}
		keys, parts := fromRequest()
		return &fetchPlan{keys: keys, parts: parts}, 0

	case req.SessionEpoch == 0: // full fetch that opens a new session
		if req.SessionID != 0 {
			fs.removeLocked(req.SessionID)
		}
		keys, parts := fromRequest()
		if fs.max <= 0 {
			return &fetchPlan{keys: keys, parts: parts}, 0
		}
		sess := &fetchSession{id: fs.newIDLocked(), epoch: 1, parts: parts, order: keys}
		fs.addLocked(sess)
		return &fetchPlan{session: sess, keys: keys, parts: copyParts(parts)}, 0

	default: // incremental
		el, ok := fs.mu.byID[req.SessionID]
		if !ok {
			return nil, kerr.FetchSessionIDNotFound.Code
		}
		sess := el.Value.(*fetchSession)
		if sess.epoch != req.SessionEpoch {
			return nil, kerr.InvalidFetchSessionEpoch.Code
		}
		fs.mu.lru.MoveToFront(el)
		sess.epoch = nextEpoch(sess.epoch)
		for i := range req.Topics {
			t := &req.Topics[i]
			for _, p := range t.Partitions {
				k := keyOf(req.Version, t, p.Partition)
				sp, ok := sess.parts[k]
				if !ok {
					sp = &sessionPart{sentHW: -1, sentLSO: -1, sentLogStart: -1}
					sess.parts[k] = sp
					sess.order = append(sess.order, k)
				}
				sp.fetchOffset, sp.maxBytes, sp.currentLeaderEpoch = p.FetchOffset, p.PartitionMaxBytes, p.CurrentLeaderEpoch
				sp.lastFetchedEpoch = p.LastFetchedEpoch
			}
		}
		removed := false
		for i := range req.ForgottenTopics {
			t := &req.ForgottenTopics[i]
			for _, p := range t.Partitions {
				k := forgottenKey(req.Version, t, p)
				if _, ok := sess.parts[k]; ok {
					delete(sess.parts, k)
					removed = true
				}
			}
		}
		if removed {
			kept := sess.order[:0]
			for _, k := range sess.order {
				if _, ok := sess.parts[k]; ok {
					kept = append(kept, k)
				}
			}
			sess.order = kept
		}
		return &fetchPlan{session: sess, incremental: true, keys: append([]sessionKey(nil), sess.order...), parts: copyParts(sess.parts)}, 0
	}
}

// copyParts gives a fetch its own copy of the session's partitions, so that
// reading them needs no lock; commit writes back what was sent.
func copyParts(in map[sessionKey]*sessionPart) map[sessionKey]*sessionPart {
	out := make(map[sessionKey]*sessionPart, len(in))
	for k, v := range in {
		c := *v
		out[k] = &c
	}
	return out
}

// sentState is what an answer told the client about a partition.
type sentState struct{ hw, lso, logStart int64 }

// commit records in the session what an answer told the client.
func (fs *fetchSessions) commit(plan *fetchPlan, sent map[sessionKey]sentState) {
	if plan.session == nil {
		return
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if _, live := fs.mu.byID[plan.session.id]; !live {
		return
	}
	for k, st := range sent {
		if sp, ok := plan.session.parts[k]; ok {
			sp.sentHW, sp.sentLSO, sp.sentLogStart = st.hw, st.lso, st.logStart
		}
	}
}

func nextEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}

func (fs *fetchSessions) newIDLocked() int32 {
	for {
		id := rand.Int32()
		if _, used := fs.mu.byID[id]; id != 0 && !used {
			return id
		}
	}
}

func (fs *fetchSessions) addLocked(sess *fetchSession) {
	for fs.mu.lru.Len() >= fs.max {
		oldest := fs.mu.lru.Back()
		fs.mu.lru.Remove(oldest)
		delete(fs.mu.byID, oldest.Value.(*fetchSession).id)
	}
	fs.mu.byID[sess.id] = fs.mu.lru.PushFront(sess)
}

func (fs *fetchSessions) removeLocked(id int32) {
	if el, ok := fs.mu.byID[id]; ok {
		fs.mu.lru.Remove(el)
		delete(fs.mu.byID, id)
	}
}

// len is the number of cached sessions.
func (fs *fetchSessions) len() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.mu.lru.Len()
}
