package node

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cairnkv/cairn/membership"
	"github.com/cairnkv/cairn/replication"
	"github.com/cairnkv/cairn/storage/bucket"
	"github.com/cairnkv/cairn/storage/meta"
)

// BucketConfig is what a user asks for when creating or updating a bucket.
type BucketConfig = bucket.Config

// BucketInfo describes a bucket: its configuration and current state.
type BucketInfo struct {
	Config  bucket.Config
	Created time.Time
	Group   uint64
	Leader  uint64
	// LeaderSince is when this node saw the leader take over (zero when
	// no leader is known).
	LeaderSince time.Time
	State       bucket.Stats
	// Replicas are the nodes holding the bucket, preferred leader first.
	Replicas []uint64
	// ReplicaStates are the other replicas' states when the node that
	// answered leads the bucket; nil when it does not.
	ReplicaStates []ReplicaState
}

// normalize applies defaults and checks limits, like nats-server does for
// a KV stream.
func normalize(c bucket.Config) (bucket.Config, error) {
	if err := ValidateBucketName(c.Name); err != nil {
		return c, err
	}
	if c.History == 0 {
		c.History = 1
	}
	if c.History < 1 || c.History > 64 {
		return c, errInvalidConfig("history must be between 1 and 64, got %d", c.History)
	}
	if c.MaxAge < 0 {
		return c, errInvalidConfig("max age must not be negative")
	}
	if c.MaxAge > 0 && c.MaxAge < 100*time.Millisecond {
		return c, errInvalidConfig("max age must be at least 100ms")
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = -1
	}
	if c.MaxValueSize == 0 {
		c.MaxValueSize = -1
	}
	switch c.Storage {
	case "":
		c.Storage = bucket.FileStorage
	case bucket.FileStorage, bucket.MemoryStorage:
	default:
		return c, errInvalidConfig("storage must be file or memory, got %q", c.Storage)
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Replicas != 1 && c.Replicas != 3 && c.Replicas != 5 {
		return c, errInvalidConfig("replicas must be 1, 3 or 5, got %d", c.Replicas)
	}
	if c.MarkerTTL < 0 {
		return c, errInvalidConfig("limit marker TTL must not be negative")
	}
	if c.MarkerTTL > 0 {
		if c.MarkerTTL < time.Second {
			return c, errInvalidConfig("subject delete marker TTL must be at least 1s")
		}
		c.AllowMsgTTL = true
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 2 * time.Minute
		if c.MaxAge > 0 && c.MaxAge < c.DuplicateWindow {
			c.DuplicateWindow = c.MaxAge
		}
	}
	if c.MaxAge > 0 && c.DuplicateWindow > c.MaxAge {
		return c, errInvalidConfig("duplicate window can not be larger then max age")
	}
	c.AllowRollup = true
	c.DenyDelete = true
	c.AllowDirect = true
	c.DiscardNew = true
	return c, nil
}

// CreateBucket creates a bucket, or returns the existing one if its
// configuration is identical (create is idempotent, as in JetStream).
func (n *Node) CreateBucket(ctx context.Context, cfg bucket.Config) (BucketInfo, error) {
	cfg, err := normalize(cfg)
	if err != nil {
		return BucketInfo{}, err
	}
	if cur, ok := n.meta.Bucket(cfg.Name); ok && meta.SameConfig(cur.Config, cfg) {
		// Idempotent create: no placement needed.
		return n.infoFor(ctx, cur)
	}
	if n.space.Low() {
		// The registry takes writes on a low disk (the node needs it);
		// a client's new bucket is refused like its other writes.
		return BucketInfo{}, translate(fmt.Errorf("creating bucket %s: %w", cfg.Name, replication.ErrDiskLow))
	}
	replicas, err := n.placeReplicas(cfg)
	if err != nil {
		return BucketInfo{}, err
	}
	cmd := meta.Command{Op: "create", Time: time.Now().UnixNano(), Config: &cfg, Replicas: replicas}
	res, err := n.proposeMeta(ctx, &cmd)
	if err != nil {
		return BucketInfo{}, err
	}
	return n.infoFor(ctx, res.Bucket)
}

// UpdateBucket changes a bucket's configuration. The name and storage
// cannot change.
func (n *Node) UpdateBucket(ctx context.Context, cfg bucket.Config) (BucketInfo, error) {
	cfg, err := normalize(cfg)
	if err != nil {
		return BucketInfo{}, err
	}
	cur, ok := n.meta.Bucket(cfg.Name)
	if !ok {
		return BucketInfo{}, errBucketNotFound(cfg.Name)
	}
	if cur.Config.Storage != cfg.Storage {
		return BucketInfo{}, errInvalidConfig("stream configuration update can not change storage type")
	}
	if cur.Config.Replicas != cfg.Replicas {
		return BucketInfo{}, errInvalidConfig("changing the number of replicas is not supported (bucket %s has %d)", cfg.Name, cur.Config.Replicas)
	}
	if cur.Config.AllowMsgTTL && !cfg.AllowMsgTTL {
		// As nats-server: per-key TTLs already stored would otherwise
		// be kept forever, or their markers left without meaning.
		return BucketInfo{}, errInvalidConfig("message TTL status can not be disabled")
	}
	cmd := meta.Command{Op: "update", Time: time.Now().UnixNano(), Config: &cfg}
	res, err := n.proposeMeta(ctx, &cmd)
	if err != nil {
		return BucketInfo{}, err
	}
	return n.infoFor(ctx, res.Bucket)
}

// DeleteBucket deletes a bucket and all its data.
func (n *Node) DeleteBucket(ctx context.Context, name string) error {
	if err := ValidateBucketName(name); err != nil {
		return err
	}
	bk, known := n.meta.Bucket(name)
	cmd := meta.Command{Op: "delete", Time: time.Now().UnixNano(), Name: name}
	if _, err := n.proposeMeta(ctx, &cmd); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := n.reconcile(rctx); err != nil {
		return translate(err)
	}
	if known {
		n.stopRemoteReplicas(ctx, bk)
	}
	return nil
}

// stopRemoteReplicas has every live node holding a replica of a bucket
// just deleted catch up with the registry and stop its replica, so that
// once the delete returns no node serves the bucket any more (each would
// on its own a moment later). A replica that cannot be reached is left
// to do so when it can; the deletion stands either way.
func (n *Node) stopRemoteReplicas(ctx context.Context, bk meta.Bucket) {
	if n.cluster == nil {
		return
	}
	var wg sync.WaitGroup
	for _, id := range bk.Replicas {
		if id == n.NodeID() || !n.cluster.alive(id) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := n.cluster.call(cctx, id, "bucket.reconcile", groupRequest{Bucket: bk.Name}, &struct{}{}); err != nil {
				n.lg.Warn("a replica of a deleted bucket did not confirm it stopped; it will on its own",
					"bucket", bk.Name, "node", membership.NodeName(id), "err", err)
			}
		}()
	}
	wg.Wait()
}

