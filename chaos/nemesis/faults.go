package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// heal undoes a fault.
type heal func(ctx context.Context) error

// env is what a fault acts on.
type env struct {
	t       Target
	rng     *rand.Rand
	buckets []string
	hold    time.Duration
}

// fault is one kind of fault.
type fault struct {
	name string
	help string
	// needs returns why the target cannot take this fault ("" if it can).
	needs func(t Target) string
	// inject starts the fault and says what it did.
	inject func(ctx context.Context, e *env) (string, heal, error)
}

func always(Target) string { return "" }

func needsNet(t Target) string {
	if t.Net == nil {
		return t.WhyNoNet
	}
	return ""
}

// catalog is every fault, in the order they are listed.
var catalog = []fault{
	{"kill", "SIGKILL a random node, restart it when healing", always, injectKill(pickRandom)},
	{"kill-leader", "SIGKILL the leader of a workload bucket", always, injectKill(pickLeader)},
	{"kill-majority", "SIGKILL a majority of the nodes at once, briefly (at most 5 s)", always, injectKillMajority},
	{"pause", "SIGSTOP a random node, SIGCONT when healing", always, injectPause(pickRandom)},
	{"pause-leader", "SIGSTOP the leader of a workload bucket", always, injectPause(pickLeader)},
	{"partition-halves", "split the nodes into a minority and a majority that cannot reach each other", needsNet, injectHalves},
	{"partition-bridge", "split the nodes into two sides that only one node still reaches both of", needsNet, injectBridge},
	{"partition-leader", "cut a bucket's leader off from every other node", needsNet, injectIsolateLeader},
	{"loss", "drop 20% of the packets between nodes", needsNet, injectLoss},
	{"delay", "delay every node's packets by 50 ms ± 25 ms (tc netem)", func(t Target) string {
		if why := needsNet(t); why != "" {
			return why
		}
		if err := t.Net.DelayAvailable(); err != nil {
			return err.Error()
		}
		return ""
	}, injectDelay},
	{"slow", "throttle what one random node, or every node, sends to 256 kbit/s with a 200 ms queue (tc tbf): a congested network", func(t Target) string {
		if why := needsNet(t); why != "" {
			return why
		}
		if err := t.Net.ThrottleAvailable(); err != nil {
			return err.Error()
		}
		return ""
	}, injectSlow},
	{"restart", "rolling restart: stop (SIGTERM) and start each node in turn", always, injectRollingRestart},
	{"member", "remove a random node from the cluster, wipe it, and add it back as a new node", func(t Target) string {
		if t.Members == nil {
			return t.WhyNoMembers
		}
		return ""
	}, injectMember},
	{"disk", "fill a random node's disk (a small tmpfs) until writes fail with ENOSPC", func(t Target) string {
		if t.Disks == nil {
			return t.WhyNoDisks
		}
		return ""
	}, injectDisk},
}

// Names lists every fault with a line of help.
func Names() [][2]string {
	var out [][2]string
	for _, f := range catalog {
		out = append(out, [2]string{f.name, f.help})
	}
	return out
}

func lookup(name string) (fault, bool) {
	for _, f := range catalog {
		if f.name == name {
			return f, true
		}
	}
	return fault{}, false
}

// Resolve checks the faults asked for against the target. "all" means
// every fault the target can take; the others it cannot are returned in
// skipped with the reason. A fault named explicitly that the target
// cannot take is an error that says why.
func Resolve(names []string, t Target) (use []string, skipped map[string]string, err error) {
	skipped = map[string]string{}
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		switch {
		case n == "" || n == "none":
			continue
		case n == "all":
			for _, f := range catalog {
				if why := f.needs(t); why != "" {
					skipped[f.name] = why
				} else if !seen[f.name] {
					use, seen[f.name] = append(use, f.name), true
				}
			}
			continue
		}
		f, ok := lookup(n)
		if !ok {
			return nil, nil, fmt.Errorf("unknown nemesis %q (known: all, %s)", n, strings.Join(allNames(), ", "))
		}
		if why := f.needs(t); why != "" {
			return nil, nil, fmt.Errorf("nemesis %s cannot run here: %s", n, why)
		}
		if !seen[n] {
			use, seen[n] = append(use, n), true
		}
	}
	for _, n := range use {
		delete(skipped, n)
	}
	return use, skipped, nil
}

