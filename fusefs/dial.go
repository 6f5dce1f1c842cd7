package fusefs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config names the bucket to mount and where it is.
type Config struct {
	// Servers are NATS URLs, comma separated (cairn nodes or nats-server).
	Servers string
	// Bucket is the key/value bucket to mount.
	Bucket string
	// Options configure the mount.
	Options Options
	// NATSOptions are added to the connection's options (credentials,
	// TLS, ...).
	NATSOptions []nats.Option
}

// MountNATS connects to cfg.Servers, mounts cfg.Bucket on dir, and closes
// the connection when the mount ends.
//
// The connection reconnects forever and never buffers writes while it is
// down: an operation during an outage fails with EIO at once rather than
// landing later, unseen.
func MountNATS(ctx context.Context, dir string, cfg Config) (*Mount, error) {
	opts := cfg.Options.withDefaults()
	lg := opts.Logger.With("bucket", cfg.Bucket, "dir", dir)
	rec := &dialRecorder{d: net.Dialer{Timeout: opts.Timeout}}
	var mounted atomic.Pointer[Mount]
	nopts := []nats.Option{
		nats.Name("cairn mount " + cfg.Bucket),
		nats.Timeout(opts.Timeout),
		nats.SetCustomDialer(rec),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(-1),
		nats.PingInterval(2 * time.Second),
		nats.MaxPingsOutstanding(3),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err == nil {
				return // closed on purpose, at unmount
			}
			lg.Warn("disconnected from the server; operations fail with EIO until it is back", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			lg.Info("reconnected; reloading the bucket's keys", "server", nc.ConnectedUrlRedacted())
			if m := mounted.Load(); m != nil {
				m.Resync()
			}
		}),
	}
	nc, err := nats.Connect(cfg.Servers, append(nopts, cfg.NATSOptions...)...)
	if err != nil {
		if errors.Is(err, nats.ErrNoServers) && rec.last() != nil {
			err = rec.last()
		}
		return nil, fmt.Errorf("connecting to %s: %w", cfg.Servers, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connecting to %s: %w", cfg.Servers, err)
	}
	bctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	kv, err := js.KeyValue(bctx, cfg.Bucket)
	cancel()
	if err != nil {
		nc.Close()
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, fmt.Errorf("bucket %s not found at %s (create it with `cairn kv add %s`)", cfg.Bucket, cfg.Servers, cfg.Bucket)
		}
		return nil, fmt.Errorf("bucket %s at %s: %w", cfg.Bucket, cfg.Servers, err)
	}
	opts.Online = nc.IsConnected
	opts.MaxPayload = nc.MaxPayload()
	m, err := MountBucket(ctx, dir, cfg.Bucket, kv, opts)
	if err != nil {
		nc.Close()
		return nil, err
	}
	m.atEnd(nc.Close)
	mounted.Store(m)
	return m, nil
}

// dialRecorder keeps the last dial error: nats.Connect reports only "no
// servers available", and a user needs "connection refused".
type dialRecorder struct {
	d       net.Dialer
	mu      sync.Mutex
	lastErr error
}

func (r *dialRecorder) Dial(network, address string) (net.Conn, error) {
	c, err := r.d.Dial(network, address)
	if err != nil {
		r.mu.Lock()
		r.lastErr = err
		r.mu.Unlock()
	}
	return c, err
}

func (r *dialRecorder) last() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// ParseSpec splits a BUCKET:DIR mount spec (cairn node --mount).
func ParseSpec(spec string) (bucket, dir string, err error) {
	bucket, dir, ok := strings.Cut(spec, ":")
	if !ok || bucket == "" || dir == "" {
		return "", "", fmt.Errorf("mount %q: want BUCKET:DIR", spec)
	}
	return bucket, dir, nil
}
