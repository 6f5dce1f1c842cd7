package transport

import (
	"testing"

	"github.com/cairnkv/cairn/storage"
	"go.etcd.io/raft/v3/raftpb"
)

// A peer that stops is reported unreachable; once it is back (a new
// process under the same ID, here on a new port) messages flow again.
func TestPeerDownThenUp(t *testing.T) {
	b := newBook()
	ra, rb := newRecorder(), newRecorder()
	a := startNode(t, testConfig(1, b), ra, b)
	bt := startNode(t, testConfig(2, b), rb, b)

	var seq uint64
	send := func() {
		seq++
		a.Send(storage.GroupID(3), []raftpb.Message{app(1, 2, seq)})
	}
	// receivedAfter: r got a message sent after the mark.
	receivedAfter := func(r *recorder, mark uint64) bool {
		for _, m := range r.group(3) {
			if m.Index > mark {
				return true
			}
		}
		return false
	}
	send()
	waitFor(t, "the first message", func() bool { return receivedAfter(rb, 0) })

	bt.Close()
	waitFor(t, "node 2 to be reported unreachable", func() bool {
		send()
		return ra.unreachableCount(3, 2) > 0
	})
	if st := a.Stats().Peers[2]; st.Connected || st.Dropped == 0 {
		t.Fatalf("while down: %+v", st)
	}

	rb2 := newRecorder()
	mark := seq
	startNode(t, testConfig(2, b), rb2, b)
	waitFor(t, "messages to reach the restarted node", func() bool {
		send()
		return receivedAfter(rb2, mark)
	})
	if st := a.Stats().Peers[2]; !st.Connected || st.Connects < 2 {
		t.Fatalf("after reconnect: %+v", st)
	}
}
