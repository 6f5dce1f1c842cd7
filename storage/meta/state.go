package meta

import (
	"cmp"
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
	ErrStale          = errors.New("registry changed meanwhile")
	ErrNodeNotFound   = errors.New("node not registered")
	ErrNodeRemoved    = errors.New("node was removed from the cluster; wipe its data dir to add it again as a new node")
)

// Bucket is a registry entry.
type Bucket struct {
	Name    string          `json:"name"`
	Group   storage.GroupID `json:"group"`
	Config  bucket.Config   `json:"config"`
	Created int64           `json:"created"`
	// Replicas are the nodes that hold the bucket's raft group, the
	// preferred leader first.
	Replicas []uint64 `json:"replicas"`
	// Initial are the replicas that bootstrap the group with Initial as
	// its voters; a replica added later joins empty and is filled by its
	// leader. A replica taken out of Replicas leaves Initial for good.
	Initial []uint64 `json:"initial,omitempty"`
}

// Node is a registered cluster node.
type Node struct {
	ID         uint64            `json:"id"`
	Name       string            `json:"name,omitempty"`
	ClientAddr string            `json:"client,omitempty"`
	HTTPAddr   string            `json:"http,omitempty"`
	PeerAddr   string            `json:"peer,omitempty"`
	GossipAddr string            `json:"gossip,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Joined     int64             `json:"joined"`
	// Removed nodes stay listed so that a removed node that comes back
	// is recognized and refused rather than silently re-added.
	Removed bool `json:"removed,omitempty"`
}

// Command is a meta state change.
type Command struct {
	Op       string         `json:"op"` // create, update, delete, replicas, node-set, node-remove
	Time     int64          `json:"time"`
	Config   *bucket.Config `json:"config,omitempty"`
	Name     string         `json:"name,omitempty"`
	Replicas []uint64       `json:"replicas,omitempty"`
	Node     *Node          `json:"node,omitempty"`
	NodeID   uint64         `json:"node_id,omitempty"`
	// Expect guards a replicas change: it applies only if the bucket's
	// replicas are still these (compare-and-set, so two decisions taken
	// on stale views cannot both apply).
	Expect []uint64 `json:"expect,omitempty"`
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
	nodes     map[uint64]Node
	workNodes map[uint64]Node
	changed   chan struct{}
}

// Open loads the registry.
func Open(db *storage.DB) (*State, error) {
	s := &State{db: db, k: storage.GroupPrefix(Group), changed: make(chan struct{})}
	applied, next, buckets, nodes, err := s.load()
	if err != nil {
		return nil, err
	}
	s.applied, s.nextGroup, s.buckets, s.nodes = applied, next, buckets, nodes
	s.work, s.workNext, s.workNodes = maps.Clone(s.buckets), s.nextGroup, maps.Clone(nodes)
	return s, nil
}

func (s *State) load() (applied, next uint64, buckets map[string]Bucket, nodes map[uint64]Node, err error) {
	next, buckets, nodes = 1, map[string]Bucket{}, map[uint64]Node{}
	if v, closer, err := s.db.Get(s.key('S')); err == nil {
		if len(v) == 16 {
			applied, next = binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
		}
		closer.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return 0, 0, nil, nil, fmt.Errorf("meta: reading state: %w", err)
	}
	err = s.scan('b', func(k, v []byte) error {
		var b Bucket
		if err := json.Unmarshal(v, &b); err != nil {
			return fmt.Errorf("meta: damaged bucket record %q: %w", k, err)
		}
		buckets[b.Name] = b
		return nil
	})
	if err != nil {
		return 0, 0, nil, nil, err
	}
	err = s.scan('n', func(k, v []byte) error {
		var n Node
		if err := json.Unmarshal(v, &n); err != nil {
			return fmt.Errorf("meta: damaged node record %x: %w", k, err)
		}
		nodes[n.ID] = n
		return nil
	})
	return applied, next, buckets, nodes, err
}

// scan calls fn for every record under the tag, with the key after it.
func (s *State) scan(tag byte, fn func(k, v []byte) error) error {
	lo := s.key(tag)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: storage.PrefixEnd(lo)})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key()[len(lo):], it.Value()); err != nil {
			return err
		}
	}
	return it.Error()
}

// Reload re-reads the registry after a snapshot replaced it.
func (s *State) Reload() error {
	applied, next, buckets, nodes, err := s.load()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.applied, s.nextGroup, s.buckets, s.nodes = applied, next, buckets, nodes
	s.work, s.workNext, s.workNodes = maps.Clone(buckets), next, maps.Clone(nodes)
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
		if len(c.Replicas) == 0 {
			return Result{Err: errors.New("create without replicas")}, nil
		}
		if hasDuplicate(c.Replicas) {
			return Result{Err: fmt.Errorf("create with a node listed twice among replicas %v", c.Replicas)}, nil
		}
		bk := Bucket{Name: c.Config.Name, Group: storage.GroupID(s.workNext), Config: *c.Config, Created: c.Time,
			Replicas: c.Replicas, Initial: slices.Clone(c.Replicas)}
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
	case "replicas":
		cur, ok := s.work[c.Name]
		if !ok {
			return Result{Err: ErrBucketNotFound}, nil
		}
		if !slices.Equal(cur.Replicas, c.Expect) {
			return Result{Bucket: cur, Err: ErrStale}, nil
		}
		if len(c.Replicas) == 0 {
			return Result{Bucket: cur, Err: errors.New("replicas change to no replicas")}, nil
		}
		if hasDuplicate(c.Replicas) {
			return Result{Bucket: cur, Err: fmt.Errorf("replicas change with a node listed twice: %v", c.Replicas)}, nil
		}
		cur.Replicas = slices.Clone(c.Replicas)
		cur.Initial = slices.DeleteFunc(slices.Clone(cur.Initial), func(id uint64) bool { return !slices.Contains(c.Replicas, id) })
		return Result{Bucket: cur}, s.put(b, cur)
	case "node-set":
		if c.Node == nil || c.Node.ID == 0 {
			return Result{Err: errors.New("node-set without node")}, nil
		}
		nd := *c.Node
		if cur, ok := s.workNodes[nd.ID]; ok {
			if cur.Removed {
				return Result{Err: ErrNodeRemoved}, nil
			}
			nd.Joined = cur.Joined
		} else {
			nd.Joined = c.Time
		}
		nd.Removed = false
		return Result{}, s.putNode(b, nd)
	case "node-remove":
		cur, ok := s.workNodes[c.NodeID]
		if !ok {
			return Result{Err: ErrNodeNotFound}, nil
		}
		cur.Removed = true
		return Result{}, s.putNode(b, cur)
	}
	return Result{Err: fmt.Errorf("unknown meta operation %q", c.Op)}, nil
}

func (s *State) putNode(b *pebble.Batch, nd Node) error {
	raw, err := json.Marshal(nd)
	if err != nil {
		return err
	}
	s.workNodes[nd.ID] = nd
	return b.Set(s.key('n', binary.BigEndian.AppendUint64(nil, nd.ID)...), raw, nil)
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
	s.buckets, s.nextGroup, s.nodes = maps.Clone(s.work), s.workNext, maps.Clone(s.workNodes)
	ch := s.changed
	s.changed = make(chan struct{})
	s.mu.Unlock()
	close(ch)
}

// Abort discards working changes after a failed commit.
func (s *State) Abort() {
	s.mu.Lock()
	s.work, s.workNext, s.workNodes = maps.Clone(s.buckets), s.nextGroup, maps.Clone(s.nodes)
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

// Node returns a registered node.
func (s *State) Node(id uint64) (Node, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ok := s.nodes[id]
	return n, ok
}

// Nodes returns every registered node (removed ones included), by ID.
func (s *State) Nodes() []Node {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := slices.Collect(maps.Values(s.nodes))
	slices.SortFunc(out, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// SameConfig reports whether two configurations are equal.
func SameConfig(a, b bucket.Config) bool {
	ra, _ := json.Marshal(a)
	rb, _ := json.Marshal(b)
	return string(ra) == string(rb)
}

// hasDuplicate reports whether a replica list names a node twice: a raft
// group cannot have one node as two voters, so such a list is refused
// where it would be committed, not where a node would start the group.
func hasDuplicate(ids []uint64) bool {
	for i, id := range ids {
		if slices.Contains(ids[i+1:], id) {
			return true
		}
	}
	return false
}
