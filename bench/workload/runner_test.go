package workload

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/bench/report"
)

func run(t *testing.T, tg Target, cfg Config) report.Run {
	t.Helper()
	got, err := Run(context.Background(), tg, cfg)
	if err != nil {
		t.Fatalf("%s: %v", cfg.Workload, err)
	}
	return got
}

func TestKeyNames(t *testing.T) {
	for i, want := range map[uint64]string{0: "k.00000000.00", 7: "k.00000000.07", 123: "k.00000001.23", 9_999_999_999: "k.99999999.99"} {
		if got := KeyName(i); got != want {
			t.Errorf("KeyName(%d) = %q, want %q", i, got, want)
		}
	}
	if GroupPrefix(250) != "k.00000002." {
		t.Fatal(GroupPrefix(250))
	}
	if !(KeyName(99) < KeyName(100) && KeyName(100) < KeyName(1000)) {
		t.Fatal("key names do not sort as numbers")
	}
}

// Inserts become visible to readers only once every earlier insert
// finished.
func TestInsertsPublishAContiguousPrefix(t *testing.T) {
	s := newInserts(10)
	a, b, c := s.reserve(), s.reserve(), s.reserve()
	if a != 10 || b != 11 || c != 12 {
		t.Fatal("reserve order")
	}
	s.finish(b)
	if s.visible.Load() != 10 {
		t.Fatal("11 published before 10 finished")
	}
	s.finish(a)
	if s.visible.Load() != 12 {
		t.Fatalf("visible %d, want 12", s.visible.Load())
	}
	s.finish(c)
	if s.visible.Load() != 13 {
		t.Fatal("13")
	}
}

func TestOpCountBoundsTheMeasuredOps(t *testing.T) {
	m := newMem()
	r := run(t, m, Config{Workload: Put, Clients: 8, Ops: 500, Keyspace: 50})
	if r.Ops != 500 || r.Errors != 0 {
		t.Fatalf("ops %d errors %d, want 500 and 0", r.Ops, r.Errors)
	}
	if r.Latency.Count != 500 || r.OpsPerSec <= 0 || r.BytesPerSec != r.OpsPerSec*128 {
		t.Fatalf("latency count %d, %f ops/s, %f B/s", r.Latency.Count, r.OpsPerSec, r.BytesPerSec)
	}
	if m.setups != 1 || m.teardown != 1 || m.conns != 8 {
		t.Fatalf("setups %d teardowns %d connections %d", m.setups, m.teardown, m.conns)
	}
}

