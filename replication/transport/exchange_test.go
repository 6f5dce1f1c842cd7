package transport

import (
	"fmt"
	"testing"

	"github.com/cairnkv/cairn/storage"
	"go.etcd.io/raft/v3/raftpb"
)

// checkInOrder asserts that group's messages from `from` arrived as
// 0..n-1 with their entries intact.
func checkInOrder(t *testing.T, r *recorder, group, from uint64, n int) {
	t.Helper()
	var seq uint64
	for _, m := range r.group(group) {
		if m.From != from {
			continue
		}
		if m.Index != seq {
			t.Fatalf("group %d from %d: message %d has index %d", group, from, seq, m.Index)
		}
		if len(m.Entries) != 1 || len(m.Entries[0].Data) != 16 || m.Entries[0].Data[0] != byte(seq) {
			t.Fatalf("group %d from %d: message %d corrupted: %+v", group, from, seq, m.Entries)
		}
		seq++
	}
	if seq != uint64(n) {
		t.Fatalf("group %d from %d: %d messages, want %d", group, from, seq, n)
	}
}

func TestExchangeBetweenNodes(t *testing.T) {
	for _, nodes := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d nodes", nodes), func(t *testing.T) {
			const groups, perGroup = 5, 200
			b := newBook()
			recs := make([]*recorder, nodes+1)
			trs := make([]*Transport, nodes+1)
			for id := 1; id <= nodes; id++ {
				recs[id] = newRecorder()
				trs[id] = startNode(t, testConfig(uint64(id), b), recs[id], b)
			}
			// Every node sends to every other, groups interleaved, one
			// message per Send as a scheduler's groups would.
			for seq := range uint64(perGroup) {
				for g := range uint64(groups) {
					for from := 1; from <= nodes; from++ {
						var msgs []raftpb.Message
						for to := 1; to <= nodes; to++ {
							if to != from {
								msgs = append(msgs, app(uint64(from), uint64(to), seq))
							}
						}
						trs[from].Send(storage.GroupID(g), msgs)
					}
				}
			}
			want := groups * perGroup * (nodes - 1)
			for id := 1; id <= nodes; id++ {
				waitFor(t, fmt.Sprintf("node %d to receive everything", id), func() bool {
					n := 0
					for g := range uint64(groups) {
						n += recs[id].count(g)
					}
					return n == want
				})
				for g := range uint64(groups) {
					for from := 1; from <= nodes; from++ {
						if from != id {
							checkInOrder(t, recs[id], g, uint64(from), perGroup)
						}
					}
				}
			}
			st := trs[1].Stats().Peers[2]
			if st.SentMsgs != groups*perGroup || st.Dropped != 0 {
				t.Fatalf("node 1 → 2 stats: %+v", st)
			}
			if got := trs[2].Stats().Peers[1].RecvMsgs; got != groups*perGroup {
				t.Fatalf("node 2 received %d from node 1, want %d", got, groups*perGroup)
			}
		})
	}
}

// Heartbeats of many groups queued while the connection is being set up
// leave in one frame and one write.
func TestBatchingSharesFrames(t *testing.T) {
	const groups = 1000
	b := newBook()
	ra, rb := newRecorder(), newRecorder()
	a := startNode(t, testConfig(1, b), ra, b)
	startNode(t, testConfig(2, b), rb, b)

	gate := make(chan struct{})
	b.mu.Lock()
	b.gate = gate // hold node 1's first dial
	b.mu.Unlock()
	for g := range uint64(groups) {
		a.Send(storage.GroupID(g), []raftpb.Message{{Type: raftpb.MsgHeartbeat, From: 1, To: 2, Term: 3, Commit: g}})
	}
	close(gate)
	waitFor(t, "all heartbeats", func() bool { return rb.totalMsgs() == groups })
	// The sender counts a write once it returned, which can be after the
	// receiver has the messages.
	waitFor(t, "the sender's counters", func() bool { return a.Stats().Peers[2].SentMsgs == groups })
	st := a.Stats().Peers[2]
	if st.SentMsgs != groups || st.SentFrames != 1 || st.Writes != 1 {
		t.Fatalf("%d heartbeats took %d frames in %d writes, want 1 and 1 (%+v)", st.SentMsgs, st.SentFrames, st.Writes, st)
	}
	for g := range uint64(groups) {
		if m := rb.group(g); len(m) != 1 || m[0].Commit != g || m[0].Type != raftpb.MsgHeartbeat {
			t.Fatalf("group %d got %+v", g, m)
		}
	}

	// Sent from a busy loop, later heartbeats still coalesce while the
	// writer is busy writing earlier ones.
	for g := range uint64(groups) {
		a.Send(storage.GroupID(g), []raftpb.Message{{Type: raftpb.MsgHeartbeat, From: 1, To: 2, Term: 3, Commit: g}})
	}
	waitFor(t, "second round", func() bool { return rb.totalMsgs() == 2*groups })
	st = a.Stats().Peers[2]
	t.Logf("second round: %d messages in %d frames", st.SentMsgs-groups, st.SentFrames-1)
}

func (r *recorder) totalMsgs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		n += len(m)
	}
	return n
}
