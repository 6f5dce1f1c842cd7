package node

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certRecheck is how often a handshake may look at TLS files (a
// certificate and its key, a CA file) for a new version.
const certRecheck = time.Second

// reloading holds what load makes of some files and makes it again when
// they change (size or modification time; looked at most once per
// certRecheck), so a certificate renewed in place (by an ACME client or
// cert-manager, written over the old) or a rotated CA is used without a
// restart, as etcd does for certificates. A new version that cannot be
// read yet (half written, a key not matching its certificate yet) keeps
// the previous value in service, and is logged once.
type reloading[T any] struct {
	noun, what string // for logs: "TLS certificate", "client-tls"
	files      []string
	load       func() (T, error)
	lg         *slog.Logger

	mu      sync.Mutex
	val     T
	stamp   string // the files' sizes and modification times when read
	checked time.Time
	failed  string // the stamp a reload last failed at
}

// newReloading reads the files a first time (at start: an error stops
// the node).
func newReloading[T any](noun, what string, files []string, load func() (T, error), lg *slog.Logger) (*reloading[T], error) {
	r := &reloading[T]{noun: noun, what: what, files: files, load: load, lg: lg}
	val, err := load()
	if err != nil {
		return nil, err
	}
	stamp, err := filesStamp(files)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	r.val, r.stamp = val, stamp
	return r, nil
}

// filesStamp identifies the files' current versions.
func filesStamp(files []string) (string, error) {
	var stamp string
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		stamp += fmt.Sprintf("%d/%d;", st.Size(), st.ModTime().UnixNano())
	}
	return stamp, nil
}

// current is the value as last read.
func (r *reloading[T]) current() T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.val
}

// fresh is the value, read again first when the files changed.
func (r *reloading[T]) fresh() T {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < certRecheck {
		return r.val
	}
	r.checked = time.Now()
	stamp, err := filesStamp(r.files)
	if err != nil || stamp == r.stamp || stamp == r.failed {
		return r.val
	}
	val, err := r.load()
	if err != nil {
		r.failed = stamp
		r.lg.Warn(r.noun+" changed but cannot be read; keeping the previous one", "which", r.what, "err", err)
		return r.val
	}
	r.val, r.stamp, r.failed = val, stamp, ""
	r.lg.Info(r.noun+" reloaded", "which", r.what, "file", r.files[0])
	return r.val
}
