package main

// cairn local: a cluster of N `cairn node` processes on this machine, for
// trying cairn out and for failover experiments.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func init() { registerCommand(newLocalCmd) }

// Ports of node i (from 0) by default: those of a single `cairn node`,
// plus i.
const (
	localClientPort = 4222
	localHTTPPort   = 8222
	localPeerPort   = 6222
	localGossipPort = 7946
	// With --base-port P: client P+i, HTTP P+1000+i, peer P+2000+i,
	// gossip P+3000+i.
	localPortStride = 1000
	localMaxNodes   = 50
	// localStopGrace is how long a node may take to stop after SIGTERM
	// before it is killed.
	localStopGrace = 10 * time.Second
	// localTailLines is how many of a node's last log lines are kept to
	// show when it dies.
	localTailLines = 8
)

type localOptions struct {
	nodes        int
	dataDir      string
	basePort     int
	host         string
	startTimeout time.Duration
	tls          bool
	// caFile is the CA of the cluster's certificates (with tls).
	caFile string
}

func newLocalCmd() *cobra.Command {
	o := &localOptions{}
	cmd := &cobra.Command{
		Use:   "local [-- NODE FLAGS...]",
		Short: "Run a cluster of N nodes on this machine (for trying cairn out)",
		Long: `Start N "cairn node" processes on this machine that form one cluster,
wait until it has a meta leader, and print each node's client URL, HTTP
address and process ID, with commands to try. Node i (from 1) keeps its
data in DIR/nodeI and its log in DIR/nodeI.log.

Ports: node i (from 0) listens on 4222+i (NATS clients), 8222+i (HTTP),
6222+i (raft peers) and 7946+i (gossip). With --base-port P: P+i,
P+1000+i, P+2000+i and P+3000+i.

Ctrl-C (or SIGTERM) stops every node (SIGTERM, then SIGKILL after 10s)
and exits 0. A node that dies, or that you kill to watch the cluster fail
over, is reported; the others keep running. Flags after "--" are passed to
every node.`,
		Example: `  cairn local --nodes 3
  cairn local --nodes 5 --data-dir /tmp/cairn --base-port 30000
  cairn local --nodes 3 -- --replace-after 30s
  cairn local --nodes 3 --tls`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if d := cmd.ArgsLenAtDash(); d > 0 || (d < 0 && len(args) > 0) {
				return fmt.Errorf("unexpected argument %q (node flags go after \"--\")", args[0])
			}
			return o.run(cmd, args)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.nodes, "nodes", 3, "number of nodes `N`")
	f.StringVar(&o.dataDir, "data-dir", filepath.Join("data", "local"), "directory `DIR` for the nodes' data and logs")
	f.IntVar(&o.basePort, "base-port", 0, "first `PORT` of a block of ports (see above); 0: the usual ports")
	f.StringVar(&o.host, "host", "127.0.0.1", "`ADDRESS` every node listens on")
	f.DurationVar(&o.startTimeout, "start-timeout", 2*time.Minute, "give up if the cluster is not ready after this long")
	f.BoolVar(&o.tls, "tls", false, "TLS on every node's client ports and peer port, with a CA and a certificate made in DIR/tls (by cairn tls cert; kept for later runs)")
	return cmd
}

// ports returns node i's client, HTTP, peer and gossip ports.
func (o *localOptions) ports(i int) (client, http, peer, gossip int) {
	if o.basePort == 0 {
		return localClientPort + i, localHTTPPort + i, localPeerPort + i, localGossipPort + i
	}
	return o.basePort + i, o.basePort + localPortStride + i, o.basePort + 2*localPortStride + i, o.basePort + 3*localPortStride + i
}

func (o *localOptions) validate() error {
	if o.nodes < 1 || o.nodes > localMaxNodes {
		return fmt.Errorf("--nodes %d: give 1 to %d", o.nodes, localMaxNodes)
	}
	if o.basePort < 0 || o.basePort+3*localPortStride+o.nodes > 65535 {
		return fmt.Errorf("--base-port %d: the ports would not fit below 65536", o.basePort)
	}
	if net.ParseIP(o.host) == nil {
		return fmt.Errorf("--host %q is not an IP address", o.host)
	}
	return nil
}

// localNode is one child process.
type localNode struct {
	name    string
	dataDir string
	logPath string
	gossip  string // host:port
	args    []string

	cmd     *exec.Cmd
	started chan struct{} // closed when it logged that it started
	exited  chan struct{} // closed when it ended and its logs are read
	exitErr error         // valid after exited

	// From its start line (valid after started).
	clientURL, httpURL string

	mu   sync.Mutex
	tail []string
}

