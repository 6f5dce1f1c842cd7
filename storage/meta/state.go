package meta

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/cairnkv/cairn/storage"
	"github.com/cairnkv/cairn/storage/bucket"
	"github.com/cockroachdb/pebble/v2"
)

// Group is the meta group's ID.
const Group storage.GroupID = 0

// Deterministic outcomes of meta commands.
var (
	ErrBucketExists   = errors.New("bucket name already in use with a different configuration")
	ErrBucketNotFound = errors.New("bucket not found")
)

// Bucket is a registry entry.
type Bucket struct {
	Name     string          `json:"name"`
	Group    storage.GroupID `json:"group"`
	Config   bucket.Config   `json:"config"`
	Created  int64           `json:"created"`
	Replicas []uint64        `json:"replicas"`
}

// Command is a meta state change.
type Command struct {
	Op       string         `json:"op"` // create, update, delete
	Time     int64          `json:"time"`
	Config   *bucket.Config `json:"config,omitempty"`
	Name     string         `json:"name,omitempty"`
	Replicas []uint64       `json:"replicas,omitempty"`
}

// Result is the outcome of a meta command.
type Result struct {
	Bucket  Bucket
	Created bool // create made a new bucket (false: identical one existed)
	Err     error
}

// State is the registry on one replica.
type State struct {
	db *storage.DB
	k  []byte

	mu        sync.RWMutex
	applied   uint64
	nextGroup uint64
	buckets   map[string]Bucket
	work      map[string]Bucket
	workNext  uint64
	changed   chan struct{}
}

// Open loads the registry.
func Open(db *storage.DB) (*State, error) {
	s := &State{db: db, k: storage.GroupPrefix(Group), changed: make(chan struct{})}
	applied, next, buckets, err := s.load()
	if err != nil {
		return nil, err
	}
	s.applied, s.nextGroup, s.buckets = applied, next, buckets
	s.work, s.workNext = maps.Clone(s.buckets), s.nextGroup
	return s, nil
}

func (s *State) load() (applied, next uint64, buckets map[string]Bucket, err error) {
	next, buckets = 1, map[string]Bucket{}
	if v, closer, err := s.db.Get(s.key('S')); err == nil {
		if len(v) == 16 {
			applied, next = binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
		}
		closer.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return 0, 0, nil, fmt.Errorf("meta: reading state: %w", err)
	}
	lo := s.key('b')
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: storage.PrefixEnd(lo)})
	if err != nil {
		return 0, 0, nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		var b Bucket
		if err := json.Unmarshal(it.Value(), &b); err != nil {
			return 0, 0, nil, fmt.Errorf("meta: damaged bucket record %q: %w", it.Key()[len(lo):], err)
		}
		buckets[b.Name] = b
	}
	return applied, next, buckets, it.Error()
}

// Reload re-reads the registry after a snapshot replaced it.
func (s *State) Reload() error {
	applied, next, buckets, err := s.load()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.applied, s.nextGroup, s.buckets = applied, next, buckets
	s.work, s.workNext = maps.Clone(buckets), next
	ch := s.changed
	s.changed = make(chan struct{})
	s.mu.Unlock()
	close(ch)
	return nil
}

func (s *State) key(tag byte, rest ...byte) []byte {
	return append(append(append([]byte(nil), s.k...), tag), rest...)
}

// Encode serializes a command.
func (c *Command) Encode() ([]byte, error) { return json.Marshal(c) }

// Apply applies a committed command into b.
func (s *State) Apply(b *pebble.Batch, data []byte) (Result, error) {
	var c Command
	if err := json.Unmarshal(data, &c); err != nil {
		return Result{Err: fmt.Errorf("malformed meta command: %w", err)}, nil
	}
	switch c.Op {
	case "create":
		if c.Config == nil {
			return Result{Err: errors.New("create without config")}, nil
		}
		if cur, ok := s.work[c.Config.Name]; ok {
			if SameConfig(cur.Config, *c.Config) {
				return Result{Bucket: cur}, nil
			}
			return Result{Bucket: cur, Err: ErrBucketExists}, nil
		}
		bk := Bucket{Name: c.Config.Name, Group: storage.GroupID(s.workNext), Config: *c.Config, Created: c.Time, Replicas: c.Replicas}
		s.workNext++
		return Result{Bucket: bk, Created: true}, s.put(b, bk)
	case "update":
		if c.Config == nil {
			return Result{Err: errors.New("update without config")}, nil
		}
		cur, ok := s.work[c.Config.Name]
		if !ok {
			return Result{Err: ErrBucketNotFound}, nil
		}
		cur.Config = *c.Config
		return Result{Bucket: cur}, s.put(b, cur)
	case "delete":
		cur, ok := s.work[c.Name]
		if !ok {
			return Result{Err: ErrBucketNotFound}, nil
		}
		delete(s.work, c.Name)
		return Result{Bucket: cur}, b.Delete(s.key('b', []byte(c.Name)...), nil)
	}
	return Result{Err: fmt.Errorf("unknown meta operation %q", c.Op)}, nil
}

func (s *State) put(b *pebble.Batch, bk Bucket) error {
	raw, err := json.Marshal(bk)
	if err != nil {
		return err
	}
	s.work[bk.Name] = bk
	return b.Set(s.key('b', []byte(bk.Name)...), raw, nil)
}

// SetApplied records the applied index in b.
func (s *State) SetApplied(b *pebble.Batch, index uint64) error {
	v := binary.BigEndian.AppendUint64(nil, index)
	v = binary.BigEndian.AppendUint64(v, s.workNext)
	s.applied = index
	return b.Set(s.key('S'), v, nil)
}

// Committed publishes the working registry after the batch committed.
func (s *State) Committed() {
	s.mu.Lock()
	s.buckets, s.nextGroup = maps.Clone(s.work), s.workNext
	ch := s.changed
	s.changed = make(chan struct{})
	s.mu.Unlock()
	close(ch)
}

// Abort discards working changes after a failed commit.
func (s *State) Abort() {
	s.mu.Lock()
	s.work, s.workNext = maps.Clone(s.buckets), s.nextGroup
	s.mu.Unlock()
}

// Applied returns the applied index.
func (s *State) Applied() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// Changed returns a channel closed at the next committed change.
func (s *State) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}

// Bucket returns a registry entry.
func (s *State) Bucket(name string) (Bucket, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.buckets[name]
	return b, ok
}

// Buckets returns every entry, sorted by name.
func (s *State) Buckets() []Bucket {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := slices.Collect(maps.Values(s.buckets))
	slices.SortFunc(out, func(a, b Bucket) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// SameConfig reports whether two configurations are equal.
func SameConfig(a, b bucket.Config) bool {
	ra, _ := json.Marshal(a)
	rb, _ := json.Marshal(b)
	return string(ra) == string(rb)
}
