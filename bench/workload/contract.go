package workload

import (
	"context"
	"errors"
)

// Bucket is the key space a run works in: a KV bucket for NATS targets,
// a key prefix for etcd.
type Bucket struct {
	Name     string
	Replicas int
	Storage  string // "file" or "memory"
	History  int    // revisions kept per key
}

// Target is a system under test.
type Target interface {
	// Name identifies the target in results ("cairn", "nats", "etcd").
	Name() string
	// Unsupported says why the target cannot run a workload, or "".
	Unsupported(workload string) string
	// Setup creates b empty (removing what a previous run left).
	Setup(ctx context.Context, b Bucket) error
	// Teardown removes b.
	Teardown(ctx context.Context, b Bucket) error
	// Connect opens one client connection working in b.
	Connect(ctx context.Context, b Bucket) (Client, error)
}

// Client is one connection of one benchmark client. A Client is used by
// one goroutine at a time, except that Watch deliveries may run
// concurrently with other calls, and that with Config.InFlight above 1
// that many goroutines call it at once (the NATS and etcd clients are
// safe for that).
type Client interface {
	Put(ctx context.Context, key string, value []byte) (rev uint64, err error)
	// Get reads the latest value; ErrNotFound if there is none.
	Get(ctx context.Context, key string) (value []byte, rev uint64, err error)
	// Update writes value if rev is still key's latest revision, else
	// fails with ErrConflict.
	Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	// Scan reads every entry whose key starts with prefix (which ends at
	// a "." token boundary) and returns how many and their value bytes.
	Scan(ctx context.Context, prefix string) (n, bytes int, err error)
	// Keys lists every key of the bucket and returns how many.
	Keys(ctx context.Context) (int, error)
	// History reads every kept revision of key and returns how many.
	History(ctx context.Context, key string) (int, error)
	// Watch delivers every later change of any key in the bucket to fn
	// until stop is called or ctx ends. It returns once the watch is in
	// place, so that changes made afterwards are delivered.
	Watch(ctx context.Context, fn func(key string, value []byte)) (stop func(), err error)
	// CreateBucket creates another bucket (a raft group in cairn).
	CreateBucket(ctx context.Context, b Bucket) error
	// DeleteBucket removes a bucket made by CreateBucket.
	DeleteBucket(ctx context.Context, name string) error
	Close() error
}

// Errors targets wrap (with %w) so that the runner counts failures by
// kind.
var (
	ErrUnsupported = errors.New("not supported by this target")
	ErrConflict    = errors.New("revision conflict")
	ErrNotFound    = errors.New("key not found")
	ErrTimeout     = errors.New("timeout")
	ErrUnavailable = errors.New("unavailable")
	ErrTooLarge    = errors.New("value too large")
	// ErrShort means a listing or history returned fewer entries than
	// were written.
	ErrShort = errors.New("incomplete result")
)

// Error classes as counted in results.
const (
	ClassConflict    = "conflict"
	ClassNotFound    = "not-found"
	ClassTimeout     = "timeout"
	ClassUnavailable = "unavailable"
	ClassTooLarge    = "too-large"
	ClassShort       = "short"
	ClassUnsupported = "unsupported"
	ClassCanceled    = "canceled"
	ClassOther       = "other"
)

// Classify names the kind of err.
func Classify(err error) string {
	switch {
	case errors.Is(err, ErrConflict):
		return ClassConflict
	case errors.Is(err, ErrNotFound):
		return ClassNotFound
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return ClassTimeout
	case errors.Is(err, ErrUnavailable):
		return ClassUnavailable
	case errors.Is(err, ErrTooLarge):
		return ClassTooLarge
	case errors.Is(err, ErrShort):
		return ClassShort
	case errors.Is(err, ErrUnsupported):
		return ClassUnsupported
	case errors.Is(err, context.Canceled):
		return ClassCanceled
	default:
		return ClassOther
	}
}
