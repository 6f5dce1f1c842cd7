package target

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cairnkv/cairn/bench/workload"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// dialTimeout bounds connecting.
const dialTimeout = 5 * time.Second

// NATS is a NATS JetStream KV server: cairn or nats-server.
type NATS struct {
	name string
	urls string
	opts []nats.Option // credentials, TLS

	mu    sync.Mutex
	admin *nats.Conn
	js    jetstream.JetStream
}

// NewNATS returns the target name ("cairn" or "nats") at urls; opts are
// added to every connection (credentials, TLS).
func NewNATS(name, urls string, opts ...nats.Option) *NATS {
	return &NATS{name: name, urls: urls, opts: opts}
}

// Name implements workload.Target.
func (t *NATS) Name() string { return t.name }

// Unsupported implements workload.Target: KV has every workload.
func (t *NATS) Unsupported(string) string { return "" }

func (t *NATS) connect() (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(t.urls, append([]nats.Option{nats.Name("cairn bench"), nats.Timeout(dialTimeout)}, t.opts...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to %s: %w", RedactURLs(t.urls), natsErr(err))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// RedactURLs is urls (comma-separated) with their passwords and tokens
// replaced, for messages.
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			u.User = url.User("xxxxx")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

func (t *NATS) adminJS() (jetstream.JetStream, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.js == nil {
		nc, js, err := t.connect()
		if err != nil {
			return nil, err
		}
		t.admin, t.js = nc, js
	}
	return t.js, nil
}

// ServerVersion is the version the server announces (cairn announces the
// nats-server version it is compatible with).
func (t *NATS) ServerVersion() string {
	if _, err := t.adminJS(); err != nil {
		return ""
	}
	return t.admin.ConnectedServerVersion()
}

func kvConfig(b workload.Bucket) jetstream.KeyValueConfig {
	st := jetstream.FileStorage
	if b.Storage == "memory" {
		st = jetstream.MemoryStorage
	}
	return jetstream.KeyValueConfig{Bucket: b.Name, History: uint8(b.History), Replicas: b.Replicas, Storage: st}
}

// Setup implements workload.Target: the bucket is deleted and created.
func (t *NATS) Setup(ctx context.Context, b workload.Bucket) error {
	js, err := t.adminJS()
	if err != nil {
		return err
	}
	if err := js.DeleteKeyValue(ctx, b.Name); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("deleting old bucket: %w", natsErr(err))
	}
	// nats-server removes a deleted stream's files after answering, so a
	// create right after the delete can find the old directory still there
	// and fail with "error creating store for stream" (10049). That is
	// transient: retry it, within ctx and a bound.
	deadline := time.Now().Add(10 * time.Second)
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		_, err := js.CreateKeyValue(ctx, kvConfig(b))
		var apiErr *jetstream.APIError
		if err == nil {
			return nil
		}
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != jsStreamStoreFailed || time.Now().After(deadline) {
			return fmt.Errorf("creating bucket: %w", natsErr(err))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("creating bucket: %w", natsErr(err))
		case <-time.After(wait):
		}
	}
}

// jsStreamStoreFailed is JetStream's "error creating store for stream".
const jsStreamStoreFailed = 10049

// Teardown implements workload.Target.
func (t *NATS) Teardown(ctx context.Context, b workload.Bucket) error {
	js, err := t.adminJS()
	if err != nil {
		return err
	}
	if err := js.DeleteKeyValue(ctx, b.Name); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		return natsErr(err)
	}
	return nil
}

// Close closes the admin connection.
func (t *NATS) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.admin != nil {
		t.admin.Close()
		t.admin, t.js = nil, nil
	}
	return nil
}

// Connect implements workload.Target. If the bucket does not exist (the
// bucket-create workload makes its own) the client has no bucket handle.
func (t *NATS) Connect(ctx context.Context, b workload.Bucket) (workload.Client, error) {
	nc, js, err := t.connect()
	if err != nil {
		return nil, err
	}
	c := &natsClient{nc: nc, js: js}
	kv, err := js.KeyValue(ctx, b.Name)
	switch {
	case err == nil:
		c.kv = kv
	case errors.Is(err, jetstream.ErrBucketNotFound):
	default:
		nc.Close()
		return nil, fmt.Errorf("opening bucket %s: %w", b.Name, natsErr(err))
	}
	return c, nil
}

type natsClient struct {
	nc *nats.Conn
	js jetstream.JetStream
	kv jetstream.KeyValue
}

var errNoBucket = errors.New("no bucket")

