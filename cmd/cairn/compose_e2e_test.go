package main

// The Docker end-to-end test: the image from the repository's Dockerfile,
// the cluster from docker-compose.cluster.yml, used from the host the way
// a user would. It needs a Docker engine and Compose (v2 `docker compose`
// or v1 `docker-compose`) and skips, saying why, without them; set
// CAIRN_REQUIRE_DOCKER=1 to make their absence a failure instead.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// composeBudget bounds the whole test after the binary is built: image,
// cluster start, the crash and the catch-up, and the teardown.
const composeBudget = 4 * time.Minute

// composeServices are the node services of docker-compose.cluster.yml.
var composeServices = []string{"cairn1", "cairn2", "cairn3"}

// composeEnv is a cluster started by `compose up`: its project, the host
// ports of each node and the command that runs Compose.
type composeEnv struct {
	t       *testing.T
	ctx     context.Context
	compose []string // "docker compose" or "docker-compose"
	files   []string // the compose files, the first one's directory the project's
	project string
	image   string
	env     []string
	client  []int // host port of each node's NATS client port
	http    []int // host port of each node's HTTP port
}

// TestE2EComposeCluster builds the image, starts the three-node compose
// cluster, writes and reads from the host with nats.go, kills the bucket
// leader's container while a writer runs, restarts it and checks that it
// caught up with every acknowledged write, then removes the cluster with
// its volumes.
func TestE2EComposeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image and runs containers; skipped in -short mode")
	}
	e := newComposeEnv(t, "cairn-e2e-")
	ctx := e.ctx
	e.up()
	ids := e.waitHealthy(composeServices...)

	urls := make([]string, len(composeServices))
	for i := range composeServices {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", e.client[i])
	}
	js := connectJS(t, strings.Join(urls, ","))
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "e2e", Replicas: 3, History: 2})
	if err != nil {
		t.Fatalf("creating an R3 bucket: %v", err)
	}
	if _, err := kv.Put(ctx, "hello", []byte("world")); err != nil {
		t.Fatalf("put: %v", err)
	}
	for i, u := range urls { // every node answers, whichever leads
		e, err := connectJS(t, u).KeyValue(ctx, "e2e")
		if err != nil {
			t.Fatalf("bucket through %s: %v", composeServices[i], err)
		}
		got, err := e.Get(ctx, "hello")
		if err != nil || string(got.Value()) != "world" {
			t.Fatalf("get through %s: %v %v", composeServices[i], got, err)
		}
	}

	victim := e.leaderOf("e2e")
	t.Logf("bucket e2e is led by %s; it will be killed", composeServices[victim])
	w := startWriter(t, ctx, kv)
	w.waitAcked(t, 50)
	e.docker("kill", ids[victim])
	killedAt := w.acked()
	w.waitAcked(t, killedAt+100) // the survivors take the writes
	t.Logf("%d writes acknowledged while %s was down", w.acked()-killedAt, composeServices[victim])
	e.docker("start", ids[victim])
	e.waitHealthy(composeServices[victim])
	w.waitAcked(t, w.acked()+50)
	acked := w.stop(t)

	e.checkCaughtUp(victim, acked)
	js3 := connectJS(t, urls[victim])
	kv3, err := js3.KeyValue(ctx, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	last := acked[len(acked)-1]
	if got, err := kv3.Get(ctx, last.key); err != nil || string(got.Value()) != last.value {
		t.Fatalf("linearizable get of %s through the restarted node: %v %v", last.key, got, err)
	}
}

// newComposeEnv is the environment of a test of the compose file (and
// of overlays, files relative to the repository's top): a project and an
// image named after prefix, the image built from the test's binary. The
// test's time budget starts now.
func newComposeEnv(t *testing.T, prefix string, overlays ...string) *composeEnv {
	t.Helper()
	compose := requireDocker(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := cairnBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), composeBudget)
	t.Cleanup(cancel)
	suffix := randomSuffix(t)
	e := &composeEnv{
		t: t, ctx: ctx, compose: compose,
		files:   []string{filepath.Join(root, "docker-compose.cluster.yml")},
		project: prefix + suffix,
		image:   prefix + suffix + ":test",
		env:     composeHostEnv(),
	}
	for _, o := range overlays {
		e.files = append(e.files, filepath.Join(root, o))
	}
	e.buildImage(filepath.Join(root, "Dockerfile"), bin)
	return e
}

