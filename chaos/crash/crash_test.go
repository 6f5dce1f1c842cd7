package crash

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

const (
	bucketName = "crash"
	writers    = 6
)

// cluster is three in-process nodes, each on its own crashable memory
// filesystem, on addresses of their own (127.0.23.i).
type cluster struct {
	t     *testing.T
	fs    []*vfs.MemFS
	gates []*syncGate
	nodes []*node.Node
}

func config(i int) node.Config {
	cfg := node.DefaultConfig()
	cfg.Name = fmt.Sprintf("n%d", i+1)
	cfg.DataDir = "/data"
	addr := func(port int) string { return fmt.Sprintf("127.0.23.%d:%d", i+1, port) }
	cfg.ClientAddr, cfg.HTTPAddr = addr(14222), addr(18222)
	cfg.PeerAddr, cfg.GossipAddr = addr(16222), addr(17946)
	cfg.Join = []string{"127.0.23.1:17946", "127.0.23.2:17946", "127.0.23.3:17946"}
	cfg.Expect = 3
	cfg.TickInterval, cfg.ElectionTimeout = 20*time.Millisecond, 200*time.Millisecond
	var w io.Writer = io.Discard
	if os.Getenv("CAIRN_TEST_LOG") != "" {
		w = os.Stderr
	}
	cfg.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})).With("n", i+1)
	return cfg
}

// start opens node i on fs (all at once when forming).
func (c *cluster) startAll(fss []*vfs.MemFS) {
	c.t.Helper()
	c.fs = fss
	c.nodes = make([]*node.Node, len(fss))
	c.gates = make([]*syncGate, len(fss))
	errs := make([]error, len(fss))
	var wg sync.WaitGroup
	for i := range fss {
		c.gates[i] = &syncGate{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.nodes[i], errs[i] = node.New(config(i), node.Options{FS: slowSyncs(fss[i], c.gates[i], uint64(i))})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.t.Fatalf("starting the nodes: %v", err)
	}
}

func (c *cluster) closeAll() {
	for i := range c.nodes {
		c.close(i)
	}
}

func (c *cluster) close(i int) {
	c.gates[i].release()
	if c.nodes[i] != nil {
		_ = c.nodes[i].Close()
		c.nodes[i] = nil
	}
}

func (c *cluster) bucket(ctx context.Context, i int) *node.Bucket {
	c.t.Helper()
	for {
		b, err := c.nodes[i].Bucket(bucketName)
		if err == nil {
			if _, err = b.Info(ctx); err == nil { // a barrier: caught up
				return b
			}
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("bucket on n%d: %v", i+1, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// slowSyncs delays every sync by up to 20 ms before it starts, so that
// what a node does before its fsync (sending, acknowledging) has time to
// be seen by the others while the data is not yet durable: the window in
// which a power loss finds a node that promised more than its disk holds.
// On a memory filesystem a sync is otherwise instant and the window too
// narrow to hit. Syncs also wait at gate while it is held.
func slowSyncs(fs vfs.FS, gate *syncGate, seed uint64) vfs.FS {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 0x51))
	return errorfs.Wrap(fs, errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch op.Kind {
		case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
			mu.Lock()
			d := time.Duration(rng.IntN(20_000)) * time.Microsecond
			mu.Unlock()
			time.Sleep(d)
			gate.pass()
		}
		return nil
	}))
}

// syncGate stops a node's syncs at the moment of a simulated power loss.
// A power loss stops a node dead; the crash clone of its filesystem does
// not, and the node would go on running in memory: anything it then
// acknowledged or voted (each only after a sync) would be promised by a
// node that restarts without it, an amnesia no raft implementation
// survives and no real crash produces. Holding its syncs from before the
// clone until it is closed keeps it from promising anything more.
type syncGate struct {
	mu   sync.Mutex
	open chan struct{} // nil while not held; closed on release
}

func (g *syncGate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open == nil {
		g.open = make(chan struct{})
	}
}

func (g *syncGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open != nil {
		close(g.open)
		g.open = nil
	}
}

func (g *syncGate) pass() {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

type ack struct{ key, value string }

// load writes unique keys from several writers (through every node)
// until stop, and returns what was acknowledged.
func load(ctx context.Context, c *cluster, round int, acked chan<- ack) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := c.nodes[w%len(c.nodes)].Bucket(bucketName)
			if err != nil {
				return
			}
			for seq := 0; ctx.Err() == nil; seq++ {
				k := fmt.Sprintf("r%d.w%d.%d", round, w, seq)
				v := fmt.Sprintf("%d/%d/%d", round, w, seq)
				if _, err := b.Put(ctx, k, []byte(v)); err == nil {
					select {
					case acked <- ack{k, v}:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	}
	return &wg
}

// verify reads every acknowledged write from every node's own replica.
func verify(ctx context.Context, t *testing.T, c *cluster, acks []ack) {
	t.Helper()
	for i := range c.nodes {
		b := c.bucket(ctx, i)
		lost := 0
		for _, a := range acks {
			e, err := b.Get(ctx, a.key, node.ReadOptions{Stale: true})
			if err != nil || string(e.Value) != a.value {
				if lost++; lost <= 3 {
					t.Errorf("n%d lost acknowledged %s=%s: %v", i+1, a.key, a.value, err)
				}
			}
		}
		if lost > 0 {
			t.Errorf("n%d lost %d of %d acknowledged writes", i+1, lost, len(acks))
		}
	}
}

// roundsEnv sets how many crashes each case makes (default 2): more
// rounds, more chances to crash inside a narrow window.
const roundsEnv = "CAIRN_CHAOS_CRASH_ROUNDS"

// TestCrashClusterPowerLoss: write under load, then lose power on every
// node at once (or on one), keeping none or half of the data not yet
// synced; restart on what the disks kept: nothing acknowledged may be
// missing, on any node. Each case crashes several times in a row, each
// time after a random number of acknowledgements.
func TestCrashClusterPowerLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: three in-process nodes")
	}
	seed := uint64(time.Now().UnixNano())
	rounds := 2
	if v := os.Getenv(roundsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: give a number of rounds", roundsEnv, v)
		}
		rounds = n
	}
	t.Logf("seed %d, %d rounds per case (%s)", seed, rounds, roundsEnv)
	cases := []struct {
		name     string
		unsynced int   // share of unsynced data kept, percent
		victims  []int // nodes losing power
	}{
		{"all nodes, unsynced data lost", 0, []int{0, 1, 2}},
		{"all nodes, half the unsynced data kept", 50, []int{0, 1, 2}},
		{"one node, unsynced data lost", 0, []int{1}},
	}
	for k, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(k)))
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rounds)*time.Minute)
			defer cancel()
			c := &cluster{t: t}
			fss := []*vfs.MemFS{vfs.NewCrashableMem(), vfs.NewCrashableMem(), vfs.NewCrashableMem()}
			c.startAll(fss)
			defer c.closeAll()
			if _, err := c.nodes[0].CreateBucket(ctx, node.BucketConfig{Name: bucketName, History: 1, Replicas: 3}); err != nil {
				t.Fatal(err)
			}
			var acks []ack
			for round := range rounds {
				fss = crashRound(ctx, t, c, fss, rng, round, tc.unsynced, tc.victims, &acks)
				verify(ctx, t, c, acks)
				if t.Failed() {
					return
				}
			}
			// And the cluster still takes writes.
			b := c.bucket(ctx, 0)
			if _, err := b.Put(ctx, "after", []byte("crash")); err != nil {
				t.Fatalf("write after recovery: %v", err)
			}
		})
	}
}

