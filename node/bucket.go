package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/replication"
	"github.com/cairnkv/cairn/storage/bucket"
	"github.com/cairnkv/cairn/storage/meta"
)

// Bucket is a handle on one bucket. Its methods are safe for concurrent
// use. After the bucket is deleted they return ErrBucketNotFound.
type Bucket struct {
	n      *Node
	name   string
	group  *replication.Group
	state  *bucket.State
	closed chan struct{}
	// restoring: a restore is applying its chunks; expiry waits, so that
	// no marker takes a revision between two chunks.
	restoring atomic.Bool
	// scans: the cursors' shared reads of the newest revisions.
	scans liveScans
}

// Name returns the bucket's name.
func (b *Bucket) Name() string { return b.name }

// Config returns the bucket's applied configuration.
func (b *Bucket) Config() bucket.Config { return b.state.Config() }

func (b *Bucket) markClosed() {
	select {
	case <-b.closed:
	default:
		close(b.closed)
	}
}

func (b *Bucket) isClosed() bool {
	select {
	case <-b.closed:
		return true
	default:
		return false
	}
}

// Info returns the bucket's configuration and linearizable state.
func (b *Bucket) Info(ctx context.Context) (BucketInfo, error) {
	if err := b.barrier(ctx, false); err != nil {
		return BucketInfo{}, err
	}
	bk, ok := b.n.meta.Bucket(b.name)
	if !ok || bk.Group != b.group.ID() {
		return BucketInfo{}, errBucketNotFound(b.name)
	}
	return b.info(bk), nil
}

func (b *Bucket) info(bk meta.Bucket) BucketInfo {
	bi := BucketInfo{
		Config:   bk.Config,
		Created:  time.Unix(0, bk.Created).UTC(),
		Group:    uint64(bk.Group),
		Leader:   b.group.Leader(),
		State:    b.state.Stats(),
		Replicas: bk.Replicas,

		ReplicaStates: b.replicaStates(),
	}
	if bi.Leader != 0 {
		bi.LeaderSince = b.group.LeaderSince().UTC()
	}
	return bi
}

func (b *Bucket) propose(ctx context.Context, cmd *bucket.Command) (bucket.Result, error) {
	return b.proposeAsync(cmd)(ctx)
}

// proposeAsync queues cmd now and returns a function that waits for it.
func (b *Bucket) proposeAsync(cmd *bucket.Command) func(context.Context) (bucket.Result, error) {
	fail := func(err error) func(context.Context) (bucket.Result, error) {
		return func(context.Context) (bucket.Result, error) { return bucket.Result{}, err }
	}
	if b.isClosed() {
		return fail(errBucketNotFound(b.name))
	}
	data, err := cmd.Encode()
	if err != nil {
		return fail(err)
	}
	wait := b.group.ProposeAsync(data)
	return func(ctx context.Context) (bucket.Result, error) {
		ctx, cancel := b.n.requestContext(ctx)
		defer cancel()
		out, err := wait(ctx)
		if err != nil {
			return bucket.Result{}, b.translate(err)
		}
		res, ok := out.Result.(bucket.Result)
		if !ok {
			return bucket.Result{}, fmt.Errorf("bucket %s: unexpected result %T", b.name, out.Result)
		}
		return res, translate(res.Err)
	}
}

// barrier makes the next read linearizable unless stale reads are allowed.
func (b *Bucket) barrier(ctx context.Context, stale bool) error {
	if b.isClosed() {
		return errBucketNotFound(b.name)
	}
	if stale {
		return nil
	}
	ctx, cancel := b.n.requestContext(ctx)
	defer cancel()
	return b.translate(b.group.LinearizableBarrier(ctx))
}

// translate is the package's translate, except that a replica stopped
// because its bucket was deleted answers "not found": a stopped replica
// of a bucket that still exists (moving, shutting down) is only
// unavailable for now.
func (b *Bucket) translate(err error) error {
	if errors.Is(err, replication.ErrStopped) {
		if bk, ok := b.n.meta.Bucket(b.name); !ok || bk.Group != b.group.ID() {
			return errBucketNotFound(b.name)
		}
	}
	return translate(err)
}

// Publish stores revisions as given (the NATS port's path: headers were
// already interpreted into the Publish fields). Several publishes commit
// all or nothing. It returns each publish's revision.
func (b *Bucket) Publish(ctx context.Context, pubs ...bucket.Publish) ([]uint64, error) {
	res, err := b.PublishAsync(pubs...)(ctx)
	return res.Seqs, err
}

