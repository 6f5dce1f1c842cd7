package netfault

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Cut drops all traffic between each pair of node slots, both ways.
// Clients (the harness) still reach every node.
func (n *Net) Cut(pairs [][2]int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range pairs {
		for _, d := range [][2]int{{p[0], p[1]}, {p[1], p[0]}} {
			ns, ok := n.nodes[d[1]]
			if !ok {
				return fmt.Errorf("no node %d on the chaos network", d[1])
			}
			if err := inNS(ns, "iptables", "-A", Chain, "-s", n.NodeIP(d[0]), "-j", "DROP"); err != nil {
				return err
			}
		}
	}
	return nil
}

// Loss drops the given share of packets (0..1) that reach each of the
// slots from other nodes.
func (n *Net) Loss(slots []int, share float64) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := strconv.FormatFloat(share, 'f', 3, 64)
	for _, i := range slots {
		ns, ok := n.nodes[i]
		if !ok {
			return fmt.Errorf("no node %d on the chaos network", i)
		}
		if err := inNS(ns, "iptables", "-A", Chain, "-s", n.subnet+".0/24", "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"); err != nil {
			return err
		}
	}
	return nil
}

// DelayAvailable says why Delay cannot run here (nil: it can).
func (n *Net) DelayAvailable() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.nodes) == 0 {
		return errors.New("no nodes yet")
	}
	return n.netem
}

// Delay delays every packet the slots send by d ± jitter (tc netem on the
// namespace's link, so replies to clients are delayed too).
func (n *Net) Delay(slots []int, d, jitter time.Duration) error {
	if err := n.DelayAvailable(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, i := range slots {
		ns, ok := n.nodes[i]
		if !ok {
			return fmt.Errorf("no node %d on the chaos network", i)
		}
		if err := inNS(ns, "tc", "qdisc", "replace", "dev", "eth0", "root", "netem", "delay", d.String(), jitter.String()); err != nil {
			return err
		}
	}
	return nil
}

// ThrottleAvailable says why Throttle cannot run here (nil: it can).
func (n *Net) ThrottleAvailable() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.nodes) == 0 {
		return errors.New("no nodes yet")
	}
	return n.tbf
}

// Throttle limits what each slot sends to bitsPerSec, queueing up to
// queue's worth before dropping (tc tbf on the namespace's link): a
// congested network, where packets wait in a queue and the excess is
// lost. Replies to clients slow down too. Kernels without netem mostly
// have tbf, so this is the slow network a run can have everywhere.
func (n *Net) Throttle(slots []int, bitsPerSec int, queue time.Duration) error {
	if err := n.ThrottleAvailable(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	rate := strconv.Itoa(bitsPerSec) + "bit"
	latency := strconv.FormatInt(queue.Milliseconds(), 10) + "ms"
	for _, i := range slots {
		ns, ok := n.nodes[i]
		if !ok {
			return fmt.Errorf("no node %d on the chaos network", i)
		}
		// A burst of 16 KiB lets a heartbeat or a small append through
		// at once; anything beyond waits for the rate.
		if err := inNS(ns, "tc", "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", rate, "burst", "16kb", "latency", latency); err != nil {
			return err
		}
	}
	return nil
}

// Heal removes every fault: the chains are emptied, delays and
// throttles removed.
func (n *Net) Heal() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for _, ns := range n.nodes {
		errs = append(errs, n.resetChain(ns))
		if n.netem == nil || n.tbf == nil {
			_ = inNS(ns, "tc", "qdisc", "del", "dev", "eth0", "root") // none there: fine
		}
	}
	return errors.Join(errs...)
}
