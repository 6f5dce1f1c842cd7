package natsserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestInfo(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.ServerName = "cairn-1"
		c.APILevel = 1
	})
	rc := dialRaw(t, s)
	var info map[string]any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(rc.info, "INFO ")), &info); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"server_name": "cairn-1", "version": "2.11.0", "proto": 1.0, "host": "127.0.0.1",
		"headers": true, "max_payload": 1048576.0, "jetstream": true, "client_ip": "127.0.0.1", "api_lvl": 1.0,
	}
	for k, v := range want {
		if info[k] != v {
			t.Errorf("INFO %s = %v, want %v", k, info[k], v)
		}
	}
	if id, _ := info["server_id"].(string); len(id) != 56 || id[0] != 'N' {
		t.Errorf("server_id %q", id)
	}
	if _, ok := info["client_id"].(float64); !ok {
		t.Errorf("client_id missing: %v", info)
	}
	if !strings.HasSuffix(s.Addr().String(), fmt.Sprintf(":%v", info["port"])) {
		t.Errorf("port %v, listening on %s", info["port"], s.Addr())
	}

	nc := connectNATS(t, s)
	if v := nc.ConnectedServerVersion(); v != "2.11.0" {
		t.Errorf("version %q", v)
	}
	if !nc.HeadersSupported() || nc.MaxPayload() != 1<<20 || nc.ConnectedServerName() != "cairn-1" {
		t.Errorf("headers %v max payload %d name %q", nc.HeadersSupported(), nc.MaxPayload(), nc.ConnectedServerName())
	}
}

