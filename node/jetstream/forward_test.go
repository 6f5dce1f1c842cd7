package jetstream

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node"
	"github.com/cairnkv/cairn/node/natsref"
	"github.com/cairnkv/cairn/node/natsserver"
	refserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// relayRouter takes what the forwarder relays to the client.
type relayRouter struct{ relayed chan *natsserver.Msg }

func (r relayRouter) Subscribe(string, string, natsserver.Handler) (func(), error) {
	return func() {}, nil
}
func (r relayRouter) SubscribeInline(string, natsserver.Handler) (func(), error) {
	return func() {}, nil
}
func (r relayRouter) Publish(m *natsserver.Msg) error             { r.relayed <- m; return nil }
func (r relayRouter) PublishTo(_ string, m *natsserver.Msg) error { r.relayed <- m; return nil }
func (r relayRouter) PublishBatchTo(_ string, msgs []*natsserver.Msg) error {
	for _, m := range msgs {
		r.relayed <- m
	}
	return nil
}
func (r relayRouter) HasInterest(string) bool { return true }

// forwardingServer is a JetStream front on a node of its own, whose
// forwarder relays to router.
func forwardingServer(t *testing.T) (*Server, relayRouter) {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	router := relayRouter{relayed: make(chan *natsserver.Msg, 16)}
	s := New(n, router, cfg.Logger)
	t.Cleanup(s.fwd.close)
	return s, router
}

