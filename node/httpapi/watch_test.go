package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

type ew struct {
	key   string
	rev   uint64
	op    string
	value string
}

func (st *sseStream) expect(ws ...ew) {
	st.t.Helper()
	for i, w := range ws {
		if w.key == "" {
			if ev := st.next(); ev.event != "initialized" {
				st.t.Fatalf("event %d: want initialized, got %+v", i, ev)
			}
			continue
		}
		ev := st.next()
		if ev.event != "entry" {
			st.t.Fatalf("event %d: want entry %+v, got %+v", i, w, ev)
		}
		var e entryJSON
		if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
			st.t.Fatalf("event %d: %q: %v", i, ev.data, err)
		}
		if e.Key != w.key || e.Revision != w.rev || e.Operation != w.op || string(e.Value) != w.value || e.Created.IsZero() {
			st.t.Fatalf("event %d: got %+v, want %+v", i, e, w)
		}
		if ev.id != fmt.Sprint(w.rev) {
			st.t.Fatalf("event %d: id %q, want %d", i, ev.id, w.rev)
		}
	}
}

var initialized = ew{}

func TestWatch(t *testing.T) {
	ts := startServer(t, Options{})
	ts.mustBucket("kv", `{"history":5}`)
	ts.mustPut("kv", "a.1", "x")
	ts.mustPut("kv", "a.2", "y")
	ts.mustPut("kv", "b.1", "z")

	st := ts.openWatch("/v1/watch/kv?filter=a.*")
	st.expect(ew{"a.1", 1, "PUT", "x"}, ew{"a.2", 2, "PUT", "y"}, initialized)
	if n := ts.s.watchers.Load(); n != 1 {
		t.Fatalf("%d watchers, want 1", n)
	}
	ts.mustPut("kv", "b.2", "not for us") // 4
	ts.mustPut("kv", "a.3", "live")       // 5
	if r := ts.do("DELETE", "/v1/kv/kv/a.1", nil); r.status != 200 {
		t.Fatalf("delete: %d", r.status)
	}
	st.expect(ew{"a.3", 5, "PUT", "live"}, ew{"a.1", 6, "DEL", ""})

	// The client goes away: the server-side watcher stops.
	st.close()
	waitFor(t, "the server-side watcher to stop", func() bool { return ts.s.watchers.Load() == 0 })
}

func TestWatchOptions(t *testing.T) {
	ts := startServer(t, Options{})
	// Each case gets a bucket holding: k.1@1 v1, k.1@2 v2, k.2@3 w, k.2@4 DEL.
	for i, c := range []struct {
		name    string
		query   string
		headers []string
		initial []ew
	}{
		{"latest per key", "", nil, []ew{{"k.1", 2, "PUT", "v2"}, {"k.2", 4, "DEL", ""}, initialized}},
		{"several filters", "filter=k.1&filter=k.2&filter=k.3", nil, []ew{{"k.1", 2, "PUT", "v2"}, {"k.2", 4, "DEL", ""}, initialized}},
		{"history", "history=true", nil, []ew{{"k.1", 1, "PUT", "v1"}, {"k.1", 2, "PUT", "v2"}, {"k.2", 3, "PUT", "w"}, {"k.2", 4, "DEL", ""}, initialized}},
		{"ignore deletes", "ignore_deletes=true", nil, []ew{{"k.1", 2, "PUT", "v2"}, initialized}},
		{"meta only", "meta_only=true", nil, []ew{{"k.1", 2, "PUT", ""}, {"k.2", 4, "DEL", ""}, initialized}},
		{"resume from", "resume_from=3", nil, []ew{{"k.2", 3, "PUT", "w"}, {"k.2", 4, "DEL", ""}, initialized}},
		{"last event id", "", []string{"Last-Event-ID", "2"}, []ew{{"k.2", 3, "PUT", "w"}, {"k.2", 4, "DEL", ""}, initialized}},
		{"resume from wins over last event id", "resume_from=4", []string{"Last-Event-ID", "1"}, []ew{{"k.2", 4, "DEL", ""}, initialized}},
		{"stale", "stale=true", nil, []ew{{"k.1", 2, "PUT", "v2"}, {"k.2", 4, "DEL", ""}, initialized}},
		{"updates only", "updates_only=true", nil, nil}, // no initialized marker, as in nats.go
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := *ts
			ts.t = t
			b := fmt.Sprintf("w%d", i)
			ts.mustBucket(b, `{"history":5}`)
			ts.mustPut(b, "k.1", "v1")
			ts.mustPut(b, "k.1", "v2")
			ts.mustPut(b, "k.2", "w")
			if r := ts.do("DELETE", "/v1/kv/"+b+"/k.2", nil); r.status != 200 {
				t.Fatalf("delete: %d", r.status)
			}
			st := ts.openWatch("/v1/watch/"+b+"?"+c.query, c.headers...)
			st.expect(c.initial...)
			ts.mustPut(b, "k.3", "live")
			value := "live"
			if c.query == "meta_only=true" {
				value = ""
			}
			st.expect(ew{"k.3", 5, "PUT", value})
		})
	}
}

