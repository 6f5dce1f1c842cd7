package target

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/cairnkv/cairn/bench/cluster"
	"github.com/cairnkv/cairn/bench/workload"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// startEtcd runs a one-node etcd from PATH, or skips the test.
func startEtcd(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("etcd is not installed (apt-get install etcd-server)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Spec{Kind: cluster.Etcd, Nodes: 1, Bin: "etcd", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c.URLs()
}

func TestWorkloadsOnEtcd(t *testing.T) {
	tg := NewEtcd(startEtcd(t))
	t.Cleanup(func() { _ = tg.Close() })
	// etcd may take a moment to elect itself after it listens.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := tg.Setup(ctx, workload.Bucket{Name: "probe"})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v := tg.ServerVersion(context.Background()); v == "" {
		t.Error("no etcd version")
	}
	for _, w := range []string{workload.Put, workload.Get, "mixed-a", "mixed-e", workload.CAS, workload.Watch, workload.Keys, workload.History, workload.Large} {
		cfg := workload.Config{Workload: w, Clients: 4, Ops: 40, Keyspace: 200, Watchers: 2}
		switch w {
		case workload.History:
			cfg.Keyspace, cfg.Bucket.History = 10, 4
		case workload.Large:
			cfg.Keyspace, cfg.ValueSize = 8, "64KiB"
		}
		r := runOn(t, tg, cfg)
		if r.Errors != 0 || r.Ops+r.Conflicts != cfg.Ops {
			t.Errorf("%s: ops %d conflicts %d errors %d %v", w, r.Ops, r.Conflicts, r.Errors, r.ErrorSamples)
		}
		if w == workload.Watch && r.Deliveries != r.ExpectedDeliveries {
			t.Errorf("watch: %d of %d deliveries", r.Deliveries, r.ExpectedDeliveries)
		}
	}
	r := runOn(t, tg, workload.Config{Workload: workload.BucketCreate, Ops: 5})
	if r.Unsupported == "" || r.Ops != 0 {
		t.Errorf("bucket-create on etcd: %+v", r)
	}
}

func TestEtcdErrorsAreClassified(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{rpctypes.ErrNoLeader, workload.ClassUnavailable},
		{rpctypes.ErrTimeout, workload.ClassTimeout},
		{rpctypes.ErrRequestTooLarge, workload.ClassTooLarge},
		{context.DeadlineExceeded, workload.ClassTimeout},
		{errors.New("strange"), workload.ClassOther},
	} {
		if got := workload.Classify(etcdErr(c.err)); got != c.want {
			t.Errorf("%v: %s, want %s", c.err, got, c.want)
		}
	}
}