// PublishAsync validates and queues pubs at once (keeping the caller's
// order among its publishes) and returns a function that waits for the
// result.
func (b *Bucket) PublishAsync(pubs ...bucket.Publish) func(context.Context) (bucket.Result, error) {
	if err := b.checkPublish(pubs); err != nil {
		return func(context.Context) (bucket.Result, error) { return bucket.Result{}, err }
	}
	cmd := bucket.Command{Kind: bucket.KindPublish, Time: time.Now().UnixNano(), Pubs: pubs}
	return b.proposeAsync(&cmd)
}

func (b *Bucket) checkPublish(pubs []bucket.Publish) error {
	if len(pubs) == 0 {
		return newErr(ErrInvalidRequest, 400, 10003, "empty batch")
	}
	for i := range pubs {
		if err := b.checkOne(&pubs[i]); err != nil {
			if len(pubs) > 1 {
				// Name the failing operation of a batch.
				return translate(&bucket.PublishError{Index: i, Err: err})
			}
			return err
		}
	}
	return nil
}

func (b *Bucket) checkOne(p *bucket.Publish) error {
	if err := ValidateKey(p.Key); err != nil {
		return err
	}
	if len(p.Header)+len(p.Data) > b.n.cfg.MaxPayload {
		return newErr(ErrValueTooLarge, 400, 10054, "message size exceeds maximum allowed")
	}
	if p.TTL < 0 || (p.TTL > 0 && p.TTL < int64(time.Second)) {
		return newErr(ErrInvalidTTL, 400, 10165, "invalid per-message TTL")
	}
	raiseTTL(p, b.state.Config())
	return nil
}

// raiseTTL lifts a per-message TTL below the bucket's limit-marker TTL to
// it, as nats-server does, so a marker left on the key cannot outlive the
// value that follows it unnoticed. A bucket keeping one revision per key
// is the exception (nats-server's too): there is never an older marker.
func raiseTTL(p *bucket.Publish, cfg bucket.Config) {
	mt := int64(cfg.MarkerTTL / time.Second)
	if p.TTL <= 0 || mt <= 0 || cfg.History == 1 || p.TTL >= mt*int64(time.Second) {
		return
	}
	p.TTL = mt * int64(time.Second)
	p.Header = replaceHeader(p.Header, "Nats-TTL", strconv.FormatInt(mt, 10))
}

func (b *Bucket) publishOne(ctx context.Context, p bucket.Publish) (uint64, error) {
	seqs, err := b.Publish(ctx, p)
	if err != nil {
		return 0, err
	}
	return seqs[0], nil
}

// Put stores value under key and returns its revision.
func (b *Bucket) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	return b.publishOne(ctx, bucket.Publish{Key: key, Data: value})
}

// Create stores value only if key has no value (never written, deleted or
// purged). A ttl > 0 makes the revision expire (the bucket needs a limit
// marker TTL, as in NATS).
func (b *Bucket) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	rev, err := b.publishOne(ctx, bucket.Publish{Key: key, Data: value, ExpectNoValue: true, TTL: int64(ttl), Header: hdrCreate(ttl)})
	if errors.Is(err, ErrWrongLastRevision) {
		var e *Error
		errors.As(err, &e)
		x := newErr(ErrKeyExists, 400, 10071, "%s", e.Description)
		x.cause = err
		return 0, x
	}
	return rev, err
}

// Update stores value only if key's latest revision is last.
func (b *Bucket) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	return b.publishOne(ctx, bucket.Publish{Key: key, Data: value, HasExpectKeySeq: true, ExpectKeySeq: last})
}

// RemoveOptions qualify Delete and Purge.
type RemoveOptions struct {
	// LastRevision, if non-zero, must equal the key's latest revision.
	LastRevision uint64
	// TTL makes a purge marker expire (Purge only).
	TTL time.Duration
}

// Delete leaves a delete marker on key; history is kept.
func (b *Bucket) Delete(ctx context.Context, key string, o RemoveOptions) (uint64, error) {
	p := bucket.Publish{Key: key, Op: bucket.OpDelete, Header: hdrDelete}
	if o.LastRevision != 0 {
		p.HasExpectKeySeq, p.ExpectKeySeq = true, o.LastRevision
	}
	return b.publishOne(ctx, p)
}