// requireDocker returns the Compose command, or skips (fails with
// CAIRN_REQUIRE_DOCKER=1) when there is no engine or no Compose.
func requireDocker(t *testing.T) []string {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CAIRN_REQUIRE_DOCKER") == "1" {
			t.Fatalf("CAIRN_REQUIRE_DOCKER=1 but %s", msg)
		}
		t.Skipf("SKIPPED, NOT RUN: %s (this test needs a Docker engine with Compose; CI has one)", msg)
	}
	if _, err := exec.LookPath("docker"); err != nil {
		skip("no docker command on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	info := exec.CommandContext(ctx, "docker", "info")
	info.Stderr = &stderr
	if err := info.Run(); err != nil {
		skip("no Docker engine reachable: docker info: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	for _, c := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		if _, err := exec.LookPath(c[0]); err != nil {
			continue
		}
		args := append(c[1:len(c):len(c)], "version")
		if exec.CommandContext(ctx, c[0], args...).Run() == nil {
			return c
		}
	}
	skip("neither `docker compose` nor `docker-compose` works")
	return nil
}

func randomSuffix(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// freePorts returns n TCP ports free on 127.0.0.1 right now.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// run runs a command bounded by the test's budget and returns its
// combined output; a failure ends the test.
func (e *composeEnv) run(name string, args ...string) string {
	e.t.Helper()
	out, err := e.try(name, args...)
	if err != nil {
		e.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (e *composeEnv) try(name string, args ...string) (string, error) {
	cmd := exec.CommandContext(e.ctx, name, args...)
	cmd.Env = e.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *composeEnv) docker(args ...string) string {
	e.t.Helper()
	return e.run("docker", args...)
}

// composeArgs is the Compose command line for this project.
func (e *composeEnv) composeArgs(args ...string) (string, []string) {
	full := append(append([]string{}, e.compose[1:]...), "-p", e.project)
	for _, f := range e.files {
		full = append(full, "-f", f)
	}
	return e.compose[0], append(full, args...)
}

func (e *composeEnv) composeRun(args ...string) string {
	e.t.Helper()
	name, full := e.composeArgs(args...)
	return e.run(name, full...)
}

// buildImage builds the repository's Dockerfile from a context holding
// only the binary, as .dockerignore makes `make image` do. The image is
// removed when the test ends.
func (e *composeEnv) buildImage(dockerfile, bin string) {
	t := e.t
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, bin, filepath.Join(dir, "bin", "cairn"), 0o755)
	copyFile(t, dockerfile, filepath.Join(dir, "Dockerfile"), 0o644)
	start := time.Now()
	e.docker("build", "-q", "-t", e.image, dir)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "docker", "rmi", "-f", e.image).CombinedOutput(); err != nil {
			t.Logf("removing image %s: %v: %s", e.image, err, out)
		}
	})
	t.Logf("built image %s in %s", e.image, time.Since(start).Round(time.Millisecond))
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, mode); err != nil {
		t.Fatal(err)
	}
}

// composeHostEnv is the test's environment without the variables the
// compose file reads (a developer may have set some), nor CAIRN_*.
func composeHostEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CAIRN") || k == "COMPOSE_PROJECT_NAME" || k == "COMPOSE_FILE" || k == "COMPOSE_PROFILES" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// up starts the cluster on free host ports; the cleanup removes it with
// its volumes whatever happens, and shows the nodes' logs if the test
// failed.
func (e *composeEnv) up() {
	t := e.t
	ports := freePorts(t, 2*len(composeServices))
	e.client, e.http = ports[:len(composeServices)], ports[len(composeServices):]
	e.env = append(e.env, "CAIRN_IMAGE="+e.image, "CAIRN_PUBLISH_IP=127.0.0.1")
	for i := range composeServices {
		e.env = append(e.env,
			fmt.Sprintf("CAIRN%d_CLIENT_PORT=%d", i+1, e.client[i]),
			fmt.Sprintf("CAIRN%d_HTTP_PORT=%d", i+1, e.http[i]))
	}
	t.Cleanup(e.down)
	start := time.Now()
	e.composeRun(append([]string{"up", "-d", "--no-build"}, composeServices...)...)
	t.Logf("compose project %s up in %s; clients on 127.0.0.1:%v, HTTP on %v",
		e.project, time.Since(start).Round(time.Millisecond), e.client, e.http)
}

