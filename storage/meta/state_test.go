package meta

import (
	"errors"
	"slices"
	"testing"

	"github.com/cairnkv/cairn/storage"
	"github.com/cairnkv/cairn/storage/bucket"
)

func apply(t *testing.T, db *storage.DB, s *State, index uint64, c Command) Result {
	t.Helper()
	data, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewIndexedBatch()
	defer b.Close()
	res, err := s.Apply(b, data)
	if err != nil {
		t.Fatalf("apply %s: %v", c.Op, err)
	}
	if err := s.SetApplied(b, index); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	s.Committed()
	return res
}

func TestRegistry(t *testing.T) {
	db, err := storage.Open(storage.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(name string, history int64) *bucket.Config {
		return &bucket.Config{Name: name, History: history, Storage: bucket.FileStorage, Replicas: 1}
	}
	steps := []struct {
		cmd       Command
		wantErr   error
		wantNew   bool
		wantGroup uint64
	}{
		{Command{Op: "create", Replicas: []uint64{1, 2, 3}, Config: cfg("a", 1)}, nil, true, 1},
		{Command{Op: "create", Replicas: []uint64{1, 2, 3}, Config: cfg("a", 1)}, nil, false, 1}, // identical: idempotent
		{Command{Op: "create", Replicas: []uint64{1, 2, 3}, Config: cfg("a", 5)}, ErrBucketExists, false, 1},
		{Command{Op: "create", Replicas: []uint64{1, 2, 3}, Config: cfg("b", 2)}, nil, true, 2},
		{Command{Op: "update", Config: cfg("b", 3)}, nil, false, 2},
		{Command{Op: "update", Config: cfg("zz", 3)}, ErrBucketNotFound, false, 0},
		{Command{Op: "delete", Name: "a"}, nil, false, 1},
		{Command{Op: "delete", Name: "a"}, ErrBucketNotFound, false, 0},
		{Command{Op: "create", Replicas: []uint64{1, 2, 3}, Config: cfg("a", 1)}, nil, true, 3}, // a new incarnation, new group
		{Command{Op: "replicas", Name: "b", Expect: []uint64{9}, Replicas: []uint64{1, 4}}, ErrStale, false, 2},
		{Command{Op: "replicas", Name: "b", Expect: []uint64{1, 2, 3}, Replicas: []uint64{1, 3, 4}}, nil, false, 2},
		{Command{Op: "replicas", Name: "zz", Replicas: []uint64{1}}, ErrBucketNotFound, false, 0},
		{Command{Op: "node-set", Node: &Node{ID: 7, Name: "n7"}}, nil, false, 0},
		{Command{Op: "node-set", Node: &Node{ID: 7, Name: "n7b"}}, nil, false, 0},
		{Command{Op: "node-remove", NodeID: 8}, ErrNodeNotFound, false, 0},
		{Command{Op: "node-remove", NodeID: 7}, nil, false, 0},
		{Command{Op: "node-set", Node: &Node{ID: 7, Name: "n7"}}, ErrNodeRemoved, false, 0},
		{Command{Op: "create", Config: cfg("noreplicas", 1)}, errors.New("any"), false, 0},
		{Command{Op: "bogus"}, errors.New("any"), false, 0},
		// A node listed twice: refused, so that no replica starts a raft
		// group with one voter counted twice (raft panics on it).
		{Command{Op: "create", Replicas: []uint64{1, 1, 3}, Config: cfg("twice", 1)}, errors.New("any"), false, 0},
		{Command{Op: "replicas", Name: "b", Expect: []uint64{1, 3, 4}, Replicas: []uint64{1, 4, 4}}, errors.New("any"), false, 2},
	}
	for i, st := range steps {
		res := apply(t, db, s, uint64(i+1), st.cmd)
		switch {
		case st.wantErr == nil && res.Err != nil:
			t.Fatalf("step %d (%s): unexpected error %v", i, st.cmd.Op, res.Err)
		case st.wantErr != nil && res.Err == nil:
			t.Fatalf("step %d (%s): want error %v", i, st.cmd.Op, st.wantErr)
		case st.wantErr != nil && st.wantErr.Error() != "any" && !errors.Is(res.Err, st.wantErr):
			t.Fatalf("step %d (%s): error %v, want %v", i, st.cmd.Op, res.Err, st.wantErr)
		}
		if res.Created != st.wantNew || (st.wantGroup != 0 && uint64(res.Bucket.Group) != st.wantGroup) {
			t.Fatalf("step %d (%s): created=%v group=%d, want %v %d", i, st.cmd.Op, res.Created, res.Bucket.Group, st.wantNew, st.wantGroup)
		}
	}
	names := func(s *State) (out []string) {
		for _, b := range s.Buckets() {
			out = append(out, b.Name)
		}
		return out
	}
	if got := names(s); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("buckets = %v", got)
	}
	// Reopening and Reload both see the same registry and applied index.
	reopened, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, st := range []*State{reopened, s} {
		if st.Applied() != uint64(len(steps)) || len(names(st)) != 2 {
			t.Fatalf("after reopen/reload: applied %d, buckets %v", st.Applied(), names(st))
		}
		if b, _ := st.Bucket("b"); b.Config.History != 3 {
			t.Fatalf("bucket b history %d, want 3", b.Config.History)
		}
		// A moved replica leaves Initial; the new one joins empty.
		if b, _ := st.Bucket("b"); !slices.Equal(b.Replicas, []uint64{1, 3, 4}) || !slices.Equal(b.Initial, []uint64{1, 3}) {
			t.Fatalf("bucket b replicas %v initial %v", b.Replicas, b.Initial)
		}
		if nd, ok := st.Node(7); !ok || nd.Name != "n7b" || !nd.Removed || len(st.Nodes()) != 1 {
			t.Fatalf("node 7 = %+v %v", nd, ok)
		}
	}
	// The next group ID survives a reopen: no group is ever reused.
	res := apply(t, db, reopened, 100, Command{Op: "create", Replicas: []uint64{1, 2, 3}, Config: cfg("c", 1)})
	if res.Bucket.Group != 4 {
		t.Fatalf("group after reopen = %d, want 4", res.Bucket.Group)
	}
}