// crashRound writes until a random number of acknowledgements, crashes
// the victims, restarts every node on what the disks kept, and returns
// the filesystems the cluster now runs on.
func crashRound(ctx context.Context, t *testing.T, c *cluster, fss []*vfs.MemFS, rng *rand.Rand, round, unsynced int, victims []int, acks *[]ack) []*vfs.MemFS {
	t.Helper()
	for i := range c.nodes {
		c.bucket(ctx, i)
	}
	target := 100 + rng.IntN(600)
	acked := make(chan ack, 1024)
	lctx, stop := context.WithCancel(ctx)
	wg := load(lctx, c, round, acked)
	n := 0
	for n < target {
		select {
		case a := <-acked:
			*acks = append(*acks, a)
			n++
		case <-ctx.Done():
			t.Fatalf("round %d: only %d acknowledgements", round, n)
		}
	}
	// The power loss: the victims' syncs stop (so from now on they can
	// promise nothing), then what their disks hold is taken.
	for _, v := range victims {
		c.gates[v].hold()
	}
	clones := make([]*vfs.MemFS, len(fss))
	copy(clones, fss)
	for _, v := range victims {
		clones[v] = fss[v].CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced, RNG: rng})
	}
	stop()
	wg.Wait()
	// The survivors stop first, while the victims still cannot sync;
	// then the victims, whose last words reach nobody who outlives them.
	for i := range c.nodes {
		if !slices.Contains(victims, i) {
			c.close(i)
		}
	}
	c.closeAll()
	t.Logf("round %d: crashed %v after %d acknowledgements", round, victims, target)
	c.startAll(clones)
	return clones
}