// Purge removes all revisions of key and leaves one purge marker.
func (b *Bucket) Purge(ctx context.Context, key string, o RemoveOptions) (uint64, error) {
	p := bucket.Publish{Key: key, Op: bucket.OpPurge, Header: hdrPurge, Rollup: bucket.RollupKey}
	if o.TTL > 0 {
		p.TTL, p.Header = int64(o.TTL), hdrPurgeTTL(o.TTL)
	}
	if o.LastRevision != 0 {
		p.HasExpectKeySeq, p.ExpectKeySeq = true, o.LastRevision
	}
	return b.publishOne(ctx, p)
}

// ReadOptions qualify reads.
type ReadOptions struct {
	// Stale reads this replica's state without a linearizability round.
	Stale bool
}

// Get returns key's latest value. A key whose latest revision is a delete
// or purge is reported as ErrKeyDeleted, which also matches ErrKeyNotFound.
func (b *Bucket) Get(ctx context.Context, key string, o ReadOptions) (Entry, error) {
	if err := ValidateKey(key); err != nil {
		return Entry{}, err
	}
	if err := b.barrier(ctx, o.Stale); err != nil {
		return Entry{}, err
	}
	m, err := b.state.Live().Last(key)
	if err != nil {
		return Entry{}, translate(err)
	}
	if m.Op.IsRemoval() {
		return entryOf(b.name, m), errKeyDeleted(m.Seq)
	}
	return entryOf(b.name, m), nil
}

// GetRevision returns revision rev of key.
func (b *Bucket) GetRevision(ctx context.Context, key string, rev uint64, o ReadOptions) (Entry, error) {
	if err := ValidateKey(key); err != nil {
		return Entry{}, err
	}
	if err := b.barrier(ctx, o.Stale); err != nil {
		return Entry{}, err
	}
	m, err := b.state.Live().Get(rev)
	if err != nil {
		return Entry{}, translate(err)
	}
	if m.Key != key {
		return Entry{}, errKeyNotFound(key)
	}
	if m.Op.IsRemoval() {
		return entryOf(b.name, m), errKeyDeleted(m.Seq)
	}
	return entryOf(b.name, m), nil
}

// Message returns the stored revision rev, whatever its key (the NATS
// port's direct get by sequence).
func (b *Bucket) Message(ctx context.Context, rev uint64, o ReadOptions) (*bucket.Msg, error) {
	if err := b.barrier(ctx, o.Stale); err != nil {
		return nil, err
	}
	m, err := b.state.Live().Get(rev)
	return m, translate(err)
}

// LastMessage returns key's newest stored revision, including markers.
func (b *Bucket) LastMessage(ctx context.Context, key string, o ReadOptions) (*bucket.Msg, error) {
	if err := b.barrier(ctx, o.Stale); err != nil {
		return nil, err
	}
	m, err := b.state.Live().Last(key)
	return m, translate(err)
}

// NextMessage returns the first revision at or after rev whose key
// matches filter.
func (b *Bucket) NextMessage(ctx context.Context, filter string, rev uint64, o ReadOptions) (*bucket.Msg, error) {
	if err := ValidateFilter(filter); err != nil {
		return nil, err
	}
	if err := b.barrier(ctx, o.Stale); err != nil {
		return nil, err
	}
	m, err := b.state.Live().NextMatching(filter, rev)
	return m, translate(err)
}

// History returns every stored revision of key, oldest first.
func (b *Bucket) History(ctx context.Context, key string, o ReadOptions) ([]Entry, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if err := b.barrier(ctx, o.Stale); err != nil {
		return nil, err
	}
	msgs, err := b.state.Live().History(key)
	if err != nil {
		return nil, translate(err)
	}
	if len(msgs) == 0 {
		return nil, errKeyNotFound(key)
	}
	out := make([]Entry, len(msgs))
	for i, m := range msgs {
		out[i] = entryOf(b.name, m)
		out[i].Delta = uint64(len(msgs) - 1 - i)
	}
	return out, nil
}

