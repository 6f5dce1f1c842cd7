package fusefs

import (
	"errors"
	"sort"
	"strings"
	"sync"
	"time"
)

// index is the mount's view of the bucket: every live key with its
// revision, size and time, arranged as a tree of key tokens, plus the
// directories that exist only in this mount. The bucket's watch keeps it
// current, and the mount's own writes update it at once, so lookups,
// listings and stats never wait on the network.
//
// Revisions only move forward: an update older than what the index holds
// is ignored, so the watch echoing the mount's own writes changes nothing.
type index struct {
	mu   sync.RWMutex
	root tnode
	// floors holds, for keys this mount deleted, the revision they were
	// deleted at: watch updates at or below it are older than the delete
	// and are dropped. The first newer update (the delete marker itself)
	// clears the floor.
	floors  map[string]uint64
	keys    int
	lastIno uint64 // the last inode number handed out; the root is 1

	cacheBytes int64 // bytes of values held in entries
	cacheLimit int64 // bound on cacheBytes
	maxCached  int64 // values longer than this are never held
}

// tnode is one key token's node: the value stored under the key that ends
// here (if any), and the tokens below it.
type tnode struct {
	leaf *entry
	kids map[string]*tnode
	// fino and dino are the inode numbers of the file and the directory
	// at this path, once the kernel asked for them (0 until then).
	fino, dino uint64
	// local marks a directory made (mkdir) or emptied (unlink, rename) in
	// this mount: it stays while it has no keys, like a directory on a
	// local disk, until rmdir or unmount.
	local bool
}

// entry is what the index knows about one key.
type entry struct {
	rev  uint64 // 0 while pending
	size int64
	// mtime is what stat shows: the revision's time, or for a revision
	// this mount wrote, the time of the last change made here before it
	// (as on a disk, where mtime is the time of the last write).
	mtime time.Time
	// created is the revision's time as the server recorded it; for a
	// revision this mount wrote it is known once the watch echoes it.
	created time.Time
	value   []byte // the value, if held (see index.cacheLimit)
	held    bool   // value is the whole value
	// pending marks a file created in this mount whose first revision is
	// not written yet (it is written when the file is closed).
	pending bool
}

// kind is what a path is.
type kind int

const (
	kindNone kind = iota
	kindFile
	kindDir
)

var (
	errNotEmpty = errors.New("directory not empty")
	errNotDir   = errors.New("not a directory")
	errExists   = errors.New("exists")
	errNotFound = errors.New("not found")
)

func newIndex(cacheLimit, maxCached int64) *index {
	return &index{floors: map[string]uint64{}, cacheLimit: cacheLimit, maxCached: maxCached, lastIno: 1}
}

// find returns the node of a key prefix ("" is the root), or nil.
func (ix *index) find(prefix string) *tnode {
	n := &ix.root
	if prefix == "" {
		return n
	}
	for _, tok := range strings.Split(prefix, ".") {
		n = n.kids[tok]
		if n == nil {
			return nil
		}
	}
	return n
}

// make returns the node of a key prefix, creating the path to it.
func (ix *index) make(prefix string) *tnode {
	n := &ix.root
	if prefix == "" {
		return n
	}
	for _, tok := range strings.Split(prefix, ".") {
		k := n.kids[tok]
		if k == nil {
			if n.kids == nil {
				n.kids = map[string]*tnode{}
			}
			k = &tnode{}
			n.kids[tok] = k
		}
		n = k
	}
	return n
}

// prune removes the nodes on the path to prefix that hold nothing,
// deepest first.
func (ix *index) prune(prefix string) {
	for prefix != "" {
		dir, tok := splitKey(prefix)
		parent := ix.find(dir)
		if parent == nil {
			return
		}
		n := parent.kids[tok]
		if n == nil || n.leaf != nil || len(n.kids) > 0 || n.local {
			return
		}
		delete(parent.kids, tok)
		prefix = dir
	}
}

func (n *tnode) kind() kind {
	switch {
	case n == nil:
		return kindNone
	case len(n.kids) > 0 || n.local:
		return kindDir
	case n.leaf != nil:
		return kindFile
	}
	return kindNone
}

// kindOf says whether the path of prefix is a file, a directory or absent.
func (ix *index) kindOf(prefix string) kind {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if prefix == "" {
		return kindDir
	}
	return ix.find(prefix).kind()
}

// get returns a copy of the entry of key, if the key exists.
func (ix *index) get(key string) (entry, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	n := ix.find(key)
	if n == nil || n.leaf == nil {
		return entry{}, false
	}
	return *n.leaf, true
}

// lookup returns the kind of the path of key and, when the key holds a
// value, its entry.
func (ix *index) lookup(key string) (kind, entry) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	n := ix.find(key)
	var e entry
	if n != nil && n.leaf != nil {
		e = *n.leaf
	}
	return n.kind(), e
}