func TestPubSubWildcards(t *testing.T) {
	s := startServer(t, nil)
	nc := connectNATS(t, s)
	subs := map[string]*nats.Subscription{}
	for _, subj := range []string{"a.b", "a.*", "a.>", ">", "*.b", "$JS.API.CONSUMER.CREATE.*.>"} {
		sub, err := nc.SubscribeSync(subj)
		if err != nil {
			t.Fatal(err)
		}
		subs[subj] = sub
	}
	if err := nc.Flush(); err != nil { // the server has the SUBs
		t.Fatal(err)
	}
	pub := connectNATS(t, s)
	for _, subj := range []string{"a.b", "a.c", "a.b.c", "x.b", "$JS.API.CONSUMER.CREATE.KV_T.c1.$KV.T.>"} {
		if err := pub.Publish(subj, []byte(subj)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"a.b":                         {"a.b"},
		"a.*":                         {"a.b", "a.c"},
		"a.>":                         {"a.b", "a.c", "a.b.c"},
		">":                           {"a.b", "a.c", "a.b.c", "x.b", "$JS.API.CONSUMER.CREATE.KV_T.c1.$KV.T.>"},
		"*.b":                         {"a.b", "x.b"},
		"$JS.API.CONSUMER.CREATE.*.>": {"$JS.API.CONSUMER.CREATE.KV_T.c1.$KV.T.>"},
	}
	for subj, msgs := range want {
		for _, w := range msgs {
			m, err := subs[subj].NextMsg(testTimeout)
			if err != nil {
				t.Fatalf("%s: waiting for %s: %v", subj, w, err)
			}
			if m.Subject != w || string(m.Data) != w {
				t.Fatalf("%s: got %s %q, want %s", subj, m.Subject, m.Data, w)
			}
		}
		// A PING round trip proves nothing else is on its way.
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := subs[subj].Pending(); n != 0 {
			t.Fatalf("%s: %d unexpected messages", subj, n)
		}
	}
}

func TestQueueGroups(t *testing.T) {
	s := startServer(t, nil)
	const n = 300
	var counts [3]atomic.Int64
	var plain atomic.Int64
	for i := range counts {
		nc := connectNATS(t, s)
		if _, err := nc.QueueSubscribe("work", "workers", func(*nats.Msg) { counts[i].Add(1) }); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	obs := connectNATS(t, s)
	if _, err := obs.Subscribe("work", func(*nats.Msg) { plain.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if err := obs.Flush(); err != nil {
		t.Fatal(err)
	}
	pub := connectNATS(t, s)
	for range n {
		if err := pub.Publish("work", nil); err != nil {
			t.Fatal(err)
		}
	}
	total := func() int64 { return counts[0].Load() + counts[1].Load() + counts[2].Load() }
	waitFor(t, "all messages", func() bool { return total() == n && plain.Load() == n })
	for i := range counts {
		if counts[i].Load() == 0 {
			t.Errorf("queue member %d got nothing: %d/%d/%d", i, counts[0].Load(), counts[1].Load(), counts[2].Load())
		}
	}
	// Nothing more arrives (each message went to exactly one member).
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	if total() != n {
		t.Fatalf("queue members got %d messages, want %d", total(), n)
	}
}

func TestRequestReply(t *testing.T) {
	s := startServer(t, nil)
	svc := connectNATS(t, s)
	if _, err := svc.Subscribe("echo.>", func(m *nats.Msg) {
		_ = m.Respond(append([]byte("re:"), m.Data...))
	}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Flush(); err != nil {
		t.Fatal(err)
	}
	nc := connectNATS(t, s)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			data := fmt.Sprint(i)
			m, err := nc.Request("echo.x", []byte(data), testTimeout)
			if err != nil {
				t.Error(err)
				return
			}
			if string(m.Data) != "re:"+data {
				t.Errorf("got %q for %q", m.Data, data)
			}
		})
	}
	wg.Wait()
	// The old-style request (own inbox, UNSUB 1) works too.
	old := connectNATS(t, s, nats.UseOldRequestStyle())
	m, err := old.Request("echo.old", []byte("x"), testTimeout)
	if err != nil || string(m.Data) != "re:x" {
		t.Fatalf("old style: %v %v", err, m)
	}
}

func TestHeaders(t *testing.T) {
	s := startServer(t, nil)
	nc := connectNATS(t, s)
	sub, err := nc.SubscribeSync("h")
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg("h")
	msg.Header.Set("Nats-Msg-Id", "abc")
	msg.Header["KV-Operation"] = []string{"DEL"}
	msg.Header.Add("Multi", "1")
	msg.Header.Add("Multi", "2")
	msg.Data = []byte("body")
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	got, err := sub.NextMsg(testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if got.Header.Get("Nats-Msg-Id") != "abc" || got.Header.Get("KV-Operation") != "DEL" ||
		len(got.Header.Values("Multi")) != 2 || string(got.Data) != "body" {
		t.Fatalf("got header %v data %q", got.Header, got.Data)
	}
	// Header-only message.
	msg = nats.NewMsg("h")
	msg.Header.Set("A", "b")
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	if got, err = sub.NextMsg(testTimeout); err != nil || got.Header.Get("A") != "b" || len(got.Data) != 0 {
		t.Fatalf("header only: %v %v %q", err, got.Header, got.Data)
	}
}

func TestNoResponders(t *testing.T) {
	s := startServer(t, nil)
	nc := connectNATS(t, s)
	start := time.Now()
	_, err := nc.Request("nobody.listens", []byte("x"), testTimeout)
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("err = %v, want ErrNoResponders", err)
	}
	if time.Since(start) > testTimeout/2 {
		t.Fatal("no-responders reply was not immediate")
	}
	// Interest appears: the request now succeeds.
	svc := connectNATS(t, s)
	if _, err := svc.Subscribe("nobody.listens", func(m *nats.Msg) { _ = m.Respond([]byte("here")) }); err != nil {
		t.Fatal(err)
	}
	if err := svc.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := nc.Request("nobody.listens", nil, testTimeout); err != nil || string(m.Data) != "here" {
		t.Fatalf("after subscribe: %v", err)
	}
}

func TestAutoUnsubscribe(t *testing.T) {
	s := startServer(t, nil)
	nc := connectNATS(t, s)
	sub, err := nc.SubscribeSync("au")
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.AutoUnsubscribe(3); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	before := s.Stats().Subscriptions
	for i := range 10 {
		if err := nc.Publish("au", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		m, err := sub.NextMsg(testTimeout)
		if err != nil || m.Data[0] != byte(i) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if s.Stats().Subscriptions != before-1 {
		t.Fatalf("server still has the subscription: %d -> %d", before, s.Stats().Subscriptions)
	}
	if st := s.Stats(); st.OutMsgs != 3 {
		t.Fatalf("server delivered %d messages, want 3", st.OutMsgs)
	}
}

func TestPerPublisherOrder(t *testing.T) {
	s := startServer(t, nil)
	sub := connectNATS(t, s)
	const n = 20000
	next := 0
	done := make(chan struct{})
	if _, err := sub.Subscribe("seq", func(m *nats.Msg) {
		var got int
		fmt.Sscan(string(m.Data), &got)
		if got != next {
			t.Errorf("got %d, want %d", got, next)
		}
		if next++; next == n {
			close(done)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	pub := connectNATS(t, s)
	for i := range n {
		if err := pub.Publish("seq", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatalf("got %d of %d", next, n)
	}
}

func TestNoEcho(t *testing.T) {
	s := startServer(t, nil)
	nc := connectNATS(t, s, nats.NoEcho())
	own, err := nc.SubscribeSync("e")
	if err != nil {
		t.Fatal(err)
	}
	other := connectNATS(t, s)
	theirs, err := other.SubscribeSync("e")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("e", []byte("mine")); err != nil {
		t.Fatal(err)
	}
	if _, err := theirs.NextMsg(testTimeout); err != nil {
		t.Fatal(err)
	}
	if err := other.Publish("e", []byte("theirs")); err != nil {
		t.Fatal(err)
	}
	m, err := own.NextMsg(testTimeout)
	if err != nil || string(m.Data) != "theirs" {
		t.Fatalf("no-echo subscriber got %v %q, want only the other client's message", err, m.Data)
	}
}

func TestAbruptDisconnect(t *testing.T) {
	s := startServer(t, nil)
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"verbose\":false}\r\nSUB gone.* 1\r\nSUB gone.x q 2\r\nPING\r\n")
	rc.expect("PONG")
	if st := s.Stats(); st.Connections != 1 || st.Subscriptions != 2 {
		t.Fatalf("stats %+v", st)
	}
	// Reset instead of a clean close.
	_ = rc.conn.(interface{ SetLinger(int) error }).SetLinger(0)
	rc.conn.Close()
	waitFor(t, "connection cleanup", func() bool {
		st := s.Stats()
		return st.Connections == 0 && st.Subscriptions == 0
	})
	nc := connectNATS(t, s)
	if err := nc.Publish("gone.x", nil); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestManyIdleConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2000 sockets")
	}
	s := startServer(t, nil)
	const n = 2000
	conns := make([]*rawClient, n)
	for i := range conns {
		conns[i] = dialRaw(t, s)
		conns[i].send("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB idle.* 1\r\nPING\r\n")
	}
	for _, rc := range conns {
		rc.expect("PONG")
	}
	if st := s.Stats(); st.Connections != n || st.Subscriptions != n {
		t.Fatalf("stats %+v", st)
	}
	// The server still serves, and fans out to all of them.
	nc := connectNATS(t, s)
	if err := nc.Publish("idle.fan", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	for _, rc := range conns {
		if m := rc.msg(); m.subject != "idle.fan" || m.payload != "hi" {
			t.Fatalf("got %+v", m)
		}
	}
	for _, rc := range conns {
		rc.conn.Close()
	}
	waitFor(t, "all idle connections gone", func() bool { return s.Stats().Connections == 1 })
}
