// Package fusefs mounts a key/value bucket as a filesystem with FUSE
// (github.com/hanwen/go-fuse/v2).
//
// It owns the mapping between keys and paths (names.go), the mount's view
// of the bucket kept current from the bucket's watch (index.go, watch.go),
// the file and directory semantics (dir.go, file.go, rename.go, xattr.go)
// and mounting and unmounting (mount.go, dial.go, unmount.go).
//
// The mount is a NATS client: it reaches the bucket only through the small
// Bucket interface, which nats.go's jetstream.KeyValue satisfies, so it
// mounts buckets of cairn and of nats-server alike. It must not import
// cairn's node, storage or replication packages. Bucket errors become
// errnos in one place (errno in bucket.go).
//
// docs/fuse.md is the user's guide: the name mapping, the semantics and
// their limits.
//
// Lock order: a node's mutex (fileNode.mu, dirNode.mu), then the write
// gate (filesys.gate: shared by the mount's writes, exclusive while the
// watch applies an entry), then the index's lock. Nothing takes them the
// other way round. Kernel notices are sent by the notifier goroutine
// holding none of them.
package fusefs
