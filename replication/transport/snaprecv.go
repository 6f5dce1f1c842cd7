package transport

import (
	"bufio"
	"fmt"
	"hash/crc32"
	"net"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// serveSnapshot receives one snapshot stream. Nothing reaches the Handler
// until every chunk and the whole-stream checksum have been verified, so a
// sender that dies halfway, or corrupt bytes, leave nothing applied.
func (t *Transport) serveSnapshot(c net.Conn, br *bufio.Reader, h hello) {
	select {
	case t.snapRecv <- struct{}{}:
		defer func() { <-t.snapRecv }()
	default:
		t.stats.snapReceiveFailures.Add(1)
		t.nackSnapshot(c, fmt.Errorf("too many snapshot streams"))
		return
	}
	start := time.Now()
	group, m, n, err := t.receiveSnapshot(br, h)
	if t.closing() {
		return
	}
	if err != nil {
		t.stats.snapReceiveFailures.Add(1)
		t.log.Warn("peer transport: snapshot rejected", "peer", h.from, "remote", c.RemoteAddr().String(), "group", group, "bytes", n, "reason", err)
		t.nackSnapshot(c, err)
		return
	}
	t.stats.snapsReceived.Add(1)
	t.log.Info("peer transport: snapshot received", "peer", h.from, "group", group, "index", m.Snapshot.Metadata.Index, "bytes", n, "took", time.Since(start))
	if err := t.writeFull(c, appendFrame(nil, frameSnapAck, appendSnapAck(nil, nil))); err != nil {
		t.log.Warn("peer transport: sending snapshot ack", "peer", h.from, "group", group, "err", err)
	}
}

func (t *Transport) nackSnapshot(c net.Conn, reason error) {
	// Best effort: the sender may be gone, which is often why we got here.
	_ = t.writeFull(c, appendFrame(nil, frameSnapAck, appendSnapAck(nil, reason)))
}

// receiveSnapshot reads, verifies and stages the stream, then hands it to
// the Handler. It returns the group, the message and the bytes staged.
func (t *Transport) receiveSnapshot(br *bufio.Reader, h hello) (uint64, raftpb.Message, int64, error) {
	fr := frameReader{r: br, max: t.cfg.MaxFrameBytes}
	typ, payload, err := fr.next()
	if err != nil {
		return 0, raftpb.Message{}, 0, fmt.Errorf("reading snapshot header: %w", err)
	}
	if typ != frameSnapHeader {
		return 0, raftpb.Message{}, 0, fmt.Errorf("%w: frame type %d instead of a snapshot header", errProtocol, typ)
	}
	group, m, err := decodeSnapHeader(payload)
	if err != nil {
		return 0, m, 0, err
	}
	if m.To != t.cfg.NodeID || m.From != h.from {
		return group, m, 0, fmt.Errorf("%w: MsgSnap from %d to %d on node %d's connection to node %d", errProtocol, m.From, m.To, h.from, t.cfg.NodeID)
	}
	st := &stage{memMax: t.cfg.SnapshotMemoryBytes, dir: t.cfg.SnapshotDir}
	defer st.close()
	if err := t.readChunks(&fr, st); err != nil {
		return group, m, st.size, err
	}
	if t.closing() {
		return group, m, st.size, ErrClosed
	}
	if err := t.h.ReceiveSnapshot(group, m, st.reader()); err != nil {
		return group, m, st.size, fmt.Errorf("handler refused the snapshot: %w", err)
	}
	t.h.HandleRaft(group, []raftpb.Message{m})
	return group, m, st.size, nil
}

// readChunks stages chunks until a trailer that matches what arrived.
func (t *Transport) readChunks(fr *frameReader, st *stage) error {
	var sum uint32
	for {
		typ, payload, err := fr.next()
		if err != nil {
			return fmt.Errorf("snapshot stream broken after %d bytes: %w", st.size, noEOF(err))
		}
		switch typ {
		case frameSnapChunk:
			if st.size+int64(len(payload)) > t.cfg.MaxSnapshotBytes {
				return fmt.Errorf("snapshot exceeds the %d-byte limit", t.cfg.MaxSnapshotBytes)
			}
			sum = crc32.Update(sum, castagnoli, payload)
			if err := st.write(payload); err != nil {
				return err
			}
		case frameSnapTrailer:
			total, want, err := decodeSnapTrailer(payload)
			if err != nil {
				return err
			}
			if total != uint64(st.size) || want != sum {
				return fmt.Errorf("%w: snapshot stream of %d bytes (crc %08x), trailer says %d bytes (crc %08x)", errProtocol, st.size, sum, total, want)
			}
			return nil
		default:
			return fmt.Errorf("%w: frame type %d in a snapshot stream", errProtocol, typ)
		}
	}
}
