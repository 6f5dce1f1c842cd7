package transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// inConn is an accepted stream connection: a peer's raft batches and
// calls come in; pongs and call responses go back.
type inConn struct {
	t    *Transport
	c    net.Conn
	peer *peer
	// ctx ends with the connection; call handlers run under it, since
	// nobody can receive their answer once it is gone.
	ctx context.Context

	wmu sync.Mutex // writes come from the reader and from call handlers
}

func (t *Transport) serveStream(c net.Conn, br *bufio.Reader, dr *deadlineReader, h hello) {
	p := t.peerFor(h.from)
	if p == nil {
		t.logRejected(c, fmt.Errorf("too many peers or closing; refusing node %d", h.from))
		return
	}
	if prev := p.setInbound(c); prev != nil {
		prev.Close()
	}
	dr.heard = &p.heard
	defer func() {
		// The peer's current connection ended (not replaced by a newer
		// one): it stopped, crashed or the link broke.
		if p.clearInbound(c) && !t.closing() {
			if o, ok := t.h.(PeerObserver); ok {
				o.PeerLost(h.from)
			}
		}
	}()
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	in := &inConn{t: t, c: c, peer: p, ctx: ctx}
	fr := frameReader{r: br, max: t.cfg.MaxFrameBytes}
	for {
		typ, payload, err := fr.next()
		if err == nil {
			p.c.read(len(payload))
			switch typ {
			case frameRaft:
				err = in.deliverRaft(payload)
			case frameCallReq:
				err = in.startCall(payload)
			case framePing:
				err = in.write(framePong, nil)
			default:
				err = fmt.Errorf("%w: frame type %d on a stream connection", errProtocol, typ)
			}
		}
		if err != nil {
			in.closed(err)
			return
		}
	}
}

// closed logs why the connection ends: garbage from the peer loudly, a
// plain close quietly.
func (in *inConn) closed(err error) {
	t := in.t
	if t.closing() || errors.Is(err, net.ErrClosed) {
		return
	}
	if errors.Is(err, io.EOF) {
		t.log.Info("peer transport: peer closed its connection", "peer", in.peer.id, "remote", in.c.RemoteAddr().String())
		return
	}
	in.peer.c.errors.Add(1)
	t.log.Warn("peer transport: closing connection from peer", "peer", in.peer.id, "remote", in.c.RemoteAddr().String(), "reason", err)
}

// deliverRaft validates a raft frame whole before delivering any of it,
// then hands each group its messages in the order they were sent.
func (in *inConn) deliverRaft(payload []byte) error {
	self := in.t.cfg.NodeID
	type groupMsg struct {
		group uint64
		m     raftpb.Message
	}
	var batch []groupMsg
	err := decodeRaftBatch(payload, func(g uint64, m raftpb.Message) error {
		switch {
		// From is not checked: a follower forwards MsgTransferLeader
		// with the transferee as From.
		case m.To != self:
			return fmt.Errorf("%w: raft message for node %d on a connection to node %d", errProtocol, m.To, self)
		case raft.IsLocalMsg(m.Type) || m.Type == raftpb.MsgSnap:
			return fmt.Errorf("%w: raft %s on a stream connection", errProtocol, m.Type)
		}
		batch = append(batch, groupMsg{g, m})
		return nil
	})
	if err != nil {
		return err
	}
	// Stable: a group's messages keep their order.
	slices.SortStableFunc(batch, func(a, b groupMsg) int {
		switch {
		case a.group < b.group:
			return -1
		case a.group > b.group:
			return 1
		}
		return 0
	})
	for i := 0; i < len(batch); {
		j := i + 1
		for j < len(batch) && batch[j].group == batch[i].group {
			j++
		}
		// A fresh slice per call: the handler may keep it.
		msgs := make([]raftpb.Message, 0, j-i)
		for _, gm := range batch[i:j] {
			msgs = append(msgs, gm.m)
		}
		in.peer.c.recvMsgs.Add(uint64(len(msgs)))
		in.t.h.HandleRaft(batch[i].group, msgs)
		i = j
	}
	return nil
}

// write sends one frame back to the dialer.
func (in *inConn) write(typ frameType, payload []byte) error {
	buf := appendFrame(nil, typ, payload)
	in.wmu.Lock()
	defer in.wmu.Unlock()
	in.c.SetWriteDeadline(time.Now().Add(in.t.cfg.WriteTimeout))
	if _, err := in.c.Write(buf); err != nil {
		return fmt.Errorf("writing to peer %d: %w", in.peer.id, err)
	}
	return nil
}

// startCall runs a call's handler on its own goroutine, so a slow handler
// never holds up the raft messages behind it on the connection.
func (in *inConn) startCall(payload []byte) error {
	t := in.t
	req, err := decodeCallReq(payload)
	if err != nil {
		return err
	}
	fn := t.method(req.method)
	if fn == nil {
		return in.respond(callResp{id: req.id, status: callUnknownMethod, payload: []byte(req.method)})
	}
	select {
	case t.callSem <- struct{}{}:
	default:
		return in.respond(callResp{id: req.id, status: callBusy})
	}
	req.payload = bytes.Clone(req.payload) // the frame buffer is reused
	ok := t.spawn(func() {
		defer func() { <-t.callSem }()
		ctx, cancel := in.ctx, context.CancelFunc(func() {})
		if req.timeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, req.timeout)
		}
		defer cancel()
		res, err := fn(ctx, in.peer.id, req.payload)
		r := callResp{id: req.id, status: callOK, payload: res}
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			r = callResp{id: req.id, status: callDeadline, payload: []byte(err.Error())}
		case err != nil:
			r = callResp{id: req.id, status: callFailed, payload: []byte(err.Error())}
		}
		if err := in.respond(r); err != nil {
			in.c.Close() // the reader notices and logs
		}
	})
	if !ok {
		<-t.callSem
	}
	return nil
}

func (in *inConn) respond(r callResp) error {
	if in.t.closing() {
		// A handler cut short by Close has no answer worth sending; the
		// caller sees the connection drop (ErrConnLost) instead.
		return ErrClosed
	}
	if frameHeaderLen+callRespOverhead+len(r.payload) > in.t.cfg.MaxFrameBytes {
		r = callResp{id: r.id, status: callFailed,
			payload: fmt.Appendf(nil, "response of %d bytes exceeds the frame limit", len(r.payload))}
	}
	return in.write(frameCallResp, appendCallResp(nil, r))
}
