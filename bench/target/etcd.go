package target

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cairnkv/cairn/bench/workload"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Etcd is an etcd cluster. A bucket is the key prefix "NAME/"; reads are
// linearizable (clientv3's default); compare-and-set is a transaction on
// the key's ModRevision; history replays the key's changes with a watch
// from its creation revision, which works as long as etcd has not
// compacted them.
type Etcd struct {
	endpoints []string

	mu    sync.Mutex
	admin *clientv3.Client
}

// NewEtcd returns the etcd target at urls (comma-separated).
func NewEtcd(urls string) *Etcd {
	var eps []string
	for _, u := range strings.Split(urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			eps = append(eps, u)
		}
	}
	return &Etcd{endpoints: eps}
}

// Name implements workload.Target.
func (t *Etcd) Name() string { return EtcdServer }

// Unsupported implements workload.Target.
func (t *Etcd) Unsupported(w string) string {
	if w == workload.BucketCreate {
		return "etcd has a single key space replicated by one raft group: there are no buckets to create"
	}
	return ""
}

func (t *Etcd) dial() (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   t.endpoints,
		DialTimeout: dialTimeout,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", strings.Join(t.endpoints, ","), etcdErr(err))
	}
	return c, nil
}

func (t *Etcd) adminClient() (*clientv3.Client, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.admin == nil {
		c, err := t.dial()
		if err != nil {
			return nil, err
		}
		t.admin = c
	}
	return t.admin, nil
}

// ServerVersion asks the first endpoint for its version.
func (t *Etcd) ServerVersion(ctx context.Context) string {
	c, err := t.adminClient()
	if err != nil || len(t.endpoints) == 0 {
		return ""
	}
	st, err := c.Status(ctx, t.endpoints[0])
	if err != nil {
		return ""
	}
	return st.Version
}

func prefix(b string) string { return b + "/" }

// Setup implements workload.Target: the prefix is emptied.
func (t *Etcd) Setup(ctx context.Context, b workload.Bucket) error {
	return t.Teardown(ctx, b)
}

// Teardown implements workload.Target.
func (t *Etcd) Teardown(ctx context.Context, b workload.Bucket) error {
	c, err := t.adminClient()
	if err != nil {
		return err
	}
	_, err = c.Delete(ctx, prefix(b.Name), clientv3.WithPrefix())
	return etcdErr(err)
}

// Close closes the admin connection.
func (t *Etcd) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.admin == nil {
		return nil
	}
	err := t.admin.Close()
	t.admin = nil
	return err
}

// Connect implements workload.Target: one gRPC connection per client.
func (t *Etcd) Connect(ctx context.Context, b workload.Bucket) (workload.Client, error) {
	c, err := t.dial()
	if err != nil {
		return nil, err
	}
	return &etcdClient{c: c, pre: prefix(b.Name)}, nil
}

type etcdClient struct {
	c   *clientv3.Client
	pre string
}

func (c *etcdClient) Put(ctx context.Context, key string, v []byte) (uint64, error) {
	r, err := c.c.Put(ctx, c.pre+key, string(v))
	if err != nil {
		return 0, etcdErr(err)
	}
	return uint64(r.Header.Revision), nil
}

func (c *etcdClient) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	r, err := c.c.Get(ctx, c.pre+key)
	if err != nil {
		return nil, 0, etcdErr(err)
	}
	if len(r.Kvs) == 0 {
		return nil, 0, fmt.Errorf("%w: %s", workload.ErrNotFound, key)
	}
	return r.Kvs[0].Value, uint64(r.Kvs[0].ModRevision), nil
}

func (c *etcdClient) Update(ctx context.Context, key string, v []byte, rev uint64) (uint64, error) {
	k := c.pre + key
	r, err := c.c.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(k), "=", int64(rev))).
		Then(clientv3.OpPut(k, string(v))).
		Commit()
	if err != nil {
		return 0, etcdErr(err)
	}
	if !r.Succeeded {
		return 0, fmt.Errorf("%w: %s is past revision %d", workload.ErrConflict, key, rev)
	}
	return uint64(r.Header.Revision), nil
}

