package transport

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"testing"

	"github.com/cairnkv/cairn/storage"
	"go.etcd.io/raft/v3/raftpb"
)

func msgSnap(from, to, index uint64) raftpb.Message {
	return raftpb.Message{Type: raftpb.MsgSnap, From: from, To: to, Term: 2,
		Snapshot: &raftpb.Snapshot{
			Metadata: raftpb.SnapshotMetadata{Index: index, Term: 2, ConfState: raftpb.ConfState{Voters: []uint64{1, 2, 3}}},
			Data:     []byte("not sent: the stream is the state"),
		}}
}

// randomState is n reproducible pseudo-random bytes.
func randomState(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{7})
	r.Read(b)
	return b
}

// snapPair is a sender (node 1) and a receiver (node 2).
func snapPair(t *testing.T, state []byte, tweak func(sender, receiver *Config)) (*Transport, *recorder, *Transport, *recorder) {
	b := newBook()
	rs, rr := newRecorder(), newRecorder()
	rs.open = func(uint64, raftpb.SnapshotMetadata) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(state)), nil
	}
	cs, cr := testConfig(1, b), testConfig(2, b)
	if tweak != nil {
		tweak(&cs, &cr)
	}
	s := startNode(t, cs, rs, b)
	r := startNode(t, cr, rr, b)
	return s, rs, r, rr
}

func TestSnapshotStreamArrivesIntact(t *testing.T) {
	state := randomState(20 << 20)
	s, rs, r, rr := snapPair(t, state, func(_, receiver *Config) {
		receiver.SnapshotMemoryBytes = 4 << 20 // the rest spills to a temp file
	})
	s.Send(storage.GroupID(9), []raftpb.Message{msgSnap(1, 2, 100)})
	waitFor(t, "the snapshot report", func() bool { return len(rs.reports()) == 1 })
	if got := rs.reports()[0]; got != (snapReport{group: 9, to: 2, failed: false}) {
		t.Fatalf("report %+v", got)
	}
	got, ok := rr.snapshotData(9)
	if !ok || sha256.Sum256(got) != sha256.Sum256(state) {
		t.Fatalf("received %d bytes, want the %d sent", len(got), len(state))
	}
	msgs := rr.group(9)
	if len(msgs) != 1 || msgs[0].Type != raftpb.MsgSnap || msgs[0].Snapshot.Metadata.Index != 100 || len(msgs[0].Snapshot.Data) != 0 {
		t.Fatalf("HandleRaft got %+v", msgs)
	}
	rr.mu.Lock()
	order := slices.Clone(rr.order)
	rr.mu.Unlock()
	if !slices.Equal(order, []string{"receive", "raft:MsgSnap"}) {
		t.Fatalf("handler calls in order %v, want ReceiveSnapshot then HandleRaft", order)
	}
	if st := s.Stats(); st.SnapshotsSent != 1 || r.Stats().SnapshotsReceived != 1 {
		t.Fatalf("stats: sender %+v receiver %+v", st, r.Stats())
	}
}

func TestSnapshotCorruptChunkRejected(t *testing.T) {
	state := randomState(5 << 20)
	s, rs, r, rr := snapPair(t, state, func(sender, _ *Config) { sender.SnapshotChunkBytes = 256 << 10 })
	s.hooks.snapChunk = func(i int, frame []byte) {
		if i == 3 {
			frame[frameHeaderLen+100] ^= 0x10 // one bit, after the checksum was taken
		}
	}
	s.Send(storage.GroupID(9), []raftpb.Message{msgSnap(1, 2, 100)})
	waitFor(t, "the snapshot report", func() bool { return len(rs.reports()) == 1 })
	if got := rs.reports()[0]; !got.failed {
		t.Fatalf("report %+v, want failed", got)
	}
	waitFor(t, "the receiver to count the rejection", func() bool { return r.Stats().SnapshotReceiveFailures == 1 })
	if _, ok := rr.snapshotData(9); ok || rr.count(9) != 0 {
		t.Fatal("a corrupt snapshot reached the handler")
	}
}

func TestSnapshotSenderFailsMidStream(t *testing.T) {
	state := randomState(3 << 20)
	s, rs, r, rr := snapPair(t, state, func(sender, _ *Config) { sender.SnapshotChunkBytes = 256 << 10 })
	rs.open = func(uint64, raftpb.SnapshotMetadata) (io.ReadCloser, error) {
		// The sender's storage fails a megabyte in.
		return io.NopCloser(io.MultiReader(bytes.NewReader(state[:1<<20]), errReader{})), nil
	}
	s.Send(storage.GroupID(9), []raftpb.Message{msgSnap(1, 2, 100)})
	waitFor(t, "the snapshot report", func() bool { return len(rs.reports()) == 1 })
	if !rs.reports()[0].failed {
		t.Fatal("want a failed report")
	}
	waitFor(t, "the receiver to drop the stream", func() bool { return r.Stats().SnapshotReceiveFailures == 1 })
	if _, ok := rr.snapshotData(9); ok || rr.count(9) != 0 {
		t.Fatal("a partial snapshot reached the handler")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// rawSnapshotConn dials node 2 as node 1 for a snapshot stream and sends
// the header.
func rawSnapshotConn(t *testing.T, r *Transport) net.Conn {
	t.Helper()
	c := rawDial(t, r, hello{version: protocolVersion, kind: kindSnapshot, from: 1, to: 2})
	hdr, err := appendSnapHeader(nil, 9, msgSnap(1, 2, 100))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(appendFrame(nil, frameSnapHeader, hdr)); err != nil {
		t.Fatal(err)
	}
	return c
}

// A sender killed mid-stream, or one that sends a stream whose trailer
// does not match, leaves nothing applied on the receiver.
func TestSnapshotBrokenStreamsLeaveNothing(t *testing.T) {
	chunk := randomState(64 << 10)
	cases := map[string]func(c net.Conn) []byte{
		"killed after chunks": func(c net.Conn) []byte {
			return slices.Concat(appendFrame(nil, frameSnapChunk, chunk), appendFrame(nil, frameSnapChunk, chunk))
		},
		"killed mid-frame": func(c net.Conn) []byte {
			return appendFrame(nil, frameSnapChunk, chunk)[:1000]
		},
		"trailer with the wrong length": func(c net.Conn) []byte {
			return slices.Concat(appendFrame(nil, frameSnapChunk, chunk),
				appendFrame(nil, frameSnapTrailer, appendSnapTrailer(nil, uint64(len(chunk))+1, crc(chunk))))
		},
		"trailer with the wrong checksum": func(c net.Conn) []byte {
			return slices.Concat(appendFrame(nil, frameSnapChunk, chunk),
				appendFrame(nil, frameSnapTrailer, appendSnapTrailer(nil, uint64(len(chunk)), crc(chunk)+1)))
		},
		"raft frame inside the stream": func(c net.Conn) []byte {
			return appendFrame(nil, frameRaft, nil)
		},
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, r, rr := snapPair(t, nil, nil)
			c := rawSnapshotConn(t, r)
			if _, err := c.Write(body(c)); err != nil {
				t.Fatal(err)
			}
			c.(*net.TCPConn).CloseWrite() // the sender is gone
			// The receiver answers a bad trailer with a nack, and closes.
			io.Copy(io.Discard, bufio.NewReader(c))
			c.Close()
			waitFor(t, "the receiver to drop the stream", func() bool { return r.Stats().SnapshotReceiveFailures == 1 })
			if _, ok := rr.snapshotData(9); ok || rr.count(9) != 0 {
				t.Fatal("a broken snapshot reached the handler")
			}
		})
	}
}
