package transport

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/cairnkv/cairn/replication"
	"github.com/cairnkv/cairn/storage"
	"go.etcd.io/raft/v3/raftpb"
)

// The transport is what replication's scheduler sends through.
var _ replication.Transport = (*Transport)(nil)

// A peer that accepted our connection but went silent (no pongs: a
// paused process, a partition) is dropped and redialed.
func TestSilentPeerIsRedialed(t *testing.T) {
	b := newBook()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b.set(2, ln.Addr().String())
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			// Answer the handshake as node 2, then read and never reply.
			io.ReadFull(c, make([]byte, helloLen))
			c.Write(reply{version: protocolVersion, status: replyOK, node: 2}.encode())
			go io.Copy(io.Discard, c)
			accepted <- c
		}
	}()
	defer func() {
		ln.Close()
		for c := range accepted {
			c.Close()
		}
	}()

	a := startNode(t, testConfig(1, b), newRecorder(), b)
	a.Send(storage.GroupID(1), []raftpb.Message{app(1, 2, 0)})
	start := time.Now()
	waitFor(t, "a second connection", func() bool {
		a.Send(storage.GroupID(1), []raftpb.Message{app(1, 2, 0)})
		return a.Stats().Peers[2].Connects >= 2
	})
	// 5 keepalive intervals of 200ms.
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("redialed after %v, before the peer could be judged silent", d)
	}
}

// A dialer that handshakes and then says nothing, not even pings, is
// disconnected after the silence its own keepalive interval allows.
func TestSilentDialerIsDropped(t *testing.T) {
	b := newBook()
	srv := startNode(t, testConfig(2, b), newRecorder(), b)
	c := rawDial(t, srv, hello{version: protocolVersion, kind: kindStream, from: 1, to: 2, keepalive: 20 * time.Millisecond})
	expectClosed(t, c)
}

// LastHeard follows a peer's stream connection: zero before the peer
// has sent anything, then moving on with its keepalives alone, with no
// raft traffic (what a quiesced group's stream info relies on).
func TestLastHeardFollowsKeepalives(t *testing.T) {
	b := newBook()
	rb := newRecorder()
	a := startNode(t, testConfig(1, b), newRecorder(), b)
	bn := startNode(t, testConfig(2, b), rb, b)
	if !bn.LastHeard(1).IsZero() {
		t.Fatal("heard from node 1 before it sent anything")
	}
	a.Send(storage.GroupID(1), []raftpb.Message{app(1, 2, 0)})
	waitFor(t, "the message", func() bool { return rb.count(1) == 1 })
	mark := time.Now()
	interval := testConfig(1, b).KeepaliveInterval
	waitFor(t, "keepalives heard after the last message", func() bool {
		return bn.LastHeard(1).After(mark.Add(2 * interval))
	})
	if rb.count(1) != 1 {
		t.Fatalf("%d raft messages, want only the first", rb.count(1))
	}
	if !bn.LastHeard(9).IsZero() || !a.LastHeard(2).IsZero() {
		t.Fatal("heard from a node that never dialed in")
	}
}