// Bucket returns a handle on a bucket.
func (n *Node) Bucket(name string) (*Bucket, error) {
	if err := ValidateBucketName(name); err != nil {
		return nil, err
	}
	n.mu.RLock()
	b, ok := n.buckets[name]
	n.mu.RUnlock()
	if ok {
		return b, nil
	}
	// Registered here but not started yet (the registry change is being
	// reconciled): start it now rather than answer not found.
	if bk, ok := n.meta.Bucket(name); ok && slices.Contains(bk.Replicas, n.NodeID()) {
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RequestTimeout)
		defer cancel()
		if b, err := n.ensureBucket(ctx, bk, false); err == nil {
			return b, nil
		}
	}
	return nil, errBucketNotFound(name)
}

// BucketInfo returns a bucket's configuration and state, from a replica
// on another node when this node holds none.
func (n *Node) BucketInfo(ctx context.Context, name string) (BucketInfo, error) {
	if err := ValidateBucketName(name); err != nil {
		return BucketInfo{}, err
	}
	// A bucket created through another node may not have reached this
	// node's registry yet: registered asks the meta group before saying
	// it does not exist.
	bk, err := n.registered(ctx, name)
	if err != nil {
		return BucketInfo{}, err
	}
	return n.infoFor(ctx, bk)
}

// infoFor returns a registered bucket's info, waiting for the local
// replica to be current (a bucket just created is empty; its config is
// being applied) or asking a replica elsewhere.
func (n *Node) infoFor(ctx context.Context, bk meta.Bucket) (BucketInfo, error) {
	if slices.Contains(bk.Replicas, n.NodeID()) {
		b, err := n.ensureBucket(ctx, bk, true)
		if err != nil {
			return BucketInfo{}, translate(err)
		}
		return b.info(bk), nil
	}
	return n.remoteInfo(ctx, bk)
}

// Buckets lists every bucket, sorted by name.
func (n *Node) Buckets(ctx context.Context) ([]BucketInfo, error) {
	var out []BucketInfo
	for _, bk := range n.meta.Buckets() {
		if b, err := n.Bucket(bk.Name); err == nil {
			out = append(out, b.info(bk))
			continue
		}
		if !slices.Contains(bk.Replicas, n.NodeID()) {
			info, err := n.remoteInfo(ctx, bk)
			if err != nil {
				// Listed from the registry, state unknown: better than
				// hiding the bucket from a listing.
				info = BucketInfo{Config: bk.Config, Created: time.Unix(0, bk.Created).UTC(), Group: uint64(bk.Group), Replicas: bk.Replicas}
			}
			out = append(out, info)
		}
	}
	return out, nil
}

func (n *Node) proposeMeta(ctx context.Context, cmd *meta.Command) (meta.Result, error) {
	data, err := cmd.Encode()
	if err != nil {
		return meta.Result{}, err
	}
	ctx, cancel := n.requestContext(ctx)
	defer cancel()
	out, err := n.metaG.Propose(ctx, data)
	if err != nil {
		return meta.Result{}, translate(err)
	}
	res, ok := out.Result.(meta.Result)
	if !ok {
		return meta.Result{}, fmt.Errorf("meta: unexpected result %T", out.Result)
	}
	if res.Err != nil {
		return res, translate(res.Err)
	}
	return res, nil
}

// requestContext bounds a request that waits for replication.
func (n *Node) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= n.cfg.RequestTimeout {
		// Bounded at least as tightly already: deriving another context
		// would only cost a registration with the parent per request.
		return ctx, func() {}
	}
	// A caller's longer deadline does not lift the request timeout: a
	// proposal whose outcome never comes (lost with a leader change)
	// fails after it, and the caller may retry.
	return context.WithTimeout(ctx, n.cfg.RequestTimeout)
}
