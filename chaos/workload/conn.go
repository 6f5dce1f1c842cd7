package workload

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Conn is one client connection, preferring one node (its home) and
// failing over to the others.
type Conn struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	urls []string

	mu  sync.Mutex
	kvs map[string]jetstream.KeyValue
}

// Dial connects to urls[home] first, then to the others in order. A
// paused or cut-off server is noticed within a few seconds (pings every
// second) and the client moves on. opts come last (TLS).
func Dial(urls []string, home int, name string, opts ...nats.Option) (*Conn, error) {
	order := append(append([]string(nil), urls[home%len(urls):]...), urls[:home%len(urls)]...)
	nc, err := nats.Connect(strings.Join(order, ","), append([]nats.Option{nats.Name(name), nats.DontRandomize(),
		nats.MaxReconnects(-1), nats.ReconnectWait(200 * time.Millisecond), nats.ReconnectJitter(100*time.Millisecond, 0),
		nats.PingInterval(time.Second), nats.MaxPingsOutstanding(3), nats.Timeout(2 * time.Second),
		nats.RetryOnFailedConnect(true), nats.IgnoreDiscoveredServers()}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", order[0], err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &Conn{nc: nc, js: js, urls: urls, kvs: map[string]jetstream.KeyValue{}}, nil
}

// DialOnly connects to one server and never moves to another: the final
// scans read each node's own view.
func DialOnly(url, name string, opts ...nats.Option) (*Conn, error) {
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name(name), nats.NoReconnect(), nats.Timeout(2 * time.Second), nats.IgnoreDiscoveredServers()}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &Conn{nc: nc, js: js, urls: []string{url}, kvs: map[string]jetstream.KeyValue{}}, nil
}

// Close closes the connection; requests still buffered are dropped.
func (c *Conn) Close() { c.nc.Close() }

// JetStream is the connection's JetStream context.
func (c *Conn) JetStream() jetstream.JetStream { return c.js }

// KV is the bucket's handle, looked up once.
func (c *Conn) KV(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	c.mu.Lock()
	kv, ok := c.kvs[bucket]
	c.mu.Unlock()
	if ok {
		return kv, nil
	}
	kv, err := c.js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.kvs[bucket] = kv
	c.mu.Unlock()
	return kv, nil
}

// Node is the index (in the URLs given to Dial) of the server the
// connection is on, -1 if none.
func (c *Conn) Node() int {
	u := c.nc.ConnectedUrl()
	for i, x := range c.urls {
		if hostPort(x) == hostPort(u) {
			return i
		}
	}
	return -1
}

func hostPort(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		u = u[i+1:]
	}
	return strings.TrimSuffix(u, "/")
}

// CreateBuckets (re)creates the buckets, empty, with the replicas asked
// for (by bucket) and a history of 64 revisions per key, retrying until
// ctx ends (the cluster may still be electing leaders).
func CreateBuckets(ctx context.Context, c *Conn, buckets []string, replicas map[string]int) error {
	for _, b := range buckets {
		err := retry(ctx, func(ctx context.Context) error {
			if err := c.js.DeleteKeyValue(ctx, b); err != nil && !isNotFound(err) {
				return err
			}
			_, err := c.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b, History: MaxHistory, Replicas: replicas[b], Storage: jetstream.FileStorage})
			return err
		})
		if err != nil {
			return fmt.Errorf("creating bucket %s: %w", b, err)
		}
	}
	return nil
}

// MaxHistory is the history kept per key: as many as NATS KV allows, so
// that no workload key ever loses a revision.
const MaxHistory = 64

func isNotFound(err error) bool {
	return errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound)
}

// retry runs f until it succeeds or ctx ends, with a short backoff; each
// attempt gets at most 5 s.
func retry(ctx context.Context, f func(context.Context) error) error {
	wait := 100 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(actx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}
