package fusefs

// Benchmarks of the mount against the same work on a tmpfs directory.
// Run (docs/benchmarks.md records the results):
//
//	go test -run '^$' -bench . -benchtime 10x -count 3 ./fusefs/
//
// Each iteration does the work on tmpfs and then on the mount, so both
// see the same machine load; ns/op is the mount's time, tmpfs-ns/op the
// tmpfs time, and x-tmpfs their ratio. "cold" remounts before each
// iteration (outside the timer), so the kernel has nothing cached;
// "warm" repeats the work on one mount; "uncached" also keeps no values
// in the mount's memory, so every open fetches the value from the server.
// The mount talks to a cairn node in this process over loopback.

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// tmpfsDir returns a fresh directory on a tmpfs (/dev/shm).
func tmpfsDir(b *testing.B) string {
	b.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "cairn-bench-")
	if err != nil {
		b.Skipf("no tmpfs at /dev/shm: %v", err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// putMany writes n keys prefix.fNNNNN with value, in parallel.
func putMany(b *testing.B, kv jetstream.KeyValue, prefix string, n int, value []byte) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	work := make(chan int)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if _, err := kv.Put(ctx, fmt.Sprintf("%s.f%05d", prefix, i), value); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// writeMany writes n files fNNNNN into dir.
func writeMany(b *testing.B, dir string, n int, value []byte) {
	b.Helper()
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), value, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

func readMany(b *testing.B, dir string, n int) {
	b.Helper()
	for i := 0; i < n; i++ {
		if _, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("f%05d", i))); err != nil {
			b.Fatal(err)
		}
	}
}

func removeMany(b *testing.B, dir string, n int) {
	b.Helper()
	for i := 0; i < n; i++ {
		if err := os.Remove(filepath.Join(dir, fmt.Sprintf("f%05d", i))); err != nil {
			b.Fatal(err)
		}
	}
}

func lsL(b *testing.B, dir string) {
	b.Helper()
	cmd := exec.Command("ls", "-l", dir)
	cmd.Dir = "/"
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err != nil {
		b.Fatalf("ls -l %s: %v", dir, err)
	}
}

// benchBucket starts cairn and creates a bucket.
func benchBucket(b *testing.B, name string) (string, jetstream.KeyValue) {
	b.Helper()
	needFUSE(b)
	url := startCairn(b)
	return url, newBucket(b, url, name, jetstream.KeyValueConfig{History: 1})
}

// freshMount mounts bucket on a new directory, unmounting the previous
// mount (if any) first.
func freshMount(b *testing.B, prev *Mount, url, bucket string, opts Options) (*Mount, string) {
	b.Helper()
	if prev != nil {
		if err := prev.Unmount(); err != nil {
			b.Fatal(err)
		}
	}
	return mountAt(b, url, bucket, opts)
}

// vsTmpfs times the tmpfs half of each iteration outside the benchmark
// timer and reports it beside the mount's time.
type vsTmpfs struct {
	b     *testing.B
	tmpfs time.Duration
}

func (v *vsTmpfs) tmpfsWork(f func()) {
	v.b.StopTimer()
	start := time.Now()
	f()
	v.tmpfs += time.Since(start)
	v.b.StartTimer()
}

// untimed runs setup outside the timer.
func (v *vsTmpfs) untimed(f func()) {
	v.b.StopTimer()
	f()
	v.b.StartTimer()
}

func (v *vsTmpfs) report() {
	v.b.StopTimer()
	n := float64(v.b.N)
	tm := float64(v.tmpfs.Nanoseconds()) / n
	v.b.ReportMetric(tm, "tmpfs-ns/op")
	v.b.ReportMetric(float64(v.b.Elapsed().Nanoseconds())/n/tm, "x-tmpfs")
}

// BenchmarkLsL10k: ls -l of a directory of 10,000 keys (goal: under 1 s).
func BenchmarkLsL10k(b *testing.B) {
	const n = 10000
	value := make([]byte, 100)
	url, kv := benchBucket(b, "ls")
	putMany(b, kv, "dir", n, value)
	shm := filepath.Join(tmpfsDir(b), "dir")
	if err := os.Mkdir(shm, 0o755); err != nil {
		b.Fatal(err)
	}
	writeMany(b, shm, n, value)

	b.Run("cold", func(b *testing.B) {
		v := &vsTmpfs{b: b}
		var m *Mount
		var dir string
		for i := 0; i < b.N; i++ {
			v.tmpfsWork(func() { lsL(b, shm) })
			v.untimed(func() { m, dir = freshMount(b, m, url, "ls", Options{}) })
			lsL(b, filepath.Join(dir, "dir"))
		}
		v.report()
	})
	b.Run("warm", func(b *testing.B) {
		_, dir := mountAt(b, url, "ls", Options{})
		lsL(b, filepath.Join(dir, "dir"))
		lsL(b, shm)
		b.ResetTimer()
		v := &vsTmpfs{b: b}
		for i := 0; i < b.N; i++ {
			v.tmpfsWork(func() { lsL(b, shm) })
			lsL(b, filepath.Join(dir, "dir"))
		}
		v.report()
	})
}

