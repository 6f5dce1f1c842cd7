package netfault

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as a helper run inside the namespaces: with
// NETFAULT_LISTEN it serves TCP there (reading each connection to its
// end, then closing it); with NETFAULT_DIAL it connects once and exits 0
// if it could; with NETFAULT_SEND it sends NETFAULT_BYTES and waits for
// the listener to have read them all.
func TestMain(m *testing.M) {
	if addr := os.Getenv("NETFAULT_LISTEN"); addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			os.Exit(2)
		}
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(0)
			}
			go func() {
				_ = c.SetDeadline(time.Now().Add(time.Minute))
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}
	if addr := os.Getenv("NETFAULT_SEND"); addr != "" {
		os.Exit(send(addr))
	}
	if addr := os.Getenv("NETFAULT_DIAL"); addr != "" {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err != nil {
			os.Exit(1)
		}
		c.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// send writes NETFAULT_BYTES to addr, closes its side, waits for the
// listener to close after reading them, and prints how long that took
// from the dial (the process's own start-up, slow on a loaded machine,
// is not counted).
func send(addr string) int {
	n, err := strconv.Atoi(os.Getenv("NETFAULT_BYTES"))
	if err != nil {
		return 2
	}
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 1
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(make([]byte, n)); err != nil {
		return 1
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return 1
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		return 1
	}
	fmt.Println(time.Since(start).Nanoseconds())
	return 0
}

// transfer sends size bytes from slot from to addr and says how long
// they took to arrive.
func transfer(t *testing.T, n *Net, from int, addr string, size int) time.Duration {
	t.Helper()
	pre := n.Exec(from)
	cmd := exec.Command(pre[0], append(pre[1:], os.Args[0], "-test.run=^$")...)
	cmd.Env = append(os.Environ(), "NETFAULT_SEND="+addr, "NETFAULT_BYTES="+strconv.Itoa(size))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sending %d bytes from %d to %s: %v %s", size, from, addr, err, out)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatalf("sending %d bytes from %d to %s: no time in %q", size, from, addr, out)
	}
	return time.Duration(ns)
}

// reach reports whether slot from (-1: the harness) can connect to addr.
func reach(n *Net, from int, addr string) bool {
	var cmd *exec.Cmd
	if from < 0 {
		cmd = exec.Command(os.Args[0], "-test.run=^$")
	} else {
		pre := n.Exec(from)
		cmd = exec.Command(pre[0], append(pre[1:], os.Args[0], "-test.run=^$")...)
	}
	cmd.Env = append(os.Environ(), "NETFAULT_DIAL="+addr)
	return cmd.Run() == nil
}

func TestCutHealAndLoss(t *testing.T) {
	if err := Check(); err != nil {
		t.Skipf("LOUD: network namespaces cannot be tested here: %v", err)
	}
	n, err := Setup(RunID())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var servers []*exec.Cmd
	defer func() {
		for _, s := range servers {
			_ = s.Process.Kill()
			_ = s.Wait()
		}
	}()
	for i := range 3 {
		if err := n.AddNode(i); err != nil {
			t.Fatal(err)
		}
		pre := n.Exec(i)
		s := exec.Command(pre[0], append(pre[1:], os.Args[0], "-test.run=^$")...)
		s.Env = append(os.Environ(), "NETFAULT_LISTEN="+n.NodeIP(i)+":7000")
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		servers = append(servers, s)
	}
	addr := func(i int) string { return n.NodeIP(i) + ":7000" }
	waitReach := func(from, to int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !reach(n, from, addr(to)) {
			if time.Now().After(deadline) {
				t.Fatalf("%d cannot reach %d", from, to)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i := range 3 {
		waitReach(-1, i)
	}
	waitReach(0, 1)
	if err := n.Cut([][2]int{{0, 1}}); err != nil {
		t.Fatal(err)
	}
	if reach(n, 0, addr(1)) || reach(n, 1, addr(0)) {
		t.Fatal("0 and 1 still reach each other after the cut")
	}
	if !reach(n, 0, addr(2)) || !reach(n, -1, addr(0)) || !reach(n, -1, addr(1)) {
		t.Fatal("the cut cut more than 0-1")
	}
	if err := n.Heal(); err != nil {
		t.Fatal(err)
	}
	waitReach(0, 1)
	waitReach(1, 0)
	if err := n.Loss([]int{1}, 1.0); err != nil {
		t.Fatal(err)
	}
	if reach(n, 0, addr(1)) || !reach(n, -1, addr(1)) {
		t.Fatal("total loss on 1 should drop what nodes send it, not what clients send")
	}
	if err := n.Heal(); err != nil {
		t.Fatal(err)
	}
	waitReach(0, 1)
	if err := n.DelayAvailable(); err != nil && !strings.Contains(err.Error(), "netem") {
		t.Fatalf("DelayAvailable: %v", err)
	}

	// A throttle bounds what a node sends: 256 KiB at 1 Mbit/s cannot
	// arrive in under two seconds (whatever TCP does with the drops),
	// while the same bytes unthrottled cross a veth in milliseconds; so
	// the throttled transfer must take at least that, the healed one
	// less (a wide margin for a loaded machine).
	if err := n.ThrottleAvailable(); err != nil {
		t.Logf("LOUD: throttle not tested: %v", err)
		return
	}
	const size = 256 << 10
	free := transfer(t, n, 1, addr(0), size)
	if err := n.Throttle([]int{1}, 1_000_000, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	slow := transfer(t, n, 1, addr(0), size)
	if slow < 2*time.Second {
		t.Fatalf("256 KiB crossed a 1 Mbit/s link in %v (unthrottled %v)", slow, free)
	}
	if !reach(n, 0, addr(1)) {
		t.Fatal("a throttled node cannot be reached at all")
	}
	if err := n.Heal(); err != nil {
		t.Fatal(err)
	}
	if healed := transfer(t, n, 1, addr(0), size); healed >= 2*time.Second {
		t.Fatalf("256 KiB took %v after healing the throttle (unthrottled %v, throttled %v)", healed, free, slow)
	}
	t.Logf("256 KiB from a node: %v unthrottled, %v at 1 Mbit/s", free, slow)
}
