package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testServer is a real node on a temp dir with its HTTP API on a random
// loopback port.
type testServer struct {
	t    testing.TB
	n    *node.Node
	s    *Server
	base string
}

func startServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	return startServerWith(t, opts, nil)
}

// startServerWith is startServer with tune applied to the node's config.
func startServerWith(t testing.TB, opts Options, tune func(*node.Config)) *testServer {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Name = "httpapi-test"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.Logger = quiet
	cfg.ExpiryInterval = 20 * time.Millisecond
	if tune != nil {
		tune(&cfg)
	}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatalf("starting node: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	s := New(n, opts)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("starting HTTP API: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing HTTP API: %v", err)
		}
	})
	return &testServer{t: t, n: n, s: s, base: s.URL()}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// response is a completed request.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errBody is the JSON error shape.
type errBody struct {
	Error *apiError `json:"error"`
}

func (r response) apiErr(t testing.TB) *apiError {
	t.Helper()
	var eb errBody
	if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error == nil {
		t.Fatalf("status %d: body is not a JSON error: %q (%v)", r.status, r.body, err)
	}
	if eb.Error.Code != r.status {
		t.Fatalf("error code %d differs from HTTP status %d", eb.Error.Code, r.status)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q", ct)
	}
	return eb.Error
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %q: %v", r.body, err)
	}
}

// do sends a request. body may be nil, a string, []byte or an io.Reader
// (sent without a length: chunked). headers are name, value pairs.
func (ts *testServer) do(method, path string, body any, headers ...string) response {
	ts.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		ts.t.Fatalf("body of type %T", body)
	}
	req, err := http.NewRequestWithContext(testCtx(ts.t), method, ts.base+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := noRedirect.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		ts.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// noRedirect never follows redirects: a key route must never redirect.
var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (ts *testServer) mustBucket(name, config string) {
	ts.t.Helper()
	if r := ts.do("PUT", "/v1/buckets/"+name, config); r.status != 200 {
		ts.t.Fatalf("creating bucket %s: %d %s", name, r.status, r.body)
	}
}

func (ts *testServer) mustPut(bucket, key, value string) uint64 {
	ts.t.Helper()
	r := ts.do("PUT", "/v1/kv/"+bucket+"/"+key, value)
	if r.status != 200 {
		ts.t.Fatalf("put %s/%s: %d %s", bucket, key, r.status, r.body)
	}
	var rj revisionJSON
	r.decode(ts.t, &rj)
	return rj.Revision
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sseEvent is one Server-Sent Event; comment lines come as event
// "comment" with the text in data.
type sseEvent struct {
	event, id, data string
}

// sseStream reads a watch stream in the background.
type sseStream struct {
	t      testing.TB
	res    *http.Response
	cancel context.CancelFunc
	events chan sseEvent
	done   chan error // the reader's end: nil on EOF
}

func (ts *testServer) openWatch(path string, headers ...string) *sseStream {
	ts.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", ts.base+path, nil)
	if err != nil {
		cancel()
		ts.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		ts.t.Fatalf("GET %s: %v", path, err)
	}
	if res.StatusCode != 200 {
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		ts.t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		ts.t.Fatalf("watch Content-Type %q", ct)
	}
	st := &sseStream{t: ts.t, res: res, cancel: cancel, events: make(chan sseEvent, 1024), done: make(chan error, 1)}
	go st.read()
	ts.t.Cleanup(st.close)
	return st
}

func (st *sseStream) read() {
	br := bufio.NewReader(st.res.Body)
	var ev sseEvent
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			st.done <- err
			close(st.events)
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.event != "" || ev.data != "" {
				st.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			st.events <- sseEvent{event: "comment", data: strings.TrimSpace(line[1:])}
		default:
			name, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch name {
			case "event":
				ev.event = value
			case "id":
				ev.id = value
			case "data":
				ev.data += value
			}
		}
	}
}

// close disconnects the client.
func (st *sseStream) close() {
	st.cancel()
	st.res.Body.Close()
}

// next returns the next event that is not a comment.
func (st *sseStream) next() sseEvent {
	st.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ev := st.nextBefore(deadline)
		if ev.event != "comment" {
			return ev
		}
	}
}

// nextAny returns the next event, comments included.
func (st *sseStream) nextAny() sseEvent {
	st.t.Helper()
	return st.nextBefore(time.Now().Add(20 * time.Second))
}

func (st *sseStream) nextBefore(deadline time.Time) sseEvent {
	st.t.Helper()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case ev, ok := <-st.events:
		if !ok {
			st.t.Fatalf("watch stream ended (%v)", <-st.done)
		}
		return ev
	case <-timer.C:
		st.t.Fatal("no watch event within 20s")
	}
	return sseEvent{}
}

// entry returns the next event, which must be an entry.
func (st *sseStream) entry() entryJSON {
	st.t.Helper()
	ev := st.next()
	if ev.event != "entry" {
		st.t.Fatalf("want an entry event, got %+v", ev)
	}
	var e entryJSON
	if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
		st.t.Fatalf("entry data %q: %v", ev.data, err)
	}
	return e
}

// waitEnd waits for the server to end the stream.
func (st *sseStream) waitEnd() {
	st.t.Helper()
	for {
		select {
		case _, ok := <-st.events:
			if !ok {
				return
			}
		case <-time.After(20 * time.Second):
			st.t.Fatal("watch stream did not end within 20s")
		}
	}
}
