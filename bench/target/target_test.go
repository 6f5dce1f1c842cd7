package target

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/bench/report"
	"github.com/cairnkv/cairn/bench/workload"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsTargets are the NATS KV servers the tests drive: cairn in-process
// and an embedded nats-server, through the same client code.
var natsTargets = []struct {
	name  string
	start func(testing.TB) string
}{
	{Cairn, startCairn},
	{NATSServer, startNATS},
}

func runOn(t *testing.T, tg workload.Target, cfg workload.Config) report.Run {
	t.Helper()
	if cfg.OpTimeout == 0 {
		cfg.OpTimeout = 10 * time.Second
	}
	if cfg.Duration == 0 {
		cfg.Duration = 10 * time.Second // a bound; Ops ends these runs first
	}
	r, err := workload.Run(context.Background(), tg, cfg)
	if err != nil {
		t.Fatalf("%s on %s: %v", cfg.Workload, tg.Name(), err)
	}
	return r
}

// Every workload against cairn and nats-server, small and bounded by op
// count: the same nats.go code must work unchanged against both.
func TestWorkloadsOnCairnAndNATSServer(t *testing.T) {
	for _, tc := range natsTargets {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.start(t)
			tg := NewNATS(tc.name, url)
			t.Cleanup(func() { _ = tg.Close() })
			for _, w := range []string{workload.Put, workload.Get, "mixed-a", "mixed-d", "mixed-e", "mixed-f",
				workload.CAS, workload.Watch, workload.Keys, workload.History, workload.BucketCreate, workload.Large} {
				cfg := workload.Config{Workload: w, Clients: 4, Ops: 40, Keyspace: 200, Watchers: 2, Seed: 1}
				switch w {
				case workload.Keys:
					cfg.Ops = 5
				case workload.History:
					cfg.Keyspace, cfg.Bucket.History = 10, 4
				case workload.BucketCreate:
					cfg.Ops = 6
				case workload.Large:
					cfg.Keyspace, cfg.ValueSize = 8, "64KiB"
				}
				r := runOn(t, tg, cfg)
				if r.Errors != 0 || r.Ops+r.Conflicts != cfg.Ops {
					t.Errorf("%s: ops %d conflicts %d errors %d %v %v", w, r.Ops, r.Conflicts, r.Errors, r.ErrorClasses, r.ErrorSamples)
				}
				if w == workload.Watch && r.Deliveries != r.ExpectedDeliveries {
					t.Errorf("watch: %d of %d deliveries", r.Deliveries, r.ExpectedDeliveries)
				}
			}
			// The runs removed what they made.
			nc, err := nats.Connect(url)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			var left []string
			for name := range js.KeyValueStoreNames(context.Background()).Name() {
				left = append(left, name)
			}
			if len(left) != 0 {
				t.Errorf("buckets left behind: %v", left)
			}
		})
	}
}

// A short timed run with progress, as `cairn bench put` does it.
func TestTimedRunWithProgress(t *testing.T) {
	for _, tc := range natsTargets {
		t.Run(tc.name, func(t *testing.T) {
			tg := NewNATS(tc.name, tc.start(t))
			t.Cleanup(func() { _ = tg.Close() })
			var mu sync.Mutex
			var lines []string
			r := runOn(t, tg, workload.Config{
				Workload: workload.Put, Clients: 8, Duration: time.Second, Warmup: 200 * time.Millisecond,
				ProgressInterval: 200 * time.Millisecond,
				Progress: func(p workload.Progress) {
					mu.Lock()
					defer mu.Unlock()
					lines = append(lines, p.String())
				},
			})
			if r.Ops == 0 || r.Errors != 0 || r.Elapsed < 0.9 {
				t.Fatalf("ops %d errors %d elapsed %.2f", r.Ops, r.Errors, r.Elapsed)
			}
			mu.Lock()
			defer mu.Unlock()
			if !strings.Contains(strings.Join(lines, "\n"), tc.name+" put run") {
				t.Fatalf("no run progress in:\n%s", strings.Join(lines, "\n"))
			}
			t.Logf("%s: %.0f puts/s, p99 %.0f µs (%d progress lines)", tc.name, r.OpsPerSec, r.Latency.P99US, len(lines))
		})
	}
}

// A CAS race on one key: every attempt either wins or is counted as a
// conflict, never as an error.
func TestCASConflictsAreNotErrors(t *testing.T) {
	tg := NewNATS(Cairn, startCairn(t))
	t.Cleanup(func() { _ = tg.Close() })
	r := runOn(t, tg, workload.Config{Workload: workload.CAS, Clients: 8, Ops: 200, Keyspace: 1})
	if r.Errors != 0 || r.Ops+r.Conflicts != 200 || r.Ops == 0 {
		t.Fatalf("ops %d conflicts %d errors %d %v", r.Ops, r.Conflicts, r.Errors, r.ErrorSamples)
	}
	t.Logf("8 clients on 1 key: %d won, %d conflicts", r.Ops, r.Conflicts)
}

func TestNATSErrorsAreClassified(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{jetstream.ErrKeyNotFound, workload.ClassNotFound},
		{fmt.Errorf("x: %w", jetstream.ErrKeyRevisionMismatch), workload.ClassConflict},
		{nats.ErrTimeout, workload.ClassTimeout},
		{context.DeadlineExceeded, workload.ClassTimeout},
		{nats.ErrNoResponders, workload.ClassUnavailable},
		{nats.ErrMaxPayload, workload.ClassTooLarge},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, workload.ClassUnavailable},
		{errors.New("strange"), workload.ClassOther},
	} {
		if got := workload.Classify(natsErr(c.err)); got != c.want {
			t.Errorf("%v: %s, want %s", c.err, got, c.want)
		}
	}
}

func TestOpenRejectsUnknownTargets(t *testing.T) {
	if _, err := Open("redis", ""); err == nil {
		t.Fatal("redis accepted")
	}
	tg, err := Open(EtcdServer, "")
	if err != nil || tg.Unsupported(workload.BucketCreate) == "" || tg.Unsupported(workload.Put) != "" {
		t.Fatalf("etcd: %v", err)
	}
}
