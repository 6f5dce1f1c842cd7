package replication

import "github.com/cockroachdb/pebble/v2"

// StateMachine is what a group applies its committed entries to. The
// group calls Apply for each committed normal entry, then SetApplied, all
// into one indexed batch; after committing the batch it calls Committed
// (or Abort if the commit failed).
type StateMachine interface {
	// Applied returns the index of the last applied entry, as recorded
	// durably by SetApplied.
	Applied() uint64
	// Apply applies one entry's payload. A non-nil error is a storage
	// failure that stops the group; outcomes meant for the proposer are
	// part of the returned value.
	Apply(b *pebble.Batch, data []byte) (any, error)
	// SetApplied records index as applied, in b.
	SetApplied(b *pebble.Batch, index uint64) error
	// Committed publishes the state written to the committed batch.
	Committed()
	// Abort discards state written to a batch that failed to commit.
	Abort()
	// Reload re-reads the state machine from storage after a snapshot
	// replaced the group's state (every key under storage.GroupPrefix).
	Reload() error
}
