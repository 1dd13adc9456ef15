package metadata

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// state holds the current image and the subscribers. Every change of the
// image (an applied entry, a snapshot restore, a new controller) goes
// through publish, which runs the subscribers in order under mu.
type state struct {
	image atomic.Pointer[Image]

	mu   sync.Mutex // serialises publish and Subscribe
	subs []func(prev, next *Image, d *Delta)
}

// publish replaces the image with change(current) and notifies the
// subscribers with the delta change returned. change runs under mu and
// must not block.
func (s *state) publish(change func(cur *Image) (*Image, *Delta)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.image.Load()
	next, d := change(prev)
	if next == nil || next == prev {
		return
	}
	if d == nil {
		d = &Delta{}
	}
	s.image.Store(next)
	for _, fn := range s.subs {
		fn(prev, next, d)
	}
}

func (s *state) subscribe(fn func(prev, next *Image, d *Delta)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs = append(s.subs, fn)
	fn(nil, s.image.Load(), &Delta{Full: true})
}

// fsm is the raft state machine: it decodes each committed entry and
// applies it to the image.
type fsm struct {
	st  *state
	log interface {
		Error(msg string, args ...any)
	}
}

var (
	_ raft.FSM         = (*fsm)(nil)
	_ raft.FSMSnapshot = (*fsmSnapshot)(nil)
)

// Apply applies one committed entry and returns nil or the error that made
// the batch fail (the proposer gets it from the ApplyFuture). A failed
// batch changes nothing but the image's Offset.
func (f *fsm) Apply(l *raft.Log) any {
	recs, err := DecodeBatch(l.Data)
	var applyErr error
	f.st.publish(func(cur *Image) (*Image, *Delta) {
		if err == nil {
			next, d, aerr := applyBatch(cur, l.Index, recs)
			if aerr == nil {
				return next, d
			}
			err = aerr
		}
		applyErr = err
		next := *cur
		next.Offset = l.Index
		return &next, nil
	})
	if applyErr != nil {
		f.log.Error("metadata log entry not applied", "index", l.Index, "error", applyErr)
		return applyErr
	}
	return nil
}

// Snapshot captures the current image; Persist serialises it later on
// another goroutine, which is safe because images are immutable.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{image: f.st.image.Load()}, nil
}

// Restore replaces the image with the one in the snapshot.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var snap snapshotImage
	if err := json.NewDecoder(rc).Decode(&snap); err != nil {
		return fmt.Errorf("decode metadata snapshot: %w", err)
	}
	im, err := snap.image()
	if err != nil {
		return err
	}
	f.st.publish(func(cur *Image) (*Image, *Delta) {
		im.ControllerID = cur.ControllerID
		return im, &Delta{Full: true}
	})
	return nil
}

type fsmSnapshot struct {
	image *Image
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(newSnapshotImage(s.image)); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("write metadata snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

// snapshotVersion is the version of the snapshot format.
const snapshotVersion = 1

// snapshotImage is the JSON form of an image in a raft snapshot: the image
// itself, with maps keyed by structs turned into lists.
type snapshotImage struct {
	Version        int
	ClusterID      string
	Offset         uint64
	NextProducerID int64
	Brokers        []*Broker
	Topics         []*Topic
	Configs        []snapshotConfigs
	Features       map[string]int16 `json:",omitempty"`
	FeaturesOffset uint64           `json:",omitempty"`
}

type snapshotConfigs struct {
	Resource ConfigResource
	Configs  map[string]string
}

func newSnapshotImage(im *Image) *snapshotImage {
	s := &snapshotImage{
		Version:        snapshotVersion,
		ClusterID:      im.ClusterID,
		Offset:         im.Offset,
		NextProducerID: im.NextProducerID,
		Features:       im.Features,
		FeaturesOffset: im.FeaturesOffset,
	}
	for _, id := range im.BrokerIDs() {
		s.Brokers = append(s.Brokers, im.Brokers[id])
	}
	for _, t := range im.Topics {
		s.Topics = append(s.Topics, t)
	}
	slices.SortFunc(s.Topics, func(a, b *Topic) int { return cmp.Compare(a.Name, b.Name) })
	for res, set := range im.Configs {
		s.Configs = append(s.Configs, snapshotConfigs{Resource: res, Configs: set})
	}
	slices.SortFunc(s.Configs, func(a, b snapshotConfigs) int { return cmp.Compare(a.Resource.Name, b.Resource.Name) })
	return s
}

func (s *snapshotImage) image() (*Image, error) {
	if s.Version != snapshotVersion {
		return nil, fmt.Errorf("metadata snapshot version %d not supported", s.Version)
	}
	im := emptyImage()
	im.ClusterID = s.ClusterID
	im.Offset = s.Offset
	im.NextProducerID = s.NextProducerID
	if len(s.Features) > 0 {
		im.Features = s.Features
	}
	im.FeaturesOffset = s.FeaturesOffset
	for _, b := range s.Brokers {
		im.Brokers[b.ID] = b
	}
	for _, t := range s.Topics {
		for i, p := range t.Partitions {
			if p == nil || int(p.Partition) != i {
				return nil, fmt.Errorf("metadata snapshot: topic %q has a bad partition %d", t.Name, i)
			}
		}
		im.Topics[t.Name] = t
		im.TopicsByID[t.ID] = t
	}
	for _, c := range s.Configs {
		if len(c.Configs) > 0 {
			im.Configs[c.Resource] = c.Configs
		}
	}
	return im, nil
}