func (c *natsClient) bucket() (jetstream.KeyValue, error) {
	if c.kv == nil {
		return nil, errNoBucket
	}
	return c.kv, nil
}

func (c *natsClient) Put(ctx context.Context, key string, v []byte) (uint64, error) {
	kv, err := c.bucket()
	if err != nil {
		return 0, err
	}
	rev, err := kv.Put(ctx, key, v)
	return rev, natsErr(err)
}

func (c *natsClient) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	kv, err := c.bucket()
	if err != nil {
		return nil, 0, err
	}
	e, err := kv.Get(ctx, key)
	if err != nil {
		return nil, 0, natsErr(err)
	}
	return e.Value(), e.Revision(), nil
}

func (c *natsClient) Update(ctx context.Context, key string, v []byte, rev uint64) (uint64, error) {
	kv, err := c.bucket()
	if err != nil {
		return 0, err
	}
	n, err := kv.Update(ctx, key, v, rev)
	return n, natsErr(err)
}

// drain reads a watcher until its initial values are delivered (the nil
// marker) and returns how many entries and value bytes it saw.
func drain(ctx context.Context, w jetstream.KeyWatcher) (n, bytes int, err error) {
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return n, bytes, fmt.Errorf("after %d entries: %w", n, natsErr(ctx.Err()))
		case e, ok := <-w.Updates():
			if !ok {
				return n, bytes, fmt.Errorf("%w: watcher closed after %d entries", workload.ErrUnavailable, n)
			}
			if e == nil {
				return n, bytes, nil
			}
			n++
			bytes += len(e.Value())
		}
	}
}

func (c *natsClient) Scan(ctx context.Context, prefix string) (int, int, error) {
	kv, err := c.bucket()
	if err != nil {
		return 0, 0, err
	}
	w, err := kv.Watch(ctx, prefix+">", jetstream.IgnoreDeletes())
	if err != nil {
		return 0, 0, natsErr(err)
	}
	return drain(ctx, w)
}

func (c *natsClient) Keys(ctx context.Context) (int, error) {
	kv, err := c.bucket()
	if err != nil {
		return 0, err
	}
	l, err := kv.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return 0, nil
		}
		return 0, natsErr(err)
	}
	defer func() { _ = l.Stop() }()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return n, fmt.Errorf("after %d keys: %w", n, natsErr(ctx.Err()))
		case _, ok := <-l.Keys():
			if !ok {
				return n, nil
			}
			n++
		}
	}
}

func (c *natsClient) History(ctx context.Context, key string) (int, error) {
	kv, err := c.bucket()
	if err != nil {
		return 0, err
	}
	es, err := kv.History(ctx, key)
	return len(es), natsErr(err)
}

func (c *natsClient) Watch(ctx context.Context, fn func(string, []byte)) (func(), error) {
	kv, err := c.bucket()
	if err != nil {
		return nil, err
	}
	w, err := kv.WatchAll(ctx, jetstream.UpdatesOnly(), jetstream.IgnoreDeletes())
	if err != nil {
		return nil, natsErr(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range w.Updates() {
			if e != nil {
				fn(e.Key(), e.Value())
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = w.Stop()
			select {
			case <-done:
			case <-time.After(dialTimeout):
			}
		})
	}, nil
}

func (c *natsClient) CreateBucket(ctx context.Context, b workload.Bucket) error {
	_, err := c.js.CreateKeyValue(ctx, kvConfig(b))
	return natsErr(err)
}

func (c *natsClient) DeleteBucket(ctx context.Context, name string) error {
	return natsErr(c.js.DeleteKeyValue(ctx, name))
}

func (c *natsClient) Close() error {
	c.nc.Close()
	return nil
}

// JetStream API error codes that mean "try again later".
var unavailableCodes = map[jetstream.ErrorCode]bool{
	10008: true, // JetStream cluster not available / no leader
	10005: true, // insufficient resources / no suitable peers
	10023: true, // insufficient resources
	10074: true, // cluster unavailable
}

// natsErr wraps err with the workload sentinel of its kind.
func natsErr(err error) error {
	if err == nil {
		return nil
	}
	var sentinel error
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		sentinel = workload.ErrNotFound
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		sentinel = workload.ErrConflict
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		sentinel = workload.ErrTimeout
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining),
		errors.Is(err, nats.ErrNoServers), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, errNoBucket):
		sentinel = workload.ErrUnavailable
	case errors.Is(err, nats.ErrMaxPayload):
		sentinel = workload.ErrTooLarge
	case errors.As(err, &apiErr) && unavailableCodes[apiErr.ErrorCode]:
		sentinel = workload.ErrUnavailable
	default:
		return err
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}
