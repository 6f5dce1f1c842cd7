package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairnkv/cairn/replication"
	"github.com/cairnkv/cairn/storage/bucket"
	"github.com/cairnkv/cairn/storage/meta"
)

// Error is an error a client sees, with the codes a JetStream client
// expects: Code is HTTP-like, ErrCode is JetStream's err_code.
type Error struct {
	Code        int
	ErrCode     int
	Description string
	kind        error
	cause       error
}

func (e *Error) Error() string { return e.Description }

// Is matches the sentinel kind (ErrKeyNotFound, ...). A deleted key also
// matches ErrKeyNotFound, as in nats.go.
func (e *Error) Is(target error) bool {
	return e.kind == target || (e.kind == ErrKeyDeleted && target == ErrKeyNotFound)
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Sentinel kinds; match with errors.Is.
var (
	ErrKeyNotFound         = errors.New("key not found")
	ErrKeyDeleted          = errors.New("key was deleted")
	ErrKeyExists           = errors.New("key exists")
	ErrWrongLastRevision   = errors.New("wrong last revision")
	ErrBucketNotFound      = errors.New("bucket not found")
	ErrBucketExists        = errors.New("bucket exists with a different configuration")
	ErrInvalidKey          = errors.New("invalid key")
	ErrInvalidBucketName   = errors.New("invalid bucket name")
	ErrInvalidConfig       = errors.New("invalid bucket configuration")
	ErrValueTooLarge       = errors.New("value too large")
	ErrBucketFull          = errors.New("bucket full")
	ErrTTLDisabled         = errors.New("per-key TTL disabled")
	ErrInvalidTTL          = errors.New("invalid TTL")
	ErrRollupDisabled      = errors.New("rollup not permitted")
	ErrPurgeDenied         = errors.New("purge not permitted")
	ErrUnavailable         = errors.New("bucket unavailable")
	ErrInvalidRequest      = errors.New("invalid request")
	ErrNoKeysFound         = errors.New("no keys found")
	ErrWatcherClosed       = errors.New("watcher closed")
	ErrRevisionNotInRange  = errors.New("revision not found")
	ErrNoPlacement         = errors.New("no suitable peers for placement")
	ErrInsufficientStorage = errors.New("data disk below its free-space reserve")
)

func newErr(kind error, code, errCode int, format string, args ...any) *Error {
	return &Error{Code: code, ErrCode: errCode, Description: fmt.Sprintf(format, args...), kind: kind}
}

func errKeyNotFound(key string) error { return newErr(ErrKeyNotFound, 404, 10037, "no message found") }

func errBucketNotFound(name string) error {
	return newErr(ErrBucketNotFound, 404, 10059, "stream not found")
}

func errInvalidKey(key, rule string) error {
	return newErr(ErrInvalidKey, 400, 10052, "invalid key %q: %s", key, rule)
}

func errInvalidBucket(name, rule string) error {
	return newErr(ErrInvalidBucketName, 400, 10052, "invalid bucket name %q: %s", name, rule)
}

func errInvalidConfig(format string, args ...any) error {
	return newErr(ErrInvalidConfig, 500, 10052, "invalid stream config: "+format, args...)
}

// translate maps engine and replication errors to client errors.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*Error); ok {
		return err // already translated
	}
	// A failed operation of a batch: the client error of its cause, with
	// the operation's index named.
	var pe *bucket.PublishError
	if errors.As(err, &pe) {
		var e *Error
		if !errors.As(translate(pe.Err), &e) {
			return err
		}
		x := *e
		x.Description = fmt.Sprintf("operation %d: %s", pe.Index, e.Description)
		x.cause = err
		return &x
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	var ws *bucket.WrongSequenceError
	switch {
	case errors.As(err, &ws):
		x := newErr(ErrWrongLastRevision, 400, 10071, "wrong last sequence: %d", ws.Actual)
		x.cause = err
		return x
	case errors.Is(err, bucket.ErrValueTooLarge):
		return newErr(ErrValueTooLarge, 400, 10054, "message size exceeds maximum allowed")
	case errors.Is(err, bucket.ErrBucketFull):
		return newErr(ErrBucketFull, 503, 10077, "maximum bytes exceeded")
	case errors.Is(err, bucket.ErrTTLDisabled):
		return newErr(ErrTTLDisabled, 400, 10166, "per-message TTL is disabled")
	case errors.Is(err, bucket.ErrRollupDisabled):
		return newErr(ErrRollupDisabled, 500, 10111, "rollup not permitted")
	case errors.Is(err, bucket.ErrPurgeDenied):
		// JSStreamPurgeFailedF, as nats-server answers on deny_purge.
		return newErr(ErrPurgeDenied, 500, 10110, "stream purge not permitted")
	case errors.Is(err, bucket.ErrInvalidPurge):
		return newErr(ErrInvalidRequest, 400, 10003, "%v", err)
	case errors.Is(err, bucket.ErrNotFound):
		return newErr(ErrKeyNotFound, 404, 10037, "no message found")
	case errors.Is(err, meta.ErrBucketExists):
		return newErr(ErrBucketExists, 400, 10058, "stream name already in use with a different configuration")
	case errors.Is(err, meta.ErrBucketNotFound):
		return newErr(ErrBucketNotFound, 404, 10059, "stream not found")
	case errors.Is(err, replication.ErrNotLeader), errors.Is(err, replication.ErrDropped), errors.Is(err, replication.ErrLeaderChanged):
		x := newErr(ErrUnavailable, 503, 10008, "JetStream cluster not available: %v", err)
		x.cause = err
		return x
	case errors.Is(err, replication.ErrDiskLow):
		// nats-server's JSInsufficientResourcesErr, as when its store
		// cannot take more.
		x := newErr(ErrInsufficientStorage, 503, 10023, "insufficient resources: %v", err)
		x.cause = err
		return x
	case errors.Is(err, replication.ErrStopped):
		// The replica stopped under the request: the node is shutting
		// down, the replica is moving, or the bucket is being deleted.
		// Only the registry can say the bucket is gone (callers that
		// know check it); for a bucket that still exists, "not found"
		// would tell a client to give up on it, so this is retryable,
		// as nats-server answers while a stream's replica moves.
		x := newErr(ErrUnavailable, 503, 10008, "JetStream system temporarily unavailable: %v", err)
		x.cause = err
		return x
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err
	}
	x := newErr(ErrUnavailable, 500, 10008, "internal error: %v", err)
	x.cause = err
	return x
}
