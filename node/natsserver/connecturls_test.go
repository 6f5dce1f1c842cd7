package natsserver

import (
	"encoding/json"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// connectURLsOf decodes the connect_urls of an INFO line.
func connectURLsOf(t *testing.T, line string) []string {
	t.Helper()
	js, ok := strings.CutPrefix(line, "INFO ")
	if !ok {
		t.Fatalf("%q is not INFO", line)
	}
	var info struct {
		ConnectURLs []string `json:"connect_urls"`
		ClientID    uint64   `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(js), &info); err != nil {
		t.Fatalf("INFO %q: %v", js, err)
	}
	return info.ConnectURLs
}

const connectProto1 = "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\n"

func TestConnectURLs(t *testing.T) {
	s := startServer(t, nil)
	if got := connectURLsOf(t, dialRaw(t, s).info); got != nil {
		t.Fatalf("connect_urls before any were set: %v", got)
	}

	// The first INFO carries the list, sorted and without duplicates.
	s.SetConnectURLs([]string{"127.0.0.2:4222", "127.0.0.1:4222", "127.0.0.2:4222"})
	want := []string{"127.0.0.1:4222", "127.0.0.2:4222"}
	updating, silent := dialRaw(t, s), dialRaw(t, s)
	for _, rc := range []*rawClient{updating, silent} {
		if got := connectURLsOf(t, rc.info); !slices.Equal(got, want) {
			t.Fatalf("first INFO: connect_urls %v, want %v", got, want)
		}
	}
	updating.send(connectProto1 + "PING\r\n")
	updating.expect("PONG")
	silent.send(quietConnect + "PING\r\n") // protocol 0: no updates
	silent.expect("PONG")

	// A change reaches the protocol-1 client as an INFO of its own; the
	// same list again sends nothing.
	want = []string{"127.0.0.1:4222", "127.0.0.3:4222"}
	s.SetConnectURLs(want)
	s.SetConnectURLs(slices.Clone(want))
	if got := connectURLsOf(t, updating.line()); !slices.Equal(got, want) {
		t.Fatalf("async INFO: connect_urls %v, want %v", got, want)
	}
	updating.send("PING\r\n")
	updating.expect("PONG")
	silent.send("PING\r\n")
	silent.expect("PONG")

	// A client that connected before a change and completed its
	// handshake after it is told right after its first PONG (never
	// before it: clients expect the PONG of their handshake next).
	late := dialRaw(t, s)
	want = []string{"127.0.0.1:4222"}
	s.SetConnectURLs(want)
	late.send(connectProto1 + "PING\r\n")
	late.expect("PONG")
	if got := connectURLsOf(t, late.line()); !slices.Equal(got, want) {
		t.Fatalf("INFO after the first PONG: connect_urls %v, want %v", got, want)
	}
	if got := connectURLsOf(t, updating.line()); !slices.Equal(got, want) {
		t.Fatalf("async INFO: connect_urls %v, want %v", got, want)
	}

	// An empty list announces none.
	s.SetConnectURLs(nil)
	if got := connectURLsOf(t, updating.line()); got != nil {
		t.Fatalf("after clearing: connect_urls %v", got)
	}
}

// TestConnectURLsReachNATSGo: nats.go adds the announced servers to its
// pool as discovered servers.
func TestConnectURLsReachNATSGo(t *testing.T) {
	s := startServer(t, nil)
	nc := connectNATS(t, s)
	s.SetConnectURLs([]string{s.Addr().String(), "127.0.0.9:4222"})
	waitFor(t, "nats.go discovers the announced server", func() bool {
		return slices.Contains(nc.DiscoveredServers(), "nats://127.0.0.9:4222")
	})
}

// TestLameDuck: entering lame-duck mode refuses new connections, tells
// connected clients (raw and nats.go) with an INFO carrying "ldm": true
// and the servers to move to, keeps serving them, and ignores later
// changes of the server list.
func TestLameDuck(t *testing.T) {
	s := startServer(t, nil)
	self := s.Addr().String()
	s.SetConnectURLs([]string{self, "127.0.0.8:4222"})
	raw := dialRaw(t, s)
	raw.send(connectProto1 + "PING\r\n")
	raw.expect("PONG")
	told := make(chan struct{}, 1)
	nc := connectNATS(t, s, nats.LameDuckModeHandler(func(*nats.Conn) { told <- struct{}{} }))

	others := []string{"127.0.0.8:4222", "127.0.0.9:4222"}
	s.LameDuck(others)
	line := raw.line()
	var info struct {
		LameDuck    bool     `json:"ldm"`
		ConnectURLs []string `json:"connect_urls"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "INFO ")), &info); err != nil {
		t.Fatalf("after LameDuck: %q: %v", line, err)
	}
	if !info.LameDuck || !slices.Equal(info.ConnectURLs, others) {
		t.Fatalf("lame-duck INFO = %q, want ldm and connect_urls %v", line, others)
	}
	select {
	case <-told:
	case <-time.After(testTimeout):
		t.Fatal("nats.go's LameDuckModeHandler was not called")
	}
	if conn, err := net.DialTimeout("tcp", self, testTimeout); err == nil {
		conn.Close()
		t.Fatal("a new connection was accepted in lame-duck mode")
	}

	// Connected clients are still served; the list no longer changes.
	s.SetConnectURLs([]string{self, "127.0.0.7:4222"})
	s.LameDuck(nil)
	raw.send("PING\r\n")
	raw.expect("PONG")
	if err := nc.Flush(); err != nil {
		t.Fatalf("nats.go client in lame-duck mode: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
