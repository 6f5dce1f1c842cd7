package natsserver

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
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
