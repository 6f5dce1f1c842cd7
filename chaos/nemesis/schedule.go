package nemesis

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Config is a fault schedule.
type Config struct {
	Faults []string // names, as Resolve returns them
	// Interval is the quiet time before each fault; Hold how long a
	// fault lasts (each draws between half and one and a half times it).
	Interval, Hold time.Duration
	// Buckets are the workload buckets: leader faults target their
	// leaders, and recovery waits for them.
	Buckets []string
	// RecoverTimeout bounds the wait for the cluster to be healthy again
	// after healing.
	RecoverTimeout time.Duration
	Seed           uint64
	// Clock timestamps events on the run's clock.
	Clock  func() int64
	Logger *slog.Logger
}

// Event is one fault.
type Event struct {
	Fault string `json:"fault"`
	Desc  string `json:"desc"`
	// Start and End (healed) are on the run's clock (ns).
	Start int64 `json:"start_ns"`
	End   int64 `json:"end_ns"`
	// Recovery is how long the cluster took to be healthy from the start
	// of healing (restarting killed nodes included).
	Recovery  time.Duration `json:"recovery_ns"`
	Recovered bool          `json:"recovered"`
	Err       string        `json:"error,omitempty"`
}

// Nemesis runs a schedule.
type Nemesis struct {
	cfg Config
	t   Target
	rng *rand.Rand

	mu      sync.Mutex
	events  []Event
	current string // the fault in force ("" none)
}

// New makes a schedule over the target; the faults must come from
// Resolve.
func New(cfg Config, t Target) *Nemesis {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Nemesis{cfg: cfg, t: t, rng: rand.New(rand.NewPCG(cfg.Seed, 0x6e656d))}
}

// Run injects faults until ctx ends, cycling through the faults in a
// shuffled order so each is used about as often; the fault in force when
// ctx ends is healed before Run returns (healing gets its own time).
func (n *Nemesis) Run(ctx context.Context) {
	if len(n.cfg.Faults) == 0 {
		return
	}
	var order []string
	for ctx.Err() == nil {
		if !sleep(ctx, n.jitter(n.cfg.Interval)) {
			return
		}
		if len(order) == 0 {
			order = append([]string(nil), n.cfg.Faults...)
			n.rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		}
		name := order[0]
		order = order[1:]
		n.one(ctx, name)
	}
}

func (n *Nemesis) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + time.Duration(n.rng.Int64N(int64(d)))
}

// one injects, holds, heals and waits for recovery.
func (n *Nemesis) one(ctx context.Context, name string) {
	f, _ := lookup(name)
	e := &env{t: n.t, rng: n.rng, buckets: n.cfg.Buckets, hold: n.jitter(n.cfg.Hold)}
	ev := Event{Fault: name, Start: n.cfg.Clock()}
	n.setCurrent(name)
	defer n.setCurrent("")
	lg := n.cfg.Logger
	desc, h, err := f.inject(ctx, e)
	ev.Desc = desc
	if err != nil {
		ev.Err = "inject: " + err.Error()
		lg.Warn("fault failed", "fault", name, "err", err)
	} else {
		lg.Info("fault", "fault", name, "what", desc)
		sleep(ctx, e.hold)
	}
	// Healing and recovery run even when the run is ending.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.cfg.RecoverTimeout)
	defer cancel()
	healed := time.Now()
	if h != nil {
		if err := h(hctx); err != nil {
			ev.Err = join(ev.Err, "heal: "+err.Error())
		}
	}
	ev.End = n.cfg.Clock()
	if err := n.recover(hctx); err != nil {
		ev.Err = join(ev.Err, "recovery: "+err.Error())
		lg.Warn("cluster did not recover", "fault", name, "err", err)
	} else {
		ev.Recovered = true
	}
	ev.Recovery = time.Since(healed)
	lg.Info("healed", "fault", name, "recovery", ev.Recovery.Round(time.Millisecond), "recovered", ev.Recovered)
	n.mu.Lock()
	n.events = append(n.events, ev)
	n.mu.Unlock()
}

// recover starts nodes that are down (crashed on their own, or stopped
// by a full disk) and waits until the cluster is healthy.
func (n *Nemesis) recover(ctx context.Context) error {
	c := n.t.Cluster
	var down []int
	for i := range c.Size() {
		if !c.Running(i) {
			down = append(down, i)
		}
	}
	if len(down) > 0 {
		if err := restartAll(ctx, c, down); err != nil {
			return err
		}
	}
	return c.WaitHealthy(ctx, n.cfg.Buckets)
}

// Recover is recover for the harness: used before the final checks.
func (n *Nemesis) Recover(ctx context.Context) error {
	if n.t.Net != nil {
		if err := n.t.Net.Heal(); err != nil {
			return err
		}
	}
	return n.recover(ctx)
}

func (n *Nemesis) setCurrent(s string) {
	n.mu.Lock()
	n.current = s
	n.mu.Unlock()
}

// Current is the fault in force ("" none).
func (n *Nemesis) Current() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.current
}

// Events are the faults injected so far.
func (n *Nemesis) Events() []Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Event(nil), n.events...)
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return fmt.Sprintf("%s; %s", a, b)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
