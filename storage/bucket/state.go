package bucket

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/cairnkv/cairn/storage"
	"github.com/cockroachdb/pebble/v2"
)

// Stats are a bucket's counters, as of an applied index.
type Stats struct {
	Applied   uint64
	First     uint64 // lowest stored revision (Last+1 when empty)
	Last      uint64 // highest revision ever assigned
	FirstTime int64
	LastTime  int64
	Msgs      uint64
	Bytes     uint64
	Keys      uint64 // keys with at least one stored revision
}

func (s *Stats) encode() []byte {
	b := make([]byte, 0, 64)
	for _, v := range []uint64{s.Applied, s.First, s.Last, uint64(s.FirstTime), uint64(s.LastTime), s.Msgs, s.Bytes, s.Keys} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

func (s *Stats) decode(b []byte) error {
	if len(b) != 64 {
		return errors.New("damaged bucket state record")
	}
	vals := []*uint64{&s.Applied, &s.First, &s.Last, nil, nil, &s.Msgs, &s.Bytes, &s.Keys}
	for i, p := range vals {
		v := binary.BigEndian.Uint64(b[i*8:])
		switch i {
		case 3:
			s.FirstTime = int64(v)
		case 4:
			s.LastTime = int64(v)
		default:
			*p = v
		}
	}
	return nil
}

// State is a bucket's state machine on one replica. Apply is called by one
// goroutine at a time (the group's driver); readers may call Stats, Config
// and the read methods concurrently.
type State struct {
	db      *storage.DB
	group   storage.GroupID
	k       keys
	subjLen int // len("$KV.<name>.")

	mu      sync.RWMutex
	stats   Stats  // committed
	cfg     Config // committed
	changed chan struct{}
	// version counts the committed changes (and reloads): two live views
	// with one version saw the same committed state.
	version uint64
	// firstExact: stats.First is the exact first revision, not just a
	// lower bound left by removals.
	firstExact bool

	// Working copies, mutated by Apply before the batch commits.
	work           Stats
	workCfg        Config
	workFirstExact bool
	recCache       map[string]keyRecord // apply path only; see applyRecord
}

// Open loads a bucket's state (empty if the group has none yet).
func Open(db *storage.DB, group storage.GroupID, name string) (*State, error) {
	s := &State{db: db, group: group, k: newKeys(group), changed: make(chan struct{})}
	s.subjLen = len("$KV.") + len(name) + 1
	stats, cfg, err := s.load(name)
	if err != nil {
		return nil, err
	}
	s.stats, s.cfg = stats, cfg
	s.work, s.workCfg = s.stats, s.cfg
	return s, nil
}

// load reads the counters and config stored for the bucket.
func (s *State) load(name string) (Stats, Config, error) {
	stats := Stats{First: 1}
	var cfg Config
	if v, closer, err := s.db.Get(s.k.state()); err == nil {
		derr := stats.decode(v)
		closer.Close()
		if derr != nil {
			return stats, cfg, fmt.Errorf("bucket %s (group %d): %w", name, s.group, derr)
		}
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return stats, cfg, fmt.Errorf("bucket %s (group %d): reading state: %w", name, s.group, err)
	}
	if v, closer, err := s.db.Get(s.k.config()); err == nil {
		derr := json.Unmarshal(v, &cfg)
		closer.Close()
		if derr != nil {
			return stats, cfg, fmt.Errorf("bucket %s (group %d): damaged config: %w", name, s.group, derr)
		}
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return stats, cfg, fmt.Errorf("bucket %s (group %d): reading config: %w", name, s.group, err)
	}
	if cfg.Name == "" {
		cfg.Name = name
	}
	return stats, cfg, nil
}

// Reload re-reads the bucket's state after a snapshot replaced it, and
// wakes watchers so they continue from the new state.
func (s *State) Reload() error {
	stats, cfg, err := s.load(s.Config().Name)
	if err != nil {
		return err
	}
	s.recCache = nil
	s.mu.Lock()
	s.stats, s.cfg, s.firstExact = stats, cfg, false
	s.work, s.workCfg, s.workFirstExact = stats, cfg, false
	s.version++
	ch := s.changed
	s.changed = make(chan struct{})
	s.mu.Unlock()
	close(ch)
	return nil
}

// Destroy deletes every key of a bucket's state.
func Destroy(b *pebble.Batch, group storage.GroupID) error {
	p := storage.GroupPrefix(group)
	return b.DeleteRange(p, storage.PrefixEnd(p), nil)
}

// Stats returns the committed counters, with First resolved exactly.
func (s *State) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stats.Msgs > 0 && !s.firstExact {
		// The DB may already hold a newer batch than s.stats describes;
		// a first revision past s.stats.Last belongs to that batch.
		if first, t, err := s.resolveFirst(s.db, s.stats.First); err == nil && first != 0 && first <= s.stats.Last {
			s.stats.First, s.stats.FirstTime = first, t
			s.firstExact = true
		}
	}
	return s.stats
}

// stats returns the committed counters cheaply; First may be a lower bound.
func (s *State) quickStats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.stats
}

// Config returns the committed configuration.
func (s *State) Config() Config {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cfg
}

// Applied returns the committed applied index.
func (s *State) Applied() uint64 { return s.quickStats().Applied }

// Changed returns a channel closed at the next commit of applied state.
func (s *State) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}

// SetApplied records index as applied in b, with the working counters.
func (s *State) SetApplied(b *pebble.Batch, index uint64) error {
	s.work.Applied = index
	return b.Set(s.k.state(), s.work.encode(), nil)
}

// Committed publishes the working state after the caller committed the
// batch that SetApplied wrote into, and wakes watchers.
func (s *State) Committed() {
	s.mu.Lock()
	s.stats, s.cfg, s.firstExact = s.work, s.workCfg, s.workFirstExact
	s.version++
	ch := s.changed
	s.changed = make(chan struct{})
	s.mu.Unlock()
	close(ch)
}

// Abort discards working state after a failed commit.
func (s *State) Abort() {
	s.recCache = nil
	s.mu.Lock()
	s.work, s.workCfg = s.stats, s.cfg
	s.mu.Unlock()
}
