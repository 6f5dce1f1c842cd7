package natsserver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// testTimeout bounds every wait in these tests; none sleeps blindly.
const testTimeout = 10 * time.Second

func startServer(t testing.TB, mutate func(*Config)) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: testLogLevel}))
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func serverURL(s *Server) string { return "nats://" + s.Addr().String() }

func connectNATS(t testing.TB, s *Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{nats.NoReconnect(), nats.Timeout(testTimeout)}, opts...)
	nc, err := nats.Connect(serverURL(s), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// waitFor polls cond until it holds or the test timeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for delay := time.Millisecond; !cond(); delay = min(2*delay, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(delay)
	}
}

// rawClient speaks the protocol by hand.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	info string
}

func dialAddr(t testing.TB, addr string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rc := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	rc.info = rc.line()
	if !strings.HasPrefix(rc.info, "INFO {") {
		t.Fatalf("first line %q is not INFO", rc.info)
	}
	return rc
}

func dialRaw(t testing.TB, s *Server) *rawClient { return dialAddr(t, s.Addr().String()) }

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	_ = rc.conn.SetWriteDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(rc.conn, s); err != nil {
		rc.t.Fatalf("send %q: %v", s, err)
	}
}

// line reads one line without its CRLF.
func (rc *rawClient) line() string {
	rc.t.Helper()
	_ = rc.conn.SetReadDeadline(time.Now().Add(testTimeout))
	l, err := rc.r.ReadString('\n')
	if err != nil {
		rc.t.Fatalf("read line (got %q): %v", l, err)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (rc *rawClient) expect(lines ...string) {
	rc.t.Helper()
	for _, want := range lines {
		if got := rc.line(); got != want {
			rc.t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// untilEOF reads everything until the server closes the connection.
func (rc *rawClient) untilEOF() string {
	rc.t.Helper()
	_ = rc.conn.SetReadDeadline(time.Now().Add(testTimeout))
	b, err := io.ReadAll(rc.r)
	if err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		rc.t.Fatalf("expected EOF after %d bytes (%q...): %v", len(b), b[:min(len(b), 64)], err)
	}
	return string(b)
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// rawMsg is one MSG or HMSG as received.
type rawMsg struct {
	subject, sid, reply string
	header, payload     string
}

// msg reads one MSG or HMSG, skipping nothing.
func (rc *rawClient) msg() rawMsg {
	rc.t.Helper()
	l := rc.line()
	f := strings.Fields(l)
	var m rawMsg
	var hdr, total int
	var err error
	switch {
	case f[0] == "MSG" && (len(f) == 4 || len(f) == 5):
		m.subject, m.sid = f[1], f[2]
		if len(f) == 5 {
			m.reply = f[3]
		}
		total, err = strconv.Atoi(f[len(f)-1])
	case f[0] == "HMSG" && (len(f) == 5 || len(f) == 6):
		m.subject, m.sid = f[1], f[2]
		if len(f) == 6 {
			m.reply = f[3]
		}
		if hdr, err = strconv.Atoi(f[len(f)-2]); err == nil {
			total, err = strconv.Atoi(f[len(f)-1])
		}
	default:
		rc.t.Fatalf("not a message: %q", l)
	}
	if err != nil {
		rc.t.Fatalf("bad sizes in %q", l)
	}
	buf := make([]byte, total+2)
	if _, err := io.ReadFull(rc.r, buf); err != nil {
		rc.t.Fatalf("read payload of %q: %v", l, err)
	}
	if string(buf[total:]) != "\r\n" {
		rc.t.Fatalf("payload of %q not followed by CRLF", l)
	}
	m.header, m.payload = string(buf[:hdr]), string(buf[hdr:total])
	return m
}

var testLogLevel = func() slog.Level {
	if os.Getenv("NATSSERVER_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}()
