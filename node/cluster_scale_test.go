package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metricValue sums a series of a node's metrics (all label values).
func metricValue(t *testing.T, n *Node, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(n.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var v float64
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				v += m.Counter.GetValue()
			case m.Gauge != nil:
				v += m.Gauge.GetValue()
			}
		}
		return v
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// forEach runs fn(0..n-1) on workers goroutines and returns the first
// error.
func forEach(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n)) // stop the others
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// A thousand R3 buckets on three nodes: every one is created, placed on
// the three nodes with the preferred leaders spread evenly, takes a write
// through a replica and reads it back through another; then every group
// on every node quiesces (stops ticking), so idle buckets cost nothing.
func TestClusterThousandBuckets(t *testing.T) {
	const buckets = 1000
	// A second of election timeout: the test loads both cores, and
	// elections forced by a slow scheduler only make it slower.
	tc := startTestCluster(t, 3, func(c *Config) { c.TickInterval, c.ElectionTimeout = 50*time.Millisecond, time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	waitMetaVoters(t, tc, 3)
	start := time.Now()
	err := forEach(buckets, 16, func(i int) error {
		// A create whose outcome is unknown (the meta leader changed: the
		// machine is loaded, under the race detector) is retried, as a
		// client would: an identical create is idempotent.
		var err error
		for range 3 {
			_, err = tc.nodes[1+i%3].CreateBucket(ctx, BucketConfig{Name: fmt.Sprintf("b%04d", i), Replicas: 3})
			if !errors.Is(err, ErrUnavailable) {
				break
			}
			t.Logf("creating b%04d: %v; retrying", i, err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	created := time.Since(start)
	leaders := map[uint64]int{}
	for _, bk := range tc.nodes[1].meta.Buckets() {
		if len(bk.Replicas) != 3 {
			t.Fatalf("bucket %s on %v", bk.Name, bk.Replicas)
		}
		leaders[bk.Replicas[0]]++
	}
	if len(tc.nodes[1].meta.Buckets()) != buckets {
		t.Fatalf("%d buckets registered", len(tc.nodes[1].meta.Buckets()))
	}
	// Creates run concurrently through three nodes, each placing from the
	// registry as it sees it, so the spread is even only within the
	// number of creates in flight.
	for id, n := range leaders {
		if n < buckets/3-16 || n > buckets/3+16 {
			t.Fatalf("preferred leaders not spread: %v (node %x has %d)", leaders, id, n)
		}
	}
	start = time.Now()
	err = forEach(buckets, 16, func(i int) error {
		name := fmt.Sprintf("b%04d", i)
		b, err := tc.nodes[1+i%3].Bucket(name)
		if err != nil {
			return err
		}
		// A put whose outcome is unknown (a leadership handed back to its
		// preferred node while the put was forwarded) is retried, as a
		// client would; the read below checks the last one.
		var rev uint64
		for range 3 {
			rev, err = b.Put(ctx, "k", []byte(name))
			if !errors.Is(err, ErrUnavailable) {
				break
			}
			t.Logf("put to %s: %v; retrying", name, err)
		}
		if err != nil {
			return fmt.Errorf("put to %s through node %d: %w", name, 1+i%3, err)
		}
		r, err := tc.nodes[1+(i+1)%3].Bucket(name)
		if err != nil {
			return err
		}
		e, err := r.Get(ctx, "k", ReadOptions{})
		if err != nil || e.Revision != rev || string(e.Value) != name {
			return fmt.Errorf("get from %s right after the put (rev %d): %+v %v", name, rev, e, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	written := time.Since(start)
	start = time.Now()
	eventually(t, 60*time.Second, "every group on every node quiesced", func() error {
		for i, n := range tc.nodes {
			groups, q := metricValue(t, n, "cairn_raft_groups"), metricValue(t, n, "cairn_raft_groups_quiesced")
			if groups != buckets+1 || q != groups {
				return fmt.Errorf("node %d: %v of %v groups quiesced", i, q, groups)
			}
		}
		return nil
	})
	// The preferred leaders lead: leadership is spread as placement says.
	led := map[int]int{}
	for i, n := range tc.nodes {
		led[i] = int(metricValue(t, n, "cairn_raft_groups_leading"))
	}
	t.Logf("created %d R3 buckets in %s, wrote and read each in %s, all quiesced %s later; groups led per node %v",
		buckets, created.Round(time.Millisecond), written.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), led)
}

func waitMetaVoters(t *testing.T, tc *testCluster, want int) {
	t.Helper()
	eventually(t, 20*time.Second, fmt.Sprintf("%d meta voters", want), func() error {
		for _, n := range tc.nodes {
			if m := n.metaG.Members(); len(m.Voters) != want {
				return fmt.Errorf("meta members %+v", m)
			}
			if n.metaG.Leader() == 0 {
				return fmt.Errorf("no meta leader")
			}
		}
		return nil
	})
}
