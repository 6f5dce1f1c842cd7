package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fake is a cluster of n nodes that records what was done to it.
type fake struct {
	mu        sync.Mutex
	n         int
	down      map[int]bool
	paused    map[int]bool
	leader    int
	actions   []string
	cuts      [][2]int
	loss      float64
	throttled []int
	removed   map[int]bool
	full      map[int]bool
}

func newFake(n int) *fake {
	return &fake{n: n, down: map[int]bool{}, paused: map[int]bool{}, removed: map[int]bool{}, full: map[int]bool{}, leader: 1}
}

func (f *fake) do(format string, args ...any) {
	f.mu.Lock()
	f.actions = append(f.actions, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fake) Size() int          { return f.n }
func (f *fake) Name(i int) string  { return fmt.Sprintf("n%d", i+1) }
func (f *fake) Running(i int) bool { f.mu.Lock(); defer f.mu.Unlock(); return !f.down[i] }
func (f *fake) Kill(i int) error {
	f.do("kill %d", i)
	f.mu.Lock()
	f.down[i] = true
	f.mu.Unlock()
	return nil
}
func (f *fake) Stop(i int) error {
	f.do("stop %d", i)
	f.mu.Lock()
	f.down[i] = true
	f.mu.Unlock()
	return nil
}
func (f *fake) Pause(i int) error    { f.do("pause %d", i); f.paused[i] = true; return nil }
func (f *fake) Resume(i int) error   { f.do("resume %d", i); delete(f.paused, i); return nil }
func (f *fake) FillDisk(i int) error { f.do("fill %d", i); f.full[i] = true; return nil }
func (f *fake) FreeDisk(i int) error { f.do("free %d", i); delete(f.full, i); return nil }
func (f *fake) Restart(_ context.Context, i int) error {
	f.do("restart %d", i)
	f.mu.Lock()
	delete(f.down, i)
	f.mu.Unlock()
	return nil
}
func (f *fake) Leader(context.Context, string) (int, error)     { return f.leader, nil }
func (f *fake) WaitHealthy(context.Context, []string) error     { return nil }
func (f *fake) Cut(pairs [][2]int) error                        { f.cuts = append(f.cuts, pairs...); return nil }
func (f *fake) Loss(_ []int, share float64) error               { f.loss = share; return nil }
func (f *fake) Delay([]int, time.Duration, time.Duration) error { return nil }
func (f *fake) DelayAvailable() error                           { return errors.New("no netem") }
func (f *fake) Throttle(slots []int, _ int, _ time.Duration) error {
	f.do("throttle %v", slots)
	f.throttled = slots
	return nil
}
func (f *fake) ThrottleAvailable() error { return nil }
func (f *fake) Heal() error              { f.do("heal"); f.cuts, f.loss, f.throttled = nil, 0, nil; return nil }
func (f *fake) Remove(_ context.Context, i int) error {
	f.do("remove %d", i)
	f.removed[i] = true
	f.down[i] = true
	return nil
}
func (f *fake) Join(ctx context.Context, i int) error {
	f.do("join %d", i)
	delete(f.removed, i)
	return f.Restart(ctx, i)
}

func target(f *fake, net bool) Target {
	t := Target{Cluster: f, Disks: f, Members: f}
	if net {
		t.Net = f
	} else {
		t.WhyNoNet = "not root"
	}
	return t
}

func TestResolve(t *testing.T) {
	f := newFake(3)
	use, skipped, err := Resolve([]string{"all"}, target(f, true))
	if err != nil || slices.Contains(use, "delay") || skipped["delay"] == "" || len(use) != len(catalog)-1 {
		t.Fatalf("all with net but no netem: use %v skipped %v err %v", use, skipped, err)
	}
	use, skipped, err = Resolve([]string{"all"}, target(f, false))
	if err != nil || slices.Contains(use, "partition-halves") || skipped["loss"] != "not root" {
		t.Fatalf("all without net: use %v skipped %v err %v", use, skipped, err)
	}
	if _, _, err := Resolve([]string{"kill", "partition-halves"}, target(f, false)); err == nil || !strings.Contains(err.Error(), "not root") {
		t.Fatalf("a named network fault without network: %v", err)
	}
	if _, _, err := Resolve([]string{"explode"}, target(f, true)); err == nil {
		t.Fatal("unknown nemesis accepted")
	}
	if use, _, err := Resolve([]string{"kill", "kill", "none"}, target(f, true)); err != nil || !slices.Equal(use, []string{"kill"}) {
		t.Fatalf("duplicates: %v %v", use, err)
	}
}

func TestTopologies(t *testing.T) {
	cases := []struct {
		name string
		got  [][2]int
		want [][2]int
	}{
		{"halves", halves([]int{0, 1, 2, 3, 4}, 2), [][2]int{{0, 2}, {0, 3}, {0, 4}, {1, 2}, {1, 3}, {1, 4}}},
		{"bridge", bridge([]int{2, 0, 1, 3, 4}), [][2]int{{0, 3}, {0, 4}, {1, 3}, {1, 4}}},
		{"isolate", isolate([]int{0, 1, 2}, 1), [][2]int{{1, 0}, {1, 2}}},
	}
	for _, c := range cases {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
}

// Every fault is injected and healed, and leaves the cluster whole.
func TestEachFaultHeals(t *testing.T) {
	for _, fl := range catalog {
		if fl.name == "delay" {
			continue // the fake has no netem
		}
		t.Run(fl.name, func(t *testing.T) {
			f := newFake(5)
			var clock int64
			n := New(Config{Faults: []string{fl.name}, Hold: time.Millisecond, Buckets: []string{"b"}, RecoverTimeout: time.Second,
				Clock: func() int64 { clock++; return clock }}, target(f, true))
			n.one(context.Background(), fl.name)
			evs := n.Events()
			if len(evs) != 1 || !evs[0].Recovered || evs[0].Err != "" || evs[0].Desc == "" {
				t.Fatalf("events %+v", evs)
			}
			if len(f.down) > 0 || len(f.paused) > 0 || len(f.cuts) > 0 || f.loss > 0 || len(f.throttled) > 0 || len(f.removed) > 0 || len(f.full) > 0 {
				t.Fatalf("not healed: %+v (actions %v)", f, f.actions)
			}
			if evs[0].Start >= evs[0].End {
				t.Fatalf("window %d..%d", evs[0].Start, evs[0].End)
			}
		})
	}
}

func TestLeaderFaultsTargetTheLeader(t *testing.T) {
	f := newFake(5)
	f.leader = 3
	n := New(Config{Faults: []string{"kill-leader"}, Hold: time.Millisecond, Buckets: []string{"b"}, RecoverTimeout: time.Second, Clock: func() int64 { return 0 }}, target(f, true))
	n.one(context.Background(), "kill-leader")
	n.one(context.Background(), "partition-leader")
	if !slices.Contains(f.actions, "kill 3") || !slices.Contains(f.actions, "restart 3") {
		t.Fatalf("actions %v", f.actions)
	}
	if ev := n.Events()[1]; ev.Desc != "isolated leader n4" {
		t.Fatalf("partition-leader: %q", ev.Desc)
	}
}

func TestKillMajorityKillsAMajority(t *testing.T) {
	f := newFake(5)
	n := New(Config{Hold: time.Hour, Buckets: []string{"b"}, RecoverTimeout: time.Second, Clock: func() int64 { return 0 }}, target(f, true))
	start := time.Now()
	n.one(context.Background(), "kill-majority")
	kills := 0
	for _, a := range f.actions {
		if strings.HasPrefix(a, "kill ") {
			kills++
		}
	}
	if kills != 3 {
		t.Fatalf("%d killed of 5: %v", kills, f.actions)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("held %v: a majority kill is brief", d)
	}
}

// Run stops when its context ends, healing the fault in force.
func TestRunStopsAndHeals(t *testing.T) {
	f := newFake(3)
	n := New(Config{Faults: []string{"pause"}, Interval: time.Millisecond, Hold: time.Hour, Buckets: []string{"b"}, RecoverTimeout: time.Second,
		Clock: func() int64 { return 0 }}, target(f, true))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for n.Current() == "" && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if len(f.paused) > 0 || len(n.Events()) != 1 {
		t.Fatalf("paused %v events %v", f.paused, n.Events())
	}
}
