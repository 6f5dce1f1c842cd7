package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Kinds of cluster.
const (
	Cairn = "cairn"
	NATS  = "nats"
	Etcd  = "etcd"
)

// Spec is a cluster to start.
type Spec struct {
	Kind string
	// Name prefixes the nodes' names (default Kind), so that two
	// clusters of one kind side by side have distinct nodes.
	Name  string
	Nodes int
	// Bin is the server binary (for cairn: the cairn binary).
	Bin string
	// Dir holds the nodes' data, configuration and logs.
	Dir string
	// NATSSyncAlways makes nats-server fsync before acknowledging, as
	// cairn and etcd do (its default syncs every 2 minutes).
	NATSSyncAlways bool
	// StartTimeout bounds the wait for every node to listen.
	StartTimeout time.Duration
	// NodeEnv, if set, adds environment variables to a node's process.
	NodeEnv func(node Node) []string
}

// Node is one member's addresses.
type Node struct {
	Name       string
	ClientAddr string // host:port clients connect to
	PeerAddr   string // raft / route / peer listener
	GossipAddr string // cairn only
	HTTPAddr   string // cairn only
	DataDir    string
	// Exec, if set, is a command prefix the node's process runs under,
	// such as ip netns exec NAME (used by the chaos harness).
	Exec []string
}

// Cluster is a running cluster.
type Cluster struct {
	Spec    Spec
	Nodes   []Node
	Procs   []*Proc
	Version string
}

// Start launches the cluster and waits until every node listens for
// clients. On error nothing is left running.
func Start(ctx context.Context, s Spec) (*Cluster, error) {
	if s.Nodes < 1 {
		return nil, fmt.Errorf("a cluster needs at least one node")
	}
	if s.StartTimeout == 0 {
		s.StartTimeout = time.Minute
	}
	bin, err := exec.LookPath(s.Bin)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %q (%v)", s.Kind, errNoBinary, s.Bin, err)
	}
	// The nodes run in s.Dir, so a relative path would not resolve.
	if s.Bin, err = filepath.Abs(bin); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, err
	}
	c := &Cluster{Spec: s}
	if c.Nodes, err = plan(s); err != nil {
		return nil, err
	}
	var starter func(i int) (*Proc, error)
	switch s.Kind {
	case Cairn:
		c.Version = versionOf(ctx, bin, "version")
		starter = c.startCairn
	case NATS:
		c.Version = strings.TrimPrefix(versionOf(ctx, bin, "--version"), "nats-server: ")
		starter = c.startNATS
	case Etcd:
		c.Version = strings.TrimPrefix(versionOf(ctx, bin, "--version"), "etcd Version: ")
		starter = c.startEtcd
	default:
		return nil, fmt.Errorf("unknown cluster kind %q", s.Kind)
	}
	for i := range c.Nodes {
		p, err := starter(i)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Procs = append(c.Procs, p)
	}
	wctx, cancel := context.WithTimeout(ctx, s.StartTimeout)
	defer cancel()
	for i, p := range c.Procs {
		if err := p.waitListening(wctx, c.Nodes[i].ClientAddr); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// plan names the nodes and picks their ports.
func plan(s Spec) ([]Node, error) {
	ports, err := FreePorts(4 * s.Nodes)
	if err != nil {
		return nil, err
	}
	nodes := make([]Node, s.Nodes)
	for i := range nodes {
		p := ports[4*i:]
		prefix := s.Name
		if prefix == "" {
			prefix = s.Kind
		}
		name := fmt.Sprintf("%s%d", prefix, i+1)
		nodes[i] = Node{
			Name:       name,
			ClientAddr: fmt.Sprintf("127.0.0.1:%d", p[0]),
			PeerAddr:   fmt.Sprintf("127.0.0.1:%d", p[1]),
			GossipAddr: fmt.Sprintf("127.0.0.1:%d", p[2]),
			HTTPAddr:   fmt.Sprintf("127.0.0.1:%d", p[3]),
			DataDir:    filepath.Join(s.Dir, name),
		}
	}
	return nodes, nil
}

// URLs are the client URLs, comma-separated, as -s takes them.
func (c *Cluster) URLs() string {
	scheme := "nats://"
	if c.Spec.Kind == Etcd {
		scheme = "http://"
	}
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = scheme + n.ClientAddr
	}
	return strings.Join(urls, ",")
}

// CPUTime is the CPU time all nodes have used so far.
func (c *Cluster) CPUTime() time.Duration {
	var t time.Duration
	for _, p := range c.Procs {
		t += p.CPUTime()
	}
	return t
}

// Stop stops every node (in parallel) and reports nodes that had to be
// killed.
func (c *Cluster) Stop() error {
	errs := make([]error, len(c.Procs))
	done := make(chan struct{})
	for i, p := range c.Procs {
		go func() {
			if p != nil { // a node StartNode never started
				errs[i] = p.Stop()
			}
			done <- struct{}{}
		}()
	}
	for range c.Procs {
		<-done
	}
	return errors.Join(errs...)
}

