package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is one running node process.
type Proc struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	log     *os.File
	exited  chan struct{}
	waitErr error
}

// stopGrace is how long a node may take to stop after SIGTERM.
var stopGrace = 10 * time.Second

// start runs bin with args, its output in logPath. The process gets its
// own process group, so a Ctrl-C meant for the harness does not kill it
// before the harness has printed its results, and is killed if the
// harness dies.
func start(name, bin string, args []string, dir, logPath string, env []string) (*Proc, error) {
	return launch(name, bin, args, dir, logPath, env, os.O_TRUNC)
}

// launch is start with the log file's open mode: os.O_TRUNC for a fresh
// log, os.O_APPEND to keep the log of earlier runs of the same node.
func launch(name, bin string, args []string, dir, logPath string, env []string, logMode int) (*Proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|logMode, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, log: f, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Signal sends sig to the process (SIGKILL, SIGSTOP, SIGCONT, ...); a
// process that has ended is left alone.
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: %s: %w", p.Name, sig, err)
	}
	return nil
}

// Done is closed when the process has ended; Err then says how.
func (p *Proc) Done() <-chan struct{} { return p.exited }

// Err is how the process ended (nil: exit status 0); valid after Done.
func (p *Proc) Err() error {
	<-p.exited
	return p.waitErr
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Stop ends the process: SIGTERM, then SIGKILL after stopGrace. It is
// safe to call more than once.
func (p *Proc) Stop() error {
	defer p.log.Close()
	if p.Exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(stopGrace):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	return fmt.Errorf("%s did not stop within %s after SIGTERM and was killed", p.Name, stopGrace)
}

// Tail is the end of the process's log, for error messages.
func (p *Proc) Tail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// CPUTime is the CPU time the process has used (user + system), read
// from /proc; 0 where that is not available.
func (p *Proc) CPUTime() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID()) + "/stat")
	if err != nil {
		return 0
	}
	return parseStatCPU(b)
}

// clockTick is USER_HZ, 100 on every Linux platform Go supports.
const clockTick = 100

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/PID/stat line. The command name (field 2) may hold spaces, so
// fields are counted after its closing parenthesis.
func parseStatCPU(b []byte) time.Duration {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * time.Second / clockTick
}

// waitListening waits until addr accepts TCP connections, the process
// exits, or ctx ends.
func (p *Proc) waitListening(ctx context.Context, addr string) error {
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited before listening on %s: %v\n%s", p.Name, addr, p.waitErr, p.Tail(20))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is not listening on %s: %w\n%s", p.Name, addr, ctx.Err(), p.Tail(20))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// FreePorts returns n distinct loopback TCP ports that were free a
// moment ago. They are held open until all are chosen so none repeats.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// versionOf runs bin with args and returns the first non-empty line of
// its output.
func versionOf(ctx context.Context, bin string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return ""
	}
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

var errNoBinary = errors.New("binary not found")