// --in-flight: each client's connection carries that many requests at
// once, from as many requesters, and is opened and closed once.
func TestInFlightSharesEachConnection(t *testing.T) {
	m := newMem()
	m.delay = 2 * time.Millisecond
	r := run(t, m, Config{Workload: Put, Clients: 2, InFlight: 8, Ops: 400, Keyspace: 50})
	if r.Ops != 400 || r.Errors != 0 || r.Params.InFlight != 8 {
		t.Fatalf("ops %d errors %d in-flight %d", r.Ops, r.Errors, r.Params.InFlight)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conns != 2 || m.closes != 2 {
		t.Fatalf("%d connections opened, %d closed; want 2 and 2", m.conns, m.closes)
	}
	// Eight requesters sleeping 2 ms per request overlap; more than
	// eight would mean the connections were not shared as configured.
	if m.maxShared < 2 || m.maxShared > 8 {
		t.Fatalf("at most %d requests in flight on one connection, want 2-8", m.maxShared)
	}
}

// A timed open-loop run sends rate × duration operations, measured after
// the warm-up only.
func TestOpenLoopRateDurationAndWarmup(t *testing.T) {
	m := newMem()
	r := run(t, m, Config{Workload: Put, Clients: 4, Rate: 400, Duration: 500 * time.Millisecond,
		Warmup: 250 * time.Millisecond, ProgressInterval: 100 * time.Millisecond})
	if r.Ops < 190 || r.Ops > 201 {
		t.Fatalf("%d measured ops, want about 200 (400/s for 0.5 s)", r.Ops)
	}
	if r.Elapsed < 0.45 || r.Elapsed > 5 {
		t.Fatalf("measured for %.2fs", r.Elapsed)
	}
	m.mu.Lock()
	total := len(m.log)
	m.mu.Unlock()
	if total < 290 {
		t.Fatalf("%d puts in all: the warm-up's ~100 should have run too", total)
	}
	if r.Service == nil {
		t.Fatal("open-loop run without service time")
	}
	if len(r.Intervals) < 3 {
		t.Fatalf("%d intervals", len(r.Intervals))
	}
	for _, iv := range r.Intervals {
		if iv.T <= 0 {
			t.Fatalf("interval at %.2fs is inside the warm-up", iv.T)
		}
	}
}

// Ctrl-C: the run stops at once and reports what it measured.
func TestInterruptReportsPartialResults(t *testing.T) {
	m := newMem()
	m.delay = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	cfg := Config{Workload: Put, Clients: 4, Duration: time.Minute, ProgressInterval: 50 * time.Millisecond,
		Progress: func(p Progress) {
			if p.Phase == "run" && p.Elapsed > 200*time.Millisecond {
				once.Do(cancel)
			}
		}}
	start := time.Now()
	r, err := Run(ctx, m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("interrupt did not stop the run")
	}
	if !r.Interrupted || r.Ops == 0 || r.Errors != 0 {
		t.Fatalf("interrupted %v, ops %d, errors %d", r.Interrupted, r.Ops, r.Errors)
	}
	if m.teardown != 1 {
		t.Fatal("an interrupted run must still clean up")
	}
}

func TestErrorsAreCountedByClass(t *testing.T) {
	m := newMem()
	m.fail = func(op, key string) error {
		switch {
		case strings.HasSuffix(key, "1"):
			return fmt.Errorf("slow: %w", ErrTimeout)
		case strings.HasSuffix(key, "2"):
			return fmt.Errorf("no leader: %w", ErrUnavailable)
		case strings.HasSuffix(key, "3"):
			return errors.New("disk on fire")
		}
		return nil
	}
	r := run(t, m, Config{Workload: Put, Clients: 2, Ops: 2000, Keyspace: 1000, Rate: 100000})
	c := r.ErrorClasses
	if c[ClassTimeout] == 0 || c[ClassUnavailable] == 0 || c[ClassOther] == 0 || len(c) != 3 {
		t.Fatalf("classes %v", c)
	}
	if r.Errors != c[ClassTimeout]+c[ClassUnavailable]+c[ClassOther] {
		t.Fatal("errors do not add up")
	}
	if got := r.ErrorSamples[ClassOther]; len(got) != 1 || got[0] != "disk on fire" {
		t.Fatalf("samples %v", got)
	}
	if r.Ops+r.Errors != 2000 {
		t.Fatalf("ops %d + errors %d != 2000", r.Ops, r.Errors)
	}
}

// Every workload runs end to end on the in-memory target.
func TestEveryWorkloadRuns(t *testing.T) {
	for _, name := range []string{Put, Get, "mixed-a", "mixed-b", "mixed-c", "mixed-d", "mixed-e", "mixed-f", CAS, Watch, Keys, History, BucketCreate, Large} {
		t.Run(name, func(t *testing.T) {
			m := newMem()
			r := run(t, m, Config{Workload: name, Clients: 4, Ops: 200, Keyspace: 300, Watchers: 3})
			if r.Ops == 0 || r.Errors != 0 {
				t.Fatalf("ops %d errors %d %v %v", r.Ops, r.Errors, r.ErrorClasses, r.ErrorSamples)
			}
			if r.Ops+r.Conflicts != 200 {
				t.Fatalf("ops %d + conflicts %d != 200", r.Ops, r.Conflicts)
			}
			switch name {
			case Watch:
				if r.Delivery == nil || r.Deliveries != r.ExpectedDeliveries || r.Deliveries != 3*r.Ops {
					t.Fatalf("deliveries %d of %d", r.Deliveries, r.ExpectedDeliveries)
				}
			case BucketCreate:
				if len(m.buckets) != 0 {
					t.Fatalf("%d created buckets left behind", len(m.buckets))
				}
			case "mixed-a":
				if _, ok := r.ByOp["read"]; !ok || len(r.ByOp) != 2 {
					t.Fatalf("by op: %v", r.ByOp)
				}
			}
		})
	}
}

func TestUnsupportedWorkloadIsReportedNotRun(t *testing.T) {
	m := newMem()
	m.unsup = map[string]string{BucketCreate: "no buckets here"}
	r := run(t, m, Config{Workload: BucketCreate, Ops: 10})
	if r.Unsupported != "no buckets here" || m.conns != 0 || r.Ops != 0 {
		t.Fatalf("%+v", r)
	}
}

// One client with a fixed seed touches the same keys in the same order on
// every run; another seed does not.
func TestRunsAreReproducibleFromTheSeed(t *testing.T) {
	keys := func(seed uint64) []string {
		m := newMem()
		run(t, m, Config{Workload: "mixed-a", Clients: 1, Ops: 300, Keyspace: 500, Seed: seed})
		m.mu.Lock()
		defer m.mu.Unlock()
		return append([]string(nil), m.log...)
	}
	a, b, c := keys(7), keys(7), keys(8)
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different operations")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds, same operations")
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{
		{Workload: "nope"},
		{Workload: "mixed-z"},
		{Workload: Put, Clients: -1},
		{Workload: Put, Bucket: Bucket{Storage: "tape"}},
		{Workload: Put, ValueSize: "lots"},
		{Workload: Put, KeyDist: "hotspot"},
		{Workload: Watch, ValueSize: "4"},
		{Workload: History, Bucket: Bucket{History: 1}},
		{Workload: Put, Bucket: Bucket{History: 65}},
		{Workload: Put, Duration: 2 * time.Hour},
		{Workload: Put, InFlight: -1},
		{Workload: Put, InFlight: 5000},
	} {
		if err := c.ApplyDefaults(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	c := Config{Workload: "mixed-d"}
	if err := c.ApplyDefaults(); err != nil || c.KeyDist != "latest" || c.DisplayName() != "mixed-d" {
		t.Fatalf("%v %+v", err, c)
	}
}

func TestProgressLine(t *testing.T) {
	p := Progress{Target: "cairn", Workload: "put", Phase: "run", Elapsed: 3 * time.Second,
		Remaining: 7 * time.Second, OpsPerSec: 12345.6, P99: 3140 * time.Microsecond, Errors: 2}
	if got, want := p.String(), "cairn put run    3s 12,346 ops/s  p99 3.14ms  errors 2  7s left"; got != want {
		t.Fatalf("\n got %q\nwant %q", got, want)
	}
	if Thousands(1234567) != "1,234,567" || Thousands(12) != "12" || Thousands(-1000) != "-1,000" {
		t.Fatal("Thousands")
	}
}