// dirent is one name in a directory listing.
type dirent struct {
	tok  string // key token; "" for the directory's own value
	kind kind
	size int64
}

// list returns the entries of the directory of prefix, sorted by token,
// and whether the directory exists.
func (ix *index) list(prefix string) ([]dirent, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	n := ix.find(prefix)
	if prefix != "" && n.kind() != kindDir {
		return nil, false
	}
	out := make([]dirent, 0, len(n.kids)+1)
	if prefix != "" && n.leaf != nil {
		out = append(out, dirent{tok: "", kind: kindFile, size: n.leaf.size})
	}
	for tok, k := range n.kids {
		d := dirent{tok: tok, kind: k.kind()}
		if d.kind == kindFile {
			d.size = k.leaf.size
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].tok < out[j].tok })
	return out, true
}

// hold decides whether to keep value in an entry, within the cache bound.
func (ix *index) hold(e *entry, value []byte) {
	if e.held {
		ix.cacheBytes -= int64(len(e.value))
	}
	e.value, e.held = nil, false
	if value != nil && int64(len(value)) <= ix.maxCached && ix.cacheBytes+int64(len(value)) <= ix.cacheLimit {
		e.value, e.held = value, true
		ix.cacheBytes += int64(len(value))
	}
}

func (ix *index) dropLeaf(key string, n *tnode) {
	if n.leaf.held {
		ix.cacheBytes -= int64(len(n.leaf.value))
	}
	n.leaf = nil
	n.fino = 0 // a file made here later is a new file
	ix.keys--
	ix.prune(key)
}

// applyPut records a value seen on the watch; it reports whether the index
// changed (false for updates older than what it holds).
func (ix *index) applyPut(key string, rev uint64, value []byte, created time.Time) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if floor, ok := ix.floors[key]; ok {
		if rev <= floor {
			return false
		}
		delete(ix.floors, key)
	}
	n := ix.find(key)
	if n != nil && n.leaf != nil && !n.leaf.pending && n.leaf.rev >= rev {
		if n.leaf.rev == rev && n.leaf.created.IsZero() {
			n.leaf.created = created // the echo of a write of this mount
		}
		return false
	}
	ix.setLeaf(key, n, rev, value, created, created)
	return true
}

func (ix *index) setLeaf(key string, n *tnode, rev uint64, value []byte, mtime, created time.Time) {
	if n == nil {
		n = ix.make(key)
	}
	if n.leaf == nil {
		n.leaf = &entry{}
		ix.keys++
	}
	e := n.leaf
	e.rev, e.size, e.mtime, e.created, e.pending = rev, int64(len(value)), mtime, created, false
	ix.hold(e, value)
}

// setMtime sets the modification time this mount shows for key while it
// stays at revision rev (utimes, touch -d, rsync -t); it reports whether
// the key is at rev.
func (ix *index) setMtime(key string, rev uint64, mtime time.Time) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := ix.find(key)
	if n == nil || n.leaf == nil || n.leaf.rev != rev {
		return false
	}
	n.leaf.mtime = mtime
	return true
}

// applyDelete records a delete or purge seen on the watch.
func (ix *index) applyDelete(key string, rev uint64) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if floor, ok := ix.floors[key]; ok {
		if rev <= floor {
			return false
		}
		delete(ix.floors, key)
	}
	n := ix.find(key)
	if n == nil || n.leaf == nil || n.leaf.pending || n.leaf.rev >= rev {
		return false
	}
	ix.dropLeaf(key, n)
	return true
}

// wrote records a revision this mount wrote; mtime is the time of the
// last change to it here.
func (ix *index) wrote(key string, rev uint64, value []byte, mtime time.Time) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if floor, ok := ix.floors[key]; ok && rev > floor {
		delete(ix.floors, key)
	}
	n := ix.find(key)
	if n != nil && n.leaf != nil && !n.leaf.pending && n.leaf.rev >= rev {
		return // the watch already delivered something newer
	}
	ix.setLeaf(key, n, rev, value, mtime, time.Time{})
}

// deleted records that this mount deleted key, whose last revision was
// rev. The key's directory stays (as a local one) if it is left empty,
// as it would on a disk.
func (ix *index) deleted(key string, rev uint64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if rev > 0 {
		ix.floors[key] = rev
	}
	n := ix.find(key)
	if n == nil || n.leaf == nil {
		return
	}
	ix.keepDir(key, n)
	ix.dropLeaf(key, n)
}

// keepDir marks the directory of key local if removing key's node would
// leave it empty, so that it stays, as a directory on a disk does after
// its last file is removed.
func (ix *index) keepDir(key string, n *tnode) {
	dir, _ := splitKey(key)
	if dir == "" || len(n.kids) > 0 || n.local {
		return
	}
	if p := ix.find(dir); p != nil && len(p.kids) == 1 {
		p.local = true
	}
}

