package netfault

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

// Chain is the iptables chain the faults live in, in each node namespace.
const Chain = "CAIRN-CHAOS"

// nsPrefix starts the name of every namespace this package creates.
const nsPrefix = "cairn-chaos-"

// ErrUnavailable is returned when network faults cannot run here.
var ErrUnavailable = errors.New("network faults unavailable")

// Check says why network namespaces and iptables cannot be used here
// (nil: they can).
func Check() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: they need root (network namespaces and iptables); run as root, or leave out the partition, loss and delay nemeses", ErrUnavailable)
	}
	for _, tool := range []string{"ip", "iptables", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s is not installed (apt-get install iproute2 iptables)", ErrUnavailable, tool)
		}
	}
	return nil
}

// Net is the namespaces of one run.
type Net struct {
	id     string // short run id
	subnet string // first three octets, e.g. "10.213.7"
	hub    string
	hostIf string

	mu      sync.Mutex
	nodes   map[int]string // node slot → namespace
	netem   error          // why tc netem cannot be used (nil: it can)
	tbf     error          // why tc tbf cannot be used (nil: it can)
	created []string       // namespaces, for Close
}

// Setup makes the hub namespace and the harness's link to it. id must
// be 1 to 6 letters or digits, unique among runs on this machine.
func Setup(id string) (*Net, error) {
	if err := Check(); err != nil {
		return nil, err
	}
	subnet, err := freeSubnet()
	if err != nil {
		return nil, err
	}
	n := &Net{id: id, subnet: subnet, hub: nsPrefix + id + "-hub", hostIf: "cc" + id + "h", nodes: map[int]string{}}
	steps := [][]string{
		{"netns", "add", n.hub},
		{"-n", n.hub, "link", "add", "br0", "type", "bridge"},
		{"-n", n.hub, "link", "set", "br0", "up"},
		{"link", "add", n.hostIf, "type", "veth", "peer", "name", "vhost", "netns", n.hub},
		{"-n", n.hub, "link", "set", "vhost", "master", "br0"},
		{"-n", n.hub, "link", "set", "vhost", "up"},
		{"addr", "add", n.HostIP() + "/24", "dev", n.hostIf},
		{"link", "set", n.hostIf, "up"},
	}
	n.created = append(n.created, n.hub)
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// freeSubnet picks 10.213.K.0/24 with no address or route on this host.
func freeSubnet() (string, error) {
	out, err := exec.Command("ip", "-4", "route", "show", "table", "all").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ip route: %v: %s", err, out)
	}
	for k := 1; k < 255; k++ {
		s := fmt.Sprintf("10.213.%d", k)
		if !bytes.Contains(out, []byte(s+".")) && !bytes.Contains(out, []byte("10.213.0.0/16")) {
			return s, nil
		}
	}
	return "", errors.New("no free 10.213.K.0/24 subnet for the chaos network")
}

// HostIP is the harness's address on the chaos network.
func (n *Net) HostIP() string { return n.subnet + ".1" }

// NodeIP is node slot i's address (from 0).
func (n *Net) NodeIP(i int) string { return fmt.Sprintf("%s.%d", n.subnet, 11+i) }

// Exec is the command prefix that runs a program in slot i's namespace.
func (n *Net) Exec(i int) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return []string{"ip", "netns", "exec", n.nodes[i]}
}

// AddNode makes slot i's namespace: its link to the hub, its address, and
// the empty fault chain.
func (n *Net) AddNode(i int) error {
	ns := fmt.Sprintf("%s%s-n%d", nsPrefix, n.id, i+1)
	port := fmt.Sprintf("vn%d", i+1)
	n.mu.Lock()
	n.created = append(n.created, ns)
	n.mu.Unlock()
	steps := [][]string{
		{"netns", "add", ns},
		{"-n", n.hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"-n", n.hub, "link", "set", port, "master", "br0"},
		{"-n", n.hub, "link", "set", port, "up"},
		{"-n", ns, "addr", "add", n.NodeIP(i) + "/24", "dev", "eth0"},
		{"-n", ns, "link", "set", "eth0", "up"},
		{"-n", ns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			return err
		}
	}
	if err := inNS(ns, "iptables", "-N", Chain); err != nil {
		return err
	}
	if err := inNS(ns, "iptables", "-I", "INPUT", "-j", Chain); err != nil {
		return err
	}
	n.mu.Lock()
	n.nodes[i] = ns
	first := len(n.nodes) == 1
	n.mu.Unlock()
	if err := n.resetChain(ns); err != nil {
		return err
	}
	if first {
		// Whether tc netem exists in this kernel, tried where it harms nothing.
		if err := inNS(ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"); err != nil {
			n.netem = fmt.Errorf("%w: tc netem is not available in this kernel (module sch_netem): %v", ErrUnavailable, err)
		} else {
			_ = inNS(ns, "tc", "qdisc", "del", "dev", "lo", "root")
		}
		if err := inNS(ns, "tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", "1mbit", "burst", "16kb", "latency", "50ms"); err != nil {
			n.tbf = fmt.Errorf("%w: tc tbf is not available in this kernel (module sch_tbf): %v", ErrUnavailable, err)
		} else {
			_ = inNS(ns, "tc", "qdisc", "del", "dev", "lo", "root")
		}
	}
	return nil
}

// resetChain empties slot's chain, leaving only the rule that lets the
// harness's own traffic (clients) through.
func (n *Net) resetChain(ns string) error {
	if err := inNS(ns, "iptables", "-F", Chain); err != nil {
		return err
	}
	return inNS(ns, "iptables", "-A", Chain, "-s", n.HostIP(), "-j", "RETURN")
}

// Close deletes every namespace of the run (and with them every rule,
// queue and link). Processes still running in them keep their
// namespace alive until they exit: stop them first.
func (n *Net) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for i := len(n.created) - 1; i >= 0; i-- {
		if err := ipCmd("netns", "del", n.created[i]); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err)
		}
	}
	n.created = nil
	_ = ipCmd("link", "del", n.hostIf) // normally gone with the hub already
	return errors.Join(errs...)
}

// RunID is the id of this process's run: its process ID in hex, so a
// later run can tell whether the run that made a namespace is still alive.
func RunID() string { return strconv.FormatInt(int64(os.Getpid()), 16) }

// owner is the process ID encoded in a namespace name (0 if none).
func owner(ns string) int {
	rest := strings.TrimPrefix(ns, nsPrefix)
	id, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.ParseInt(id, 16, 64)
	if err != nil {
		return 0
	}
	return int(pid)
}

// CleanupStale deletes namespaces left by runs that were killed before
// they could clean up (names starting with cairn-chaos- whose run's
// process is gone), and returns their names.
func CleanupStale() ([]string, error) {
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ip netns list: %v: %s", err, out)
	}
	var gone []string
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], nsPrefix) {
			continue
		}
		if pid := owner(f[0]); pid > 0 && pid != os.Getpid() {
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
				continue // its run is still going
			}
		}
		if err := ipCmd("netns", "del", f[0]); err != nil {
			errs = append(errs, err)
			continue
		}
		gone = append(gone, f[0])
	}
	return gone, errors.Join(errs...)
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func inNS(ns string, cmd ...string) error {
	return ipCmd(append([]string{"netns", "exec", ns}, cmd...)...)
}

// Probe builds and removes a one-node chaos network, to learn whether
// this machine allows it: root is not always enough (a container without
// CAP_SYS_ADMIN cannot make namespaces).
func Probe() error {
	if err := Check(); err != nil {
		return err
	}
	n, err := Setup(RunID() + "p")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	err = n.AddNode(0)
	if cerr := n.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}
