package transport

import (
	"errors"
	"hash/crc32"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/cairnkv/cairn/storage"
	"go.etcd.io/raft/v3/raftpb"
)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// rawDial connects to tr and completes a handshake with h.
func rawDial(t *testing.T, tr *Transport, h hello) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", tr.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(h.encode()); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, replyLen)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	if r, err := decodeReply(b); err != nil || r.status != replyOK {
		t.Fatalf("handshake: %+v %v", r, err)
	}
	c.SetReadDeadline(time.Time{})
	return c
}

// expectClosed fails unless the server closes c (EOF or reset) soon.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the server kept the connection open")
	}
}

func rawFrame(typ frameType, payload []byte, length uint32, sum uint32) []byte {
	f := appendFrame(nil, typ, payload)
	f[0], f[1], f[2], f[3] = byte(length>>24), byte(length>>16), byte(length>>8), byte(length)
	f[5], f[6], f[7], f[8] = byte(sum>>24), byte(sum>>16), byte(sum>>8), byte(sum)
	return f
}

func TestGarbageIsDisconnected(t *testing.T) {
	b := newBook()
	ra, rs := newRecorder(), newRecorder()
	a := startNode(t, testConfig(1, b), ra, b)
	cfg := testConfig(2, b)
	cfg.DialTimeout = 300 * time.Millisecond // the handshake deadline for silent clients
	srv := startNode(t, cfg, rs, b)

	stream := hello{version: protocolVersion, kind: kindStream, from: 5, to: 2, keepalive: time.Second}
	goodMsg, err := (&raftpb.Message{Type: raftpb.MsgHeartbeat, From: 5, To: 2, Term: 1}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	batch := func(to uint64) []byte {
		m, _ := (&raftpb.Message{Type: raftpb.MsgHeartbeat, From: 5, To: to, Term: 1}).Marshal()
		return append([]byte{1, byte(len(m))}, m...)
	}
	cases := []struct {
		name  string
		hello *hello // handshake first with this, if set
		send  func() []byte
	}{
		{name: "random bytes", send: func() []byte { return randomState(4096) }},
		{name: "wrong magic", send: func() []byte { h := stream.encode(); copy(h, "XXXX"); return h }},
		{name: "bad hello checksum", send: func() []byte { h := stream.encode(); h[9] ^= 1; return h }},
		{name: "wrong target node", send: func() []byte { h := stream; h.to = 99; return h.encode() }},
		{name: "wrong version", send: func() []byte { h := stream; h.version = 9; return h.encode() }},
		{name: "claims our own ID", send: func() []byte { h := stream; h.from = 2; return h.encode() }},
		{name: "half a hello", send: func() []byte { return stream.encode()[:10] }},
		{name: "silent client", send: func() []byte { return nil }},
		{name: "oversized length", hello: &stream, send: func() []byte { return rawFrame(frameRaft, nil, 0xFFFFFFF0, 0) }},
		{name: "unknown frame type", hello: &stream, send: func() []byte {
			f := appendFrame(nil, frameRaft, batch(2))
			f[4] = 200
			return f
		}},
		{name: "bad frame checksum", hello: &stream, send: func() []byte {
			return rawFrame(frameRaft, batch(2), uint32(len(batch(2))), frameCRC(frameRaft, batch(2))+1)
		}},
		{name: "truncated raft batch", hello: &stream, send: func() []byte { return appendFrame(nil, frameRaft, batch(2)[:5]) }},
		{name: "length prefix beyond the frame", hello: &stream, send: func() []byte { return appendFrame(nil, frameRaft, []byte{1, 0x7f, 1, 2}) }},
		{name: "message for another node", hello: &stream, send: func() []byte { return appendFrame(nil, frameRaft, batch(7)) }},
		{name: "frame meant for the dialer", hello: &stream, send: func() []byte { return appendFrame(nil, framePong, nil) }},
		{name: "short call request", hello: &stream, send: func() []byte { return appendFrame(nil, frameCallReq, []byte{1, 2, 3}) }},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c net.Conn
			if tc.hello != nil {
				c = rawDial(t, srv, *tc.hello)
				// A valid frame first: the connection works until the garbage.
				if _, err := c.Write(appendFrame(nil, frameRaft, append([]byte{1, byte(len(goodMsg))}, goodMsg...))); err != nil {
					t.Fatal(err)
				}
			} else {
				var err error
				if c, err = net.Dial("tcp", srv.Addr().String()); err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			}
			if _, err := c.Write(tc.send()); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c)

			// The node still serves its real peer.
			seq := uint64(i + 1)
			a.Send(storage.GroupID(77), []raftpb.Message{app(1, 2, seq)})
			waitFor(t, "a message from the real peer", func() bool {
				for _, m := range rs.group(77) {
					if m.Index == seq {
						return true
					}
				}
				return false
			})
		})
	}
	if st := srv.Stats(); st.ConnsRejected < 8 || st.Peers[5].Errors < 7 {
		t.Fatalf("rejections not counted: %+v", st)
	}
}

// The acceptor tells a dialer that reached the wrong node which node it is.
func TestWrongTargetIsTold(t *testing.T) {
	b := newBook()
	srv := startNode(t, testConfig(2, b), newRecorder(), b)
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(hello{version: protocolVersion, kind: kindStream, from: 1, to: 3}.encode())
	buf := make([]byte, replyLen)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	r, err := decodeReply(buf)
	if err != nil || r.status != replyWrongNode || r.node != 2 {
		t.Fatalf("reply %+v, %v", r, err)
	}
	expectClosed(t, c)

	// And a transport whose address book is stale refuses to talk to it.
	b.set(3, srv.Addr().String())
	a := startNode(t, testConfig(1, b), newRecorder(), b)
	a.Send(storage.GroupID(1), []raftpb.Message{app(1, 3, 0)})
	waitFor(t, "the dial to fail", func() bool { return a.Stats().Peers[3].Down })
}