func TestWatchErrors(t *testing.T) {
	ts := startServer(t, Options{})
	ts.mustBucket("kv", "")
	runCases(t, ts, []kvCase{
		{name: "unknown bucket", method: "GET", path: "/v1/watch/nope", status: 404, errCode: 10059},
		{name: "invalid bucket", method: "GET", path: "/v1/watch/a.b", status: 400, errCode: 10052},
		{name: "invalid filter", method: "GET", path: "/v1/watch/kv?filter=a..b", status: 400, errCode: 10052, desc: "empty token"},
		{name: "bad flag", method: "GET", path: "/v1/watch/kv?history=maybe", status: 400, errCode: 10003, desc: "history"},
		{name: "bad resume_from", method: "GET", path: "/v1/watch/kv?resume_from=x", status: 400, errCode: 10003, desc: "resume_from"},
		{name: "history with updates only", method: "GET", path: "/v1/watch/kv?history&updates_only", status: 400, errCode: 10003},
		{name: "bad last event id", method: "GET", path: "/v1/watch/kv", headers: []string{"Last-Event-ID", "x"}, status: 400, errCode: 10003},
	})
	if n := ts.s.watchers.Load(); n != 0 {
		t.Fatalf("%d watchers left", n)
	}
}

// grepLine returns the lines of s that start with prefix.
func grepLine(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// HEAD on a watch answers with the stream's headers and ends: the
// client takes a HEAD response as complete at its headers and sends its
// next request on the same connection, which must be answered (it
// hung before: the handler went on streaming).
func TestWatchHead(t *testing.T) {
	ts := startServer(t, Options{})
	ts.mustBucket("kv", "")
	head := ts.do("HEAD", "/v1/watch/kv", nil)
	if head.status != 200 || head.header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HEAD on a watch: %d %v", head.status, head.header)
	}
	if got := ts.do("HEAD", "/v1/watch/nope", nil); got.status != 404 {
		t.Fatalf("HEAD on a watch of an unknown bucket: %d", got.status)
	}
	// What only opening the watch finds out, HEAD finds out too.
	for _, path := range []string{"/v1/watch/kv?filter=a.>.b", "/v1/watch/kv?filter=a..b"} {
		get, head := ts.do("GET", path, nil), ts.do("HEAD", path, nil)
		if get.status != 400 || head.status != get.status {
			t.Fatalf("%s: GET %d, HEAD %d; want 400 for both", path, get.status, head.status)
		}
	}
	// ts.do's client keeps connections alive: this request goes on the
	// connection the first HEAD used.
	if got := ts.do("GET", "/readyz", nil); got.status != 200 {
		t.Fatalf("the request after a HEAD on a watch: %d %s", got.status, got.body)
	}
	if n := ts.s.watchers.Load(); n != 0 {
		t.Fatalf("%d watchers left", n)
	}
	// Nor is a watch left open on the node by a HEAD (its cursor pins a
	// storage snapshot).
	if m := ts.do("GET", "/metrics", nil); !strings.Contains(string(m.body), "\ncairn_watches 0\n") {
		t.Fatalf("watches left open after HEADs: %s", grepLine(string(m.body), "cairn_watches "))
	}
}

// Idle streams get keep-alive comments and outlive the server's read and
// write timeouts.
func TestWatchKeepAlive(t *testing.T) {
	ts := startServer(t, Options{KeepAlive: 20 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	ts.mustBucket("kv", "")
	st := ts.openWatch("/v1/watch/kv?updates_only")
	start := time.Now()
	keepAlives := 0
	for time.Since(start) < time.Second || keepAlives < 5 {
		ev := st.nextAny()
		if ev.event != "comment" {
			t.Fatalf("unexpected event %+v", ev)
		}
		if ev.data == "keep-alive" {
			keepAlives++
		}
	}
	ts.mustPut("kv", "k", "v")
	st.expect(ew{"k", 1, "PUT", "v"})
}

func TestWatchBucketDeleted(t *testing.T) {
	ts := startServer(t, Options{})
	ts.mustBucket("kv", "")
	ts.mustPut("kv", "k", "v")
	st := ts.openWatch("/v1/watch/kv")
	st.expect(ew{"k", 1, "PUT", "v"}, initialized)
	if r := ts.do("DELETE", "/v1/buckets/kv", nil); r.status != 200 {
		t.Fatalf("delete bucket: %d %s", r.status, r.body)
	}
	ev := st.next()
	var eb errBody
	if ev.event != "error" || json.Unmarshal([]byte(ev.data), &eb) != nil || eb.Error == nil || eb.Error.Code != 404 || eb.Error.ErrCode != 10059 {
		t.Fatalf("want an error event for the deleted bucket, got %+v", ev)
	}
	st.waitEnd()
	waitFor(t, "the watcher to stop", func() bool { return ts.s.watchers.Load() == 0 })
}

// Close ends watch streams instead of waiting for them.
func TestCloseEndsWatches(t *testing.T) {
	ts := startServer(t, Options{ShutdownTimeout: time.Minute})
	ts.mustBucket("kv", "")
	st := ts.openWatch("/v1/watch/kv")
	st.expect(initialized)
	start := time.Now()
	if err := ts.s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Close took %v with a watch open", d)
	}
	st.waitEnd()
	if n := ts.s.watchers.Load(); n != 0 {
		t.Fatalf("%d watchers after Close", n)
	}
}