// StartNode starts node i of a cluster whose nodes were planned by the
// caller (or restarts one that ended): the same binary, arguments and
// data directory, its log appended to the node's log file. It does not
// wait for the node to listen. c.Procs[i] is the new process.
func (c *Cluster) StartNode(i int) (*Proc, error) {
	if i < 0 || i >= len(c.Nodes) {
		return nil, fmt.Errorf("no node %d in a cluster of %d", i, len(c.Nodes))
	}
	if err := os.MkdirAll(c.Spec.Dir, 0o755); err != nil {
		return nil, err
	}
	var args []string
	switch c.Spec.Kind {
	case Cairn:
		args = c.CairnArgs(i)
	case NATS:
		path := filepath.Join(c.Spec.Dir, c.Nodes[i].Name+".conf")
		if err := os.WriteFile(path, []byte(c.NATSConfig(i)), 0o644); err != nil {
			return nil, err
		}
		args = []string{"-c", path}
	case Etcd:
		args = c.EtcdArgs(i)
	default:
		return nil, fmt.Errorf("unknown cluster kind %q", c.Spec.Kind)
	}
	bin := c.Spec.Bin
	if pre := c.Nodes[i].Exec; len(pre) > 0 {
		args = append(append(slices.Clone(pre[1:]), bin), args...)
		bin = pre[0]
	}
	p, err := launch(c.Nodes[i].Name, bin, args, c.Spec.Dir, c.logPath(i), c.env(i), os.O_APPEND)
	if err != nil {
		return nil, err
	}
	for len(c.Procs) <= i {
		c.Procs = append(c.Procs, nil)
	}
	c.Procs[i] = p
	return p, nil
}

func (c *Cluster) logPath(i int) string {
	return filepath.Join(c.Spec.Dir, c.Nodes[i].Name+".log")
}

// CairnArgs are the arguments of `cairn node` for node i.
func (c *Cluster) CairnArgs(i int) []string {
	n := c.Nodes[i]
	args := []string{"node",
		"--name", n.Name,
		"--data-dir", n.DataDir,
		"--client-addr", n.ClientAddr,
		"--http-addr", n.HTTPAddr,
		"--peer-addr", n.PeerAddr,
		"--gossip-addr", n.GossipAddr,
		"--log-format", "json",
		"--expect", fmt.Sprint(len(c.Nodes)),
	}
	var join []string
	for j, o := range c.Nodes {
		if j != i {
			join = append(join, o.GossipAddr)
		}
	}
	if len(join) > 0 {
		args = append(args, "--join", strings.Join(join, ","))
	}
	return args
}

func (c *Cluster) startCairn(i int) (*Proc, error) {
	return start(c.Nodes[i].Name, c.Spec.Bin, c.CairnArgs(i), c.Spec.Dir, c.logPath(i), c.env(i))
}

// NATSConfig is nats-server's configuration file for node i.
func (c *Cluster) NATSConfig(i int) string {
	n := c.Nodes[i]
	var b strings.Builder
	host, port := splitHostPort(n.ClientAddr)
	fmt.Fprintf(&b, "server_name: %s\nhost: %s\nport: %s\n", n.Name, host, port)
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n", n.DataDir)
	if c.Spec.NATSSyncAlways {
		b.WriteString("  sync_interval: always\n")
	}
	b.WriteString("}\n")
	if len(c.Nodes) > 1 {
		fmt.Fprintf(&b, "cluster {\n  name: bench\n  listen: %s\n  routes: [\n", n.PeerAddr)
		for j, o := range c.Nodes {
			if j != i {
				fmt.Fprintf(&b, "    nats-route://%s\n", o.PeerAddr)
			}
		}
		b.WriteString("  ]\n}\n")
	}
	return b.String()
}

func (c *Cluster) startNATS(i int) (*Proc, error) {
	path := filepath.Join(c.Spec.Dir, c.Nodes[i].Name+".conf")
	if err := os.WriteFile(path, []byte(c.NATSConfig(i)), 0o644); err != nil {
		return nil, err
	}
	return start(c.Nodes[i].Name, c.Spec.Bin, []string{"-c", path}, c.Spec.Dir, c.logPath(i), c.env(i))
}

// EtcdArgs are etcd's flags for node i.
func (c *Cluster) EtcdArgs(i int) []string {
	n := c.Nodes[i]
	var initial []string
	for _, o := range c.Nodes {
		initial = append(initial, o.Name+"=http://"+o.PeerAddr)
	}
	return []string{
		"--name", n.Name,
		"--data-dir", n.DataDir,
		"--listen-client-urls", "http://" + n.ClientAddr,
		"--advertise-client-urls", "http://" + n.ClientAddr,
		"--listen-peer-urls", "http://" + n.PeerAddr,
		"--initial-advertise-peer-urls", "http://" + n.PeerAddr,
		"--initial-cluster", strings.Join(initial, ","),
		"--initial-cluster-state", "new",
		"--initial-cluster-token", "cairn-bench",
		"--log-level", "warn",
	}
}

func (c *Cluster) startEtcd(i int) (*Proc, error) {
	return start(c.Nodes[i].Name, c.Spec.Bin, c.EtcdArgs(i), c.Spec.Dir, c.logPath(i), c.env(i))
}

func (c *Cluster) env(i int) []string {
	if c.Spec.NodeEnv == nil {
		return nil
	}
	return c.Spec.NodeEnv(c.Nodes[i])
}

func splitHostPort(a string) (string, string) {
	i := strings.LastIndexByte(a, ':')
	return a[:i], a[i+1:]
}
