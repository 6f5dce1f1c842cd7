package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cairnkv/cairn/bench/cluster"
	"github.com/cairnkv/cairn/chaos/netfault"
	"github.com/cairnkv/cairn/node/testcert"
)

// Kinds of cluster.
const (
	Cairn = cluster.Cairn
	NATS  = cluster.NATS
)

// Options configure a local cluster.
type Options struct {
	Kind  string // Cairn or NATS
	Bin   string // the server binary
	Nodes int
	Dir   string // data, configuration and logs
	// NetNS puts every node in its own network namespace (root only), so
	// network faults can be injected.
	NetNS bool
	// RunID names the namespaces (1 to 6 letters or digits).
	RunID string
	// DiskSize, if not 0, mounts a tmpfs of that many bytes for each
	// node's data (root only), so its disk can be filled.
	DiskSize int64
	// NATSSyncAlways makes nats-server fsync every write before
	// acknowledging it (its default syncs every 2 minutes).
	NATSSyncAlways bool
	// Env are extra environment variables for every node (for cairn:
	// CAIRN_* settings).
	Env []string
	// ClientAuth, when the nodes ask clients for credentials, is what
	// the harness's clients present: TOKEN, or USER:PASSWORD. URLs and
	// HTTPURL carry it.
	ClientAuth string
	// TLS gives a cairn cluster a throwaway CA and a certificate for its
	// nodes' addresses, and puts their client and HTTP ports behind TLS
	// (client-tls-cert); URLs, HTTPURL and NATSOptions then use it.
	TLS bool
	// StartTimeout bounds the wait for the cluster to form.
	StartTimeout time.Duration
	Logger       *slog.Logger
}

// Exit is a node process ending that nobody asked for.
type Exit struct {
	Node string
	Slot int
	Time time.Time
	Err  string
	Tail string // the end of its log
	// Reason is the log line that says why (a panic, a fatal error), or
	// its last line.
	Reason string
	// DiskFull is set when its disk was being filled at the time.
	DiskFull bool
}

// Local is a running local cluster.
type Local struct {
	o   Options
	c   *cluster.Cluster
	net *netfault.Net
	lg  *slog.Logger
	// tls is set when the cluster uses TLS (Options.TLS); http is the
	// harness's HTTP client, which then trusts the run's CA.
	tls  *testcert.Set
	http *http.Client

	mu       sync.Mutex
	expected map[*cluster.Proc]bool // exits asked for (kill, stop)
	paused   map[int]bool
	full     map[int]bool // slots whose disk is being filled
	gen      []int        // generation of each slot (replacements)
	exits    []Exit
	mounts   []string
}

