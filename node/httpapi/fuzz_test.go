package httpapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node"
)

var fuzzMethods = []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodHead, http.MethodPatch}

// FuzzHTTPAPI sends requests with fuzzed methods, paths, queries,
// headers and bodies to a running node's HTTP API. Each must get a
// complete answer that is not a 500 (bad input is the client's error;
// net/http drops the connection when a handler panics), and the node
// must still answer /readyz.
// Watches stream until the client leaves, so they are asked for with a
// short deadline and only their status is read.
func FuzzHTTPAPI(f *testing.F) {
	ts := startServer(f, Options{})
	seedHTTPFuzz(f, ts, nil)
	f.Fuzz(func(t *testing.T, method uint8, path, header string, body []byte) {
		fuzzHTTP(t, ts, method, path, header, body)
	})
}

// FuzzHTTPAPIAuth is FuzzHTTPAPI against a node that asks for a token:
// besides what every answer must satisfy, a request that carries no
// Authorization header gets 401 on every path but the public ones
// (/healthz, /readyz, /metrics), whatever its method, path or body.
func FuzzHTTPAPIAuth(f *testing.F) {
	ts := startServerWith(f, Options{}, func(cfg *node.Config) { cfg.ClientToken = []string{"tok"} })
	seedHTTPFuzz(f, ts, []string{"Authorization", "Bearer tok"})
	for _, h := range []string{"Authorization: Bearer tok", "Authorization: Basic eDp0b2s=", "Authorization: Bearer nope",
		"Authorization: Basic", "Authorization: bearer tok", "Authorization: Basic !!!"} {
		f.Add(uint8(1), "/v1/kv/fz/a.b", h, []byte("v"))
		f.Add(uint8(0), "/v1/cluster", h, []byte(nil))
	}
	f.Add(uint8(0), "/healthz", "", []byte(nil))
	f.Add(uint8(0), "/metrics/../v1/cluster", "", []byte(nil))
	f.Add(uint8(0), "//readyz", "", []byte(nil))
	f.Fuzz(func(t *testing.T, method uint8, path, header string, body []byte) {
		req, res := fuzzHTTP(t, ts, method, path, header, body)
		if req == nil || req.Header.Get("Authorization") != "" || publicPaths[req.URL.Path] || res.StatusCode == http.StatusUnauthorized {
			return
		}
		// net/http itself refuses a request it cannot parse (a space
		// in the query, say) before any handler sees it: a plain-text
		// 400, which reaches nothing either.
		if res.StatusCode == http.StatusBadRequest && !strings.Contains(res.Header.Get("Content-Type"), "json") {
			return
		}
		t.Fatalf("%s %q without a credential: %d, want 401", req.Method, req.URL.String(), res.StatusCode)
	})
}

// seedHTTPFuzz makes the bucket the seeds use (presenting auth, header
// name and value, when the node asks for a credential) and adds the
// seeds.
func seedHTTPFuzz(f *testing.F, ts *testServer, auth []string) {
	for _, r := range []struct{ path, body string }{{"/v1/buckets/fz", `{"history":3}`}, {"/v1/kv/fz/a.b", "v"}} {
		if res := ts.do("PUT", r.path, r.body, auth...); res.status >= 300 {
			f.Fatalf("PUT %s: %d %s", r.path, res.status, res.body)
		}
	}
	for _, s := range []struct {
		method       uint8
		path, header string
		body         string
	}{
		{0, "/v1/kv/fz/a.b?revision=1", "", ""},
		{0, "/v1/kv/fz/a.b?revision=-1", "", ""},
		{0, "/v1/kv/fz/a.b?revision=99999999999999999999", "", ""},
		{0, "/v1/kv/fz?match=a.*&limit=-3", "", ""},
		{0, "/v1/kv/fz/a.b?history=true", "", ""},
		{1, "/v1/kv/fz/a.b", "If-Match: \"x\"", "v"},
		{1, "/v1/kv/fz/a.b", "If-Match: -1", "v"},
		{1, "/v1/kv/fz/a..b", "", "v"},
		{1, "/v1/kv/fz/_kv.x", "", "v"},
		{1, "/v1/kv/fz/a.b?ttl=-1s", "", "v"},
		{3, "/v1/kv/fz/a.b?purge=true", "If-Match: 0", ""},
		{0, "/v1/watch/fz?key=>&revision=-5", "", ""},
		{1, "/v1/buckets/new", "", `{"history":65,"replicas":2,"max_value_size":-7}`},
		{1, "/v1/buckets/new", "", `{"history":`},
		{1, "/v1/buckets/fz", "", `{"history":1,"ttl":"-1s"}`},
		{3, "/v1/buckets/nope", "", ""},
		{0, "/v1/buckets/fz/backup", "", ""},
		{2, "/v1/restore?bucket=fz2", "", "garbage"},
		{2, "/v1/buckets/fz/move-replica", "", `{"from":"x","to":"y"}`},
		{2, "/v1/buckets/fz/transfer-leader", "", `{"to":""}`},
		{2, "/v1/cluster/nodes/zz/remove", "", ""},
		{0, "/v1/cluster", "", ""},
		{0, "/readyz", "", ""},
		{5, "/v1/kv/fz/a.b", "", ""},
	} {
		f.Add(s.method, s.path, s.header, []byte(s.body))
	}
}

var fuzzClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// fuzzHTTP sends one fuzzed request and checks what every answer must
// satisfy: complete, not a 500, and the node still answers /readyz. It
// returns the request sent and the answer (its body read and closed),
// or nils when the input makes no request.
func fuzzHTTP(t *testing.T, ts *testServer, method uint8, path, header string, body []byte) (*http.Request, *http.Response) {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(ts.base + path)
	if err != nil || u.Host != strings.TrimPrefix(ts.base, "http://") {
		return nil, nil // not a URL on the node
	}
	m := fuzzMethods[int(method)%len(fuzzMethods)]
	watch := strings.HasPrefix(u.Path, "/v1/watch/")
	timeout := 10 * time.Second
	if watch {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, m, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, nil // not a request net/http sends
	}
	for _, line := range strings.Split(header, "\n") {
		k, v, ok := strings.Cut(line, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if ok && validHeader(k, v) {
			req.Header.Add(k, v)
		}
	}
	res, err := fuzzClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: no answer: %v", m, path, err)
	}
	if res.StatusCode == http.StatusInternalServerError {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 1<<10))
		t.Fatalf("%s %s: 500 internal error: %s", m, path, msg)
	}
	if !watch {
		if _, err := io.Copy(io.Discard, res.Body); err != nil {
			t.Fatalf("%s %s: the answer broke off: %v", m, path, err)
		}
	}
	res.Body.Close()
	ready, err := fuzzClient.Get(ts.base + "/readyz")
	if err != nil {
		t.Fatalf("after %s %s the node no longer answers: %v", m, path, err)
	}
	ready.Body.Close()
	return req, res
}

// validHeader reports whether net/http sends the header k: v.
func validHeader(k, v string) bool {
	if k == "" || strings.EqualFold(k, "Host") || strings.EqualFold(k, "Content-Length") || strings.EqualFold(k, "Transfer-Encoding") {
		return false
	}
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", c) {
			return false
		}
	}
	for _, c := range v {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
