package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// CallHandler serves one method of Call. from is the calling node. An
// error reaches the caller as a *RemoteError carrying its text.
type CallHandler func(ctx context.Context, from uint64, payload []byte) ([]byte, error)

// HandleCall registers fn for method, replacing any earlier handler.
func (t *Transport) HandleCall(method string, fn CallHandler) {
	t.methodsMu.Lock()
	defer t.methodsMu.Unlock()
	if fn == nil {
		delete(t.methods, method)
		return
	}
	t.methods[method] = fn
}

func (t *Transport) method(name string) CallHandler {
	t.methodsMu.RLock()
	defer t.methodsMu.RUnlock()
	return t.methods[name]
}

// call is one outstanding Call on the caller's side.
type call struct {
	id      uint64
	method  string
	payload []byte
	ctx     context.Context
	size    int
	gen     uint64 // connection it was written on; under peer.mu
	done    chan callResult
}

type callResult struct {
	data []byte
	err  error
}

func (c *call) finish(data []byte, err error) {
	select {
	case c.done <- callResult{data, err}:
	default: // already finished
	}
}

// request encodes the call with the time its caller has left, so the
// remote handler stops when the caller stops waiting.
func (c *call) request() callReq {
	r := callReq{id: c.id, method: c.method, payload: c.payload}
	if dl, ok := c.ctx.Deadline(); ok {
		r.timeout = max(time.Until(dl), time.Millisecond)
	}
	return r
}

// Call sends a request to node `to` and waits for its response, the
// context's end, or Close. It rides the peer's stream connection, queued
// behind raft traffic. Errors: *RemoteError from the handler,
// ErrUnknownMethod, ErrBusy, ErrConnLost (outcome unknown), ErrUnknownPeer, ErrQueueFull,
// ErrTooLarge, ErrClosed, or the context's error (also when the remote
// handler stopped at the deadline it was sent). A call to this node's
// own ID runs the handler directly.
func (t *Transport) Call(ctx context.Context, to uint64, method string, payload []byte) ([]byte, error) {
	if len(method) == 0 || len(method) > maxMethodLen {
		return nil, fmt.Errorf("transport: call method %q: length must be 1..%d", method, maxMethodLen)
	}
	size := frameHeaderLen + callReqOverhead + len(method) + len(payload)
	if size > t.cfg.MaxFrameBytes {
		return nil, fmt.Errorf("call %s to node %d: %d bytes: %w", method, to, size, ErrTooLarge)
	}
	if to == t.cfg.NodeID {
		return t.callLocal(ctx, method, payload)
	}
	if _, ok := t.cfg.Resolve(to); !ok {
		// No address will appear within a call's lifetime worth waiting for.
		return nil, fmt.Errorf("call %s to node %d: %w", method, to, ErrUnknownPeer)
	}
	p := t.peerFor(to)
	if p == nil {
		return nil, fmt.Errorf("call %s to node %d: %w", method, to, ErrClosed)
	}
	c := &call{id: t.callSeq.Add(1), method: method, payload: payload, ctx: ctx, size: size, done: make(chan callResult, 1)}
	if err := p.enqueueCall(c); err != nil {
		return nil, fmt.Errorf("call %s to node %d: %w", method, to, err)
	}
	select {
	case r := <-c.done:
		return r.data, r.err
	case <-ctx.Done():
		p.forgetCall(c.id)
		return nil, fmt.Errorf("call %s to node %d: %w", method, to, ctx.Err())
	case <-t.ctx.Done():
		p.forgetCall(c.id)
		return nil, fmt.Errorf("call %s to node %d: %w", method, to, ErrClosed)
	}
}

func (t *Transport) callLocal(ctx context.Context, method string, payload []byte) ([]byte, error) {
	fn := t.method(method)
	if fn == nil {
		return nil, fmt.Errorf("call %s to node %d: %w", method, t.cfg.NodeID, ErrUnknownMethod)
	}
	res, err := fn(ctx, t.cfg.NodeID, payload)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("call %s to node %d: %w", method, t.cfg.NodeID, err)
	}
	if err != nil {
		return nil, &RemoteError{Node: t.cfg.NodeID, Method: method, Message: err.Error()}
	}
	return res, nil
}

func (p *peer) forgetCall(id uint64) {
	p.mu.Lock()
	delete(p.calls, id)
	p.mu.Unlock()
}

// resolveCall hands a response to its waiting caller. A response for a
// call nobody waits for any more is dropped.
func (p *peer) resolveCall(payload []byte) error {
	r, err := decodeCallResp(payload)
	if err != nil {
		return err
	}
	p.mu.Lock()
	c, ok := p.calls[r.id]
	delete(p.calls, r.id)
	p.mu.Unlock()
	if !ok {
		return nil
	}
	switch r.status {
	case callOK:
		c.finish(bytes.Clone(r.payload), nil)
	case callFailed:
		c.finish(nil, &RemoteError{Node: p.id, Method: c.method, Message: string(r.payload)})
	case callUnknownMethod:
		c.finish(nil, fmt.Errorf("call %s to node %d: %w", c.method, p.id, ErrUnknownMethod))
	case callBusy:
		c.finish(nil, fmt.Errorf("call %s to node %d: %w", c.method, p.id, ErrBusy))
	case callDeadline:
		// The handler stopped at the deadline the caller sent; this can
		// arrive a moment before the caller's own timer fires.
		c.finish(nil, fmt.Errorf("call %s to node %d: %w", c.method, p.id, context.DeadlineExceeded))
	}
	return nil
}
