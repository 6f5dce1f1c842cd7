package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/replication"
	"github.com/cairnkv/cairn/storage"
	"github.com/cairnkv/cairn/storage/bucket"
	"github.com/cairnkv/cairn/storage/meta"
	"github.com/cairnkv/cairn/storage/raftlog"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Node is one cairn server.
type Node struct {
	cfg   Config
	auth  ClientAuth
	tls   *ClientTLS
	lg    *slog.Logger
	disk  *storage.DB
	mem   *storage.DB
	space *diskGuard // free space of DataDir's filesystem
	sched *replication.Scheduler
	meta  *meta.State
	metaG *replication.Group
	// cluster is nil for a node that runs alone (no peer or gossip
	// address).
	cluster *cluster
	// metaReady is metaG once started, for peers' calls that can arrive
	// while the node is still starting.
	metaReady atomic.Pointer[replication.Group]
	// locations caches Locate, which every client request asks.
	locations locationCache

	mu      sync.RWMutex
	buckets map[string]*Bucket

	cursors   cursorStats
	cursorMu  sync.Mutex
	cursorSet map[*Cursor]struct{}

	reconcileMu sync.Mutex
	// lastWant: the groups wanted at the last reconcile (reconcileMu);
	// nil until a reconcile has scanned the disk.
	lastWant map[storage.GroupID]bool

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Options are test and embedding hooks that are not user configuration.
type Options struct {
	// FS replaces the operating system's filesystem for the data dir.
	FS vfs.FS
}

// New opens the data directory and starts the node's raft groups.
func New(cfg Config, opts ...Options) (*Node, error) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	def := DefaultConfig()
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = def.TickInterval
	}
	if cfg.ElectionTimeout <= 0 {
		cfg.ElectionTimeout = def.ElectionTimeout
	}
	if cfg.ExpiryInterval <= 0 {
		cfg.ExpiryInterval = def.ExpiryInterval
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = def.MaxPayload
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = def.RequestTimeout
	}
	auth, err := parseClientAuth(cfg.ClientToken, cfg.ClientUsers, cfg.ClientNKeys)
	if err != nil {
		return nil, err
	}
	ctls, err := loadClientTLS(cfg.ClientTLSCert, cfg.ClientTLSKey, cfg.ClientTLSCA, cfg.ClientTLSVerify, cfg.Logger)
	if err != nil {
		return nil, err
	}
	disk, err := storage.Open(storage.Options{Dir: cfg.DataDir, FS: o.FS, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	mem, err := storage.Open(storage.Options{InMemory: true, Logger: cfg.Logger})
	if err != nil {
		_ = disk.Close()
		return nil, err
	}
	n := &Node{cfg: cfg, auth: auth, tls: ctls, lg: cfg.Logger, disk: disk, mem: mem, buckets: map[string]*Bucket{}, cursorSet: map[*Cursor]struct{}{}}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	rc := replication.DefaultConfig(disk.NodeID())
	rc.TickInterval = cfg.TickInterval
	rc.ElectionTicks = max(2, int(cfg.ElectionTimeout/cfg.TickInterval))
	rc.Logger = cfg.Logger
	n.space = newDiskGuard(cfg.DataDir, cfg.MinFreeDisk, cfg.Logger)
	rc.DiskLow = n.space.Low
	// Its replicas take no entries now: let caught-up replicas on other
	// nodes lead, so its buckets keep taking writes there.
	n.space.onLow = func() { n.handOff("data disk low") }
	var tr replication.Transport
	if cfg.clustered() {
		if n.cluster, err = newCluster(n); err != nil {
			_ = n.closeStorage()
			return nil, err
		}
		tr = n.cluster.tr
	}
	n.sched = replication.NewScheduler(rc, tr)
	if err := n.start(); err != nil {
		n.cancel()
		n.wg.Wait()
		n.sched.Close()
		if n.cluster != nil {
			n.cluster.close()
		}
		_ = n.closeStorage()
		return nil, err
	}
	// Started last: on a change it may hand leaderships off, which needs
	// the groups and the cluster up.
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.space.run(n.ctx)
	}()
	return n, nil
}

func (n *Node) start() error {
	ms, err := meta.Open(n.disk)
	if err != nil {
		return err
	}
	n.meta = ms
	if n.cluster == nil {
		return n.startAlone()
	}
	return n.startClustered()
}