// Start launches the cluster and waits until every node is ready. On
// error nothing is left running.
func Start(ctx context.Context, o Options) (_ *Local, err error) {
	if o.Nodes < 1 {
		return nil, errors.New("a cluster needs at least one node")
	}
	if o.Kind != Cairn && o.Kind != NATS {
		return nil, fmt.Errorf("unknown cluster kind %q", o.Kind)
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 2 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	bin, err := filepath.Abs(o.Bin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s binary: %w", o.Kind, err)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	l := &Local{o: o, lg: o.Logger, http: httpClient, expected: map[*cluster.Proc]bool{}, paused: map[int]bool{}, full: map[int]bool{}, gen: make([]int, o.Nodes)}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	if o.NetNS {
		if l.net, err = netfault.Setup(o.RunID); err != nil {
			return nil, err
		}
	}
	nodes, err := l.plan()
	if err != nil {
		return nil, err
	}
	env := o.Env
	if o.TLS && o.Kind == Cairn {
		if env, err = l.withTLS(nodes); err != nil {
			return nil, err
		}
	}
	l.c = &cluster.Cluster{Spec: cluster.Spec{Kind: o.Kind, Nodes: o.Nodes, Bin: bin, Dir: o.Dir, NATSSyncAlways: o.NATSSyncAlways,
		NodeEnv: func(cluster.Node) []string { return env }}, Nodes: nodes}
	for i := range nodes {
		if err := l.prepare(i); err != nil {
			return nil, err
		}
	}
	for i := range nodes {
		if err := l.launch(i); err != nil {
			return nil, err
		}
	}
	sctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	for i := range nodes {
		if err := l.WaitReady(sctx, i); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// plan gives every node its addresses: in its namespace, the usual ports
// on its own address; else free ports on 127.0.0.1.
func (l *Local) plan() ([]cluster.Node, error) {
	nodes := make([]cluster.Node, l.o.Nodes)
	var ports []int
	if l.net == nil {
		var err error
		if ports, err = cluster.FreePorts(4 * l.o.Nodes); err != nil {
			return nil, err
		}
	}
	for i := range nodes {
		host, p := "127.0.0.1", []int{4222, 6222, 7946, 8222}
		if l.net == nil {
			p = ports[4*i:]
		} else {
			host = l.net.NodeIP(i)
		}
		addr := func(port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
		nodes[i] = cluster.Node{Name: l.name(i), ClientAddr: addr(p[0]), PeerAddr: addr(p[1]), GossipAddr: addr(p[2]), HTTPAddr: addr(p[3]),
			DataDir: filepath.Join(l.slotDir(i), "data")}
	}
	return nodes, nil
}

func (l *Local) name(i int) string {
	if l.gen[i] == 0 {
		return fmt.Sprintf("n%d", i+1)
	}
	return fmt.Sprintf("n%d-%d", i+1, l.gen[i]+1)
}

func (l *Local) slotDir(i int) string { return filepath.Join(l.o.Dir, fmt.Sprintf("slot%d", i+1)) }

// prepare makes slot i's namespace and disk.
func (l *Local) prepare(i int) error {
	if l.net != nil {
		if err := l.net.AddNode(i); err != nil {
			return err
		}
		l.c.Nodes[i].Exec = l.net.Exec(i)
	}
	dir := l.slotDir(i)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if l.o.DiskSize > 0 {
		if err := mountTmpfs(dir, l.o.DiskSize); err != nil {
			return err
		}
		l.mu.Lock()
		l.mounts = append(l.mounts, dir)
		l.mu.Unlock()
	}
	return os.MkdirAll(l.c.Nodes[i].DataDir, 0o755)
}

// launch starts slot i's process and watches for it to end.
func (l *Local) launch(i int) error {
	l.mu.Lock()
	p, err := l.c.StartNode(i)
	name := l.c.Nodes[i].Name
	l.mu.Unlock()
	if err != nil {
		return err
	}
	l.lg.Info("node started", "node", name, "pid", p.PID())
	go func() {
		<-p.Done()
		_ = p.Stop() // closes its log
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.expected[p] {
			delete(l.expected, p)
			return
		}
		e := Exit{Node: name, Slot: i, Time: time.Now(), Tail: p.Tail(10), Reason: exitReason(p.LogPath), DiskFull: l.full[i]}
		if err := p.Err(); err != nil {
			e.Err = err.Error()
		} else {
			e.Err = "exit status 0"
		}
		l.exits = append(l.exits, e)
		l.lg.Warn("node exited on its own", "node", name, "err", e.Err, "disk-full", e.DiskFull)
	}()
	return nil
}

// Exits are the node exits nobody asked for, so far.
func (l *Local) Exits() []Exit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Exit(nil), l.exits...)
}

// Kind is Cairn or NATS.
func (l *Local) Kind() string { return l.o.Kind }

// Size is the number of node slots.
func (l *Local) Size() int { return len(l.c.Nodes) }

// Name is slot i's current node name.
func (l *Local) Name(i int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c.Nodes[i].Name
}

// URLs are the nodes' client URLs, by slot.
func (l *Local) URLs() []string {
	out := make([]string, len(l.c.Nodes))
	for i, n := range l.c.Nodes {
		out[i] = l.scheme("nats") + "://" + l.userinfo("") + n.ClientAddr
	}
	return out
}

// HTTPURL is slot i's HTTP API (cairn only).
func (l *Local) HTTPURL(i int) string {
	return l.scheme("http") + "://" + l.userinfo("chaos") + l.c.Nodes[i].HTTPAddr
}

// userinfo is Options.ClientAuth as a URL's user information: a token
// alone (nats.go's form) or as the password of tokenUser (HTTP's basic
// authentication), a user and password as they are.
func (l *Local) userinfo(tokenUser string) string {
	a := l.o.ClientAuth
	switch {
	case a == "":
		return ""
	case strings.Contains(a, ":"):
		user, pass, _ := strings.Cut(a, ":")
		return url.UserPassword(user, pass).String() + "@"
	case tokenUser != "":
		return url.UserPassword(tokenUser, a).String() + "@"
	}
	return url.User(a).String() + "@"
}

// LogPath is slot i's current log file.
func (l *Local) LogPath(i int) string {
	return filepath.Join(l.o.Dir, l.Name(i)+".log")
}

// Net is the network of the cluster, nil when nodes share 127.0.0.1.
func (l *Local) Net() *netfault.Net { return l.net }

func (l *Local) proc(i int) *cluster.Proc {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i >= len(l.c.Procs) {
		return nil
	}
	return l.c.Procs[i]
}

// Running reports whether slot i's process is alive (paused counts).
func (l *Local) Running(i int) bool {
	p := l.proc(i)
	return p != nil && !p.Exited()
}

// Paused reports whether slot i is stopped with SIGSTOP.
func (l *Local) Paused(i int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.paused[i]
}

// Kill ends slot i's process with SIGKILL and waits for it to end.
func (l *Local) Kill(i int) error { return l.end(i, syscall.SIGKILL) }

// Stop ends slot i's process with SIGTERM (a clean shutdown: cairn hands
// its leaderships over) and waits; it is killed after 10 s.
func (l *Local) Stop(i int) error { return l.end(i, syscall.SIGTERM) }

func (l *Local) end(i int, sig syscall.Signal) error {
	p := l.proc(i)
	if p == nil || p.Exited() {
		return nil
	}
	l.mu.Lock()
	l.expected[p] = true
	wasPaused := l.paused[i]
	delete(l.paused, i)
	l.mu.Unlock()
	if sig == syscall.SIGTERM {
		if wasPaused {
			_ = p.Signal(syscall.SIGCONT)
		}
		return p.Stop()
	}
	if err := p.Signal(sig); err != nil {
		return err
	}
	<-p.Done()
	return p.Stop() // closes its log
}

// Restart starts slot i again (same name, data and addresses) if it is
// not running, and waits until it is ready.
func (l *Local) Restart(ctx context.Context, i int) error {
	if !l.Running(i) {
		if err := l.launch(i); err != nil {
			return err
		}
	}
	return l.WaitReady(ctx, i)
}

// Pause stops slot i with SIGSTOP.
func (l *Local) Pause(i int) error {
	p := l.proc(i)
	if p == nil || p.Exited() {
		return fmt.Errorf("%s is not running", l.Name(i))
	}
	l.mu.Lock()
	l.paused[i] = true
	l.mu.Unlock()
	return p.Signal(syscall.SIGSTOP)
}

// Resume continues slot i with SIGCONT.
func (l *Local) Resume(i int) error {
	l.mu.Lock()
	delete(l.paused, i)
	l.mu.Unlock()
	if p := l.proc(i); p != nil {
		return p.Signal(syscall.SIGCONT)
	}
	return nil
}

// Close stops every node (paused ones are continued first), unmounts the
// disks and deletes the network namespaces.
func (l *Local) Close() error {
	var errs []error
	if l.c != nil {
		for i := range l.c.Procs {
			_ = l.Resume(i)
			if p := l.proc(i); p != nil {
				l.mu.Lock()
				l.expected[p] = true
				l.mu.Unlock()
			}
		}
		errs = append(errs, l.c.Stop())
	}
	l.mu.Lock()
	mounts := l.mounts
	l.mounts = nil
	l.mu.Unlock()
	for _, m := range mounts {
		errs = append(errs, unmount(m))
	}
	if l.net != nil {
		errs = append(errs, l.net.Close())
	}
	return errors.Join(errs...)
}