// down is `compose down -v`, with its own time budget (the test's may be
// spent), then a check that no volume of the project is left.
func (e *composeEnv) down() {
	t := e.t
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if t.Failed() {
		name, args := e.composeArgs("logs", "--no-color", "--tail", "60")
		out, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
		t.Logf("logs of the compose cluster:\n%s", out)
	}
	name, args := e.composeArgs("down", "-v", "--remove-orphans", "-t", "10")
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = e.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("compose down -v: %v\n%s", err, out)
		return
	}
	out, err := exec.CommandContext(ctx, "docker", "volume", "ls", "-q",
		"--filter", "label=com.docker.compose.project="+e.project).CombinedOutput()
	if err != nil {
		t.Errorf("docker volume ls: %v: %s", err, out)
	} else if left := strings.TrimSpace(string(out)); left != "" {
		t.Errorf("volumes left after compose down -v: %s", left)
	}
}

// waitHealthy waits until the services' containers are healthy (the
// image's health check, `cairn health`, passes) and returns their IDs.
// A container that exits fails the test at once.
func (e *composeEnv) waitHealthy(services ...string) []string {
	t := e.t
	t.Helper()
	start := time.Now()
	ids := make([]string, len(services))
	for i, s := range services {
		ids[i] = strings.TrimSpace(e.composeRun("ps", "-q", s))
		if ids[i] == "" {
			t.Fatalf("compose ps: no container for %s", s)
		}
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := e.try("docker", append([]string{"inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}"}, ids...)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		healthy := err == nil && len(lines) == len(ids)
		for i, l := range lines {
			if err == nil && (strings.HasPrefix(l, "exited") || strings.HasPrefix(l, "dead")) {
				t.Fatalf("container of %s stopped while starting: %s", services[i], l)
			}
			healthy = healthy && l == "running healthy"
		}
		if healthy {
			t.Logf("%v healthy after %s", services, time.Since(start).Round(time.Millisecond))
			return ids
		}
		select {
		case <-e.ctx.Done():
			t.Fatalf("%v not healthy in time: %s (%v)", services, strings.Join(lines, "; "), err)
		case <-tick.C:
		}
	}
}

// httpGet GETs a path from node i's HTTP API.
func (e *composeEnv) httpGet(i int, path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", e.http[i], path), nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// composeCluster is the part of GET /v1/cluster the test reads.
type composeCluster struct {
	Members []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"members"`
	Groups []struct {
		Bucket       string `json:"bucket"`
		Local        bool   `json:"local"`
		LastRevision uint64 `json:"last_revision"`
	} `json:"groups"`
	Leaders map[string]string `json:"leaders"`
}

func (e *composeEnv) cluster(i int) (composeCluster, error) {
	var c composeCluster
	code, body, err := e.httpGet(i, "/v1/cluster")
	if err != nil {
		return c, err
	}
	if code != http.StatusOK {
		return c, fmt.Errorf("GET /v1/cluster: %d %s", code, body)
	}
	return c, json.Unmarshal(body, &c)
}

// leaderOf returns the index of the node leading a bucket, waiting for
// one to be known.
func (e *composeEnv) leaderOf(bucket string) int {
	t := e.t
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := e.cluster(0)
		if err == nil {
			for _, m := range c.Members {
				if m.ID != c.Leaders[bucket] {
					continue
				}
				for i, s := range composeServices {
					if m.Name == s {
						return i
					}
				}
			}
		}
		select {
		case <-e.ctx.Done():
			t.Fatalf("no leader known for bucket %s: %+v %v", bucket, c, err)
		case <-tick.C:
		}
	}
}

// checkCaughtUp waits until node i's replica holds the last acknowledged
// write, then reads every acknowledged write from that replica alone
// (stale reads: no leader involved), so what it shows is its own data.
func (e *composeEnv) checkCaughtUp(i int, acked []ackedWrite) {
	t := e.t
	t.Helper()
	last := acked[len(acked)-1]
	start := time.Now()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		code, body, err := e.httpGet(i, "/v1/kv/e2e/"+last.key+"?stale")
		if err == nil && code == http.StatusOK && string(body) == last.value {
			break
		}
		select {
		case <-e.ctx.Done():
			t.Fatalf("%s never caught up with revision %d: last answer %d %q %v", composeServices[i], last.rev, code, body, err)
		case <-tick.C:
		}
	}
	t.Logf("%s caught up with revision %d %s after its restart was healthy", composeServices[i], last.rev, time.Since(start).Round(time.Millisecond))
	for _, a := range acked {
		code, body, err := e.httpGet(i, "/v1/kv/e2e/"+a.key+"?stale")
		if err != nil || code != http.StatusOK || string(body) != a.value {
			t.Fatalf("%s after catching up: %s = %d %q %v, want %q (acknowledged at revision %d)",
				composeServices[i], a.key, code, body, err, a.value, a.rev)
		}
	}
	c, err := e.cluster(i)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range c.Groups {
		if g.Bucket == "e2e" && (!g.Local || g.LastRevision < last.rev) {
			t.Fatalf("%s's replica of e2e: local %v, last revision %d, want >= %d", composeServices[i], g.Local, g.LastRevision, last.rev)
		}
	}
	t.Logf("%s holds all %d acknowledged writes", composeServices[i], len(acked))
}

func connectJS(t *testing.T, urls string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connecting to %s: %v", urls, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

type ackedWrite struct {
	key, value string
	rev        uint64
}

// writer puts distinct keys one after another, retrying a key until it
// is acknowledged, and remembers every acknowledged write.
type writer struct {
	cancel context.CancelFunc
	done   chan struct{}
	count  atomic.Int64
	mu     sync.Mutex
	writes []ackedWrite
	errs   int
	last   error
}

func startWriter(t *testing.T, ctx context.Context, kv jetstream.KeyValue) *writer {
	ctx, cancel := context.WithCancel(ctx)
	w := &writer{cancel: cancel, done: make(chan struct{})}
	t.Cleanup(func() { cancel(); <-w.done })
	go func() {
		defer close(w.done)
		for i := 0; ctx.Err() == nil; {
			key, value := fmt.Sprintf("k.%06d", i), fmt.Sprintf("v%d", i)
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			rev, err := kv.Put(pctx, key, []byte(value))
			pcancel()
			w.mu.Lock()
			if err != nil {
				w.errs++
				w.last = err
			} else {
				w.writes = append(w.writes, ackedWrite{key, value, rev})
			}
			w.mu.Unlock()
			if err != nil {
				// Back off a little while the cluster fails over.
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			w.count.Add(1)
			i++
		}
	}()
	return w
}

func (w *writer) acked() int { return int(w.count.Load()) }

// waitAcked waits until n writes are acknowledged.
func (w *writer) waitAcked(t *testing.T, n int) {
	t.Helper()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for w.acked() < n {
		select {
		case <-deadline.C:
			w.mu.Lock()
			defer w.mu.Unlock()
			t.Fatalf("only %d of %d writes acknowledged after a minute (%d errors, last: %v)", w.acked(), n, w.errs, w.last)
		case <-w.done:
			t.Fatalf("writer stopped after %d of %d writes (last error: %v)", w.acked(), n, w.last)
		case <-tick.C:
		}
	}
}

// stop ends the writer and returns the acknowledged writes in order.
func (w *writer) stop(t *testing.T) []ackedWrite {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("writer: %d writes acknowledged, %d attempts failed (last: %v)", len(w.writes), w.errs, w.last)
	if len(w.writes) == 0 {
		t.Fatal("no write acknowledged")
	}
	return w.writes
}