// startAlone runs the node as a cluster of one, with no listeners.
func (n *Node) startAlone() error {
	g, err := n.sched.AddGroup(replication.GroupConfig{ID: meta.Group, DB: n.disk, SM: metaSM{n.meta}, Voters: []uint64{n.disk.NodeID()}, IgnoreDiskLow: true})
	if err != nil {
		return fmt.Errorf("starting meta group: %w", err)
	}
	n.metaG = g
	ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
	defer cancel()
	// Replay the meta log so the registry is current before buckets start.
	if err := g.LinearizableBarrier(ctx); err != nil {
		return fmt.Errorf("waiting for meta group: %w", err)
	}
	if _, err := n.proposeMeta(ctx, &meta.Command{Op: "node-set", Time: time.Now().UnixNano(), Node: &meta.Node{ID: n.NodeID(), Name: n.cfg.Name}}); err != nil {
		return fmt.Errorf("registering node: %w", err)
	}
	if err := n.reconcile(ctx); err != nil {
		return err
	}
	n.wg.Add(2)
	go n.watchMeta()
	go n.expiryLoop()
	return nil
}

// startClustered starts gossip and the peer transport, enters the
// cluster (forming it, joining it, or restarting in it) and starts the
// node's groups. It does not wait for quorums: a node restarting while
// its peers are down comes up and serves as soon as they return.
func (n *Node) startClustered() error {
	if err := n.cluster.start(); err != nil {
		return err
	}
	exists, err := raftlog.Exists(n.disk, meta.Group)
	if err != nil {
		return err
	}
	gc := replication.GroupConfig{ID: meta.Group, DB: n.disk, SM: metaSM{n.meta}, IgnoreDiskLow: true}
	if !exists {
		voters, err := n.cluster.form(n.ctx)
		if err != nil {
			return err
		}
		gc.Voters, gc.Join = voters, voters == nil
	}
	g, err := n.sched.AddGroup(gc)
	if err != nil {
		return fmt.Errorf("starting meta group: %w", err)
	}
	n.metaG = g
	n.metaReady.Store(g)
	// Catch up with the registry before serving, if a quorum answers
	// soon; a node restarting while most of its peers are down starts
	// anyway, with the registry it has.
	wait, cancelWait := context.WithTimeout(n.ctx, 5*time.Second+2*n.cfg.ElectionTimeout)
	if err := g.LinearizableBarrier(wait); err != nil {
		n.lg.Warn("starting without catching up with the meta group (no quorum yet)", "err", err)
	}
	cancelWait()
	ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
	defer cancel()
	if err := n.reconcile(ctx); err != nil {
		return err
	}
	n.wg.Add(6)
	go n.watchMeta()
	go n.expiryLoop()
	go n.registerLoop()
	go n.syncLoop()
	go n.metaLeaderLoop()
	go n.livenessLoop()
	return nil
}

// NodeID returns the node's stable identity.
func (n *Node) NodeID() uint64 { return n.disk.NodeID() }

// Name returns the configured node name.
func (n *Node) Name() string { return n.cfg.Name }

// Config returns the node's configuration.
func (n *Node) Config() Config { return n.cfg }

// ClientAuth returns what clients of the NATS port and the HTTP API must
// present (Config.ClientToken, Config.ClientUsers).
func (n *Node) ClientAuth() ClientAuth { return n.auth }

// ClientTLS returns the TLS of the NATS port and the HTTP API, nil when
// they are plaintext.
func (n *Node) ClientTLS() *ClientTLS { return n.tls }

// Close stops every group and closes storage. Acknowledged writes are
// already durable; Close only releases resources.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() { err = n.close() })
	return err
}

func (n *Node) close() error {
	n.handOff("shutdown")
	n.cancel()
	n.wg.Wait()
	n.mu.Lock()
	for _, b := range n.buckets {
		b.markClosed()
	}
	n.mu.Unlock()
	n.sched.Close()
	if n.cluster != nil {
		n.cluster.close()
	}
	return n.closeStorage()
}

func (n *Node) closeStorage() error {
	return errors.Join(n.mem.Close(), n.disk.Close())
}

func (n *Node) dbFor(s bucket.Storage) *storage.DB {
	if s == bucket.MemoryStorage {
		return n.mem
	}
	return n.disk
}