// localCluster is the running set of nodes.
type localCluster struct {
	o      *localOptions
	out    io.Writer // the banner and progress
	errOut io.Writer // notices: a node died
	self   string    // how the user called this binary, for the hints
	nodes  []*localNode
	exits  chan *localNode
	sigs   chan os.Signal
}

// errInterrupted ends the start when the user asks to stop.
var errInterrupted = errors.New("interrupted")

func (o *localOptions) run(cmd *cobra.Command, nodeFlags []string) error {
	if err := o.validate(); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the cairn binary to run the nodes: %w", err)
	}
	if o.tls {
		tlsFlags, err := o.makeCertificates()
		if err != nil {
			return err
		}
		nodeFlags = append(tlsFlags, nodeFlags...)
	}
	lc := &localCluster{o: o, out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr(), self: os.Args[0],
		exits: make(chan *localNode, o.nodes), sigs: make(chan os.Signal, 2)}
	lc.plan(nodeFlags)
	if err := lc.checkPorts(); err != nil {
		return err
	}
	if err := os.MkdirAll(o.dataDir, 0o755); err != nil {
		return err
	}
	signal.Notify(lc.sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(lc.sigs)

	err = lc.start(exe)
	if err == nil {
		err = lc.waitReady()
	}
	if err != nil {
		lc.stopAll()
		if errors.Is(err, errInterrupted) {
			return nil
		}
		return err
	}
	lc.printBanner(cmd.Context())
	return lc.supervise()
}

// makeCertificates makes (or keeps) the CA and the nodes' certificate in
// DIR/tls and returns the node flags that use them.
func (o *localOptions) makeCertificates() ([]string, error) {
	dir := filepath.Join(o.dataDir, "tls")
	f := &tlsCertFlags{dir: dir, name: "node", hosts: []string{o.host, "localhost"}, days: 365, caDays: 3650}
	if err := f.run(io.Discard); err != nil {
		return nil, fmt.Errorf("--tls: the cluster's certificates: %w", err)
	}
	cert, key := filepath.Join(dir, "node.pem"), filepath.Join(dir, "node-key.pem")
	o.caFile = filepath.Join(dir, "ca.pem")
	return []string{"--client-tls-cert", cert, "--client-tls-key", key, "--client-tls-ca", o.caFile,
		"--peer-tls-cert", cert, "--peer-tls-key", key, "--peer-tls-ca", o.caFile}, nil
}

// httpClient is what the readiness checks use: plain, or trusting the
// cluster's CA.
func (o *localOptions) httpClient() (*http.Client, error) {
	c, err := credentials{tlsCA: o.caFile}.httpClient()
	if err != nil {
		return nil, err
	}
	cc := *c
	cc.Timeout = 2 * time.Second
	return &cc, nil
}

// plan names the nodes and their addresses.
func (lc *localCluster) plan(nodeFlags []string) {
	o := lc.o
	var join []string
	for i := range min(2, o.nodes) {
		_, _, _, g := o.ports(i)
		join = append(join, net.JoinHostPort(o.host, strconv.Itoa(g)))
	}
	for i := range o.nodes {
		client, httpPort, peer, gossip := o.ports(i)
		addr := func(p int) string { return net.JoinHostPort(o.host, strconv.Itoa(p)) }
		n := &localNode{
			name:    fmt.Sprintf("node%d", i+1),
			dataDir: filepath.Join(o.dataDir, fmt.Sprintf("node%d", i+1)),
			logPath: filepath.Join(o.dataDir, fmt.Sprintf("node%d.log", i+1)),
			gossip:  addr(gossip),
			started: make(chan struct{}),
			exited:  make(chan struct{}),
		}
		n.args = []string{"node", "--name", n.name, "--data-dir", n.dataDir,
			"--client-addr", addr(client), "--http-addr", addr(httpPort),
			"--peer-addr", addr(peer), "--gossip-addr", n.gossip,
			"--expect", strconv.Itoa(o.nodes), "--log-format", "json"}
		if o.nodes > 1 {
			n.args = append(n.args, "--join", strings.Join(join, ","))
		}
		n.args = append(n.args, nodeFlags...)
		lc.nodes = append(lc.nodes, n)
	}
}

