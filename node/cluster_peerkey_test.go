package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/replication/transport"
	"github.com/cairnkv/cairn/storage"
	"go.etcd.io/raft/v3/raftpb"
)

// With --peer-key, a cluster forms and replicates as without, and
// nothing from a transport that does not hold the key (none, or another)
// reaches the node: a heartbeat of a far higher term sent to the meta
// group leaves its term alone, and a call to join the cluster gets no
// answer. Without a key the same heartbeat gets through (the term jumps)
// and the stranger becomes a member of the meta group, which is what the
// key is for.
func TestPeerKeyKeepsStrangersOut(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'k'}, 32))
	for _, tc := range []struct {
		name        string
		cluster     string // the nodes' key
		stranger    []byte // the forger's
		getsThrough bool
	}{
		{"keyed cluster, keyless stranger", key, nil, false},
		{"keyed cluster, stranger with another key", key, bytes.Repeat([]byte{'x'}, 32), false},
		{"keyless cluster, keyless stranger", "", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startTestCluster(t, 3, func(cfg *Config) { cfg.PeerKey = tc.cluster })
			c.waitMetaVoters(3)
			n := c.nodes[1]
			writeAndReadEverywhere(t, c)

			stranger := dialerTo(t, n, strangerID, tc.stranger)
			if got := forgedHeartbeatGetsThrough(t, n, stranger); got != tc.getsThrough {
				t.Fatalf("forged heartbeat got through: %v, want %v", got, tc.getsThrough)
			}

			// The stranger asks to join the cluster, as a new node would
			// (again while the meta group re-elects: "not formed yet").
			join := func(d time.Duration) error {
				ctx, cancel := context.WithTimeout(context.Background(), d)
				defer cancel()
				_, err := stranger.Call(ctx, n.NodeID(), "cluster.join", []byte(fmt.Sprintf(`{"node":{"id":%d,"name":"intruder"}}`, strangerID)))
				return err
			}
			if tc.getsThrough {
				eventually(t, 15*time.Second, "the stranger in the meta group", func() error {
					if err := join(5 * time.Second); err != nil {
						return err
					}
					if !n.metaG.Members().Has(strangerID) {
						return fmt.Errorf("members %+v", n.metaG.Members())
					}
					return nil
				})
				return
			}
			// Refused at the handshake, the call waits out its
			// deadline.
			if err := join(time.Second); err == nil {
				t.Fatal("a stranger's join call got an answer from a keyed cluster")
			}
			if n.metaG.Members().Has(strangerID) {
				t.Fatal("the stranger became a member")
			}
			if !tc.getsThrough {
				writeAndReadEverywhere(t, c)
			}
		})
	}
}

// strangerID is the node ID a stranger's transport claims.
const strangerID = 1<<62 + 7

// forgedHeartbeatGetsThrough has stranger send n's meta group a
// heartbeat of a far higher term, as if from its leader, until n's term
// jumps (true) or n refused the stranger's connection and the stranger
// saw it go down (false).
func forgedHeartbeatGetsThrough(t *testing.T, n *Node, stranger *transport.Transport) bool {
	t.Helper()
	g := n.metaG
	term := g.Term()
	lead := g.Leader()
	if lead == n.NodeID() {
		for _, m := range g.Members().Voters {
			if m != n.NodeID() {
				lead = m
				break
			}
		}
	}
	forged := raftpb.Message{Type: raftpb.MsgHeartbeat, From: lead, To: n.NodeID(), Term: term + 1000}
	rejectedBefore := n.cluster.tr.Stats().ConnsRejected
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		stranger.Send(storage.GroupID(g.ID()), []raftpb.Message{forged})
		if g.Term() >= term+1000 || (n.cluster.tr.Stats().ConnsRejected > rejectedBefore && stranger.Stats().Peers[n.NodeID()].Down) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return g.Term() >= term+1000
}

