package storage

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// FormatVersion is the on-disk format this build reads and writes.
const FormatVersion = 1

// markerName is the file that marks a directory as a cairn data directory.
const markerName = "CAIRN"

// dbDirName is the Pebble directory inside a data directory.
const dbDirName = "db"

// memTableBytes is the size of Pebble's memtables (see Open).
const memTableBytes = 8 << 20

// ErrRefused is wrapped by every error that makes Open refuse a directory.
var ErrRefused = errors.New("refusing to use data directory")

// Options configure Open.
type Options struct {
	// Dir is the data directory. Ignored when InMemory is set.
	Dir string
	// InMemory keeps everything in memory: nothing survives Close. Used
	// for buckets with memory storage and for tests.
	InMemory bool
	// FS overrides the filesystem (tests use a crashable in-memory FS).
	// Nil means the operating system's.
	FS vfs.FS
	// CacheBytes is the size of Pebble's block cache. Zero means 64 MiB.
	CacheBytes int64
	// Logger receives Pebble's messages. Nil means slog.Default().
	Logger *slog.Logger
}

// DB is a node's Pebble database.
type DB struct {
	*pebble.DB
	dir    string
	nodeID uint64
	write  *pebble.WriteOptions
	fs     vfs.FS
}

// NodeID returns the node identity stored in the data directory. It is
// created once, when the directory is initialized, and never changes.
func (d *DB) NodeID() uint64 { return d.nodeID }

// Dir returns the data directory ("" for an in-memory DB).
func (d *DB) Dir() string { return d.dir }

// Durable returns the write options for writes that must survive a crash:
// synced for a disk database, unsynced for an in-memory one.
func (d *DB) Durable() *pebble.WriteOptions { return d.write }

// Open opens (initializing if empty) the data directory in opts. It refuses
// a directory that holds foreign files, a damaged database, a database of
// another format, or a database whose identity does not match its marker,
// and the error names the path.
func Open(opts Options) (*DB, error) {
	fs := opts.FS
	dir := opts.Dir
	write := pebble.Sync
	if opts.InMemory {
		fs, dir, write = vfs.NewMem(), "mem", pebble.NoSync
	}
	if fs == nil {
		fs = vfs.Default
	}
	if dir == "" {
		return nil, fmt.Errorf("%w: no data directory given", ErrRefused)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if err := mkdirAllSynced(fs, dir); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrRefused, dir, err)
	}
	m, err := readMarker(fs, dir)
	if err != nil {
		return nil, err
	}
	// Checked before anything is touched: a directory of another format,
	// even a half-initialized one, belongs to another build.
	if m != nil && m.format != FormatVersion {
		return nil, fmt.Errorf("%w %s: on-disk format %d, this build reads format %d", ErrRefused, dir, m.format, FormatVersion)
	}
	if m == nil || !m.ready {
		if m == nil {
			if err := checkEmpty(fs, dir); err != nil {
				return nil, err
			}
			id, err := newNodeID()
			if err != nil {
				return nil, err
			}
			m = &marker{format: FormatVersion, nodeID: id}
		}
		// Initialization never completed: nothing in db/ was ever used.
		if err := fs.RemoveAll(fs.PathJoin(dir, dbDirName)); err != nil {
			return nil, fmt.Errorf("%w %s: clearing half-initialized database: %w", ErrRefused, dir, err)
		}
		if err := writeMarker(fs, dir, m); err != nil {
			return nil, err
		}
	}
	cache := opts.CacheBytes
	if cache == 0 {
		cache = 64 << 20
	}
	pc := pebble.NewCache(cache)
	defer pc.Unref()
	popts := &pebble.Options{
		FS:               fs,
		Cache:            pc,
		ErrorIfNotExists: m.ready,
		Logger:           pebbleLogger{logger},
		// Every put inserts about four keys into the memtable, and a
		// skiplist insert's cost grows with the memtable: at 32 MiB the
		// inserts took 13 % of a node's CPU under 64 writers, at 8 MiB
		// 9 %, at 4 MiB 6 %. The price is more flushing: a key overwritten within a
		// big memtable's life never reaches disk, so 8 MiB wrote about
		// 20 % more bytes per put than 32 MiB over 10,000 hot keys. In
		// interleaved A/B runs 8 MiB used less CPU per put in most pairs
		// (R1 and R3), not all (docs/benchmarks.md, 2026-12-04).
		MemTableSize: memTableBytes,
	}
	pdb, err := pebble.Open(fs.PathJoin(dir, dbDirName), popts)
	if err != nil {
		return nil, fmt.Errorf("%w %s: database cannot be opened (damaged or missing): %w", ErrRefused, dir, err)
	}
	db := &DB{DB: pdb, dir: dir, nodeID: m.nodeID, write: write, fs: fs}
	if err := db.checkIdentity(m); err != nil {
		_ = pdb.Close()
		return nil, err
	}
	if !m.ready {
		m.ready = true
		if err := writeMarker(fs, dir, m); err != nil {
			_ = pdb.Close()
			return nil, err
		}
	}
	if opts.InMemory {
		db.dir = ""
	}
	return db, nil
}

