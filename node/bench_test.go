package node

import (
	"context"
	"encoding/binary"
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

// BenchmarkWatchFanout measures the delay from the start of a put to its
// delivery to each of 1,000 watchers (the send time travels in the value).
func BenchmarkWatchFanout(b *testing.B) {
	n := startNode(b, "")
	bk := mustBucket(b, n, BucketConfig{Name: "bench"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const watchers = 1000
	lat := make(chan time.Duration, watchers)
	for w := 0; w < watchers; w++ {
		wt, err := bk.Watch(ctx, []string{"w"}, WatchOptions{UpdatesOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			defer wt.Close()
			for {
				e, err := wt.Next(ctx)
				if err != nil {
					return
				}
				if e != nil && len(e.Value) == 8 {
					lat <- time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(e.Value))))
				}
			}
		}()
	}
	b.ResetTimer()
	var total, worst time.Duration
	for i := 0; i < b.N; i++ {
		if _, err := bk.Put(ctx, "w", binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < watchers; got++ {
			select {
			case d := <-lat:
				total += d
				worst = max(worst, d)
			case <-time.After(10 * time.Second):
				b.Fatalf("watchers stalled after %d deliveries", got)
			}
		}
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N*watchers), "us/delivery")
	b.ReportMetric(float64(worst.Microseconds()), "us-worst")
}