// checkPorts fails early, and clearly, when a port is taken.
func (lc *localCluster) checkPorts() error {
	for i, n := range lc.nodes {
		c, h, p, g := lc.o.ports(i)
		for _, port := range []int{c, h, p, g} {
			addr := net.JoinHostPort(lc.o.host, strconv.Itoa(port))
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("%s cannot listen on %s (another cairn running? choose other ports with --base-port): %w", n.name, addr, err)
			}
			ln.Close()
		}
		addr := net.JoinHostPort(lc.o.host, strconv.Itoa(g))
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("%s cannot listen on %s/udp (another cairn running? choose other ports with --base-port): %w", n.name, addr, err)
		}
		pc.Close()
	}
	return nil
}

// start launches every node; they find each other and form the cluster.
func (lc *localCluster) start(exe string) error {
	fmt.Fprintf(lc.out, "cairn local: starting %d nodes, data and logs in %s\n", len(lc.nodes), lc.o.dataDir)
	for _, n := range lc.nodes {
		if err := n.start(exe, lc.exits); err != nil {
			return err
		}
	}
	deadline := time.After(lc.o.startTimeout)
	for _, n := range lc.nodes {
		select {
		case <-n.started:
		case <-n.exited:
			return fmt.Errorf("%s exited while starting (%s); last log lines (%s):\n%s", n.name, n.exitStatus(), n.logPath, n.lastLines())
		case <-lc.sigs:
			return errInterrupted
		case <-deadline:
			return fmt.Errorf("%s did not start within %s; see %s", n.name, lc.o.startTimeout, n.logPath)
		}
	}
	return nil
}

func (n *localNode) start(exe string, exits chan<- *localNode) error {
	if err := os.MkdirAll(n.dataDir, 0o755); err != nil {
		return err
	}
	logFile, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	n.cmd = exec.Command(exe, n.args...)
	n.cmd.Stdout = logFile
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return err
	}
	// Its own process group: a Ctrl-C in the terminal reaches only this
	// process, which then stops the nodes in order. If this process
	// dies, the nodes are told to stop.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := n.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %w", n.name, err)
	}
	go func() {
		n.pump(stderr, logFile)
		n.exitErr = n.cmd.Wait()
		logFile.Close()
		close(n.exited)
		exits <- n
	}()
	return nil
}

// pump copies the node's log to its file, keeps its last lines, and
// notices the line saying it started.
func (n *localNode) pump(r io.Reader, w io.Writer) {
	br := bufio.NewReaderSize(r, 64<<10)
	started := false
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			_, _ = io.WriteString(w, line)
			text := strings.TrimRight(line, "\r\n")
			n.mu.Lock()
			n.tail = append(n.tail, text)
			if len(n.tail) > localTailLines {
				n.tail = n.tail[len(n.tail)-localTailLines:]
			}
			n.mu.Unlock()
			if !started {
				var rec struct {
					Msg       string `json:"msg"`
					ClientURL string `json:"client-url"`
					HTTPURL   string `json:"http-url"`
				}
				if json.Unmarshal([]byte(text), &rec) == nil && rec.Msg == msgStarted {
					n.clientURL, n.httpURL = rec.ClientURL, rec.HTTPURL
					started = true
					close(n.started)
				}
			}
		}
		if err != nil {
			return
		}
	}
}