// fakeReplica is a real NATS server on loopback with a responder that
// answers the JetStream API as a replica of a bucket would: available
// (a stream info, a direct-get message) or not (a 503 API error, a 503
// status with no body).
func fakeReplica(t *testing.T, id uint64, available bool) node.Replica {
	t.Helper()
	ns := natsref.Start(t, refserver.Options{})
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	_, err = nc.Subscribe("$JS.API.>", func(m *nats.Msg) {
		reply := nats.NewMsg(m.Reply)
		switch {
		case strings.HasPrefix(m.Subject, "$JS.API.DIRECT.GET.") && available:
			reply.Data = []byte("value")
		case strings.HasPrefix(m.Subject, "$JS.API.DIRECT.GET."):
			reply.Header.Set("Status", "503")
		case available:
			reply.Data = []byte(`{"type":"io.nats.jetstream.api.v1.stream_info_response","config":{"name":"KV_b"}}`)
		default:
			reply.Data = []byte(`{"type":"io.nats.jetstream.api.v1.stream_info_response","error":{"code":503,"err_code":10008,"description":"JetStream system temporarily unavailable"}}`)
		}
		_ = m.RespondMsg(reply)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Publishes: an ack, or the error of a write whose proposal failed.
	_, err = nc.Subscribe("$KV.>", func(m *nats.Msg) {
		if available {
			_ = m.Respond([]byte(`{"stream":"KV_b","seq":7}`))
		} else {
			_ = m.Respond([]byte(`{"stream":"KV_b","error":{"code":503,"err_code":10008,"description":"no leader"}}`))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return node.Replica{ID: id, Name: ns.ClientURL(), ClientAddr: ns.Addr().(*net.TCPAddr).String(), Alive: true}
}

// emptyReplica is a NATS server where nothing subscribes: everything
// sent to it gets "no responders", as on a node where the bucket's
// stream is not served (or that refuses another hop).
func emptyReplica(t *testing.T, id uint64) node.Replica {
	t.Helper()
	ns := natsref.Start(t, refserver.Options{})
	return node.Replica{ID: id, Name: ns.ClientURL(), ClientAddr: ns.Addr().(*net.TCPAddr).String(), Alive: true}
}

// relayedOnce waits for the one answer relayed to reply and checks it
// contains want; a second answer fails the test.
func relayedOnce(t *testing.T, router relayRouter, reply, want string) {
	t.Helper()
	select {
	case got := <-router.relayed:
		if got.Subject != reply {
			t.Fatalf("relayed to %q, want %q", got.Subject, reply)
		}
		if text := string(got.Header) + string(got.Data); !strings.Contains(text, want) {
			t.Fatalf("relayed %q, want it to contain %q", text, want)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("nothing relayed")
	}
	select {
	case extra := <-router.relayed:
		t.Fatalf("relayed a second answer: %q %q", extra.Header, extra.Data)
	case <-time.After(100 * time.Millisecond):
	}
}

// A read-only request forwarded to a replica that cannot answer it now
// (stopped, moving, no leader) goes on to the next replica; a request
// that changes something, or the last replica's answer, is relayed as it
// is.
func TestForwardPassesOverUnavailableReplicas(t *testing.T) {
	s, router := forwardingServer(t)
	down, up, empty := fakeReplica(t, 1, false), fakeReplica(t, 2, true), emptyReplica(t, 3)

	for _, tc := range []struct {
		name     string
		subject  string
		batch    bool
		readOnly bool
		replicas []node.Replica
		want     string // in the relayed answer: its body, or its status line
	}{
		{"info passes over", "$JS.API.STREAM.INFO.KV_b", false, true, []node.Replica{down, up}, `"config"`},
		{"direct get passes over", "$JS.API.DIRECT.GET.KV_b.$KV.b.k", false, true, []node.Replica{down, up}, "value"},
		{"update is not repeated", "$JS.API.STREAM.UPDATE.KV_b", false, false, []node.Replica{down, up}, `"code":503`},
		{"last replica's answer relayed", "$JS.API.STREAM.INFO.KV_b", false, true, []node.Replica{down}, `"code":503`},
		{"last replica's no responders relayed", "$JS.API.DIRECT.GET.KV_b.$KV.b.k", false, true, []node.Replica{down}, "503"},
		{"available first replica answers", "$JS.API.STREAM.INFO.KV_b", false, true, []node.Replica{up, down}, `"config"`},
		{"update nobody took goes on", "$JS.API.STREAM.UPDATE.KV_b", false, false, []node.Replica{empty, up}, `"config"`},
		{"read nobody took goes on", "$JS.API.DIRECT.GET.KV_b.$KV.b.k", false, true, []node.Replica{empty, up}, "value"},
		{"last replica nobody took", "$JS.API.STREAM.UPDATE.KV_b", false, false, []node.Replica{empty}, "503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &natsserver.Msg{Subject: tc.subject, Reply: "_INBOX.client." + tc.name}
			done := make(chan struct{})
			go func() { s.fwd.forward(m, tc.replicas, tc.batch, tc.readOnly); close(done) }()
			relayedOnce(t, router, m.Reply, tc.want)
			<-done
		})
	}
}

// A forwarded publish that a replica did not take ("no responders": no
// stream there, or a hop it may not take) goes on to the next replica;
// a replica's answer, an error included, is relayed as it is and the
// publish is not sent again, since a replica that proposed it may have
// stored it.
func TestForwardedPublishGoesOnWhenNotTaken(t *testing.T) {
	s, router := forwardingServer(t)
	down, up, empty := fakeReplica(t, 1, false), fakeReplica(t, 2, true), emptyReplica(t, 3)
	for _, tc := range []struct {
		name     string
		replicas []node.Replica
		want     string
	}{
		{"not taken, next stores it", []node.Replica{empty, up}, `"seq":7`},
		{"not taken, dead one skipped", []node.Replica{empty, {ID: 9, Name: "dead", ClientAddr: "127.0.0.1:1"}, up}, `"seq":7`},
		{"error relayed, not repeated", []node.Replica{down, up}, `"no leader"`},
		{"nobody takes it", []node.Replica{empty}, "503"},
		{"stored by the first", []node.Replica{up, empty}, `"seq":7`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &natsserver.Msg{Subject: "$KV.b.k", Reply: "_INBOX.client." + tc.name, Data: []byte("v")}
			s.fwd.publish(m, tc.replicas)
			relayedOnce(t, router, m.Reply, tc.want)
		})
	}

	t.Run("pipelined publishes keep their order", func(t *testing.T) {
		ns := natsref.Start(t, refserver.Options{})
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		got := make(chan string, 100)
		if _, err := nc.Subscribe("$KV.>", func(m *nats.Msg) {
			got <- string(m.Data)
			_ = m.Respond([]byte(`{"stream":"KV_b","seq":1}`))
		}); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		second := node.Replica{ID: 4, Name: "second", ClientAddr: ns.Addr().(*net.TCPAddr).String(), Alive: true}
		const n = 50
		for i := range n {
			s.fwd.publish(&natsserver.Msg{Subject: "$KV.b.k", Reply: fmt.Sprintf("_INBOX.client.order.%d", i), Data: []byte(fmt.Sprint(i))},
				[]node.Replica{empty, second})
		}
		for i := range n {
			select {
			case v := <-got:
				if v != fmt.Sprint(i) {
					t.Fatalf("publish %d reached the second replica as %s", i, v)
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("publish %d never reached the second replica", i)
			}
			<-router.relayed
		}
	})
}

// blackHole accepts TCP connections and never answers, as a peer behind
// a partition or a stopped process does: a NATS client's connect waits
// for an INFO that never comes. Closing release ends every connection.
func blackHole(t *testing.T) (replica node.Replica, accepted <-chan struct{}, release func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	acc := make(chan struct{}, 16)
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			acc <- struct{}{}
		}
	}()
	var once sync.Once
	release = func() {
		once.Do(func() {
			l.Close()
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
		})
	}
	t.Cleanup(release)
	return node.Replica{ID: 9, Name: "blackhole", ClientAddr: l.Addr().String(), Alive: true}, acc, release
}

// A peer that does not answer holds up only the requests meant for it:
// requests for other peers go on while its dial waits, and once the dial
// has failed, requests for it fail at once for a while instead of each
// waiting out a dial of its own.
func TestForwardDoesNotWaitOnAnotherPeersDial(t *testing.T) {
	s, router := forwardingServer(t)
	// The dial to the black hole lasts until the test releases it, and a
	// failure is remembered for the whole test.
	s.fwd.dialTimeout, s.fwd.dialBackoff = time.Minute, time.Minute
	hole, accepted, release := blackHole(t)
	up := fakeReplica(t, 2, true)

	relayed := func(want string) {
		t.Helper()
		select {
		case got := <-router.relayed:
			if text := string(got.Header) + string(got.Data); !strings.Contains(text, want) {
				t.Fatalf("relayed %q, want it to contain %q", text, want)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("nothing relayed")
		}
	}
	info := func(reply string) *natsserver.Msg {
		return &natsserver.Msg{Subject: "$JS.API.STREAM.INFO.KV_b", Reply: reply}
	}

	stuck := make(chan struct{})
	go func() { s.fwd.forward(info("_INBOX.stuck"), []node.Replica{hole}, false, true); close(stuck) }()
	select {
	case <-accepted:
	case <-time.After(15 * time.Second):
		t.Fatal("the forwarder never dialed the black hole")
	}
	// While that dial waits: a request for another peer is answered.
	s.fwd.forward(info("_INBOX.other"), []node.Replica{up}, false, true)
	relayed(`"config"`)
	select {
	case <-stuck:
		t.Fatal("the dial to the black hole ended before it was released")
	default:
	}

	release()
	<-stuck
	relayed("503")
	// Within the backoff a request for the unreachable peer fails at
	// once: no second dial reaches it (its listener is closed, so a dial
	// would fail too; what matters is that none is tried).
	s.fwd.forward(info("_INBOX.again"), []node.Replica{hole}, false, true)
	relayed("503")
	s.fwd.mu.Lock()
	d := s.fwd.dials[hole.ID]
	s.fwd.mu.Unlock()
	if d == nil || d.err == nil {
		t.Fatalf("the failed dial is not remembered: %+v", d)
	}
	select {
	case <-accepted:
		t.Fatal("the black hole was dialed a second time within the backoff")
	default:
	}
}

// A forwarder's connection to a peer stays with that peer: nodes
// announce each other to clients (as clustered nats-servers do), and a
// connection that took the others into its pool reconnected to one of
// them when its peer went down, and sent it what only the peer serves.
func TestForwarderConnectionKeepsToItsPeer(t *testing.T) {
	s, _ := forwardingServer(t)
	a := natsref.Start(t, refserver.Options{Cluster: refserver.ClusterOpts{Name: "c", Host: "127.0.0.1", Port: -1}})
	b := natsref.Start(t, refserver.Options{Cluster: refserver.ClusterOpts{Name: "c", Host: "127.0.0.1", Port: -1},
		Routes: refserver.RoutesFromStr(fmt.Sprintf("nats://127.0.0.1:%d", a.ClusterAddr().Port))})
	deadline := time.Now().Add(10 * time.Second)
	for a.NumRoutes() == 0 || b.NumRoutes() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the two servers never formed a cluster")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A plain client of a learns of b: the announcement this test is about.
	probe, err := nats.Connect(a.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	for len(probe.DiscoveredServers()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a never announced b to its clients")
		}
		time.Sleep(10 * time.Millisecond)
	}

	peer := node.Replica{ID: 1, Name: "a", ClientAddr: a.Addr().(*net.TCPAddr).String(), Alive: true}
	pc, err := s.fwd.peer(peer)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.c.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := pc.c.Servers(); len(got) != 1 || !strings.Contains(got[0], peer.ClientAddr) {
		t.Fatalf("the connection to a may reconnect to %v; want a alone", got)
	}
}

// A peer that comes back at another address (restarted with another
// port or IP) is dialed there: the old connection keeps to the old
// address, so it is replaced.
func TestForwarderFollowsAPeerToItsNewAddress(t *testing.T) {
	s, _ := forwardingServer(t)
	before, after := natsref.Start(t, refserver.Options{}), natsref.Start(t, refserver.Options{})
	peer := node.Replica{ID: 1, Name: "p", ClientAddr: before.Addr().(*net.TCPAddr).String(), Alive: true}
	old, err := s.fwd.peer(peer)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := s.fwd.peer(peer); err != nil || again != old {
		t.Fatalf("the same address again: %v, %v; want the same connection", again, err)
	}
	peer.ClientAddr = after.Addr().(*net.TCPAddr).String()
	moved, err := s.fwd.peer(peer)
	if err != nil {
		t.Fatal(err)
	}
	if got := moved.c.ConnectedUrl(); !strings.Contains(got, peer.ClientAddr) {
		t.Fatalf("connected to %s; want the new address %s", got, peer.ClientAddr)
	}
	if !old.c.IsClosed() {
		t.Fatal("the connection to the old address is still open")
	}
}

// A replica that went away, before a request or while it waits, is
// passed over for the next at once: the request does not wait out
// forwardTimeout on a connection that is trying to reach it again (a
// follower's stream info passed to a leader just killed made a client
// time out this way).
func TestForwardPassesOverAReplicaThatWentAway(t *testing.T) {
	s, router := forwardingServer(t)
	up := fakeReplica(t, 2, true)
	const quick = forwardTimeout / 2

	// gone starts a replica that receives requests without answering;
	// it signals each one on got.
	gone := func(id uint64) (*refserver.Server, node.Replica, <-chan struct{}) {
		ns := natsref.Start(t, refserver.Options{})
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan struct{}, 4)
		if _, err := nc.Subscribe("$JS.API.>", func(*nats.Msg) { got <- struct{}{} }); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		return ns, node.Replica{ID: id, Name: "gone", ClientAddr: ns.Addr().(*net.TCPAddr).String(), Alive: true}, got
	}
	ask := func(t *testing.T, replicas []node.Replica) time.Duration {
		t.Helper()
		start := time.Now()
		m := &natsserver.Msg{Subject: "$JS.API.STREAM.INFO.KV_b", Reply: "_INBOX.client." + t.Name()}
		done := make(chan struct{})
		go func() { s.fwd.forward(m, replicas, false, true); close(done) }()
		relayedOnce(t, router, m.Reply, `"config"`)
		<-done
		return time.Since(start)
	}

	t.Run("before the request", func(t *testing.T) {
		ns, r, _ := gone(5)
		pc, err := s.fwd.peer(r)
		if err != nil {
			t.Fatal(err)
		}
		ns.Shutdown()
		for !pc.c.IsReconnecting() {
			time.Sleep(5 * time.Millisecond)
		}
		if took := ask(t, []node.Replica{r, up}); took > quick {
			t.Fatalf("answered after %v; a connection that is reconnecting should be passed over at once", took)
		}
	})

	t.Run("while it waits", func(t *testing.T) {
		ns, r, got := gone(6)
		go func() {
			<-got // the request reached it: now it goes away
			ns.Shutdown()
		}()
		if took := ask(t, []node.Replica{r, up}); took > quick {
			t.Fatalf("answered after %v; the wait should end when the connection drops", took)
		}
	})
}

// A connection that has tried to reach its peer for longer than
// giveUpAfter is closed and forgotten (a removed node would otherwise be
// redialed for as long as the process lives); a request for the peer
// later dials it anew. A connection that is up is kept.
func TestForwarderGivesUpOnAPeerGoneForGood(t *testing.T) {
	s, _ := forwardingServer(t)
	s.fwd.giveUpAfter = 50 * time.Millisecond
	gone, kept := natsref.Start(t, refserver.Options{}), natsref.Start(t, refserver.Options{})
	rGone := node.Replica{ID: 1, Name: "gone", ClientAddr: gone.Addr().(*net.TCPAddr).String(), Alive: true}
	rKept := node.Replica{ID: 2, Name: "kept", ClientAddr: kept.Addr().(*net.TCPAddr).String(), Alive: true}
	pcGone, err := s.fwd.peer(rGone)
	if err != nil {
		t.Fatal(err)
	}
	pcKept, err := s.fwd.peer(rKept)
	if err != nil {
		t.Fatal(err)
	}
	gone.Shutdown()
	deadline := time.Now().Add(10 * time.Second)
	for pcGone.downFor() <= s.fwd.giveUpAfter {
		if time.Now().After(deadline) {
			t.Fatal("the connection never noticed its peer was gone")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.fwd.reap()
	if !pcGone.c.IsClosed() {
		t.Fatal("a connection down for longer than giveUpAfter is still open")
	}
	s.fwd.mu.Lock()
	_, stillGone := s.fwd.conns[rGone.ID]
	_, stillKept := s.fwd.conns[rKept.ID]
	s.fwd.mu.Unlock()
	if stillGone || !stillKept || pcKept.c.IsClosed() {
		t.Fatalf("after reap: gone peer's connection kept %v, live peer's kept %v (closed %v)", stillGone, stillKept, pcKept.c.IsClosed())
	}
	if again, err := s.fwd.peer(rKept); err != nil || again != pcKept {
		t.Fatalf("the live peer's connection was replaced: %v", err)
	}
}
