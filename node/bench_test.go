package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkFsync measures the disk's own synced writes per second in the
// benchmark's temp dir, so put rates can be compared with it in one run.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "probe"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 512)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "fsyncs/s")
}

// parallel runs b.N calls of op spread over workers goroutines and
// reports the rate as metric.
func parallel(b *testing.B, workers int, metric string, op func(worker int, i int64) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := op(w, i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), metric)
}

// BenchmarkPut measures acknowledged puts (file storage, fsync before
// acknowledgement) with 1 and 64 concurrent writers.
func BenchmarkPut(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			n := startNode(b, "")
			bk := mustBucket(b, n, BucketConfig{Name: "bench"})
			val := make([]byte, 128)
			ctx := context.Background()
			parallel(b, writers, "puts/s", func(_ int, i int64) error {
				_, err := bk.Put(ctx, fmt.Sprintf("k.%d", i%10000), val)
				return err
			})
		})
	}
}

// BenchmarkPutManyBuckets spreads 64 writers over 8 buckets (8 raft
// groups), so that synced batches of different groups share fsyncs.
func BenchmarkPutManyBuckets(b *testing.B) {
	n := startNode(b, "")
	const buckets = 8
	bks := make([]*Bucket, buckets)
	for i := range bks {
		bks[i] = mustBucket(b, n, BucketConfig{Name: fmt.Sprintf("bench%d", i)})
	}
	val := make([]byte, 128)
	ctx := context.Background()
	parallel(b, 64, "puts/s", func(w int, i int64) error {
		_, err := bks[w%buckets].Put(ctx, fmt.Sprintf("k.%d", i%10000), val)
		return err
	})
}

// BenchmarkGet measures linearizable gets with 64 concurrent readers.
func BenchmarkGet(b *testing.B) {
	for _, stale := range []bool{false, true} {
		b.Run(fmt.Sprintf("stale=%v", stale), func(b *testing.B) {
			n := startNode(b, "")
			bk := mustBucket(b, n, BucketConfig{Name: "bench"})
			ctx := context.Background()
			for i := 0; i < 1000; i++ {
				if _, err := bk.Put(ctx, fmt.Sprintf("k.%d", i), []byte("value")); err != nil {
					b.Fatal(err)
				}
			}
			parallel(b, 64, "gets/s", func(_ int, i int64) error {
				_, err := bk.Get(ctx, fmt.Sprintf("k.%d", i%1000), ReadOptions{Stale: stale})
				return err
			})
		})
	}
}

// BenchmarkWatchFanout measures the delay from a put's acknowledgement to
// its delivery to each of 1,000 watchers.
func BenchmarkWatchFanout(b *testing.B) {
	n := startNode(b, "")
	bk := mustBucket(b, n, BucketConfig{Name: "bench"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const watchers = 1000
	var sent sync.Map // revision → time acknowledged
	lat := make(chan time.Duration, 1<<16)
	var ready sync.WaitGroup
	for w := 0; w < watchers; w++ {
		wt, err := bk.Watch(ctx, []string{"w"}, WatchOptions{UpdatesOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		ready.Add(1)
		go func() {
			defer wt.Close()
			ready.Done()
			for {
				e, err := wt.Next(ctx)
				if err != nil {
					return
				}
				if e == nil {
					continue
				}
				if t0, ok := sent.Load(e.Revision); ok {
					select {
					case lat <- time.Since(t0.(time.Time)):
					default:
					}
				}
			}
		}()
	}
	ready.Wait()
	b.ResetTimer()
	var total time.Duration
	var count int
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		rev, err := bk.Put(ctx, "w", []byte("x"))
		if err != nil {
			b.Fatal(err)
		}
		sent.Store(rev, t0)
		for got := 0; got < watchers; got++ {
			select {
			case d := <-lat:
				total += d
				count++
			case <-time.After(10 * time.Second):
				b.Fatalf("watchers stalled after %d deliveries", got)
			}
		}
	}
	if count > 0 {
		b.ReportMetric(float64(total.Microseconds())/float64(count), "us/delivery")
	}
}
