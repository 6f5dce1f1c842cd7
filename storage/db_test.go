package storage_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/storage"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)           {}
func (quietPebble) Errorf(string, ...any)          {}
func (quietPebble) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }

func open(t *testing.T, dir string) (*storage.DB, error) {
	t.Helper()
	return storage.Open(storage.Options{Dir: dir, Logger: quiet, CacheBytes: 1 << 20})
}

// mustInit initializes dir, writes one key and closes it, returning the
// node ID.
func mustInit(t *testing.T, dir string) uint64 {
	t.Helper()
	db, err := open(t, dir)
	if err != nil {
		t.Fatalf("initializing %s: %v", dir, err)
	}
	if err := db.Set([]byte("user-key"), []byte("user-value"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	id := db.NodeID()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return id
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// editMarker rewrites one "name: value" line of the marker.
func editMarker(t *testing.T, dir, name, value string) {
	t.Helper()
	path := filepath.Join(dir, "CAIRN")
	lines := strings.Split(readFile(t, path), "\n")
	found := false
	for i, l := range lines {
		if k, _, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == name {
			lines[i] = name + ": " + value
			found = true
		}
	}
	if !found {
		t.Fatalf("marker has no %q line", name)
	}
	writeFile(t, path, strings.Join(lines, "\n"))
}

func dropMarkerLine(t *testing.T, dir, name string) {
	t.Helper()
	path := filepath.Join(dir, "CAIRN")
	var out []string
	for _, l := range strings.Split(readFile(t, path), "\n") {
		if k, _, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == name {
			continue
		}
		out = append(out, l)
	}
	writeFile(t, path, strings.Join(out, "\n"))
}

func hasUserKey(t *testing.T, db *storage.DB) bool {
	t.Helper()
	v, closer, err := db.Get([]byte("user-key"))
	if errors.Is(err, pebble.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	return string(v) == "user-value"
}

func TestOpen(t *testing.T) {
	type outcome int
	const (
		refused outcome = iota
		// sameNode: opens with the node ID the directory had, data kept.
		sameNode
		// freshNode: opens a new, empty database.
		freshNode
		// reinitialized: opens with the marker's node ID but an empty
		// database (initialization had never completed).
		reinitialized
	)
	cases := []struct {
		name string
		// setup prepares dir (which exists and is empty) and returns the
		// directory to open and the node ID it holds (0: none).
		setup func(t *testing.T, dir string) (string, uint64)
		want  outcome
		// errHas are substrings the refusal must contain (besides the path).
		errHas []string
		// untouched are files that a refusal must leave as they were.
		untouched []string
	}{
		{
			name:  "fresh empty dir initializes",
			setup: func(t *testing.T, dir string) (string, uint64) { return dir, 0 },
			want:  freshNode,
		},
		{
			name: "missing dir is created",
			setup: func(t *testing.T, dir string) (string, uint64) {
				return filepath.Join(dir, "a", "b"), 0
			},
			want: freshNode,
		},
		{
			name: "dot files and lost+found do not count as content",
			setup: func(t *testing.T, dir string) (string, uint64) {
				writeFile(t, filepath.Join(dir, ".keep"), "")
				if err := os.Mkdir(filepath.Join(dir, "lost+found"), 0o755); err != nil {
					t.Fatal(err)
				}
				return dir, 0
			},
			want: freshNode,
		},
		{
			name:  "reopen keeps node id and data",
			setup: func(t *testing.T, dir string) (string, uint64) { return dir, mustInit(t, dir) },
			want:  sameNode,
		},
		{
			name: "non-empty dir without marker",
			setup: func(t *testing.T, dir string) (string, uint64) {
				writeFile(t, filepath.Join(dir, "important.txt"), "not ours")
				return dir, 0
			},
			want:      refused,
			errHas:    []string{"not empty", "important.txt"},
			untouched: []string{"important.txt"},
		},
		{
			name: "db without marker (marker deleted)",
			setup: func(t *testing.T, dir string) (string, uint64) {
				mustInit(t, dir)
				if err := os.Remove(filepath.Join(dir, "CAIRN")); err != nil {
					t.Fatal(err)
				}
				return dir, 0
			},
			want:   refused,
			errHas: []string{"no CAIRN marker"},
		},
		{
			name: "damaged marker: garbage",
			setup: func(t *testing.T, dir string) (string, uint64) {
				mustInit(t, dir)
				writeFile(t, filepath.Join(dir, "CAIRN"), "\x00\x01garbage")
				return dir, 0
			},
			want:      refused,
			errHas:    []string{"damaged"},
			untouched: []string{"CAIRN"},
		},
		{
			name: "damaged marker: empty file",
			setup: func(t *testing.T, dir string) (string, uint64) {
				mustInit(t, dir)
				writeFile(t, filepath.Join(dir, "CAIRN"), "")
				return dir, 0
			},
			want:   refused,
			errHas: []string{"damaged"},
		},
		{
			name: "damaged marker: format not a number",
			setup: func(t *testing.T, dir string) (string, uint64) {
				mustInit(t, dir)
				editMarker(t, dir, "format", "one")
				return dir, 0
			},
			want:   refused,
			errHas: []string{"damaged"},
		},
		{
			name: "damaged marker: node id not hex",
			setup: func(t *testing.T, dir string) (string, uint64) {
				mustInit(t, dir)
				editMarker(t, dir, "node-id", "zz-top")
				return dir, 0
			},
			want:   refused,
			errHas: []string{"damaged"},
		},
		{
			name: "damaged marker: node id missing",
			setup: func(t *testing.T, dir string) (string, uint64) {
				mustInit(t, dir)
				dropMarkerLine(t, dir, "node-id")
				return dir, 0
			},
			want:   refused,
			errHas: []string{"damaged"},
		},
		{
			// A damaged state line must not read as "initializing": that
			// would wipe an initialized database.
			name: "damaged marker: unknown state",
			setup: func(t *testing.T, dir string) (string, uint64) {
				mustInit(t, dir)
				editMarker(t, dir, "state", "readz")
				return dir, 0
			},
			want:   refused,
			errHas: []string{"damaged"},
		},
		{
			name: "damaged marker: state missing",
			setup: func(t *testing.T, dir string) (string, uint64) {
				mustInit(t, dir)
				dropMarkerLine(t, dir, "state")
				return dir, 0
			},
			want:   refused,
			errHas: []string{"damaged"},
		},
		{
			name: "marker is a directory",
			setup: func(t *testing.T, dir string) (string, uint64) {
				if err := os.Mkdir(filepath.Join(dir, "CAIRN"), 0o755); err != nil {
					t.Fatal(err)
				}
				return dir, 0
			},
			want: refused,
		},
		{
			name: "marker of a newer format",
			setup: func(t *testing.T, dir string) (string, uint64) {
				mustInit(t, dir)
				editMarker(t, dir, "format", "2")
				return dir, 0
			},
			want:      refused,
			errHas:    []string{"format 2"},
			untouched: []string{"CAIRN"},
		},
		{
			name: "marker of another format, half-initialized",
			setup: func(t *testing.T, dir string) (string, uint64) {
				mustInit(t, dir)
				editMarker(t, dir, "format", "7")
				editMarker(t, dir, "state", "initializing")
				return dir, 0
			},
			want:   refused,
			errHas: []string{"format 7"},
		},
		{
			name: "marker present, db deleted",
			setup: func(t *testing.T, dir string) (string, uint64) {
				mustInit(t, dir)
				if err := os.RemoveAll(filepath.Join(dir, "db")); err != nil {
					t.Fatal(err)
				}
				return dir, 0
			},
			want:   refused,
			errHas: []string{"cannot be opened"},
		},
		{
			name: "marker present, db emptied",
			setup: func(t *testing.T, dir string) (string, uint64) {
				mustInit(t, dir)
				if err := os.RemoveAll(filepath.Join(dir, "db")); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(filepath.Join(dir, "db"), 0o755); err != nil {
					t.Fatal(err)
				}
				return dir, 0
			},
			want: refused,
		},
		{
			name: "db of another data dir",
			setup: func(t *testing.T, dir string) (string, uint64) {
				a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
				mustInit(t, a)
				mustInit(t, b)
				if err := os.RemoveAll(filepath.Join(a, "db")); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(filepath.Join(b, "db"), filepath.Join(a, "db")); err != nil {
					t.Fatal(err)
				}
				return a, 0
			},
			want:      refused,
			errHas:    []string{"identity does not match"},
			untouched: []string{"CAIRN"},
		},
		{
			name: "marker node id edited",
			setup: func(t *testing.T, dir string) (string, uint64) {
				id := mustInit(t, dir)
				editMarker(t, dir, "node-id", "0000000000000abc")
				if id == 0xabc {
					t.Skip("collision with the edited id")
				}
				return dir, 0
			},
			want:   refused,
			errHas: []string{"identity does not match"},
		},
		{
			name: "db without identity record",
			setup: func(t *testing.T, dir string) (string, uint64) {
				mustInit(t, dir)
				if err := os.RemoveAll(filepath.Join(dir, "db")); err != nil {
					t.Fatal(err)
				}
				pdb, err := pebble.Open(filepath.Join(dir, "db"), &pebble.Options{Logger: quietPebble{}})
				if err != nil {
					t.Fatal(err)
				}
				if err := pdb.Set([]byte("user-key"), []byte("user-value"), pebble.Sync); err != nil {
					t.Fatal(err)
				}
				if err := pdb.Close(); err != nil {
					t.Fatal(err)
				}
				return dir, 0
			},
			want:   refused,
			errHas: []string{"no identity record"},
		},
		{
			name: "half-initialized: marker initializing, db with leftovers",
			setup: func(t *testing.T, dir string) (string, uint64) {
				id := mustInit(t, dir)
				editMarker(t, dir, "state", "initializing")
				return dir, id
			},
			want: reinitialized,
		},
		{
			name: "half-initialized: marker initializing, no db",
			setup: func(t *testing.T, dir string) (string, uint64) {
				id := mustInit(t, dir)
				editMarker(t, dir, "state", "initializing")
				if err := os.RemoveAll(filepath.Join(dir, "db")); err != nil {
					t.Fatal(err)
				}
				return dir, id
			},
			want: reinitialized,
		},
		{
			// The very first marker write crashed before its rename.
			name: "half-initialized: only a temporary marker",
			setup: func(t *testing.T, dir string) (string, uint64) {
				writeFile(t, filepath.Join(dir, "CAIRN.tmp"), "# cairn data directory: do not edit or delete\nformat: 1\n")
				return dir, 0
			},
			want: freshNode,
		},
		{
			name: "path is a file",
			setup: func(t *testing.T, dir string) (string, uint64) {
				p := filepath.Join(dir, "file")
				writeFile(t, p, "x")
				return p, 0
			},
			want: refused,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, oldID := tc.setup(t, t.TempDir())
			before := map[string]string{}
			for _, f := range tc.untouched {
				before[f] = readFile(t, filepath.Join(dir, f))
			}
			_, statErr := os.Stat(filepath.Join(dir, "db"))
			hadDB := statErr == nil
			db, err := open(t, dir)
			if tc.want == refused {
				if _, err := os.Stat(filepath.Join(dir, "db")); hadDB && err != nil {
					t.Errorf("refused Open removed the database: %v", err)
				}
				if err == nil {
					db.Close()
					t.Fatalf("Open(%s) succeeded, want refusal", dir)
				}
				if !errors.Is(err, storage.ErrRefused) {
					t.Errorf("error does not wrap ErrRefused: %v", err)
				}
				if !strings.Contains(err.Error(), dir) {
					t.Errorf("error does not name the path %s: %v", dir, err)
				}
				for _, s := range tc.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error does not say %q: %v", s, err)
					}
				}
				for f, b := range before {
					if got := readFile(t, filepath.Join(dir, f)); got != b {
						t.Errorf("refused Open changed %s: %q → %q", f, b, got)
					}
				}
				// A second attempt is refused too: a refusal leaves nothing
				// that a later Open would take for a usable directory.
				if db, err := open(t, dir); err == nil {
					db.Close()
					t.Fatalf("second Open(%s) succeeded after a refusal", dir)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%s): %v", dir, err)
			}
			closed := false
			defer func() {
				if !closed {
					db.Close()
				}
			}()
			if db.NodeID() == 0 {
				t.Fatal("node ID is 0")
			}
			if db.Dir() != dir {
				t.Errorf("Dir() = %q, want %q", db.Dir(), dir)
			}
			switch tc.want {
			case sameNode:
				if db.NodeID() != oldID {
					t.Errorf("node ID %x, want %x", db.NodeID(), oldID)
				}
				if !hasUserKey(t, db) {
					t.Error("data written before reopening is gone")
				}
			case reinitialized:
				if db.NodeID() != oldID {
					t.Errorf("node ID %x, want the marker's %x", db.NodeID(), oldID)
				}
				if hasUserKey(t, db) {
					t.Error("half-initialized database was not cleared")
				}
			case freshNode:
				if hasUserKey(t, db) {
					t.Error("fresh database has data")
				}
			}
			if m := readFile(t, filepath.Join(dir, "CAIRN")); !strings.Contains(m, "state: ready") {
				t.Errorf("marker not ready after Open:\n%s", m)
			}
			// And the result reopens as itself.
			id := db.NodeID()
			if err := db.Set([]byte("user-key"), []byte("user-value"), pebble.Sync); err != nil {
				t.Fatal(err)
			}
			db.Close()
			closed = true
			db2, err := open(t, dir)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer db2.Close()
			if db2.NodeID() != id || !hasUserKey(t, db2) {
				t.Errorf("reopen: node %x (want %x), data kept %v", db2.NodeID(), id, hasUserKey(t, db2))
			}
		})
	}
}

func TestOpenNoDir(t *testing.T) {
	_, err := storage.Open(storage.Options{Logger: quiet})
	if !errors.Is(err, storage.ErrRefused) {
		t.Fatalf("Open without a dir: %v, want ErrRefused", err)
	}
}

func TestOpenTwiceRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := open(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db2, err := open(t, dir)
	if err == nil {
		db2.Close()
		t.Fatal("second concurrent Open succeeded")
	}
	if !errors.Is(err, storage.ErrRefused) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Open: %v", err)
	}
}