func (c *etcdClient) Scan(ctx context.Context, p string) (int, int, error) {
	r, err := c.c.Get(ctx, c.pre+p, clientv3.WithPrefix())
	if err != nil {
		return 0, 0, etcdErr(err)
	}
	bytes := 0
	for _, kv := range r.Kvs {
		bytes += len(kv.Value)
	}
	return len(r.Kvs), bytes, nil
}

func (c *etcdClient) Keys(ctx context.Context) (int, error) {
	r, err := c.c.Get(ctx, c.pre, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return 0, etcdErr(err)
	}
	return len(r.Kvs), nil
}

// History reads the key (its creation revision and version count), then
// replays its changes from the creation revision with a watch.
func (c *etcdClient) History(ctx context.Context, key string) (int, error) {
	k := c.pre + key
	r, err := c.c.Get(ctx, k)
	if err != nil {
		return 0, etcdErr(err)
	}
	if len(r.Kvs) == 0 {
		return 0, nil
	}
	want, from := r.Kvs[0].Version, r.Kvs[0].CreateRevision
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var n int64
	for resp := range c.c.Watch(wctx, k, clientv3.WithRev(from)) {
		if err := resp.Err(); err != nil {
			return int(n), etcdErr(err)
		}
		for _, ev := range resp.Events {
			if ev.Type == mvccpb.PUT && ev.Kv.ModRevision <= r.Kvs[0].ModRevision {
				n++
			}
		}
		if n >= want {
			return int(n), nil
		}
	}
	return int(n), etcdErr(ctx.Err())
}

// Watch waits for etcd to confirm the watch before returning, so that no
// change made afterwards is missed.
func (c *etcdClient) Watch(ctx context.Context, fn func(string, []byte)) (func(), error) {
	wctx, cancel := context.WithCancel(ctx)
	ch := c.c.Watch(wctx, c.pre, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	timer := time.NewTimer(dialTimeout)
	defer timer.Stop()
	select {
	case resp, ok := <-ch:
		if !ok || !resp.Created {
			cancel()
			if ok && resp.Err() != nil {
				return nil, etcdErr(resp.Err())
			}
			return nil, fmt.Errorf("%w: watch not created", workload.ErrUnavailable)
		}
	case <-timer.C:
		cancel()
		return nil, fmt.Errorf("%w: watch not confirmed within %s", workload.ErrTimeout, dialTimeout)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for resp := range ch {
			for _, ev := range resp.Events {
				if ev.Type == mvccpb.PUT {
					fn(strings.TrimPrefix(string(ev.Kv.Key), c.pre), ev.Kv.Value)
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(dialTimeout):
			}
		})
	}, nil
}

func (c *etcdClient) CreateBucket(context.Context, workload.Bucket) error {
	return fmt.Errorf("etcd: %w", workload.ErrUnsupported)
}

func (c *etcdClient) DeleteBucket(context.Context, string) error {
	return fmt.Errorf("etcd: %w", workload.ErrUnsupported)
}

func (c *etcdClient) Close() error { return c.c.Close() }

// etcdErr wraps err with the workload sentinel of its kind.
func etcdErr(err error) error {
	if err == nil {
		return nil
	}
	var sentinel error
	code := codes.Unknown
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		code = ee.Code()
	} else if s, ok := status.FromError(err); ok {
		code = s.Code()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), code == codes.DeadlineExceeded,
		errors.Is(err, rpctypes.ErrTimeout):
		sentinel = workload.ErrTimeout
	case errors.Is(err, rpctypes.ErrRequestTooLarge), code == codes.ResourceExhausted:
		sentinel = workload.ErrTooLarge
	case code == codes.Unavailable, errors.Is(err, rpctypes.ErrNoLeader):
		sentinel = workload.ErrUnavailable
	case errors.Is(err, context.Canceled), code == codes.Canceled:
		sentinel = context.Canceled
	default:
		return err
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}
