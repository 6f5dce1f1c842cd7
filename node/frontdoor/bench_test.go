package frontdoor_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node/natsref"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The same nats.go workloads against cairn and nats-server, in one run, so
// the ratio is meaningful on a shared machine. nats-server runs twice: with
// its default (fsync every 2 minutes) and with sync_always (fsync before
// acknowledging, as cairn always does).

type target struct {
	name  string
	start func(testing.TB) string
}

func startReferenceSync(t testing.TB) string {
	t.Helper()
	return natsref.JetStream(t, true)
}

var targets = []target{
	{"cairn", startCairn},
	{"nats-server", startReference},
	{"nats-server-sync", startReferenceSync},
}

// clients opens n connections, each with its KeyValue handle.
func clients(b *testing.B, url string, n int) []jetstream.KeyValue {
	b.Helper()
	ctx := context.Background()
	_, js := connect(b, url)
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "bench"}); err != nil {
		b.Fatal(err)
	}
	out := make([]jetstream.KeyValue, n)
	for i := range out {
		nc, err := nats.Connect(url)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		js, _ := jetstream.New(nc)
		if out[i], err = js.KeyValue(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

// run spreads b.N operations over the clients and reports ops/s.
func run(b *testing.B, kvs []jetstream.KeyValue, op func(kv jetstream.KeyValue, i int64) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for _, kv := range kvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := op(kv, i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

func BenchmarkNATSPut(b *testing.B) {
	val := make([]byte, 128)
	for _, c := range []int{1, 64} {
		for _, tg := range targets {
			b.Run(fmt.Sprintf("clients=%d/%s", c, tg.name), func(b *testing.B) {
				kvs := clients(b, tg.start(b), c)
				ctx := context.Background()
				run(b, kvs, func(kv jetstream.KeyValue, i int64) error {
					_, err := kv.Put(ctx, fmt.Sprintf("k.%d", i%10000), val)
					return err
				})
			})
		}
	}
}

func BenchmarkNATSGet(b *testing.B) {
	for _, tg := range targets[:2] {
		b.Run("clients=64/"+tg.name, func(b *testing.B) {
			kvs := clients(b, tg.start(b), 64)
			ctx := context.Background()
			for i := 0; i < 1000; i++ {
				if _, err := kvs[0].Put(ctx, fmt.Sprintf("k.%d", i), []byte("value")); err != nil {
					b.Fatal(err)
				}
			}
			run(b, kvs, func(kv jetstream.KeyValue, i int64) error {
				_, err := kv.Get(ctx, fmt.Sprintf("k.%d", i%1000))
				return err
			})
		})
	}
}

// BenchmarkNATSAsyncPut publishes without waiting per message (a window of
// 256 outstanding acks) from one connection.
func BenchmarkNATSAsyncPut(b *testing.B) {
	val := make([]byte, 128)
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			url := tg.start(b)
			_, js := connect(b, url)
			ctx := context.Background()
			if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "bench"}); err != nil {
				b.Fatal(err)
			}
			nc, _ := nats.Connect(url)
			defer nc.Close()
			ajs, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256))
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := ajs.PublishAsync(fmt.Sprintf("$KV.bench.k.%d", i%10000), val); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-ajs.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("async publishes not acknowledged")
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
		})
	}
}

// BenchmarkNATSWatchFanout measures put-to-delivery latency to 100
// watchers on separate connections (the send time travels in the value).
func BenchmarkNATSWatchFanout(b *testing.B) {
	const watchers = 100
	for _, tg := range targets[:2] {
		b.Run(tg.name, func(b *testing.B) {
			url := tg.start(b)
			kvs := clients(b, url, watchers+1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			lat := make(chan time.Duration, watchers)
			for _, kv := range kvs[1:] {
				w, err := kv.Watch(ctx, "w", jetstream.UpdatesOnly())
				if err != nil {
					b.Fatal(err)
				}
				go func() {
					for e := range w.Updates() {
						if e != nil && len(e.Value()) == 8 {
							lat <- time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(e.Value()))))
						}
					}
				}()
			}
			b.ResetTimer()
			var total time.Duration
			for i := 0; i < b.N; i++ {
				if _, err := kvs[0].Put(ctx, "w", binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < watchers; got++ {
					select {
					case d := <-lat:
						total += d
					case <-time.After(10 * time.Second):
						b.Fatalf("watchers stalled after %d deliveries", got)
					}
				}
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N*watchers), "us/delivery")
		})
	}
}