// BenchmarkSmallFiles: create, read and delete 1,000 files of 100 bytes;
// one op is all 1,000.
func BenchmarkSmallFiles(b *testing.B) {
	const n = 1000
	value := make([]byte, 100)
	url, kv := benchBucket(b, "small")
	shm := tmpfsDir(b)
	seq := 0 // names stay unique across the reruns b.Run makes
	next := func(prefix string) string { seq++; return fmt.Sprintf("%s%d", prefix, seq) }
	mkdir := func(d string) {
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("create", func(b *testing.B) {
		_, dir := mountAt(b, url, "small", Options{})
		v := &vsTmpfs{b: b}
		for i := 0; i < b.N; i++ {
			name := next("c")
			v.untimed(func() { mkdir(filepath.Join(shm, name)); mkdir(filepath.Join(dir, name)) })
			v.tmpfsWork(func() { writeMany(b, filepath.Join(shm, name), n, value) })
			writeMany(b, filepath.Join(dir, name), n, value)
		}
		v.report()
	})

	// The floor under create: the same 1,000 writes by a nats.go client,
	// one after another as cp makes them.
	b.Run("nats-put", func(b *testing.B) {
		v := &vsTmpfs{b: b}
		ctx := context.Background()
		for i := 0; i < b.N; i++ {
			name := next("p")
			v.untimed(func() { mkdir(filepath.Join(shm, name)) })
			v.tmpfsWork(func() { writeMany(b, filepath.Join(shm, name), n, value) })
			for j := 0; j < n; j++ {
				if _, err := kv.Put(ctx, fmt.Sprintf("%s.f%05d", name, j), value); err != nil {
					b.Fatal(err)
				}
			}
		}
		v.report()
	})

	putMany(b, kv, "r", n, value)
	mkdir(filepath.Join(shm, "r"))
	writeMany(b, filepath.Join(shm, "r"), n, value)
	for _, c := range []struct {
		name string
		opts Options
	}{{"read-cold", Options{}}, {"read-uncached", Options{CacheBytes: 1}}} {
		b.Run(c.name, func(b *testing.B) {
			v := &vsTmpfs{b: b}
			var m *Mount
			var dir string
			for i := 0; i < b.N; i++ {
				v.tmpfsWork(func() { readMany(b, filepath.Join(shm, "r"), n) })
				v.untimed(func() { m, dir = freshMount(b, m, url, "small", c.opts) })
				readMany(b, filepath.Join(dir, "r"), n)
			}
			v.report()
		})
	}

	b.Run("delete", func(b *testing.B) {
		v := &vsTmpfs{b: b}
		var m *Mount
		var dir string
		for i := 0; i < b.N; i++ {
			name := next("d")
			v.untimed(func() {
				mkdir(filepath.Join(shm, name))
				writeMany(b, filepath.Join(shm, name), n, value)
				putMany(b, kv, name, n, value)
				m, dir = freshMount(b, m, url, "small", Options{})
			})
			v.tmpfsWork(func() { removeMany(b, filepath.Join(shm, name), n) })
			removeMany(b, filepath.Join(dir, name), n)
		}
		v.report()
	})
	// The floor under delete: the same deletes by a nats.go client.
	b.Run("nats-delete", func(b *testing.B) {
		v := &vsTmpfs{b: b}
		ctx := context.Background()
		for i := 0; i < b.N; i++ {
			name := next("x")
			v.untimed(func() {
				mkdir(filepath.Join(shm, name))
				writeMany(b, filepath.Join(shm, name), n, value)
				putMany(b, kv, name, n, value)
			})
			v.tmpfsWork(func() { removeMany(b, filepath.Join(shm, name), n) })
			for j := 0; j < n; j++ {
				if err := kv.Delete(ctx, fmt.Sprintf("%s.f%05d", name, j)); err != nil {
					b.Fatal(err)
				}
			}
		}
		v.report()
	})
}

// BenchmarkRead1MiB: open, read and close one 1 MiB file.
func BenchmarkRead1MiB(b *testing.B) {
	value := make([]byte, 1<<20-1024) // the largest a default server takes with headers
	for i := range value {
		value[i] = byte(i)
	}
	url, kv := benchBucket(b, "big")
	if _, err := kv.Put(context.Background(), "big", value); err != nil {
		b.Fatal(err)
	}
	shm := filepath.Join(tmpfsDir(b), "big")
	if err := os.WriteFile(shm, value, 0o644); err != nil {
		b.Fatal(err)
	}
	read := func(b *testing.B, p string) {
		got, err := os.ReadFile(p)
		if err != nil || len(got) != len(value) {
			b.Fatalf("read %s: %d bytes, %v", p, len(got), err)
		}
	}
	for _, c := range []struct {
		name string
		opts Options
	}{{"cold", Options{}}, {"uncached", Options{CacheBytes: 1}}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(value)))
			v := &vsTmpfs{b: b}
			var m *Mount
			var dir string
			for i := 0; i < b.N; i++ {
				v.tmpfsWork(func() { read(b, shm) })
				v.untimed(func() { m, dir = freshMount(b, m, url, "big", c.opts) })
				read(b, filepath.Join(dir, "big"))
			}
			v.report()
		})
	}
	b.Run("warm", func(b *testing.B) {
		_, dir := mountAt(b, url, "big", Options{})
		read(b, filepath.Join(dir, "big"))
		b.SetBytes(int64(len(value)))
		b.ResetTimer()
		v := &vsTmpfs{b: b}
		for i := 0; i < b.N; i++ {
			v.tmpfsWork(func() { read(b, shm) })
			read(b, filepath.Join(dir, "big"))
		}
		v.report()
	})
}
