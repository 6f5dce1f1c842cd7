package fusefs

import (
	"io"
	"log/slog"
	"time"
)

// Options configure a mount. The zero value is usable; DefaultOptions
// shows the defaults.
type Options struct {
	// ReadOnly mounts the bucket read-only: every change fails with EROFS.
	ReadOnly bool
	// Timeout bounds every request to the server; an operation that
	// needs the server and gets no answer within it fails with EIO.
	Timeout time.Duration
	// SyncTimeout bounds the first load of the bucket's keys at mount.
	SyncTimeout time.Duration
	// CacheTimeout is how long the kernel may keep names and attributes
	// without asking again. The bucket's watch invalidates them as soon as
	// a change arrives, so this is only the bound for a missed notice.
	CacheTimeout time.Duration
	// CacheBytes bounds the values the mount keeps in memory (values seen
	// on the watch or written here), so reads of them need no request.
	CacheBytes int64
	// MaxValueSize is the largest value the mount writes; larger files
	// fail with EFBIG. 0 asks the bucket (max_msg_size) and the server
	// (max_payload, see MaxPayload).
	MaxValueSize int64
	// MaxPayload is the server's largest message (nats.Conn.MaxPayload);
	// 0 if unknown.
	MaxPayload int64
	// Online reports whether the connection to the server is up; while it
	// is not, operations that need the server fail at once with EIO
	// instead of waiting for Timeout. Nil means always up.
	Online func() bool
	// AllowOther lets users other than the one who mounted use the mount
	// (needs user_allow_other in /etc/fuse.conf when not root).
	AllowOther bool
	// Logger receives the mount's log lines; nil discards them.
	Logger *slog.Logger
	// Debug logs every FUSE request (very verbose).
	Debug bool
}

// DefaultOptions returns the defaults that zero fields of Options get.
func DefaultOptions() Options {
	return Options{
		Timeout:      5 * time.Second,
		SyncTimeout:  time.Minute,
		CacheTimeout: time.Second,
		CacheBytes:   64 << 20,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Timeout <= 0 {
		o.Timeout = d.Timeout
	}
	if o.SyncTimeout <= 0 {
		o.SyncTimeout = d.SyncTimeout
	}
	if o.CacheTimeout <= 0 {
		o.CacheTimeout = d.CacheTimeout
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = d.CacheBytes
	}
	if o.Online == nil {
		o.Online = func() bool { return true }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}