// addPending adds a file created in this mount and not yet written.
func (ix *index) addPending(key string, mtime time.Time) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := ix.make(key)
	if n.leaf == nil {
		n.leaf = &entry{pending: true, mtime: mtime}
		ix.keys++
	}
}

// dropPending removes a pending file that was never written.
func (ix *index) dropPending(key string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := ix.find(key)
	if n != nil && n.leaf != nil && n.leaf.pending {
		ix.keepDir(key, n)
		ix.dropLeaf(key, n)
	}
}

// mkdir adds a local directory.
func (ix *index) mkdir(prefix string) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if k := ix.find(prefix).kind(); k != kindNone {
		return errExists
	}
	dir, _ := splitKey(prefix)
	if dir != "" && ix.find(dir).kind() != kindDir {
		return errNotDir
	}
	ix.make(prefix).local = true
	return nil
}

// rmdir removes an empty directory.
func (ix *index) rmdir(prefix string) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := ix.find(prefix)
	switch {
	case n.kind() == kindNone:
		return errNotFound
	case n.kind() != kindDir:
		return errNotDir
	case len(n.kids) > 0 || n.leaf != nil:
		return errNotEmpty
	}
	n.local = false
	// The parent stays, as on a disk, even if it exists only because
	// this directory was in it (a directory moved here with the local
	// directories inside it, or one that held keys another client wrote).
	ix.keepDir(prefix, n)
	ix.prune(prefix)
	return nil
}

// keyRev is a key and the revision the index holds for it.
type keyRev struct {
	key string
	rev uint64
}

// under returns the keys at and below prefix and the local directories
// below it, for moving a directory. Pending keys are left out.
func (ix *index) under(prefix string) (keys []keyRev, dirs []string) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var walk func(p string, n *tnode)
	walk = func(p string, n *tnode) {
		if n.leaf != nil && !n.leaf.pending {
			keys = append(keys, keyRev{p, n.leaf.rev})
		}
		if n.local && len(n.kids) == 0 && n.leaf == nil {
			dirs = append(dirs, p)
		}
		for tok, k := range n.kids {
			walk(joinKey(p, tok), k)
		}
	}
	if n := ix.find(prefix); n != nil {
		walk(prefix, n)
	}
	return keys, dirs
}

// inoOf returns the inode number of the file or directory at key,
// handing out a new one the first time. Numbers are never reused.
func (ix *index) inoOf(key string, k kind) uint64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.lastIno++
	n := ix.find(key)
	if n == nil {
		return ix.lastIno
	}
	p := &n.fino
	if k == kindDir {
		p = &n.dino
	}
	if *p == 0 {
		*p = ix.lastIno
	}
	return *p
}

// movedKey records that src was renamed to dst (already written) and
// deleted at revision rev: dst takes over src's inode number.
func (ix *index) movedKey(src, dst string, rev uint64) {
	ix.mu.Lock()
	s, d := ix.find(src), ix.find(dst)
	if s != nil && d != nil && s.fino != 0 {
		d.fino, s.fino = s.fino, 0
	}
	ix.mu.Unlock()
	ix.deleted(src, rev)
}

// moveLocalDirs renames the local directories at and below from to to,
// after the keys below from moved, and removes what is left of from;
// to takes over from's inode number.
func (ix *index) moveLocalDirs(from, to string, dirs []string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	s := ix.find(from)
	if s == nil {
		return
	}
	for _, d := range dirs {
		ix.make(to + strings.TrimPrefix(d, from)).local = true
	}
	d := ix.make(to)
	if len(d.kids) == 0 && d.leaf == nil {
		d.local = true
	}
	if s.dino != 0 {
		d.dino, s.dino = s.dino, 0
	}
	if clearLocal(s) {
		ix.keepDir(from, s)
		ix.prune(from)
	}
}

// clearLocal unmarks the local directories at and below n and drops the
// nodes that hold nothing; it reports whether n itself holds nothing.
func clearLocal(n *tnode) bool {
	n.local = false
	for tok, k := range n.kids {
		if clearLocal(k) {
			delete(n.kids, tok)
		}
	}
	return n.leaf == nil && len(n.kids) == 0
}

// revs returns every key (not pending) and its revision.
func (ix *index) revs() map[string]uint64 {
	keys, _ := ix.under("")
	out := make(map[string]uint64, len(keys))
	for _, kr := range keys {
		out[kr.key] = kr.rev
	}
	return out
}

// stats returns the number of keys and of value bytes held.
func (ix *index) stats() (keys int, held int64) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.keys, ix.cacheBytes
}
