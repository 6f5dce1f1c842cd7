package transport

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/storage"
	"go.etcd.io/raft/v3/raftpb"
)

// Raft messages pass between two transports only when both hold the same
// peer key or neither has one; every other pairing ends at the handshake,
// and the acceptor counts the refusal.
func TestPeerKeys(t *testing.T) {
	keyA := bytes.Repeat([]byte{'a'}, 32)
	keyB := bytes.Repeat([]byte{'b'}, 32)
	for _, tc := range []struct {
		name             string
		dialer, acceptor []byte
		pass             bool
	}{
		{"same key", keyA, keyA, true},
		{"neither has a key", nil, nil, true},
		{"different keys", keyA, keyB, false},
		{"only the acceptor has one", nil, keyA, false},
		{"only the dialer has one", keyA, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exchange(t, peerKeys{key: tc.dialer}, peerKeys{key: tc.acceptor}, tc.pass)
		})
	}
}

// peerKeys are a transport's own key and the others it accepts.
type peerKeys struct {
	key    []byte
	accept [][]byte
}

// exchange has a transport holding dialer send a raft message to one
// holding acceptor, and requires it delivered (pass) or refused at the
// handshake, counted, and never delivered.
func exchange(t *testing.T, dialer, acceptor peerKeys, pass bool) {
	t.Helper()
	b := newBook()
	acfg := testConfig(2, b)
	acfg.Key, acfg.AcceptKeys = acceptor.key, acceptor.accept
	rec := newRecorder()
	srv := startNode(t, acfg, rec, b)
	dcfg := testConfig(1, b)
	dcfg.Key, dcfg.AcceptKeys = dialer.key, dialer.accept
	cli := startNode(t, dcfg, newRecorder(), b)
	cli.Send(storage.GroupID(1), []raftpb.Message{app(1, 2, 0)})
	if pass {
		waitFor(t, "the message", func() bool { return rec.count(1) == 1 })
		return
	}
	// The dialer does not always learn why: when only its own proof
	// fails, the acceptor just closes the connection.
	waitFor(t, "the acceptor to refuse the dialer", func() bool { return srv.Stats().ConnsRejected > 0 })
	if n := rec.count(1); n != 0 {
		t.Fatalf("%d messages got through", n)
	}
}

// keyedDial opens a connection to tr with a hello claiming node 1, and
// returns it with the hello and reply bytes, for a test to send a proof.
func keyedDial(t *testing.T, tr *Transport) (net.Conn, []byte, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", tr.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	hb := hello{version: protocolVersion, kind: kindStream, flags: flagKeyed, from: 1, to: tr.cfg.NodeID, keepalive: time.Second, nonce: newNonce()}.encode()
	if _, err := c.Write(hb); err != nil {
		t.Fatal(err)
	}
	rb := make([]byte, replyLen)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, rb); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Time{})
	if r, err := decodeReply(rb); err != nil || r.status != replyOK {
		t.Fatalf("reply %+v, %v", r, err)
	}
	return c, hb, rb
}

// A proof is good for the handshake it was made in only: the one that
// opened a connection, replayed on the next, gets that one closed (the
// acceptor's nonce differs), as does a proof made with another key.
func TestProofsDoNotReplay(t *testing.T) {
	key := bytes.Repeat([]byte{'k'}, 16)
	b := newBook()
	cfg := testConfig(2, b)
	cfg.Key = key
	rec := newRecorder()
	srv := startNode(t, cfg, rec, b)

	c, hb, rb := keyedDial(t, srv)
	proof := dialerMAC(key, hb, rb)
	c.Write(append(proof[:], appendFrame(nil, frameRaft, appendRaftMsg(nil, 1, ptr(app(1, 2, 0)), ptr(app(1, 2, 0)).Size()))...))
	waitFor(t, "the message on the honest connection", func() bool { return rec.count(1) == 1 })

	replay, _, _ := keyedDial(t, srv)
	replay.Write(proof[:])
	expectClosed(t, replay)

	forged, hb, rb := keyedDial(t, srv)
	wrong := dialerMAC(bytes.Repeat([]byte{'x'}, 16), hb, rb)
	forged.Write(wrong[:])
	expectClosed(t, forged)
	if n := rec.count(1); n != 1 {
		t.Fatalf("%d messages, want only the honest one", n)
	}
}

// The acceptor proves itself too: a dialer holding the key refuses an
// acceptor that answers without a valid MAC.
func TestDialerChecksTheAcceptor(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// An impostor: it names itself node 2 and claims a key.
			io.ReadFull(c, make([]byte, helloLen))
			c.Write(reply{version: protocolVersion, status: replyOK, flags: flagKeyed, node: 2, nonce: newNonce()}.encode())
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	b := newBook()
	b.set(2, ln.Addr().String())
	cfg := testConfig(1, b)
	cfg.Key = bytes.Repeat([]byte{'k'}, 16)
	tr, err := New(cfg, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c, err := tr.dial(2, kindStream)
	if err == nil {
		c.Close()
		t.Fatal("connected to an acceptor that does not hold the key")
	}
	if !errors.Is(err, errAuth) || !strings.Contains(err.Error(), "peer key") {
		t.Fatalf("dial error %v, want an authentication failure", err)
	}
}

func TestShortPeerKeyIsRefused(t *testing.T) {
	cfg := testConfig(1, newBook())
	cfg.Key = []byte("too short")
	if _, err := New(cfg, newRecorder()); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("New with a 9-byte key: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// A cluster moves from key A to key B in three rolling restarts (hold A
// and accept B; hold B and accept A; hold B): nodes one step apart talk
// in both directions, nodes two steps apart or with no common key do
// not.
func TestPeerKeyRotation(t *testing.T) {
	a, bk := bytes.Repeat([]byte{'A'}, 32), bytes.Repeat([]byte{'B'}, 32)
	start := peerKeys{a, nil}
	step1 := peerKeys{a, [][]byte{bk}}
	step2 := peerKeys{bk, [][]byte{a}}
	end := peerKeys{bk, nil}
	for _, tc := range []struct {
		name       string
		one, other peerKeys
		pass       bool
	}{
		{"before and the first step", start, step1, true},
		{"the first and the second step", step1, step2, true},
		{"the second step and after", step2, end, true},
		{"before and after: no common key", start, end, false},
		// Two steps apart: the node that holds B cannot prove itself to
		// the one that knows only A. Each step must reach every node
		// before the next begins.
		{"before and the second step", start, step2, false},
	} {
		t.Run(tc.name+"/one dials", func(t *testing.T) { exchange(t, tc.one, tc.other, tc.pass) })
		t.Run(tc.name+"/the other dials", func(t *testing.T) { exchange(t, tc.other, tc.one, tc.pass) })
	}
}