// reconcile starts a group for every registered bucket and destroys the
// data of groups that are no longer registered (a deletion that a crash
// interrupted, for example), so nothing is left half-done.
func (n *Node) reconcile(ctx context.Context) error {
	// Reconciles run one at a time: DeleteBucket's and the background
	// one must not interleave.
	n.reconcileMu.Lock()
	defer n.reconcileMu.Unlock()
	self := n.NodeID()
	removed := false
	for _, bk := range n.meta.Buckets() {
		if !slices.Contains(bk.Replicas, self) {
			continue
		}
		if _, err := n.ensureBucket(ctx, bk, false); err != nil {
			if errors.Is(err, ErrBucketNotFound) {
				continue // deleted meanwhile
			}
			return err
		}
	}
	n.mu.Lock()
	for name, b := range n.buckets {
		bk, ok := n.meta.Bucket(name)
		switch {
		case !ok || bk.Group != b.group.ID():
			// Deleted.
		case !slices.Contains(bk.Replicas, self) && b.removedHere():
			// Moved away, and the group has let this replica go.
			n.lg.Info("replica moved away", "bucket", name, "group", uint64(bk.Group))
		default:
			continue
		}
		delete(n.buckets, name)
		b.markClosed()
		n.sched.RemoveGroup(b.group.ID())
		removed = true
	}
	// Decide what to destroy from the registry as it is now and the
	// groups running now, under n.mu so that no group starts meanwhile.
	// A group neither registered nor running never comes back: group IDs
	// are not reused.
	want := map[storage.GroupID]bool{meta.Group: true}
	for _, bk := range n.meta.Buckets() {
		want[bk.Group] = true
	}
	for _, b := range n.buckets {
		want[b.group.ID()] = true
	}
	// Scanning the disk for groups costs a seek per group: skip it when
	// nothing can have become unwanted since the last scan (no local
	// group stopped, no registered group gone), as when buckets are only
	// being created.
	scan := removed || n.lastWant == nil
	for id := range n.lastWant {
		scan = scan || !want[id]
	}
	if !scan {
		n.lastWant = want
		n.mu.Unlock()
		return nil
	}
	type doomed struct {
		db *storage.DB
		id storage.GroupID
	}
	var destroy []doomed
	for _, db := range []*storage.DB{n.disk, n.mem} {
		ids, err := groupsOnDisk(db)
		if err != nil {
			n.mu.Unlock()
			return err
		}
		for _, id := range ids {
			if !want[id] {
				destroy = append(destroy, doomed{db, id})
			}
		}
	}
	n.mu.Unlock()
	for _, d := range destroy {
		if err := destroyGroup(d.db, d.id); err != nil {
			return err
		}
		n.lg.Info("removed data of deleted bucket group", "group", uint64(d.id))
	}
	n.lastWant = want
	return nil
}

// ensureBucket starts the bucket's group if needed and makes its
// replicated config match the registry.
//
// With wait, it also waits until the local replica is current and, on
// the leader, applies a changed configuration; without, it only starts
// the group (the leader's sync loop applies configurations).
func (n *Node) ensureBucket(ctx context.Context, bk meta.Bucket, wait bool) (*Bucket, error) {
	n.mu.Lock()
	// bk may be stale (a reconcile's listing): act on the registry as it
	// is now, and never restart a group whose bucket was deleted.
	cur, ok := n.meta.Bucket(bk.Name)
	if !ok || cur.Group != bk.Group {
		n.mu.Unlock()
		return nil, errBucketNotFound(bk.Name)
	}
	bk = cur
	b, ok := n.buckets[bk.Name]
	if ok && b.group.ID() != bk.Group {
		// Same name, new incarnation: the old one was deleted.
		delete(n.buckets, bk.Name)
		b.markClosed()
		n.sched.RemoveGroup(b.group.ID())
		ok = false
	}
	if !ok {
		db := n.dbFor(bk.Config.Storage)
		st, err := bucket.Open(db, bk.Group, bk.Name)
		if err != nil {
			n.mu.Unlock()
			return nil, err
		}
		// A memory bucket's log and data are in RAM: a low disk does not
		// concern it.
		gc := replication.GroupConfig{ID: bk.Group, DB: db, SM: bucketSM{st}, IgnoreDiskLow: db == n.mem}
		if slices.Contains(bk.Initial, n.NodeID()) {
			gc.Voters = bk.Initial
			gc.Campaign = bk.Replicas[0] == n.NodeID()
		} else {
			gc.Join = true
		}
		g, err := n.sched.AddGroup(gc)
		if err != nil {
			n.mu.Unlock()
			return nil, fmt.Errorf("bucket %s: %w", bk.Name, err)
		}
		b = &Bucket{n: n, name: bk.Name, group: g, state: st, closed: make(chan struct{})}
		n.buckets[bk.Name] = b
		if !wait {
			n.wg.Add(1)
			go n.applyConfigWhenReady(b)
		}
	}
	n.mu.Unlock()
	if !wait {
		return b, nil
	}
	if err := b.group.LinearizableBarrier(ctx); err != nil {
		return nil, fmt.Errorf("bucket %s: %w", bk.Name, err)
	}
	if !meta.SameConfig(b.state.Config(), bk.Config) && b.group.IsLeader() {
		cmd := bucket.Command{Kind: bucket.KindSetConfig, Time: time.Now().UnixNano(), Config: &bk.Config}
		if _, err := b.propose(ctx, &cmd); err != nil {
			return nil, fmt.Errorf("bucket %s: applying config: %w", bk.Name, err)
		}
	}
	return b, nil
}

