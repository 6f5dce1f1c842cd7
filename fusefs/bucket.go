package fusefs

import (
	"context"
	"errors"
	"strings"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the part of a NATS key/value bucket the filesystem uses:
// reads, revision-checked writes, deletes, history and a watch of every
// key. nats.go's jetstream.KeyValue satisfies it, so the mount works
// against cairn and against nats-server alike.
type Bucket interface {
	Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error)
	Put(ctx context.Context, key string, value []byte) (uint64, error)
	Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error)
	Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error)
	Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error
	History(ctx context.Context, key string, opts ...jetstream.WatchOpt) ([]jetstream.KeyValueEntry, error)
	WatchAll(ctx context.Context, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error)
	Status(ctx context.Context) (jetstream.KeyValueStatus, error)
}

var _ Bucket = jetstream.KeyValue(nil)

// JetStream API error codes the mount tells apart.
const (
	codeStreamNotFound  = 10059
	codeMsgTooBig       = 10054
	codeStoreFailed     = 10077
	codeWrongLastSeq    = 10071
	codeWrongLastSeqBat = 10164
)

func apiCode(err error) int {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return int(apiErr.ErrorCode)
	}
	return 0
}

// isConflict reports whether err is a failed revision check.
func isConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	c := apiCode(err)
	return c == codeWrongLastSeq || c == codeWrongLastSeqBat
}

// isBucketGone reports whether err says the bucket no longer exists.
func isBucketGone(err error) bool {
	return errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) ||
		apiCode(err) == codeStreamNotFound
}

// isTooBig reports whether err says a value is over a size limit.
func isTooBig(err error) bool {
	return errors.Is(err, errTooBig) || errors.Is(err, nats.ErrMaxPayload) || apiCode(err) == codeMsgTooBig
}

// errno translates a bucket error into what the system call returns.
// This is the only place bucket errors become errnos.
func errno(err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return syscall.ENOENT
	case isConflict(err):
		return syscall.ESTALE
	case isTooBig(err):
		return syscall.EFBIG
	case apiCode(err) == codeStoreFailed && strings.Contains(err.Error(), "maximum bytes"):
		return syscall.ENOSPC
	case errors.Is(err, jetstream.ErrInvalidKey):
		return syscall.EINVAL
	}
	return syscall.EIO
}
