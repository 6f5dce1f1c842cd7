package transport

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// book is a test address book: Resolve reads it on every dial.
type book struct {
	mu    sync.Mutex
	addrs map[uint64]string
	// gate, when set, blocks Resolve until closed: a test's way to hold a
	// peer's first dial while messages pile up in its queue.
	gate chan struct{}
}

func newBook() *book { return &book{addrs: map[uint64]string{}} }

func (b *book) set(id uint64, addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addrs[id] = addr
}

func (b *book) resolve(id uint64) (string, bool) {
	b.mu.Lock()
	gate := b.gate
	b.mu.Unlock()
	if gate != nil {
		<-gate
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	a, ok := b.addrs[id]
	return a, ok
}

func testLogger() *slog.Logger {
	if os.Getenv("CAIRN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testConfig has timings short enough for tests to see reconnects and
// dead connections quickly.
func testConfig(id uint64, b *book) Config {
	return Config{
		NodeID:            id,
		ListenAddr:        "127.0.0.1:0",
		Resolve:           b.resolve,
		DialTimeout:       time.Second,
		WriteTimeout:      2 * time.Second,
		ReconnectMin:      5 * time.Millisecond,
		ReconnectMax:      50 * time.Millisecond,
		KeepaliveInterval: 200 * time.Millisecond,
		SnapshotTimeout:   10 * time.Second,
		SnapshotDir:       os.TempDir(),
		Logger:            testLogger(),
	}
}

// startNode starts a transport, registers it in the book and closes it
// when the test ends.
func startNode(t *testing.T, cfg Config, h Handler, b *book) *Transport {
	t.Helper()
	tr, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	b.set(cfg.NodeID, tr.Addr().String())
	return tr
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type snapReport struct {
	group, to uint64
	failed    bool
}

// recorder is a Handler that records everything.
type recorder struct {
	mu          sync.Mutex
	msgs        map[uint64][]raftpb.Message // by group
	unreachable map[[2]uint64]int           // (group, to) → reports
	snapReports []snapReport
	received    map[uint64][]byte // group → staged snapshot data
	order       []string          // "receive" and "raft:MsgSnap" in call order

	// open serves OpenSnapshot when set.
	open func(group uint64, meta raftpb.SnapshotMetadata) (io.ReadCloser, error)
}

func newRecorder() *recorder {
	return &recorder{msgs: map[uint64][]raftpb.Message{}, unreachable: map[[2]uint64]int{}, received: map[uint64][]byte{}}
}

func (r *recorder) HandleRaft(group uint64, msgs []raftpb.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs[group] = append(r.msgs[group], msgs...)
	for _, m := range msgs {
		if m.Type == raftpb.MsgSnap {
			r.order = append(r.order, "raft:MsgSnap")
		}
	}
}

func (r *recorder) ReportUnreachable(group, to uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unreachable[[2]uint64{group, to}]++
}

func (r *recorder) ReportSnapshot(group, to uint64, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snapReports = append(r.snapReports, snapReport{group, to, failed})
}

func (r *recorder) OpenSnapshot(group uint64, meta raftpb.SnapshotMetadata) (io.ReadCloser, error) {
	return r.open(group, meta)
}

func (r *recorder) ReceiveSnapshot(group uint64, msg raftpb.Message, data io.Reader) error {
	b, err := io.ReadAll(data)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.received[group] = b
	r.order = append(r.order, "receive")
	return nil
}

func (r *recorder) count(group uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs[group])
}

func (r *recorder) group(group uint64) []raftpb.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs[group])
}

func (r *recorder) unreachableCount(group, to uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unreachable[[2]uint64{group, to}]
}

func (r *recorder) reports() []snapReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.snapReports)
}

func (r *recorder) snapshotData(group uint64) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.received[group]
	return b, ok
}

// app returns a MsgApp carrying seq in Index and an entry whose data names
// it, so order and content can both be checked.
func app(from, to, seq uint64) raftpb.Message {
	return raftpb.Message{Type: raftpb.MsgApp, From: from, To: to, Term: 1, Index: seq,
		Entries: []raftpb.Entry{{Term: 1, Index: seq + 1, Data: bytes.Repeat([]byte{byte(seq)}, 16)}}}
}
