package frontdoor_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream info reports each replica as the bucket's leader sees it, as
// nats-server's does, through whichever node answers: current and seen
// lately while it keeps up; offline, not current and behind by what it
// missed once it stops.
func TestClusterStreamInfoReportsReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nodes := startCairnCluster(t, 3)
	r3Bucket(t, ctx, nodes[0].url, "rs")
	clients := make([]jetstream.JetStream, len(nodes))
	for i, cn := range nodes {
		_, clients[i] = connect(t, cn.url)
	}
	info := func(js jetstream.JetStream) (*jetstream.ClusterInfo, error) {
		return clusterOf(ctx, js, "KV_rs")
	}
	var leader string
	for i, js := range clients {
		var last string
		waitFor(t, 10*time.Second, fmt.Sprintf("node %d: every replica current and seen", i+1), func() bool {
			ci, err := info(js)
			if err != nil {
				last = err.Error()
				return false
			}
			last = describe(ci)
			ok := ci.Leader != "" && len(ci.Replicas) == 2 && ci.LeaderSince != nil && !ci.LeaderSince.After(time.Now())
			for _, r := range ci.Replicas {
				ok = ok && r.Current && !r.Offline && r.Active > 0 && r.Active < 10*time.Second && r.Lag == 0 && r.Name != ci.Leader
			}
			leader = ci.Leader
			return ok
		})
		t.Logf("through node %d: %s", i+1, last)
	}

	// Stop one follower, then write past it.
	stopped, through := -1, -1
	for i := range nodes {
		name := fmt.Sprintf("n%d", i+1)
		switch {
		case name == leader:
		case stopped < 0:
			stopped = i
		default:
			through = i
		}
	}
	_ = nodes[stopped].fd.Close()
	_ = nodes[stopped].n.Close()
	const writes = 10
	_, js := connect(t, nodes[through].url)
	kvT, err := js.KeyValue(ctx, "rs")
	if err != nil {
		t.Fatal(err)
	}
	for i := range writes {
		if _, err := kvT.Put(ctx, fmt.Sprintf("k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	// Asked through the remaining follower, the answer is still the
	// leader's: only it knows the stopped replica's lag.
	stoppedName := fmt.Sprintf("n%d", stopped+1)
	var last string
	waitFor(t, 15*time.Second, "the stopped replica reported offline and behind", func() bool {
		ci, err := info(js)
		if err != nil {
			last = err.Error()
			return false
		}
		last = describe(ci)
		if ci.Leader != leader || len(ci.Replicas) != 2 {
			return false
		}
		ok := true
		for _, r := range ci.Replicas {
			if r.Name == stoppedName {
				ok = ok && r.Offline && !r.Current && r.Lag >= writes
			} else {
				ok = ok && r.Current && !r.Offline && r.Active > 0 && r.Lag == 0
			}
		}
		return ok
	})
	t.Logf("after stopping %s: %s", stoppedName, last)
}

func describe(ci *jetstream.ClusterInfo) string {
	out := "leader " + ci.Leader
	for _, r := range ci.Replicas {
		out += fmt.Sprintf("; %s current=%v offline=%v active=%v lag=%d", r.Name, r.Current, r.Offline, r.Active, r.Lag)
	}
	return out
}

// When the leader stops, stream info through the survivors is answered
// within a client's usual timeout, never left waiting on the gone
// leader, and soon names the new leader with the stopped node offline.
func TestClusterStreamInfoAfterLeaderStops(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nodes := startCairnCluster(t, 3)
	js0, _ := r3Bucket(t, ctx, nodes[0].url, "ls")
	ci, err := clusterOf(ctx, js0, "KV_ls")
	if err != nil || ci.Leader == "" {
		t.Fatalf("stream info before: %+v, %v", ci, err)
	}
	old := ci.Leader
	var survivors []*clusterNode
	for i, cn := range nodes {
		if fmt.Sprintf("n%d", i+1) == old {
			_ = cn.fd.Close()
			_ = cn.n.Close()
		} else {
			survivors = append(survivors, cn)
		}
	}
	for _, cn := range survivors {
		_, js := connect(t, cn.url)
		var last string
		waitFor(t, 20*time.Second, "the new leader, with "+old+" offline", func() bool {
			// Each call must be answered within a client's usual 5 s.
			cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
			defer ccancel()
			ci, err := clusterOf(cctx, js, "KV_ls")
			if err == nil {
				last = describe(ci)
				for _, r := range ci.Replicas {
					if r.Name == old && r.Offline && !r.Current {
						return ci.Leader != "" && ci.Leader != old
					}
				}
				return false
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("stream info through %s was not answered within 5s (last answer: %s)", cn.url, last)
			}
			last = err.Error()
			return false
		})
		t.Logf("through %s: %s", cn.url, last)
	}
}

// r3Bucket creates the R3 bucket name through the node at url and puts
// one key, returning the client it used.
func r3Bucket(t *testing.T, ctx context.Context, url, name string) (jetstream.JetStream, jetstream.KeyValue) {
	t.Helper()
	_, js := connect(t, url)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	return js, kv
}

// clusterOf is the cluster part of a stream's info.
func clusterOf(ctx context.Context, js jetstream.JetStream, stream string) (*jetstream.ClusterInfo, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	si, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	if si.Cluster == nil {
		return nil, errors.New("no cluster info")
	}
	return si.Cluster, nil
}
