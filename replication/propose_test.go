package replication

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// Proposals that queue while their group is busy go to raft as one
// message, so the leader sends each follower one append for all of them
// (one each, before: a put under load cost a follower an append to take
// in and an answer to send per entry).
func TestQueuedProposalsShareAnAppend(t *testing.T) {
	net, nodes, lead := warmCluster(t)
	ctx := ctx10(t)
	follower := lead%3 + 1
	// The first append to the follower holds the leader's worker (and
	// the network) until the others are queued.
	held, release := make(chan struct{}), make(chan struct{})
	var appends, entries int
	first := true
	net.mu.Lock()
	net.drop = func(m raftpb.Message) bool {
		if m.From != lead || m.To != follower || m.Type != raftpb.MsgApp || len(m.Entries) == 0 {
			return false
		}
		if first {
			first = false
			close(held)
			<-release
			return false
		}
		appends++
		entries += len(m.Entries)
		return false
	}
	net.mu.Unlock()

	g := nodes[lead].g
	waits := []func(context.Context) (Outcome, error){g.ProposeAsync([]byte("first"))}
	<-held
	const queued = 100
	for i := range queued {
		waits = append(waits, g.ProposeAsync([]byte(fmt.Sprintf("q%d", i))))
	}
	close(release)
	for _, wait := range waits {
		if _, err := wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	net.mu.Lock()
	defer net.mu.Unlock()
	if entries < queued || appends != 1 {
		t.Fatalf("%d queued proposals reached the follower in %d appends carrying %d entries; want them in one", queued, appends, entries)
	}
}

func TestProposalRun(t *testing.T) {
	prop := func(n int) *proposal { return &proposal{data: bytes.Repeat([]byte{'x'}, n)} }
	for _, tc := range []struct {
		name  string
		sizes []int
		want  int
	}{
		{"one", []int{10}, 1},
		{"all fit", []int{10, 20, 30}, 3},
		{"a big first goes alone", []int{maxProposalRun + 1, 10}, 1},
		{"up to the bound", []int{maxProposalRun / 2, maxProposalRun / 2, 1}, 2},
		{"a big second waits", []int{10, maxProposalRun}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var props []*proposal
			for _, s := range tc.sizes {
				props = append(props, prop(s))
			}
			if got := proposalRun(props); got != tc.want {
				t.Fatalf("proposalRun(%v) = %d, want %d", tc.sizes, got, tc.want)
			}
		})
	}
}