func allNames() []string {
	var out []string
	for _, f := range catalog {
		out = append(out, f.name)
	}
	return out
}

// running lists the slots whose process runs.
func running(c Cluster) []int {
	var out []int
	for i := range c.Size() {
		if c.Running(i) {
			out = append(out, i)
		}
	}
	return out
}

type picker func(ctx context.Context, e *env) (int, error)

func pickRandom(_ context.Context, e *env) (int, error) {
	r := running(e.t.Cluster)
	if len(r) == 0 {
		return -1, errors.New("no node is running")
	}
	return r[e.rng.IntN(len(r))], nil
}

func pickLeader(ctx context.Context, e *env) (int, error) {
	b := e.buckets[e.rng.IntN(len(e.buckets))]
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		i, err := e.t.Cluster.Leader(lctx, b)
		if err == nil {
			return i, nil
		}
		select {
		case <-lctx.Done():
			return -1, fmt.Errorf("finding the leader of %s: %w", b, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func injectKill(pick picker) func(context.Context, *env) (string, heal, error) {
	return func(ctx context.Context, e *env) (string, heal, error) {
		i, err := pick(ctx, e)
		if err != nil {
			return "", nil, err
		}
		c := e.t.Cluster
		name := c.Name(i)
		if err := c.Kill(i); err != nil {
			return "", nil, err
		}
		return "killed " + name, func(ctx context.Context) error { return c.Restart(ctx, i) }, nil
	}
}

func injectKillMajority(ctx context.Context, e *env) (string, heal, error) {
	c := e.t.Cluster
	r := running(c)
	e.rng.Shuffle(len(r), func(a, b int) { r[a], r[b] = r[b], r[a] })
	k := c.Size()/2 + 1
	if k > len(r) {
		k = len(r)
	}
	victims := r[:k]
	var names []string
	for _, i := range victims {
		names = append(names, c.Name(i))
		if err := c.Kill(i); err != nil {
			return "", nil, err
		}
	}
	e.hold = min(e.hold, 5*time.Second)
	return "killed " + strings.Join(names, ", "), func(ctx context.Context) error { return restartAll(ctx, c, victims) }, nil
}

// restartAll starts the slots in parallel: a majority has to come back
// together before any of them is ready.
func restartAll(ctx context.Context, c Cluster, slots []int) error {
	errs := make([]error, len(slots))
	var wg sync.WaitGroup
	for k, i := range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = c.Restart(ctx, i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func injectPause(pick picker) func(context.Context, *env) (string, heal, error) {
	return func(ctx context.Context, e *env) (string, heal, error) {
		i, err := pick(ctx, e)
		if err != nil {
			return "", nil, err
		}
		c := e.t.Cluster
		if err := c.Pause(i); err != nil {
			return "", nil, err
		}
		return "paused " + c.Name(i), func(context.Context) error { return c.Resume(i) }, nil
	}
}

func allSlots(c Cluster) []int {
	out := make([]int, c.Size())
	for i := range out {
		out[i] = i
	}
	return out
}

func netHeal(n Network) heal { return func(context.Context) error { return n.Heal() } }

func names(c Cluster, slots []int) string {
	var s []string
	for _, i := range slots {
		s = append(s, c.Name(i))
	}
	return strings.Join(s, " ")
}

func injectHalves(_ context.Context, e *env) (string, heal, error) {
	c := e.t.Cluster
	s := allSlots(c)
	e.rng.Shuffle(len(s), func(a, b int) { s[a], s[b] = s[b], s[a] })
	k := len(s) / 2
	if err := e.t.Net.Cut(halves(s, k)); err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("partitioned [%s] | [%s]", names(c, s[:k]), names(c, s[k:])), netHeal(e.t.Net), nil
}

func injectBridge(_ context.Context, e *env) (string, heal, error) {
	c := e.t.Cluster
	s := allSlots(c)
	if len(s) < 3 {
		return "", nil, errors.New("a bridge needs at least 3 nodes")
	}
	e.rng.Shuffle(len(s), func(a, b int) { s[a], s[b] = s[b], s[a] })
	if err := e.t.Net.Cut(bridge(s)); err != nil {
		return "", nil, err
	}
	rest := s[1:]
	k := len(rest) / 2
	return fmt.Sprintf("partitioned [%s] | [%s] bridged by %s", names(c, rest[:k]), names(c, rest[k:]), c.Name(s[0])), netHeal(e.t.Net), nil
}

func injectIsolateLeader(ctx context.Context, e *env) (string, heal, error) {
	i, err := pickLeader(ctx, e)
	if err != nil {
		return "", nil, err
	}
	if err := e.t.Net.Cut(isolate(allSlots(e.t.Cluster), i)); err != nil {
		return "", nil, err
	}
	return "isolated leader " + e.t.Cluster.Name(i), netHeal(e.t.Net), nil
}

func injectLoss(_ context.Context, e *env) (string, heal, error) {
	if err := e.t.Net.Loss(allSlots(e.t.Cluster), 0.2); err != nil {
		return "", nil, err
	}
	return "20% packet loss between all nodes", netHeal(e.t.Net), nil
}

func injectDelay(_ context.Context, e *env) (string, heal, error) {
	if err := e.t.Net.Delay(allSlots(e.t.Cluster), 50*time.Millisecond, 25*time.Millisecond); err != nil {
		return "", nil, err
	}
	return "50ms ± 25ms delay on all nodes", netHeal(e.t.Net), nil
}

// slowRate and slowQueue make a link congested, not cut: a heartbeat
// gets through after a wait, while a leader's appends to two followers
// and its replies exceed the rate under the workload's load, so the queue
// fills and the excess is dropped.
const (
	slowRate  = 256_000
	slowQueue = 200 * time.Millisecond
)

func injectSlow(ctx context.Context, e *env) (string, heal, error) {
	// Half the time one node (which may be a leader: its followers then
	// see appends late and partial), half the time all of them.
	slots, what := allSlots(e.t.Cluster), "all nodes"
	if e.rng.IntN(2) == 0 {
		i, err := pickRandom(ctx, e)
		if err != nil {
			return "", nil, err
		}
		slots, what = []int{i}, e.t.Cluster.Name(i)
	}
	if err := e.t.Net.Throttle(slots, slowRate, slowQueue); err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("%s throttled to %d kbit/s, %s queue", what, slowRate/1000, slowQueue), netHeal(e.t.Net), nil
}

func injectRollingRestart(ctx context.Context, e *env) (string, heal, error) {
	c := e.t.Cluster
	var done []string
	for _, i := range running(c) {
		if err := c.Stop(i); err != nil {
			return "", nil, err
		}
		if err := c.Restart(ctx, i); err != nil {
			return "", nil, err
		}
		if err := c.WaitHealthy(ctx, e.buckets); err != nil {
			return "", nil, fmt.Errorf("after restarting %s: %w", c.Name(i), err)
		}
		done = append(done, c.Name(i))
	}
	e.hold = 0
	return "restarted " + strings.Join(done, ", ") + " in turn", func(context.Context) error { return nil }, nil
}

func injectMember(ctx context.Context, e *env) (string, heal, error) {
	i, err := pickRandom(ctx, e)
	if err != nil {
		return "", nil, err
	}
	c, m := e.t.Cluster, e.t.Members
	old := c.Name(i)
	if err := m.Remove(ctx, i); err != nil {
		return "", nil, err
	}
	return "removed " + old + " (wiped; re-added as a new node when healing)", func(ctx context.Context) error { return m.Join(ctx, i) }, nil
}

func injectDisk(ctx context.Context, e *env) (string, heal, error) {
	i, err := pickRandom(ctx, e)
	if err != nil {
		return "", nil, err
	}
	c, d := e.t.Cluster, e.t.Disks
	if err := d.FillDisk(i); err != nil {
		_ = d.FreeDisk(i)
		return "", nil, err
	}
	return "filled the disk of " + c.Name(i), func(ctx context.Context) error {
		if err := d.FreeDisk(i); err != nil {
			return err
		}
		return c.Restart(ctx, i) // if it stopped on ENOSPC; else just waits until ready
	}, nil
}
