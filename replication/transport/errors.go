package transport

import (
	"errors"
	"fmt"
)

// Errors callers may branch on.
var (
	// ErrClosed: the transport was closed.
	ErrClosed = errors.New("transport closed")
	// ErrUnknownPeer: Resolve does not know the node.
	ErrUnknownPeer = errors.New("unknown peer")
	// ErrQueueFull: the peer's outbound queue is at its bound.
	ErrQueueFull = errors.New("peer queue full")
	// ErrTooLarge: a message or call does not fit in a frame.
	ErrTooLarge = errors.New("too large for a frame")
	// ErrConnLost: the connection broke after a call was sent; whether the
	// peer ran it is unknown.
	ErrConnLost = errors.New("connection lost")
	// ErrUnknownMethod: the peer has no handler for the call's method.
	ErrUnknownMethod = errors.New("unknown method")
	// ErrBusy: the peer had too many calls running.
	ErrBusy = errors.New("peer busy")
	// errProtocol marks anything a peer sent that breaks the protocol; the
	// connection is closed.
	errProtocol = errors.New("protocol violation")
)

// RemoteError is a call handler's error, carried back as text.
type RemoteError struct {
	Node    uint64
	Method  string
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("node %d: %s: %s", e.Node, e.Method, e.Message)
}
