package transport

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// sendSnapshot starts streaming a MsgSnap's state to its peer on a
// connection of its own. Raft waits for ReportSnapshot before it sends the
// follower anything else but heartbeats, so every path ends in one.
func (t *Transport) sendSnapshot(group uint64, m raftpb.Message) {
	if m.Snapshot == nil || m.To == 0 || m.To == t.cfg.NodeID {
		t.log.Error("peer transport: malformed MsgSnap; dropped", "group", group, "to", m.To)
		if m.To != 0 {
			t.rep.snapshotFailed(group, m.To)
		}
		return
	}
	select {
	case t.snapSend <- struct{}{}:
	default:
		// Raft will try again after the failure report; bounding
		// concurrent streams bounds disk reads and bandwidth.
		t.log.Info("peer transport: too many snapshot streams; deferring", "group", group, "peer", m.To)
		t.stats.snapSendFailures.Add(1)
		t.rep.snapshotFailed(group, m.To)
		return
	}
	if !t.spawn(func() {
		defer func() { <-t.snapSend }()
		t.streamSnapshot(group, m)
	}) {
		<-t.snapSend
	}
}

func (t *Transport) streamSnapshot(group uint64, m raftpb.Message) {
	start := time.Now()
	n, err := t.writeSnapshot(group, m)
	if t.closing() {
		return
	}
	idx := m.Snapshot.Metadata.Index
	if err != nil {
		t.stats.snapSendFailures.Add(1)
		t.log.Warn("peer transport: snapshot send failed", "group", group, "peer", m.To, "index", idx, "bytes", n, "err", err)
	} else {
		t.stats.snapsSent.Add(1)
		t.log.Info("peer transport: snapshot sent", "group", group, "peer", m.To, "index", idx, "bytes", n, "took", time.Since(start))
	}
	t.h.ReportSnapshot(group, m.To, err != nil)
}

// writeSnapshot sends header, chunks and trailer, then waits for the
// receiver's verdict. It returns the state bytes sent.
func (t *Transport) writeSnapshot(group uint64, m raftpb.Message) (int64, error) {
	// Dial first: opening a snapshot can be costly (it pins storage), and
	// an unreachable peer is the common reason to fail.
	c, err := t.dial(m.To, kindSnapshot)
	if err != nil {
		return 0, err
	}
	defer t.untrack(c)
	rc, err := t.h.OpenSnapshot(group, m.Snapshot.Metadata)
	if err != nil {
		return 0, fmt.Errorf("opening snapshot: %w", err)
	}
	defer rc.Close()

	hdr, err := appendSnapHeader(nil, group, m)
	if err != nil {
		return 0, err
	}
	if err := t.writeFull(c, appendFrame(nil, frameSnapHeader, hdr)); err != nil {
		return 0, fmt.Errorf("sending snapshot header: %w", err)
	}
	buf := make([]byte, frameHeaderLen+t.cfg.SnapshotChunkBytes)
	var total int64
	var sum uint32
	for i := 0; ; i++ {
		n, rerr := io.ReadFull(rc, buf[frameHeaderLen:])
		if n > 0 {
			data := buf[frameHeaderLen : frameHeaderLen+n]
			sum = crc32.Update(sum, castagnoli, data)
			total += int64(n)
			frame := finishFrame(buf[:frameHeaderLen+n], 0, frameSnapChunk)
			if t.hooks.snapChunk != nil {
				t.hooks.snapChunk(i, frame)
			}
			if err := t.writeFull(c, frame); err != nil {
				return total, fmt.Errorf("sending snapshot chunk %d: %w", i, err)
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return total, fmt.Errorf("reading snapshot: %w", rerr)
		}
	}
	if err := t.writeFull(c, appendFrame(nil, frameSnapTrailer, appendSnapTrailer(nil, uint64(total), sum))); err != nil {
		return total, fmt.Errorf("sending snapshot trailer: %w", err)
	}
	return total, t.readSnapAck(c)
}

// readSnapAck waits for the receiver to verify, stage and hand over the
// snapshot.
func (t *Transport) readSnapAck(c net.Conn) error {
	c.SetReadDeadline(time.Now().Add(t.cfg.SnapshotTimeout))
	fr := frameReader{r: c, max: frameHeaderLen + maxAckReason + 1}
	typ, payload, err := fr.next()
	if err != nil {
		return fmt.Errorf("waiting for snapshot ack: %w", noEOF(err))
	}
	if typ != frameSnapAck {
		return fmt.Errorf("%w: frame type %d instead of a snapshot ack", errProtocol, typ)
	}
	return decodeSnapAck(payload)
}

func (t *Transport) writeFull(c net.Conn, b []byte) error {
	c.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
	_, err := c.Write(b)
	return err
}
