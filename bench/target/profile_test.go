package target

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/cairnkv/cairn/bench/workload"
)

// BenchmarkCairnUnderLoad drives an in-process cairn node (and, for
// contrast, an embedded nats-server) with the harness's own put and get
// workloads at 64 clients, so a CPU profile of the test binary shows
// what limits the server under exactly the load `cairn bench` applies:
//
//	go test ./bench/target/ -run '^$' -bench 'CairnUnderLoad/cairn/put' -benchtime 1x -cpuprofile cpu.out
//	go tool pprof -top -tagignore bench=client bench/target/target.test cpu.out
//
// The harness labels its goroutines bench=client; -tagignore leaves the
// server's share. BENCH_DURATION (default 5s) sets each run's length.
func BenchmarkCairnUnderLoad(b *testing.B) {
	d := 5 * time.Second
	if s := os.Getenv("BENCH_DURATION"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		d = v
	}
	for _, tc := range natsTargets {
		for _, w := range []string{workload.Put, workload.Get} {
			b.Run(tc.name+"/"+w, func(b *testing.B) {
				tg := NewNATS(tc.name, tc.start(b))
				b.Cleanup(func() { _ = tg.Close() })
				var ops, p99 float64
				for i := 0; i < b.N; i++ {
					r, err := workload.Run(context.Background(), tg, workload.Config{
						Workload: w, Clients: 64, Duration: d, Warmup: time.Second,
					})
					if err != nil {
						b.Fatal(err)
					}
					if r.Errors > 0 {
						b.Fatalf("%d errors: %v", r.Errors, r.ErrorSamples)
					}
					ops, p99 = r.OpsPerSec, r.Latency.P99US
				}
				b.ReportMetric(ops, "ops/s")
				b.ReportMetric(p99, "p99-µs")
			})
		}
	}
}