// applyConfigWhenReady gives a group just started (a memory bucket after
// a restart starts empty) the registry's configuration as soon as it has
// a leader here. Elsewhere the leader's sync loop does it.
func (n *Node) applyConfigWhenReady(b *Bucket) {
	defer n.wg.Done()
	ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
	defer cancel()
	if err := b.group.LinearizableBarrier(ctx); err != nil || !b.group.IsLeader() {
		return
	}
	bk, ok := n.meta.Bucket(b.name)
	if !ok || bk.Group != b.group.ID() || meta.SameConfig(b.state.Config(), bk.Config) {
		return
	}
	cmd := bucket.Command{Kind: bucket.KindSetConfig, Time: time.Now().UnixNano(), Config: &bk.Config}
	if _, err := b.propose(ctx, &cmd); err != nil && n.ctx.Err() == nil {
		n.lg.Warn("applying bucket config", "bucket", b.name, "err", err)
	}
}

// watchMeta keeps local groups in line with the registry. It takes the
// change notification before each reconcile, so a change committed while
// one runs (after it read the registry) triggers the next; the first
// reconcile covers changes since the one at start. A failed reconcile is
// retried.
func (n *Node) watchMeta() {
	defer n.wg.Done()
	for {
		ch := n.meta.Changed()
		ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
		var retry <-chan time.Time
		if err := n.reconcile(ctx); err != nil && n.ctx.Err() == nil {
			n.lg.Error("reconciling buckets with the registry; retrying", "err", err)
			retry = time.After(syncInterval)
		}
		cancel()
		select {
		case <-n.ctx.Done():
			return
		case <-ch:
		case <-retry:
		}
	}
}

// groupsOnDisk lists the group IDs that have raft state in db.
func groupsOnDisk(db *storage.DB) ([]storage.GroupID, error) {
	var out []storage.GroupID
	lo := []byte{'r'}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: []byte{'s'}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; {
		k := it.Key()
		if len(k) < 9 {
			ok = it.Next()
			continue
		}
		id := storage.GroupID(binary.BigEndian.Uint64(k[1:9]))
		out = append(out, id)
		ok = it.SeekGE(storage.PrefixEnd(storage.RaftPrefix(id)))
	}
	return out, it.Error()
}

// destroyGroup removes every key of a group and compacts the range so the
// data is really gone from disk, not just hidden by tombstones.
func destroyGroup(db *storage.DB, id storage.GroupID) error {
	b := db.NewBatch()
	defer b.Close()
	if err := raftlog.Destroy(b, id); err != nil {
		return err
	}
	if err := bucket.Destroy(b, id); err != nil {
		return err
	}
	if err := b.Commit(db.Durable()); err != nil {
		return fmt.Errorf("destroying group %d: %w", id, err)
	}
	for _, p := range [][]byte{storage.RaftPrefix(id), storage.GroupPrefix(id)} {
		if err := db.Compact(context.Background(), p, storage.PrefixEnd(p), false); err != nil {
			return fmt.Errorf("compacting group %d: %w", id, err)
		}
	}
	return nil
}

// State machine adapters.

type bucketSM struct{ *bucket.State }

func (s bucketSM) Apply(b *pebble.Batch, data []byte) (any, error) { return s.State.Apply(b, data) }

type metaSM struct{ *meta.State }

func (s metaSM) Apply(b *pebble.Batch, data []byte) (any, error) { return s.State.Apply(b, data) }