// writeAndReadEverywhere writes a key through node 1 to a bucket on all
// three nodes and reads it back through each.
func writeAndReadEverywhere(t *testing.T, c *testCluster) {
	t.Helper()
	ctx := testCtx(t)
	name := fmt.Sprintf("pk%d", time.Now().UnixNano())
	if _, err := c.nodes[1].CreateBucket(ctx, BucketConfig{Name: name, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	rev, err := c.bucketOn(1, name).Put(ctx, "k", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if e, err := c.bucketOn(i, name).Get(ctx, "k", ReadOptions{}); err != nil || e.Revision != rev {
			t.Fatalf("get on node %d: %+v %v", i, e, err)
		}
	}
}

// dialerTo returns a peer transport that claims node ID id, holds key
// (none when nil) and reaches only n: what a stranger or a fuzzer sends
// to n's peer port from.
func dialerTo(t testing.TB, n *Node, id uint64, key []byte) *transport.Transport {
	return dialerWith(t, n, id, func(cfg *transport.Config) { cfg.Key = key })
}

// dialerWith is dialerTo with the transport's configuration tuned.
func dialerWith(t testing.TB, n *Node, id uint64, tune func(*transport.Config)) *transport.Transport {
	t.Helper()
	addr := n.cluster.tr.Addr().String()
	cfg := transport.DefaultConfig(id, "127.0.0.1:0")
	cfg.Resolve = func(to uint64) (string, bool) { return addr, to == n.NodeID() }
	tune(&cfg)
	cfg.ReconnectMin, cfg.ReconnectMax = 10*time.Millisecond, 20*time.Millisecond
	cfg.Logger = slog.New(slog.DiscardHandler)
	tr, err := transport.New(cfg, nopHandler{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// nopHandler is a transport handler for a node that only sends.
type nopHandler struct{}

func (nopHandler) HandleRaft(uint64, []raftpb.Message)                     {}
func (nopHandler) ReportUnreachable(uint64, uint64)                        {}
func (nopHandler) ReportSnapshot(uint64, uint64, bool)                     {}
func (nopHandler) ReceiveSnapshot(uint64, raftpb.Message, io.Reader) error { return errors.New("no") }
func (nopHandler) OpenSnapshot(uint64, raftpb.SnapshotMetadata) (io.ReadCloser, error) {
	return nil, errors.New("no")
}

// A peer key that is not base64 of at least 16 bytes stops the node at
// start, with a message saying what is wrong.
func TestPeerKeyMustBeValid(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"not base64!", "peer-key: key 1 is not base64"},
		{base64.StdEncoding.EncodeToString([]byte("8 bytes!")), "peer-key: key 1 has 8 bytes; at least 16"},
		{base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'k'}, 32)) + ",short", "peer-key: key 2 is not base64"},
		{base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'k'}, 32)) + "," + base64.StdEncoding.EncodeToString([]byte("8 bytes!")), "peer-key: key 2 has 8 bytes"},
	} {
		c := &testCluster{t: t, nodes: map[int]*Node{}, dirs: map[int]string{1: t.TempDir()}}
		cfg := c.config(1, 1)
		cfg.PeerKey = tc.key
		n, err := New(cfg)
		if err == nil {
			n.Close()
			t.Fatalf("key %q: the node started", tc.key)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("key %q: %v, want %q", tc.key, err, tc.want)
		}
	}
}

// A leadership transfer to a node that is not a voter of the group (a
// learner, or no member at all) is refused at once: raft ignores it, and
// the wait for the new leader used to last until the caller gave up.
func TestTransferToANonVoterIsRefused(t *testing.T) {
	n := startNode(t, "")
	mustBucket(t, n, BucketConfig{Name: "kv"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err := n.transferLocal(ctx, "kv", 12345)
	if err == nil || !strings.Contains(err.Error(), "not a voter") {
		t.Fatalf("transfer to a stranger: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refused only after %v", d)
	}
}

// Halfway through the first step of changing the key (docs/operations.md),
// one node holds the old key alone and the others hold it and accept
// the new one: the cluster forms and replicates.
func TestPeerKeyChangeFirstStep(t *testing.T) {
	old := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'o'}, 32))
	next := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'n'}, 32))
	c := startTestCluster(t, 3, func(cfg *Config) {
		cfg.PeerKey = old + "," + next
		if cfg.Name == "n1" {
			cfg.PeerKey = old
		}
	})
	c.waitMetaVoters(3)
	writeAndReadEverywhere(t, c)
}

// The same refusal reaches an operator whose request went through a
// replica that does not lead: the leader's 400 comes back over the
// node-to-node call as ErrInvalidRequest (what TransferLeader passes on
// at once), not as a failure that sends it on to the next replica and
// ends in "503 no replica could transfer leadership".
func TestTransferToANonVoterIsRefusedRemotely(t *testing.T) {
	c := startTestCluster(t, 3, nil)
	c.waitMetaVoters(3)
	ctx := testCtx(t)
	if _, err := c.nodes[1].CreateBucket(ctx, BucketConfig{Name: "tr", Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	lead := c.bucketLeader("tr")
	via := c.nodes[lead%3+1]
	start := time.Now()
	err := via.cluster.call(ctx, c.nodes[lead].NodeID(), "group.transfer", groupRequest{Bucket: "tr", To: 12345}, nil)
	if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), "not a voter") {
		t.Fatalf("transfer to a stranger through node %d: %v", lead%3+1, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refused only after %v", d)
	}
}