func (n *localNode) lastLines() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var b strings.Builder
	for _, l := range n.tail {
		if len(l) > 300 {
			l = l[:300] + "..."
		}
		b.WriteString("    " + l + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func (n *localNode) exitStatus() string {
	if n.exitErr == nil {
		return "exit status 0"
	}
	return n.exitErr.Error()
}

func (n *localNode) pid() int { return n.cmd.Process.Pid }

func (n *localNode) hasExited() bool {
	select {
	case <-n.exited:
		return true
	default:
		return false
	}
}

// waitReady waits until every node's /readyz answers 200: it has joined
// a cluster with a meta leader.
func (lc *localCluster) waitReady() error {
	deadline := time.Now().Add(lc.o.startTimeout)
	client, err := lc.o.httpClient()
	if err != nil {
		return err
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for _, n := range lc.nodes {
		for !ready(client, n.httpURL) {
			select {
			case <-n.exited:
				return fmt.Errorf("%s exited while joining (%s); last log lines (%s):\n%s", n.name, n.exitStatus(), n.logPath, n.lastLines())
			case <-lc.sigs:
				return errInterrupted
			case <-tick.C:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s is not ready after %s (GET %s/readyz); see %s", n.name, lc.o.startTimeout, n.httpURL, n.logPath)
			}
		}
	}
	return nil
}

func ready(c *http.Client, base string) bool {
	res, err := c.Get(base + "/readyz")
	if err != nil {
		return false
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode == http.StatusOK
}

// printBanner shows where the nodes are and what to try.
func (lc *localCluster) printBanner(ctx context.Context) {
	w := lc.out
	fmt.Fprintf(w, "cairn local: %d nodes are up and joined.\n\n", len(lc.nodes))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NODE\tPID\tCLIENT URL\tHTTP API\tLOG")
	for _, n := range lc.nodes {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", n.name, n.pid(), n.clientURL, n.httpURL, n.logPath)
	}
	_ = tw.Flush()

	first, last := lc.nodes[0], lc.nodes[len(lc.nodes)-1]
	ho := &httpOptions{url: first.httpURL, timeout: 5 * time.Second, creds: credentials{tlsCA: lc.o.caFile}}
	if v, _, err := ho.view(ctx, "cluster status"); err == nil {
		fmt.Fprintf(w, "\nMeta leader: %s.\n", v.name(v.MetaLeader))
	}
	s := func(n *localNode) string {
		if n.clientURL == defaultServer {
			return ""
		}
		return " -s " + n.clientURL
	}
	h := ""
	if first.httpURL != defaultHTTPURL {
		h = " --http " + first.httpURL
	}
	// With TLS, every command needs the CA.
	ca, natsCA, curlCA := "", "", ""
	if f := lc.o.caFile; f != "" {
		ca, natsCA, curlCA = " --tls-ca "+f, " --tlsca "+f, " --cacert "+f
	}
	bin := lc.self
	fmt.Fprintf(w, "\nTry, in another shell:\n")
	fmt.Fprintf(w, "  %s kv add orders --replicas %d --history 5%s%s\n", bin, min(3, len(lc.nodes)), s(first), ca)
	fmt.Fprintf(w, "  %s kv put orders eu.1234 shipped%s%s\n", bin, s(first), ca)
	fmt.Fprintf(w, "  %s kv get orders eu.1234 -s %s%s\n", bin, last.clientURL, ca)
	fmt.Fprintf(w, "  %s kv watch orders 'eu.>'%s%s\n", bin, s(first), ca)
	fmt.Fprintf(w, "  nats -s %s%s kv get orders eu.1234\n", last.clientURL, natsCA)
	fmt.Fprintf(w, "  curl%s %s/v1/kv/orders/eu.1234\n", curlCA, last.httpURL)
	fmt.Fprintf(w, "  %s cluster status%s%s\n", bin, h, ca)
	if len(lc.nodes) > 1 {
		fmt.Fprintf(w, "  kill -9 %d    # crash %s: the others carry on; cluster status shows it failed\n", last.pid(), last.name)
	}
	fmt.Fprintf(w, "\nCtrl-C stops every node.\n")
}

// supervise runs until a signal, reporting nodes that die meanwhile.
func (lc *localCluster) supervise() error {
	for {
		select {
		case <-lc.sigs:
			lc.stopAll()
			return nil
		case n := <-lc.exits:
			alive := 0
			for _, m := range lc.nodes {
				if !m.hasExited() {
					alive++
				}
			}
			fmt.Fprintf(lc.errOut, "\ncairn local: %s (pid %d) exited: %s\n  last log lines (%s):\n%s\n",
				n.name, n.pid(), n.exitStatus(), n.logPath, n.lastLines())
			if alive == 0 {
				return errors.New("every node has exited")
			}
			fmt.Fprintf(lc.errOut, "  The other %d nodes keep running (testing failover?). Ctrl-C stops them.\n", alive)
		}
	}
}

// stopAll sends SIGTERM to every node still running, waits up to
// localStopGrace, then kills what is left. A second signal kills at once.
func (lc *localCluster) stopAll() {
	var running []*localNode
	for _, n := range lc.nodes {
		if n.cmd != nil && n.cmd.Process != nil && !n.hasExited() {
			running = append(running, n)
		}
	}
	if len(running) == 0 {
		return
	}
	fmt.Fprintf(lc.out, "\ncairn local: stopping %d nodes\n", len(running))
	for _, n := range running {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
	}
	grace := time.NewTimer(localStopGrace)
	defer grace.Stop()
	killed := false
	kill := func() {
		if !killed {
			killed = true
			for _, n := range running {
				_ = n.cmd.Process.Kill()
			}
		}
	}
	for _, n := range running {
		for done := false; !done; {
			select {
			case <-n.exited:
				done = true
			case <-grace.C:
				fmt.Fprintf(lc.errOut, "cairn local: nodes still running after %s; killing them\n", localStopGrace)
				kill()
			case <-lc.sigs:
				fmt.Fprintln(lc.errOut, "cairn local: killing the nodes")
				kill()
			}
		}
	}
	fmt.Fprintln(lc.out, "cairn local: all nodes stopped")
}
