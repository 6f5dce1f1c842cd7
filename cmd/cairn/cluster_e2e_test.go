package main

// End-to-end tests of `cairn cluster ...` against a cluster started with
// `cairn local` (see local_e2e_test.go).

import (
	"slices"
	"strings"
	"syscall"
	"testing"
)

// clusterCLI runs `cairn cluster ARGS --http url`.
type clusterCLI struct {
	t   *testing.T
	url string
}

func (c clusterCLI) run(args ...string) cliResult {
	c.t.Helper()
	return cli(c.t, "", nil, append(append([]string{"cluster"}, args...), "--http", c.url)...)
}

func (c clusterCLI) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 || r.stderr != "" {
		c.t.Fatalf("want success and a silent stderr: %v", r)
	}
	return r.stdout
}

func (c clusterCLI) fails(args ...string) string {
	c.t.Helper()
	return wantFailure(c.t, c.run(args...))
}

func (v clusterView) group(bucket string) (leader string, replicas []string) {
	for _, g := range v.Groups {
		if g.Bucket == bucket {
			for _, id := range g.Replicas {
				replicas = append(replicas, v.name(id))
			}
			return v.name(g.Leader), replicas
		}
	}
	return "", nil
}

func TestE2EClusterVerbs(t *testing.T) {
	l := startLocal(t, "127.0.5.2", 30300)
	n1, n2 := l.nodes[0], l.nodes[1]
	c1, c2 := clusterCLI{t, n1.http}, clusterCLI{t, n2.http}

	// Human output: the nodes and the meta leader, by name.
	out := c1.ok("status")
	for _, want := range []string{"cluster of 3 nodes, meta leader node", "NAME", "node1 *", "node2", "node3", "alive", "no buckets"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status lacks %q:\n%s", want, out)
		}
	}
	if out := c2.ok("nodes"); !strings.Contains(out, "node2 *") || strings.Count(out, "alive") != 3 {
		t.Fatalf("nodes:\n%s", out)
	}

	kv := kvCLI{t: t, url: n1.client}
	kv.ok("add", "one")
	kv.ok("put", "one", "k", "v")
	kv.ok("add", "three", "--replicas", "3")
	_, reps := clusterStatus(t, n1.http).group("one")
	if len(reps) != 1 {
		t.Fatalf("bucket one on %v", reps)
	}
	from := reps[0]
	to := "node1"
	if from == to {
		to = "node2"
	}
	if out := c2.ok("move-replica", "one", from, to); !strings.Contains(out, "moving the replica of bucket one from "+from+" to "+to) {
		t.Fatalf("move-replica: %s", out)
	}
	waitStatus(t, n2.http, "bucket one moved", func(v clusterView) bool {
		leader, reps := v.group("one")
		return slices.Equal(reps, []string{to}) && leader == to
	})
	if got := kv.ok("get", "one", "k", "--raw"); got != "v" {
		t.Fatalf("get after the move: %q", got)
	}

	leader, _ := clusterStatus(t, n1.http).group("three")
	target := "node3"
	if leader == target {
		target = "node2"
	}
	if out := c1.ok("transfer-leader", "three", target); out != "bucket three is led by "+target+"\n" {
		t.Fatalf("transfer-leader: %q", out)
	}
	if out := c1.ok("status"); !strings.Contains(out, "three   ") || !strings.Contains(out, target) {
		t.Fatalf("status after transfer-leader:\n%s", out)
	}
	// kv info names the leader and each other replica as the leader
	// sees it, here through a node that did not lead the bucket.
	other := kvCLI{t: t, url: l.nodes[0].client}
	if target == "node1" {
		other.url = l.nodes[1].client
	}
	waitStatus(t, n1.http, "kv info: two current replicas", func(clusterView) bool {
		info := oneJSON[bucketJSON](t, other.ok("info", "three", "--json"))
		current := 0
		for _, p := range info.Peers {
			if p.Current && !p.Offline && p.Seen != "" && p.Name != info.Leader {
				current++
			}
		}
		return info.Leader != "" && current == 2
	})
	if out := other.ok("info", "three"); strings.Count(out, "Replica:") != 2 || !strings.Contains(out, ": current, seen ") {
		t.Fatalf("kv info:\n%s", out)
	}

	old := clusterStatus(t, n1.http)
	out = c2.ok("step-down")
	if !strings.HasPrefix(out, "meta leadership moved from "+old.name(old.MetaLeader)+" to node") || strings.HasSuffix(out, old.name(old.MetaLeader)+"\n") {
		t.Fatalf("step-down: %q (leader was %s)", out, old.name(old.MetaLeader))
	}

	// Errors: the node's message, exit status 1.
	for args, want := range map[string]string{
		"remove-node nosuch":             `remove-node nosuch: no node "nosuch" in the cluster`,
		"move-replica nosuch n1 n2":      "(HTTP 400)", // n1 is not a node name here
		"move-replica one node9 n2":      `no node "node9"`,
		"transfer-leader nosuch":         "(HTTP 404)",
		"transfer-leader one node9":      `no node "node9"`,
		"move-replica three node1 node2": "already holds a replica",
	} {
		if msg := c1.fails(strings.Fields(args)...); !strings.Contains(msg, want) {
			t.Errorf("%s: %q does not contain %q", args, msg, want)
		}
	}
	if msg := wantFailure(t, cli(t, "", nil, "cluster", "status", "--http", "http://127.0.5.2:1")); !strings.Contains(msg, "cluster status") {
		t.Errorf("no node: %q", msg)
	}

	// --json is the node's answer, one line.
	if out := c1.ok("transfer-leader", "three", "--json"); !strings.HasPrefix(out, `{"bucket":"three","leader":"`) || strings.Count(out, "\n") != 1 {
		t.Fatalf("transfer-leader --json: %q", out)
	}

	// Removing a crashed node (once the others have a meta leader
	// without it): it shows as removed.
	if err := syscall.Kill(l.nodes[2].pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, n1.http, "node3 dead and a meta leader without it", func(v clusterView) bool {
		s := v.member("node3").State
		return (s == "dead" || s == "failed") && v.MetaLeader != "" && v.name(v.MetaLeader) != "node3"
	})
	if out := c1.ok("remove-node", "node3"); !strings.HasPrefix(out, "removed node node3 (") {
		t.Fatalf("remove-node: %q", out)
	}
	waitStatus(t, n1.http, "node3 removed", func(v clusterView) bool { return v.member("node3").State == "removed" })
}
