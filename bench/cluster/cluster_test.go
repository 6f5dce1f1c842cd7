package cluster

import (
	"context"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a fake server: with FAKE_LISTEN set it
// listens there until SIGTERM (or, with FAKE_STUBBORN, forever).
func TestMain(m *testing.M) {
	if addr := os.Getenv("FAKE_LISTEN"); addr != "" {
		fakeServer(addr)
		return
	}
	os.Exit(m.Run())
}

func fakeServer(addr string) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	if os.Getenv("FAKE_EXIT") != "" {
		os.Stderr.WriteString("fake: refusing to start\n")
		os.Exit(3)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		os.Exit(2)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for {
		<-sig
		if os.Getenv("FAKE_STUBBORN") == "" {
			os.Exit(0)
		}
	}
}

func fake(t *testing.T, env ...string) (*Proc, string) {
	t.Helper()
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + itoa(ports[0])
	dir := t.TempDir()
	p, err := start("fake", os.Args[0], []string{"-test.run=^$"}, dir, filepath.Join(dir, "fake.log"), append(env, "FAKE_LISTEN="+addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	return p, addr
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestProcessStartsListensAndStops(t *testing.T) {
	p, addr := fake(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.waitListening(ctx, addr); err != nil {
		t.Fatal(err)
	}
	if p.CPUTime() < 0 {
		t.Fatal("cpu time")
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() {
		t.Fatal("still running after Stop")
	}
	if err := p.Stop(); err != nil {
		t.Fatal("second Stop:", err)
	}
}

func TestProcessThatIgnoresSIGTERMIsKilled(t *testing.T) {
	old := stopGrace
	stopGrace = 300 * time.Millisecond
	t.Cleanup(func() { stopGrace = old })
	p, addr := fake(t, "FAKE_STUBBORN=1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.waitListening(ctx, addr); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("Stop: %v, want a killed report", err)
	}
	if !p.Exited() {
		t.Fatal("still running")
	}
}

func TestProcessThatExitsEarlyIsReportedWithItsLog(t *testing.T) {
	p, addr := fake(t, "FAKE_EXIT=1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := p.waitListening(ctx, addr)
	if err == nil || !strings.Contains(err.Error(), "refusing to start") {
		t.Fatalf("got %v, want the log tail in the error", err)
	}
}

func TestParseStatCPU(t *testing.T) {
	line := []byte("1234 (cairn node) S 1 1234 1234 0 -1 4194560 5000 0 0 0 250 50 0 0 20 0 12 0 100 0 0")
	if got := parseStatCPU(line); got != 3*time.Second {
		t.Fatalf("cpu %v, want 3s (300 ticks)", got)
	}
	if parseStatCPU([]byte("garbage")) != 0 {
		t.Fatal("garbage parsed")
	}
}

func testCluster(t *testing.T, kind string, nodes int) *Cluster {
	t.Helper()
	s := Spec{Kind: kind, Nodes: nodes, Dir: "/d", NATSSyncAlways: true}
	ns, err := plan(s)
	if err != nil {
		t.Fatal(err)
	}
	return &Cluster{Spec: s, Nodes: ns}
}

func TestConfigurations(t *testing.T) {
	c := testCluster(t, NATS, 3)
	conf := c.NATSConfig(1)
	for _, want := range []string{"server_name: nats2", "store_dir: \"/d/nats2\"", "sync_interval: always",
		"listen: " + c.Nodes[1].PeerAddr, "nats-route://" + c.Nodes[0].PeerAddr, "nats-route://" + c.Nodes[2].PeerAddr} {
		if !strings.Contains(conf, want) {
			t.Errorf("nats config lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "nats-route://"+c.Nodes[1].PeerAddr) {
		t.Error("a node routes to itself")
	}
	if one := testCluster(t, NATS, 1).NATSConfig(0); strings.Contains(one, "cluster") {
		t.Errorf("single node with a cluster block:\n%s", one)
	}

	e := testCluster(t, Etcd, 3)
	args := strings.Join(e.EtcdArgs(0), " ")
	want := "--initial-cluster etcd1=http://" + e.Nodes[0].PeerAddr + ",etcd2=http://" + e.Nodes[1].PeerAddr + ",etcd3=http://" + e.Nodes[2].PeerAddr
	if !strings.Contains(args, want) || !strings.Contains(args, "--initial-cluster-state new") {
		t.Errorf("etcd args %s", args)
	}
	if e.URLs() != "http://"+e.Nodes[0].ClientAddr+",http://"+e.Nodes[1].ClientAddr+",http://"+e.Nodes[2].ClientAddr {
		t.Errorf("etcd urls %s", e.URLs())
	}

	k := testCluster(t, Cairn, 3)
	ka := strings.Join(k.CairnArgs(2), " ")
	for _, w := range []string{"node --name cairn3", "--expect 3", "--join " + k.Nodes[0].GossipAddr + "," + k.Nodes[1].GossipAddr, "--client-addr " + k.Nodes[2].ClientAddr} {
		if !strings.Contains(ka, w) {
			t.Errorf("cairn args lack %q: %s", w, ka)
		}
	}
	if one := strings.Join(testCluster(t, Cairn, 1).CairnArgs(0), " "); strings.Contains(one, "--join") || !strings.Contains(one, "--expect 1") {
		t.Errorf("single cairn node: %s", one)
	}
	if !strings.HasPrefix(k.URLs(), "nats://127.0.0.1:") {
		t.Error(k.URLs())
	}
}

func TestStartRefusesAMissingBinary(t *testing.T) {
	_, err := Start(context.Background(), Spec{Kind: Etcd, Nodes: 1, Bin: "/nonexistent/etcd", Dir: t.TempDir()})
	if err == nil {
		t.Fatal("started without a binary")
	}
}

func TestStartNodeRestartsANodeUnderItsPrefix(t *testing.T) {
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + itoa(ports[0])
	dir := t.TempDir()
	c := &Cluster{
		Spec:  Spec{Kind: Cairn, Bin: os.Args[0], Dir: dir, NodeEnv: func(Node) []string { return []string{"FAKE_LISTEN=" + addr} }},
		Nodes: []Node{{Name: "n1", ClientAddr: addr, DataDir: filepath.Join(dir, "n1"), Exec: []string{"env", "FAKE_PREFIXED=1"}}},
	}
	t.Cleanup(func() { _ = c.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for round := range 2 {
		p, err := c.StartNode(0)
		if err != nil {
			t.Fatal(err)
		}
		if c.Procs[0] != p {
			t.Fatal("Procs[0] is not the new process")
		}
		if err := p.waitListening(ctx, addr); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := p.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.Done()
		if p.Err() == nil {
			t.Fatal("a killed process reports a clean exit")
		}
		if err := p.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("signalling an ended process: %v", err)
		}
		_ = p.Stop()
	}
	if _, err := c.StartNode(1); err == nil {
		t.Fatal("started a node that is not planned")
	}
}
