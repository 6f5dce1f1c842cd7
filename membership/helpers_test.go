package membership

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// logStore is a slog handler that keeps every record in memory, so tests can
// wait on log lines and dump them when they fail. It never calls t.Log:
// memberlist goroutines may still log after a test returns.
type logStore struct {
	mu    sync.Mutex
	lines []string
}

type storeHandler struct {
	store *logStore
	attrs string
}

func (h storeHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h storeHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s%s", r.Time.Format("15:04:05.000"), r.Level, r.Message, h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.store.mu.Lock()
	h.store.lines = append(h.store.lines, b.String())
	h.store.mu.Unlock()
	return nil
}

func (h storeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	for _, a := range as {
		h.attrs += fmt.Sprintf(" %s=%v", a.Key, a.Value)
	}
	return h
}

func (h storeHandler) WithGroup(string) slog.Handler { return h }

// count returns how many records contain all of subs.
func (s *logStore) count(subs ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
next:
	for _, l := range s.lines {
		for _, sub := range subs {
			if !strings.Contains(l, sub) {
				continue next
			}
		}
		n++
	}
	return n
}

// dump logs every record, memberlist's DEBUG lines (probes, streams,
// push-pulls) included: a failure on a loaded CI machine is seen once, and
// those lines are what says whether packets were flowing.
func (s *logStore) dump(t *testing.T, who string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		t.Logf("[%s] %s", who, l)
	}
}

// failures keeps each failed wait's message so restateFailure can repeat it
// after the log dumps: CI shows the tail of a failing test's output, and the
// dumps push the t.Fatalf line out of it.
var failures sync.Map // *testing.T -> string

// fatalf records msg for restateFailure and fails the test.
func fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	failures.Store(t, msg)
	t.Fatal(msg)
}

// restateFailure registers, as the test's first cleanup (so it runs last,
// after every node's dump), a line repeating why the test failed.
func restateFailure(t *testing.T) {
	t.Cleanup(func() {
		if msg, ok := failures.LoadAndDelete(t); ok {
			t.Logf("FAILED (restated after the log dumps): %s", msg)
		}
	})
}

// testNode is a started Membership with its logs and recorded events.
type testNode struct {
	*Membership
	t    *testing.T
	id   uint64
	logs *logStore

	evMu   sync.Mutex
	events []Event
	evDone chan struct{}
}

func testMeta(id uint64) Meta {
	return Meta{
		ID:         id,
		Name:       fmt.Sprintf("node-%d", id),
		ClientAddr: fmt.Sprintf("127.0.0.1:%d", 4220+id),
		HTTPAddr:   fmt.Sprintf("127.0.0.1:%d", 8220+id),
		PeerAddr:   fmt.Sprintf("127.0.0.1:%d", 6220+id),
		Tags:       map[string]string{"zone": fmt.Sprintf("z%d", id%3)},
		Version:    "test",
	}
}

func testConfig(id uint64, seeds ...string) Config {
	return Config{
		Meta:     testMeta(id),
		BindAddr: "127.0.0.1:0",
		Join:     seeds,
		Profile:  ProfileLocal,
	}
}

// start starts a node and registers its Close (and, on failure, a log dump)
// as cleanup.
func start(t *testing.T, cfg Config) *testNode {
	t.Helper()
	logs := &logStore{}
	cfg.Logger = slog.New(storeHandler{store: logs})
	if cfg.Cluster == "" {
		// Tests run in parallel in one process, every cluster with node
		// IDs 1, 2, 3, and a closed node's port is soon another test's:
		// the reconnect loop of one test's nodes then reached another
		// test's node and mixed their gossip (a suspicion of "node 3"
		// from one cluster marked the other's node 3 failed).
		cfg.Cluster = t.Name()
	}
	m, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start(node %d): %v", cfg.Meta.ID, err)
	}
	n := &testNode{Membership: m, t: t, id: cfg.Meta.ID, logs: logs, evDone: make(chan struct{})}
	go n.recordEvents()
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close(node %d): %v", n.id, err)
		}
		<-n.evDone
		if t.Failed() {
			logs.dump(t, fmt.Sprintf("node %d %s", n.id, n.Local().GossipAddr))
		}
	})
	return n
}

func (n *testNode) recordEvents() {
	defer close(n.evDone)
	for ev := range n.Events() {
		n.evMu.Lock()
		n.events = append(n.events, ev)
		n.evMu.Unlock()
	}
}

// eventsFor returns the kinds of the events n saw about member id.
func (n *testNode) eventsFor(id uint64) []EventKind {
	n.evMu.Lock()
	defer n.evMu.Unlock()
	var kinds []EventKind
	for _, ev := range n.events {
		if ev.Member.ID == id {
			kinds = append(kinds, ev.Kind)
		}
	}
	return kinds
}

func (n *testNode) addr() string { return n.Local().GossipAddr }

// member returns what n knows about id.
func (n *testNode) member(id uint64) (Member, bool) {
	for _, m := range n.Members() {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

func (n *testNode) stateOf(id uint64) string {
	m, ok := n.member(id)
	if !ok {
		return "unknown"
	}
	return m.State.String()
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	waitUntil(t, timeout, cond, func() string { return what })
}

// waitUntil is waitFor with a description evaluated on timeout, so it can
// show the state at that moment.
func waitUntil(t *testing.T, timeout time.Duration, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			fatalf(t, "timed out after %v waiting for %s", timeout, describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitState waits until every observer sees member id in state want.
func waitState(t *testing.T, timeout time.Duration, id uint64, want State, observers ...*testNode) {
	t.Helper()
	for _, o := range observers {
		waitUntil(t, timeout,
			func() bool { m, ok := o.member(id); return ok && m.State == want },
			func() string {
				return fmt.Sprintf("node %d to see node %d %v (sees %s)", o.id, id, want, o.stateOf(id))
			})
	}
}

func waitMembers(t *testing.T, timeout time.Duration, n int, nodes ...*testNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, nd := range nodes {
		if err := nd.WaitForMembers(ctx, n); err != nil {
			fatalf(t, "node %d: %v (alive: %v)", nd.id, err, ids(nd.Alive()))
		}
	}
}

func ids(ms []Member) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// freePort returns a port that was free for both TCP and UDP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