// checkIdentity makes sure the database belongs to the marker, writing the
// identity record on first use.
func (d *DB) checkIdentity(m *marker) error {
	key := NodeKey("identity")
	v, closer, err := d.Get(key)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if m.ready {
			return fmt.Errorf("%w %s: database has no identity record; it is not this directory's database", ErrRefused, d.dir)
		}
		return d.Set(key, binary.BigEndian.AppendUint64(nil, m.nodeID), pebble.Sync)
	case err != nil:
		return fmt.Errorf("%w %s: reading identity: %w", ErrRefused, d.dir, err)
	}
	defer closer.Close()
	if len(v) != 8 || binary.BigEndian.Uint64(v) != m.nodeID {
		return fmt.Errorf("%w %s: database identity does not match the marker file %s", ErrRefused, d.dir, markerName)
	}
	return nil
}

func checkEmpty(fs vfs.FS, dir string) error {
	names, err := fs.List(dir)
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrRefused, dir, err)
	}
	for _, n := range names {
		// CAIRN.tmp alone: the very first marker write crashed before its
		// rename, so nothing was ever initialized here.
		if n == "lost+found" || strings.HasPrefix(n, ".") || n == markerName+".tmp" {
			continue
		}
		return fmt.Errorf("%w %s: it is not empty (found %q) and has no %s marker; it is not a cairn data directory", ErrRefused, dir, n, markerName)
	}
	return nil
}

type marker struct {
	format int
	nodeID uint64
	ready  bool
}

func readMarker(fs vfs.FS, dir string) (*marker, error) {
	path := fs.PathJoin(dir, markerName)
	f, err := fs.Open(path)
	if err != nil {
		if _, statErr := fs.Stat(path); statErr != nil {
			return nil, nil // no marker
		}
		return nil, fmt.Errorf("%w %s: cannot read %s: %w", ErrRefused, dir, markerName, err)
	}
	defer f.Close()
	raw, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("%w %s: cannot read %s: %w", ErrRefused, dir, markerName, err)
	}
	m := &marker{}
	hasState := false
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "format":
			m.format, err = strconv.Atoi(v)
		case "node-id":
			m.nodeID, err = strconv.ParseUint(v, 16, 64)
		case "state":
			hasState = true
			switch v {
			case "ready":
				m.ready = true
			case "initializing":
			default:
				// Never read a damaged state as "initializing": that
				// would wipe an initialized database.
				err = fmt.Errorf("unknown state %q", v)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w %s: damaged %s (%q): %w", ErrRefused, dir, markerName, line, err)
		}
	}
	if m.format == 0 || m.nodeID == 0 || !hasState {
		return nil, fmt.Errorf("%w %s: damaged %s: missing format, node-id or state", ErrRefused, dir, markerName)
	}
	return m, nil
}

// mkdirAllSynced creates dir and its missing parents and syncs the parent
// of each directory it created, so that a crash cannot lose the data
// directory's own entry (a node would then start empty, as a new node).
func mkdirAllSynced(fs vfs.FS, dir string) error {
	var parents []string
	for p := dir; ; {
		if _, err := fs.Stat(p); err == nil {
			break
		}
		parent := fs.PathDir(p)
		parents = append(parents, parent)
		if parent == p {
			break
		}
		p = parent
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range parents {
		d, err := fs.OpenDir(p)
		if err != nil {
			return err
		}
		err = d.Sync()
		if cerr := d.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("syncing %s: %w", p, err)
		}
	}
	return nil
}

// writeMarker replaces the marker atomically (write, sync, rename, sync dir).
func writeMarker(fs vfs.FS, dir string, m *marker) error {
	state := "initializing"
	if m.ready {
		state = "ready"
	}
	body := fmt.Sprintf("# cairn data directory: do not edit or delete\nformat: %d\nnode-id: %016x\nstate: %s\n", m.format, m.nodeID, state)
	tmp := fs.PathJoin(dir, markerName+".tmp")
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err == nil {
		_, err = f.Write([]byte(body))
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = fs.Rename(tmp, fs.PathJoin(dir, markerName))
	}
	if err == nil {
		var d vfs.File
		if d, err = fs.OpenDir(dir); err == nil {
			err = d.Sync()
			_ = d.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("%w %s: writing %s: %w", ErrRefused, dir, markerName, err)
	}
	return nil
}

func newNodeID() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("generating node id: %w", err)
		}
		if id := binary.BigEndian.Uint64(b[:]) >> 1; id != 0 { // 63 bits: fits JSON numbers in most tools
			return id, nil
		}
	}
}

// pebbleLogger routes Pebble's messages to slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// ExitStorageFailed is the exit status of a node whose storage failed in
// a way Pebble cannot go on from in this process (its "fatal" errors: a
// WAL write or sync that failed, such as on a disk filled faster than the
// free-space reserve is checked).
const ExitStorageFailed = 3

// fatalExit ends the process after a fatal storage error; tests replace it.
var fatalExit = func() { os.Exit(ExitStorageFailed) }

// Fatalf is called by Pebble when it cannot continue. The node stops
// with one clear log line rather than a panic's goroutine dump: nothing
// it acknowledged depends on the failed write (an acknowledged write was
// synced before), and a restart recovers from the WAL.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	attrs := []any{"component", "pebble", "fatal", true, "err", msg, "exit_status", ExitStorageFailed}
	if strings.Contains(msg, "no space left on device") {
		attrs = append(attrs, "hint", "the data disk is full: free space on it (or raise --min-free-disk so writes stop earlier), then restart the node")
	}
	p.l.Error("storage failed; the node stops (what it acknowledged is on disk and survives a restart)", attrs...)
	fatalExit()
	panic(msg) // fatalExit returned: a test
}