// Keys returns the keys that currently hold a value and match any filter
// (no filters: all), sorted. It reads only the latest-revision index.
func (b *Bucket) Keys(ctx context.Context, o ReadOptions, filters ...string) ([]string, error) {
	for _, f := range filters {
		if err := ValidateFilter(f); err != nil {
			return nil, err
		}
	}
	if err := b.barrier(ctx, o.Stale); err != nil {
		return nil, err
	}
	v := b.state.Live()
	latest, err := v.Latest(filters)
	if err != nil {
		return nil, translate(err)
	}
	keys := make([]string, 0, len(latest))
	for _, l := range latest {
		if !l.Op.IsRemoval() {
			keys = append(keys, l.Key)
		}
	}
	if len(keys) == 0 {
		return nil, newErr(ErrNoKeysFound, 404, 10037, "no keys found")
	}
	slices.Sort(keys)
	return keys, nil
}

// PurgeDeletes removes delete and purge markers with their history. A
// marker younger than olderThan keeps itself (only older revisions go);
// olderThan 0 means 30 minutes, negative means remove all markers.
func (b *Bucket) PurgeDeletes(ctx context.Context, olderThan time.Duration) (uint64, error) {
	if olderThan == 0 {
		olderThan = 30 * time.Minute
	}
	if err := b.barrier(ctx, false); err != nil {
		return 0, err
	}
	v := b.state.Live()
	latest, err := v.Latest(nil)
	if err != nil {
		return 0, translate(err)
	}
	var total uint64
	now := time.Now()
	for _, l := range latest {
		if !l.Op.IsRemoval() {
			continue
		}
		m, err := v.Get(l.Seq)
		if err != nil {
			continue // already gone
		}
		// Remove the marker's revision and older ones only (Seq), never
		// a revision written since the listing: a concurrent put to the
		// key must survive.
		req := bucket.PurgeRequest{Filter: l.Key, Seq: l.Seq + 1}
		if olderThan > 0 && now.Sub(time.Unix(0, m.Time)) < olderThan {
			req.Seq = l.Seq // keep the marker itself
		}
		res, err := b.PurgeStream(ctx, req)
		if err != nil {
			return total, err
		}
		total += res
	}
	return total, nil
}

// PurgeStream removes revisions matching the request (the JetStream
// stream purge).
func (b *Bucket) PurgeStream(ctx context.Context, req bucket.PurgeRequest) (uint64, error) {
	if req.Filter != "" {
		if err := ValidateFilter(req.Filter); err != nil {
			return 0, err
		}
	}
	cmd := bucket.Command{Kind: bucket.KindPurge, Time: time.Now().UnixNano(), Purge: req}
	res, err := b.propose(ctx, &cmd)
	return res.Purged, err
}

// BatchOp is one operation of an atomic batch.
type BatchOp struct {
	Op    Operation
	Key   string
	Value []byte
	// Create makes a put succeed only if the key has no value.
	Create bool
	// LastRevision, if non-zero, must equal the key's latest revision.
	LastRevision uint64
}

// Batch applies ops atomically in one raft entry: all succeed, or none is
// applied and the error names the failing operation.
func (b *Bucket) Batch(ctx context.Context, ops []BatchOp) ([]uint64, error) {
	pubs := make([]bucket.Publish, len(ops))
	for i, o := range ops {
		p := bucket.Publish{Key: o.Key}
		switch o.Op {
		case OpPut:
			p.Data, p.ExpectNoValue = o.Value, o.Create
		case OpDelete:
			p.Op, p.Header = bucket.OpDelete, hdrDelete
		case OpPurge:
			p.Op, p.Header, p.Rollup = bucket.OpPurge, hdrPurge, bucket.RollupKey
		}
		if o.LastRevision != 0 {
			p.HasExpectKeySeq, p.ExpectKeySeq = true, o.LastRevision
		}
		pubs[i] = p
	}
	revs, err := b.Publish(ctx, pubs...)
	if err != nil && len(pubs) == 1 && isOpError(err) {
		// A batch names its failing operation, even when it has one.
		err = translate(&bucket.PublishError{Index: 0, Err: err})
	}
	return revs, err
}

// isOpError reports whether err is about the operation itself (rather
// than the bucket or the request).
func isOpError(err error) bool {
	for _, k := range []error{ErrWrongLastRevision, ErrInvalidKey, ErrValueTooLarge, ErrBucketFull, ErrTTLDisabled, ErrInvalidTTL, ErrRollupDisabled} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

func errKeyDeleted(rev uint64) error {
	return &Error{Code: 404, ErrCode: 10037, Description: "key was deleted", kind: ErrKeyDeleted}
}