func TestOpenInMemory(t *testing.T) {
	db, err := storage.Open(storage.Options{InMemory: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Dir() != "" || db.NodeID() == 0 {
		t.Fatalf("in-memory db: dir %q node %x", db.Dir(), db.NodeID())
	}
	if err := db.Set([]byte("k"), []byte("v"), db.Durable()); err != nil {
		t.Fatal(err)
	}
}

// TestOpenSurvivesCrash: once Open has returned, a crash that loses every
// unsynced byte must leave a directory that opens as the same node with
// its synced data, never an empty directory that initializes afresh.
func TestOpenSurvivesCrash(t *testing.T) {
	for _, dir := range []string{"/data", "/srv/cairn/data"} {
		for _, pct := range []int{0, 50, 100} {
			fs := vfs.NewCrashableMem()
			db, err := storage.Open(storage.Options{Dir: dir, FS: fs, Logger: quiet, CacheBytes: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Set([]byte("user-key"), []byte("user-value"), pebble.Sync); err != nil {
				t.Fatal(err)
			}
			id := db.NodeID()
			clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(uint64(pct), 1))})
			db.Close()
			db2, err := storage.Open(storage.Options{Dir: dir, FS: clone, Logger: quiet, CacheBytes: 1 << 20})
			if err != nil {
				t.Fatalf("%s, %d%% unsynced kept: reopen after crash: %v", dir, pct, err)
			}
			if db2.NodeID() != id || !hasUserKey(t, db2) {
				t.Errorf("%s, %d%% unsynced kept: after crash node %x (want %x), synced data kept: %v", dir, pct, db2.NodeID(), id, hasUserKey(t, db2))
			}
			db2.Close()
		}
	}
}
