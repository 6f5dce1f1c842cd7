package natsserver

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node/natsproto"
	"github.com/nats-io/nats.go"
)

func TestInternalRequestReply(t *testing.T) {
	s := startServer(t, nil)
	unsub, err := s.Subscribe("$JS.API.>", "", func(m *Msg) {
		hdr := natsproto.StatusHeader(0, "", "Nats-Sequence", "7")
		if err := s.Publish(&Msg{Subject: m.Reply, Header: hdr, Data: append([]byte("api:"), m.Subject...)}); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	nc := connectNATS(t, s)
	m, err := nc.Request("$JS.API.CONSUMER.CREATE.S.c.$KV.T.>", []byte("{}"), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != "api:$JS.API.CONSUMER.CREATE.S.c.$KV.T.>" || m.Header.Get("Nats-Sequence") != "7" {
		t.Fatalf("got %q %v", m.Data, m.Header)
	}
	if !s.HasInterest("$JS.API.INFO") || s.HasInterest("$JS.APIX") {
		t.Fatal("HasInterest wrong")
	}
	unsub()
	unsub() // idempotent
	if s.HasInterest("$JS.API.INFO") {
		t.Fatal("interest after unsubscribe")
	}
	if _, err := nc.Request("$JS.API.INFO", nil, testTimeout); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("after unsubscribe: %v", err)
	}
}

func TestInternalReceivesHeadersAndOrder(t *testing.T) {
	s := startServer(t, nil)
	got := make(chan *Msg, 1000)
	if _, err := s.Subscribe("in.*", "", func(m *Msg) { got <- m }); err != nil {
		t.Fatal(err)
	}
	nc := connectNATS(t, s)
	for i := range 500 {
		msg := nats.NewMsg("in.x")
		msg.Reply = "r"
		msg.Data = []byte(fmt.Sprint(i))
		if i%2 == 0 {
			msg.Header.Set("Idx", fmt.Sprint(i))
		}
		if err := nc.PublishMsg(msg); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 500 {
		var m *Msg
		select {
		case m = <-got:
		case <-time.After(testTimeout):
			t.Fatalf("message %d never arrived", i)
		}
		if string(m.Data) != fmt.Sprint(i) || m.Subject != "in.x" || m.Reply != "r" {
			t.Fatalf("message %d: %+v", i, m)
		}
		v, ok := natsproto.HeaderValue(m.Header, "Idx")
		if (i%2 == 0) != ok || (ok && string(v) != fmt.Sprint(i)) {
			t.Fatalf("message %d header %q", i, m.Header)
		}
	}
}

func TestPublishTo(t *testing.T) {
	s := startServer(t, nil)
	nc := connectNATS(t, s)
	sub, err := nc.SubscribeSync("_INBOX.deliver")
	if err != nil {
		t.Fatal(err)
	}
	other, err := nc.SubscribeSync("$KV.b.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	err = s.PublishTo("_INBOX.deliver", &Msg{Subject: "$KV.b.key", Reply: "$JS.ACK.KV_b.c.1.5.5.0.0", Data: []byte("v")})
	if err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "$KV.b.key" || m.Reply != "$JS.ACK.KV_b.c.1.5.5.0.0" || string(m.Data) != "v" {
		t.Fatalf("got %s %s %q", m.Subject, m.Reply, m.Data)
	}
	// Routed by the target only: subscribers of the shown subject get nothing.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := other.Pending(); n != 0 {
		t.Fatalf("subscriber of the shown subject got %d messages", n)
	}
	if err := s.PublishTo("bad..target", &Msg{Subject: "a"}); !errors.Is(err, ErrInvalidSubject) {
		t.Fatalf("bad target: %v", err)
	}
}

func TestInternalQueueGroupWithClients(t *testing.T) {
	s := startServer(t, nil)
	var internal, external atomic.Int64
	if _, err := s.Subscribe("q", "g", func(*Msg) { internal.Add(1) }); err != nil {
		t.Fatal(err)
	}
	nc := connectNATS(t, s)
	if _, err := nc.QueueSubscribe("q", "g", func(*nats.Msg) { external.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	const n = 200
	for range n {
		if err := s.Publish(&Msg{Subject: "q"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "all queue messages", func() bool { return internal.Load()+external.Load() == n })
	if internal.Load() == 0 || external.Load() == 0 {
		t.Fatalf("unbalanced: internal %d external %d", internal.Load(), external.Load())
	}
}

// A blocked handler must not stall the publisher's connection; the
// overflow is dropped and counted.
func TestInternalSlowHandler(t *testing.T) {
	s := startServer(t, func(c *Config) { c.InternalQueueMsgs = 10 })
	release := make(chan struct{})
	var handled atomic.Int64
	if _, err := s.Subscribe("slow", "", func(*Msg) {
		<-release
		handled.Add(1)
	}); err != nil {
		t.Fatal(err)
	}
	nc := connectNATS(t, s)
	for range 100 {
		if err := nc.Publish("slow", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil { // the read loop is not blocked
		t.Fatal(err)
	}
	close(release)
	// At most one in the handler plus ten queued survive.
	waitFor(t, "drops counted", func() bool { return s.Stats().InternalDropped >= 89 })
	waitFor(t, "queue drained", func() bool { return handled.Load()+int64(s.Stats().InternalDropped) == 100 })
}

func TestInternalUnsubscribeFromHandlerAndPanics(t *testing.T) {
	s := startServer(t, nil)
	var calls atomic.Int64
	var unsub func()
	unsub, err := s.Subscribe("once", "", func(*Msg) {
		calls.Add(1)
		unsub()
		panic("handler bug") // recovered and logged
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := s.Publish(&Msg{Subject: "once"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "unsubscribed", func() bool { return !s.HasInterest("once") })
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls after unsubscribing in the first", n)
	}
}

func TestInternalAPIErrors(t *testing.T) {
	s := startServer(t, nil)
	if _, err := s.Subscribe("a..b", "", func(*Msg) {}); !errors.Is(err, ErrInvalidSubject) {
		t.Fatalf("bad subject: %v", err)
	}
	if _, err := s.Subscribe("a.>.b", "", func(*Msg) {}); !errors.Is(err, ErrInvalidSubject) {
		t.Fatalf("bad wildcard: %v", err)
	}
	if _, err := s.Subscribe("a", "", nil); !errors.Is(err, ErrNilHandler) {
		t.Fatalf("nil handler: %v", err)
	}
	if err := s.Publish(&Msg{Subject: "a b"}); !errors.Is(err, ErrInvalidSubject) {
		t.Fatalf("bad publish: %v", err)
	}
	if err := s.Publish(&Msg{Subject: "a", Reply: "b..c"}); !errors.Is(err, ErrInvalidSubject) {
		t.Fatalf("bad reply: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe("a", "", func(*Msg) {}); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("after close: %v", err)
	}
	if err := s.Publish(&Msg{Subject: "a"}); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("publish after close: %v", err)
	}
}

func TestInternalBeforeStart(t *testing.T) {
	s, err := New(Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make(chan string, 1)
	if _, err := s.Subscribe("pre", "", func(m *Msg) { got <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(&Msg{Subject: "pre", Data: []byte("ok")}); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		if v != "ok" {
			t.Fatalf("got %q", v)
		}
	case <-time.After(testTimeout):
		t.Fatal("no delivery before Start")
	}
	if s.Addr() != nil {
		t.Fatal("Addr before Start")
	}
}

func TestConfigValidation(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"negative payload":  func(c *Config) { c.MaxPayload = -1 },
		"pending < payload": func(c *Config) { c.MaxPending = 10; c.MaxPayload = 100 },
		"negative ping":     func(c *Config) { c.PingInterval = -time.Second },
	} {
		cfg := DefaultConfig()
		mutate(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	d := DefaultConfig()
	if d.ListenAddr != "127.0.0.1:4222" || d.Version != "2.11.0" || d.MaxPayload != 1<<20 ||
		d.MaxConnections != 65536 || d.MaxSubscriptions != 0 || d.MaxPending != 64<<20 ||
		!d.JetStream || d.ServerName != d.ServerID || d.Logger == nil {
		t.Fatalf("defaults: %+v", d)
	}
}

func TestCloseDisconnectsClients(t *testing.T) {
	s := startServer(t, nil)
	closed := make(chan struct{})
	nc := connectNATS(t, s, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if _, err := nc.SubscribeSync("x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe("y", "", func(*Msg) {}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(testTimeout):
		t.Fatal("client not disconnected")
	}
	if st := s.Stats(); st.Connections != 0 || st.Subscriptions != 0 {
		t.Fatalf("after close: %+v", st)
	}
	if err := s.Start(t.Context()); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}

// TestCloseStopsGoroutines checks every goroutine the server starts has
// an owner that stops it.
func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := New(Config{ListenAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		rc := dialRaw(t, s)
		rc.send(quietConnect + "SUB a 1\r\nPING\r\n")
		rc.expect("PONG")
	}
	if _, err := s.Subscribe("a", "", func(*Msg) {}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "server goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
}

// An inline subscription's handler runs on the publisher's goroutine:
// a client's messages arrive complete and in order (none dropped, however
// slow the handler, unlike a queued subscription), each call gets its own
// copy, a panic is recovered, and nothing arrives after unsubscribe.
func TestInternalInline(t *testing.T) {
	s := startServer(t, func(c *Config) { c.InternalQueueMsgs = 10 })
	var mu sync.Mutex
	var got []string
	var kept []*Msg
	unsub, err := s.SubscribeInline("in.>", func(m *Msg) {
		if string(m.Data) == "boom" {
			panic("handler bug")
		}
		time.Sleep(100 * time.Microsecond) // slower than the client publishes
		mu.Lock()
		got = append(got, string(m.Data))
		kept = append(kept, m)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}

	// In-process: the call has happened when Publish returns.
	if err := s.Publish(&Msg{Subject: "in.sync", Data: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(got) != 1 || got[0] != "first" {
		t.Fatalf("after Publish returned: %v", got)
	}
	mu.Unlock()

	nc := connectNATS(t, s)
	const n = 200
	for i := range n {
		if err := nc.Publish("in.c", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			if err := nc.Publish("in.c", []byte("boom")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every message handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == n+1
	})
	mu.Lock()
	for i := range n {
		if got[i+1] != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: order or content lost", i, got[i+1])
		}
		if string(kept[i+1].Data) != fmt.Sprint(i) {
			t.Fatalf("kept message %d changed to %q: not a copy", i, kept[i+1].Data)
		}
	}
	mu.Unlock()
	if d := s.Stats().InternalDropped; d != 0 {
		t.Fatalf("%d dropped", d)
	}

	unsub()
	if s.HasInterest("in.x") {
		t.Fatal("interest after unsubscribe")
	}
	_ = s.Publish(&Msg{Subject: "in.x", Data: []byte("late")})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n+1 {
		t.Fatalf("handled after unsubscribe: %v", got[n+1:])
	}
}

// TestPublishBatchTo: a batch reaches each subscriber complete and in
// order (two clients, one of them subscribed twice), and a message that
// fails validation stops the batch after delivering those before it.
func TestPublishBatchTo(t *testing.T) {
	s := startServer(t, nil)
	a, b := dialRaw(t, s), dialRaw(t, s)
	a.send(quietConnect + "SUB inbox 1\r\nSUB inbox 2\r\nPING\r\n")
	a.expect("PONG")
	b.send(quietConnect + "SUB inbox 7\r\nPING\r\n")
	b.expect("PONG")
	var batch []*Msg
	for i := range 100 {
		batch = append(batch, &Msg{Subject: fmt.Sprintf("$KV.b.k%d", i), Reply: "ack", Data: []byte(fmt.Sprint(i))})
	}
	if err := s.PublishBatchTo("inbox", batch); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		for _, sid := range []string{"1", "2"} {
			if m := a.msg(); m.subject != fmt.Sprintf("$KV.b.k%d", i) || m.payload != fmt.Sprint(i) {
				t.Fatalf("a, message %d (sid %s): %+v", i, sid, m)
			}
		}
		if m := b.msg(); m.subject != fmt.Sprintf("$KV.b.k%d", i) || m.sid != "7" || m.reply != "ack" {
			t.Fatalf("b, message %d: %+v", i, m)
		}
	}

	bad := []*Msg{{Subject: "ok.1"}, {Subject: "bad subject"}, {Subject: "ok.3"}}
	if err := s.PublishBatchTo("inbox", bad); !errors.Is(err, ErrInvalidSubject) {
		t.Fatalf("batch with an invalid subject: %v", err)
	}
	if m := b.msg(); m.subject != "ok.1" {
		t.Fatalf("the message before the invalid one: %+v", m)
	}
	b.send("PING\r\n")
	b.expect("PONG") // nothing after it
}
