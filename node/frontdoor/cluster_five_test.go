package frontdoor_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Five nodes: an R5 and an R3 bucket. A write through any node is
// readable through every node right after it is acknowledged, for the
// bucket on all five and for the one on three (two of the nodes then
// forward to a replica).
func TestClusterFiveNodesReadYourWritesEverywhere(t *testing.T) {
	nodes := startCairnCluster(t, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	js := make([]jetstream.JetStream, len(nodes))
	for i, cn := range nodes {
		_, js[i] = connect(t, cn.url)
	}
	for _, replicas := range []int{5, 3} {
		name := fmt.Sprintf("r%d", replicas)
		if _, err := js[0].CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Replicas: replicas, History: 3}); err != nil {
			t.Fatal(err)
		}
		holders := 0
		for _, cn := range nodes {
			if reps, local, ok := cn.n.Locate(name); !ok || len(reps) != replicas {
				t.Fatalf("%s located at %+v", name, reps)
			} else if local {
				holders++
			}
		}
		if holders != replicas {
			t.Fatalf("%s held by %d nodes, want %d", name, holders, replicas)
		}
		kvs := make([]jetstream.KeyValue, len(nodes))
		for i := range nodes {
			kv, err := js[i].KeyValue(ctx, name)
			if err != nil {
				t.Fatalf("%s through node %d: %v\n%s", name, i+1, err, whereIs(nodes, name))
			}
			kvs[i] = kv
		}
		for round := range 2 {
			for w := range kvs {
				key := fmt.Sprintf("k.%d", w)
				val := fmt.Sprintf("%d/%d", round, w)
				rev, err := kvs[w].Put(ctx, key, []byte(val))
				if err != nil {
					t.Fatalf("%s: put through node %d: %v", name, w+1, err)
				}
				for r := range kvs {
					e, err := kvs[r].Get(ctx, key)
					if err != nil || e.Revision() != rev || string(e.Value()) != val {
						t.Fatalf("%s: get %s through node %d right after the put through node %d (rev %d): %v %v",
							name, key, r+1, w+1, rev, e, err)
					}
				}
			}
		}
		// Every replica holds every revision (checked on the replicas
		// themselves, without forwarding).
		for i, cn := range nodes {
			b, err := cn.n.Bucket(name)
			if err != nil {
				continue // not a replica
			}
			info, err := b.Info(ctx)
			if err != nil || info.State.Last != uint64(2*len(nodes)) {
				t.Fatalf("%s on node %d: %+v %v", name, i+1, info.State, err)
			}
		}
	}
}

// whereIs describes, for a failure message, how each node sees bucket
// name: where it is located, and whether the local replica answers.
func whereIs(nodes []*clusterNode, name string) string {
	var b strings.Builder
	for i, cn := range nodes {
		reps, local, ok := cn.n.Locate(name)
		fmt.Fprintf(&b, "node %d (%016x): known %v local %v replicas", i+1, cn.n.NodeID(), ok, local)
		for _, r := range reps {
			fmt.Fprintf(&b, " %016x(alive %v, client %q)", r.ID, r.Alive, r.ClientAddr)
		}
		if bk, err := cn.n.Bucket(name); err != nil {
			fmt.Fprintf(&b, "; Bucket: %v\n", err)
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := bk.Info(ctx)
			cancel()
			fmt.Fprintf(&b, "; Info: %v\n", err)
		}
	}
	return b.String()
}
