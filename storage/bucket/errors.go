package bucket

import (
	"errors"
	"fmt"
)

// Errors decided while applying a command. They are deterministic: every
// replica reaches the same one. The node layer maps them to client codes.
var (
	ErrWrongLastSequence = errors.New("wrong last sequence")
	ErrBucketFull        = errors.New("maximum bytes exceeded")
	ErrValueTooLarge     = errors.New("message size exceeds maximum allowed")
	ErrTTLDisabled       = errors.New("per-message TTL is disabled")
	ErrRollupDisabled    = errors.New("rollup not permitted")
	ErrPurgeDenied       = errors.New("purge not permitted")
	ErrInvalidPurge      = errors.New("invalid purge request")
	ErrNotFound          = errors.New("no message found")
	ErrRestoreOrder      = errors.New("restore out of order")
)

// WrongSequenceError says which expectation failed and the actual value.
type WrongSequenceError struct {
	Index  int // publish index within the command
	Key    string
	Actual uint64
}

func (e *WrongSequenceError) Error() string {
	return fmt.Sprintf("wrong last sequence: %d", e.Actual)
}

// Unwrap makes errors.Is(err, ErrWrongLastSequence) true.
func (e *WrongSequenceError) Unwrap() error { return ErrWrongLastSequence }

// PublishError says which publish of a batch failed.
type PublishError struct {
	Index int
	Err   error
}

func (e *PublishError) Error() string { return fmt.Sprintf("operation %d: %v", e.Index, e.Err) }

// Unwrap returns the cause.
func (e *PublishError) Unwrap() error { return e.Err }
