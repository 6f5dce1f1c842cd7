package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// partitionNet is the address range of the partition test's nodes; no
// other test uses it, so its firewall rules touch nothing else.
const partitionNet = "127.0.2"

// firewall drops packets between loopback addresses with iptables, in a
// chain of its own that is removed when the test ends.
type firewall struct {
	t     *testing.T
	chain string
}

func iptables(args ...string) error {
	out, err := exec.Command("iptables", append([]string{"-w", "5"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// newFirewall needs root and iptables; without them the test is skipped,
// saying why.
func newFirewall(t *testing.T) *firewall {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: the partition test cuts loopback traffic with iptables and needs root")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("SKIPPED: the partition test needs iptables (apt-get install iptables)")
	}
	f := &firewall{t: t, chain: fmt.Sprintf("cairn-part-%d", os.Getpid())}
	_ = iptables("-D", "INPUT", "-j", f.chain)
	_ = iptables("-F", f.chain)
	_ = iptables("-X", f.chain)
	if err := iptables("-N", f.chain); err != nil {
		t.Skipf("SKIPPED: iptables does not work here: %v", err)
	}
	if err := iptables("-I", "INPUT", "-j", f.chain); err != nil {
		_ = iptables("-X", f.chain)
		t.Skipf("SKIPPED: iptables does not work here: %v", err)
	}
	t.Cleanup(func() {
		_ = iptables("-D", "INPUT", "-j", f.chain)
		_ = iptables("-F", f.chain)
		_ = iptables("-X", f.chain)
	})
	return f
}

// split drops every packet between the two sides. Gossip over TCP is
// dialed from an address the kernel picks, so TCP to the gossip ports is
// dropped whole; gossip over UDP and the peer transport (dialed from the
// node's own address) are cut by address.
func (f *firewall) split(a, b []int) {
	f.t.Helper()
	for _, x := range a {
		for _, y := range b {
			for _, r := range [][2]int{{x, y}, {y, x}} {
				src, dst := fmt.Sprintf("%s.%d", partitionNet, r[0]), fmt.Sprintf("%s.%d", partitionNet, r[1])
				if err := iptables("-A", f.chain, "-s", src, "-d", dst, "-j", "DROP"); err != nil {
					f.t.Fatal(err)
				}
			}
		}
	}
	if err := iptables("-A", f.chain, "-p", "tcp", "-d", partitionNet+".0/24", "--dport", "17946", "-j", "DROP"); err != nil {
		f.t.Fatal(err)
	}
}

func (f *firewall) heal() {
	f.t.Helper()
	if err := iptables("-F", f.chain); err != nil {
		f.t.Fatal(err)
	}
}

// A three-node cluster is partitioned: the bucket's leader alone on one
// side. The minority can neither write nor read linearizably (its reads
// fail rather than return what the majority has overwritten), nor change
// the registry; the majority elects a leader and writes. The partition
// outlasts gossip's patience with dead members. After healing, gossip
// merges again, and every node has the majority's writes and agrees.
func TestClusterPartitionMinorityCannotWrite(t *testing.T) {
	fw := newFirewall(t)
	tc := startTestCluster(t, 3, func(c *Config) {
		var i int
		fmt.Sscanf(c.Name, "n%d", &i)
		c.PeerAddr = fmt.Sprintf("%s.%d:16222", partitionNet, i)
		c.GossipAddr = fmt.Sprintf("%s.%d:17946", partitionNet, i)
		c.Join = []string{partitionNet + ".1:17946", partitionNet + ".2:17946"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	waitMetaVoters(t, tc, 3)
	if _, err := tc.nodes[1].CreateBucket(ctx, BucketConfig{Name: "p", Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := tc.bucketOn(1+i%3, "p").Put(ctx, fmt.Sprintf("k.%d", i), []byte("before")); err != nil {
			t.Fatal(err)
		}
	}
	var minority int
	eventually(t, 10*time.Second, "a bucket leader", func() error {
		for i := range tc.nodes {
			if tc.bucketOn(i, "p").group.IsLeader() {
				minority = i
				return nil
			}
		}
		return fmt.Errorf("none")
	})
	var majority []int
	for i := 1; i <= 3; i++ {
		if i != minority {
			majority = append(majority, i)
		}
	}
	lone := tc.bucketOn(minority, "p")
	fw.split([]int{minority}, majority)
	cut := time.Now()

	// The majority elects a new leader and writes.
	var rev uint64
	eventually(t, 30*time.Second, "a write on the majority side", func() (err error) {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		rev, err = tc.bucketOn(majority[0], "p").Put(wctx, "k.0", []byte("majority"))
		return err
	})
	t.Logf("the majority wrote %s after the cut", time.Since(cut).Round(time.Millisecond))
	for i := 1; i < 10; i++ {
		if _, err := tc.bucketOn(majority[i%2], "p").Put(ctx, fmt.Sprintf("k.%d", i), []byte("majority")); err != nil {
			t.Fatalf("write on the majority side: %v", err)
		}
	}

	// The minority cannot write, read linearizably or change the registry.
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		t.Cleanup(cancel)
		return c
	}
	if _, err := lone.Put(short(), "k.minority", []byte("x")); err == nil {
		t.Fatal("a write on the minority side succeeded")
	}
	if e, err := lone.Get(short(), "k.0", ReadOptions{}); err == nil {
		t.Fatalf("a linearizable read on the minority side returned %q (rev %d) while the majority has rev %d", e.Value, e.Revision, rev)
	}
	if e, err := lone.Get(ctx, "k.0", ReadOptions{Stale: true}); err != nil || string(e.Value) != "before" {
		t.Fatalf("a stale read on the minority side: %+v %v (the explicit option serves the local replica)", e, err)
	}
	if _, err := tc.nodes[minority].CreateBucket(short(), BucketConfig{Name: "minority"}); err == nil {
		t.Fatal("the minority side created a bucket")
	}
	if _, err := tc.nodes[majority[0]].CreateBucket(ctx, BucketConfig{Name: "majority", Replicas: 1}); err != nil {
		t.Fatalf("the majority side cannot create a bucket: %v", err)
	}

	// Gossip declares the other side dead on each side. memberlist stops
	// talking to a dead member after its gossip-to-the-dead time (15 s
	// in the local profile); the partition lasts longer than that, so
	// only membership's reconnects can merge the two sides again.
	eventually(t, 60*time.Second, "each side sees the other dead in gossip", func() error {
		for i, n := range tc.nodes {
			for j, o := range tc.nodes {
				if (i == minority) != (j == minority) && n.cluster.alive(o.NodeID()) {
					return fmt.Errorf("node %d still sees node %d alive", i, j)
				}
			}
		}
		return nil
	})
	time.Sleep(16 * time.Second)

	fw.heal()
	healed := time.Now()
	eventually(t, 30*time.Second, "gossip merges again: every node sees every other alive", func() error {
		for i, n := range tc.nodes {
			for j, o := range tc.nodes {
				if !n.cluster.alive(o.NodeID()) {
					return fmt.Errorf("node %d sees node %d down", i, j)
				}
			}
		}
		return nil
	})
	t.Logf("gossip merged %s after healing", time.Since(healed).Round(time.Millisecond))
	// Everyone agrees: every node's replica has the majority's writes and
	// nothing of the minority's, reads are linearizable everywhere again,
	// and the old leader takes writes.
	eventually(t, 60*time.Second, "every replica has the majority's writes", func() error {
		for i := 1; i <= 3; i++ {
			b := tc.bucketOn(i, "p")
			for k := range 10 {
				e, err := b.Get(ctx, fmt.Sprintf("k.%d", k), ReadOptions{Stale: true})
				if err != nil || string(e.Value) != "majority" {
					return fmt.Errorf("node %d k.%d: %+v %v", i, k, e, err)
				}
			}
			if _, err := b.Get(ctx, "k.minority", ReadOptions{Stale: true}); err == nil {
				return fmt.Errorf("node %d has the minority's write", i)
			}
		}
		return nil
	})
	t.Logf("all replicas agree %s after healing", time.Since(healed).Round(time.Millisecond))
	last := tc.bucketOn(majority[0], "p").state.Stats().Last
	for i := 1; i <= 3; i++ {
		b := tc.bucketOn(i, "p")
		e, err := b.Get(ctx, "k.0", ReadOptions{})
		if err != nil || e.Revision != rev {
			t.Fatalf("node %d linearizable read after healing: %+v %v", i, e, err)
		}
		if got := b.state.Stats().Last; got != last {
			t.Fatalf("node %d last revision %d, node %d has %d", i, got, majority[0], last)
		}
	}
	if _, err := lone.Put(ctx, "k.after", []byte("x")); err != nil {
		t.Fatalf("write through the old leader after healing: %v", err)
	}
	if _, err := tc.nodes[minority].BucketInfo(ctx, "majority"); err != nil {
		t.Fatalf("the old minority does not know the bucket the majority created: %v", err)
	}
}
