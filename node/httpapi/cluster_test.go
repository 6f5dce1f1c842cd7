package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/node"
)

// apiCluster is three nodes in this process, each with its HTTP API,
// talking over real sockets on 127.0.4.x (other packages use other
// loopback ranges, so packages tested in parallel never collide).
type apiCluster struct {
	t     *testing.T
	nodes []*testServer // index 0 is node n1
}

func clusterAddr(i, port int) string { return fmt.Sprintf("127.0.4.%d:%d", i, port) }

func startAPICluster(t *testing.T, tune ...func(*node.Config)) *apiCluster {
	t.Helper()
	const size = 3
	type started struct {
		i   int
		n   *node.Node
		err error
	}
	ch := make(chan started, size)
	for i := 1; i <= size; i++ {
		cfg := node.DefaultConfig()
		cfg.Name = fmt.Sprintf("n%d", i)
		cfg.DataDir = t.TempDir()
		cfg.PeerAddr = clusterAddr(i, 16222)
		cfg.GossipAddr = clusterAddr(i, 17946)
		cfg.HTTPAddr = clusterAddr(i, 0)
		cfg.ClientAddr = clusterAddr(i, 0)
		cfg.Expect = size
		cfg.Join = []string{clusterAddr(1, 17946), clusterAddr(2, 17946)}
		cfg.TickInterval = 20 * time.Millisecond
		cfg.ElectionTimeout = 200 * time.Millisecond
		cfg.Logger = quiet
		for _, f := range tune {
			f(&cfg)
		}
		go func() {
			n, err := node.New(cfg) // each waits for the others
			ch <- started{i, n, err}
		}()
	}
	c := &apiCluster{t: t, nodes: make([]*testServer, size)}
	var errs []error
	for range size {
		st := <-ch
		if st.err != nil {
			errs = append(errs, fmt.Errorf("node %d: %w", st.i, st.err))
			continue
		}
		t.Cleanup(func() { _ = st.n.Close() })
		s := New(st.n, Options{Logger: quiet})
		if err := s.Start(context.Background()); err != nil {
			errs = append(errs, fmt.Errorf("node %d: HTTP API: %w", st.i, err))
			continue
		}
		t.Cleanup(func() { _ = s.Close() })
		c.nodes[st.i-1] = &testServer{t: t, n: st.n, s: s, base: s.URL()}
	}
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	// Ready: every node sees the others alive with their HTTP addresses.
	waitFor(t, "every node to see the cluster with its HTTP addresses", func() bool {
		for _, ts := range c.nodes {
			st := ts.n.Status()
			if st.MetaLeader == "" || len(st.Nodes) != size {
				return false
			}
			for _, ns := range st.Nodes {
				if ns.State != "alive" || !dialable(ns.HTTPAddr) {
					return false
				}
			}
		}
		return true
	})
	return c
}

// node returns the test server of the node with the given ID.
func (c *apiCluster) node(id string) *testServer {
	c.t.Helper()
	for _, ts := range c.nodes {
		if nodeID(ts.n.NodeID()) == id {
			return ts
		}
	}
	c.t.Fatalf("no node %q", id)
	return nil
}

func (ts *testServer) clusterView() clusterJSON {
	ts.t.Helper()
	r := ts.do("GET", "/v1/cluster", nil)
	if r.status != 200 {
		ts.t.Fatalf("GET /v1/cluster: %d %s", r.status, r.body)
	}
	var cj clusterJSON
	r.decode(ts.t, &cj)
	return cj
}

func (cj clusterJSON) group(bucket string) (groupJSON, bool) {
	for _, g := range cj.Groups {
		if g.Bucket == bucket {
			return g, true
		}
	}
	return groupJSON{}, false
}

// wantError checks a JSON error with the given status.
func wantError(t *testing.T, r response, status int, contains string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("want %d, got %d %s", status, r.status, r.body)
	}
	if ae := r.apiErr(t); !strings.Contains(ae.Description, contains) {
		t.Fatalf("error %q does not mention %q", ae.Description, contains)
	}
}

// The HTTP API of a real three-node cluster: the cluster view, requests
// for buckets held elsewhere, operator actions and their errors, and
// readiness.
func TestClusterAPI(t *testing.T) {
	c := startAPICluster(t)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]

	t.Run("view", func(t *testing.T) {
		for _, ts := range c.nodes {
			cj := ts.clusterView()
			self := nodeID(ts.n.NodeID())
			if cj.Self != self || cj.Node.ID != self || !cj.Node.Self || !cj.Clustered || cj.MetaLeader == "" {
				t.Fatalf("view of %s: self %q node %+v clustered %v meta leader %q", self, cj.Self, cj.Node, cj.Clustered, cj.MetaLeader)
			}
			if cj.Node.HTTPAddr != ts.s.Addr().String() || cj.Node.GossipAddr != ts.n.Config().GossipAddr {
				t.Fatalf("self addresses %+v", cj.Node)
			}
			if len(cj.Members) != 3 {
				t.Fatalf("members %+v", cj.Members)
			}
			leaders := 0
			for _, m := range cj.Members {
				if m.State != "alive" || !dialable(m.HTTPAddr) || !strings.HasPrefix(m.Name, "n") {
					t.Fatalf("member %+v", m)
				}
				if m.MetaRole == "leader" {
					leaders++
					if m.ID != cj.MetaLeader {
						t.Fatalf("meta leader %s, but member %s has the role", cj.MetaLeader, m.ID)
					}
				} else if m.MetaRole != "voter" {
					t.Fatalf("member %s is a %s, want a voter", m.ID, m.MetaRole)
				}
			}
			if leaders != 1 {
				t.Fatalf("%d meta leaders in %+v", leaders, cj.Members)
			}
			if r := ts.do("GET", "/readyz", nil); r.status != 200 {
				t.Fatalf("readyz on %s: %d %s", self, r.status, r.body)
			}
		}
	})

	// An R1 bucket lives on one node, B; the other two, A and C, forward
	// to it.
	n1.mustBucket("one", `{"replicas":1}`)
	g, ok := n1.clusterView().group("one")
	if !ok || len(g.Replicas) != 1 {
		t.Fatalf("group of bucket one: %+v", g)
	}
	b := c.node(g.Replicas[0])
	var others []*testServer
	for _, ts := range c.nodes {
		if ts != b {
			others = append(others, ts)
		}
	}
	a, cc := others[0], others[1]

	t.Run("forwarded", func(t *testing.T) {
		w := cc.openWatch("/v1/watch/one?updates_only")
		rev := a.mustPut("one", "greeting/en", "hello")
		r := cc.do("GET", "/v1/kv/one/greeting/en", nil)
		if r.status != 200 || string(r.body) != "hello" || r.header.Get(hdrRevision) != fmt.Sprint(rev) {
			t.Fatalf("get via C: %d %q %v", r.status, r.body, r.header)
		}
		if got := r.header.Get(headerServedBy); got != nodeID(b.n.NodeID()) {
			t.Fatalf("served by %q, want B %s", got, nodeID(b.n.NodeID()))
		}
		if r := b.do("GET", "/v1/kv/one/greeting/en", nil); r.status != 200 || r.header.Get(headerServedBy) != "" {
			t.Fatalf("get on B itself: %d %v", r.status, r.header)
		}
		if r := a.do("GET", "/v1/kv/one", nil); r.status != 200 || !strings.Contains(string(r.body), "greeting/en") {
			t.Fatalf("keys via A: %d %s", r.status, r.body)
		}
		// Conditional writes keep their meaning through the hop.
		r = a.do("PUT", "/v1/kv/one/greeting/en", "again", "If-None-Match", "*")
		wantError(t, r, http.StatusConflict, "")
		if e := w.entry(); e.Key != "greeting/en" || e.Revision != rev {
			t.Fatalf("watch via C: %+v", e)
		}
		if r := cc.do("DELETE", "/v1/kv/one/greeting/en", nil); r.status != 200 {
			t.Fatalf("delete via C: %d %s", r.status, r.body)
		}
		if e := w.entry(); e.Key != "greeting/en" || e.Operation != "DEL" {
			t.Fatalf("watch via C after delete: %+v", e)
		}
		// Unknown buckets are answered by the node asked.
		wantError(t, a.do("GET", "/v1/kv/nosuch/k", nil), http.StatusNotFound, "")

		// A request C forwarded to A, which holds no replica (as a
		// registered replica whose group is not running does not), takes
		// a second hop to B; after two hops it is served where it is.
		r = a.do("GET", "/v1/kv/one", nil, headerForwarded, nodeID(cc.n.NodeID()))
		if r.status != 200 || r.header.Get(headerServedBy) != nodeID(b.n.NodeID()) {
			t.Fatalf("second hop via A: %d %q %v", r.status, r.body, r.header)
		}
		r = a.do("GET", "/v1/kv/one", nil, headerForwarded, nodeID(cc.n.NodeID())+","+nodeID(b.n.NodeID()))
		if r.status == 200 || r.header.Get(headerServedBy) != "" {
			t.Fatalf("third hop via A: %d %q %v; want A to answer itself", r.status, r.body, r.header)
		}
		// A node that forwarded it already is not asked again: B passed
		// it to A, so A serves it itself rather than send it back.
		r = a.do("GET", "/v1/kv/one", nil, headerForwarded, nodeID(b.n.NodeID()))
		if r.status == 200 || r.header.Get(headerServedBy) != "" {
			t.Fatalf("back to B via A: %d %q %v; want A to answer itself", r.status, r.body, r.header)
		}

		// A forwarded watch ends cleanly when the forwarding server closes.
		extra := New(cc.n, Options{Logger: quiet})
		hs := httptest.NewServer(extra.Handler())
		defer hs.Close()
		ew := (&testServer{t: t, n: cc.n, s: extra, base: hs.URL}).openWatch("/v1/watch/one")
		if e := ew.entry(); e.Key != "greeting/en" {
			t.Fatalf("forwarded watch: %+v", e)
		}
		if err := extra.Close(); err != nil {
			t.Fatal(err)
		}
		ew.waitEnd()
		if err := <-ew.done; err != nil {
			t.Fatalf("forwarded watch ended with %v, want a clean end", err)
		}
	})

	t.Run("move-replica", func(t *testing.T) {
		a.mustPut("one", "moved", "along")
		r := cc.do("POST", "/v1/buckets/one/move-replica",
			fmt.Sprintf(`{"from":%q,"to":%q}`, b.n.Name(), nodeID(a.n.NodeID())))
		if r.status != http.StatusAccepted {
			t.Fatalf("move-replica: %d %s", r.status, r.body)
		}
		waitFor(t, "the replica to move from B to A", func() bool {
			g, ok := cc.clusterView().group("one")
			return ok && slices.Equal(g.Replicas, []string{nodeID(a.n.NodeID())}) && g.Leader == nodeID(a.n.NodeID())
		})
		r = cc.do("GET", "/v1/kv/one/moved", nil)
		if r.status != 200 || string(r.body) != "along" || r.header.Get(headerServedBy) != nodeID(a.n.NodeID()) {
			t.Fatalf("get via C after the move: %d %q %v", r.status, r.body, r.header)
		}
	})

	t.Run("transfer-leader", func(t *testing.T) {
		n2.mustBucket("three", `{"replicas":3}`)
		var leader string
		waitFor(t, "a leader for bucket three", func() bool {
			g, _ := n3.clusterView().group("three")
			leader = g.Leader
			return leader != ""
		})
		to := nodeID(n1.n.NodeID())
		if leader == to {
			to = nodeID(n2.n.NodeID())
		}
		r := n3.do("POST", "/v1/buckets/three/transfer-leader", fmt.Sprintf(`{"to":%q}`, to))
		if r.status != 200 {
			t.Fatalf("transfer-leader: %d %s", r.status, r.body)
		}
		var out struct{ Bucket, Leader string }
		r.decode(t, &out)
		if out.Bucket != "three" || out.Leader != to {
			t.Fatalf("transfer-leader answered %s, want leader %s", r.body, to)
		}
		// Without a target: any other replica.
		r = n1.do("POST", "/v1/buckets/three/transfer-leader", nil)
		if r.status != 200 {
			t.Fatalf("transfer-leader without a target: %d %s", r.status, r.body)
		}
		waitFor(t, "leadership to move on", func() bool {
			g, _ := n1.clusterView().group("three")
			return g.Leader != "" && g.Leader != to
		})
		// Every replica of an R3 bucket is local somewhere and measured.
		for _, ts := range c.nodes {
			g, _ := ts.clusterView().group("three")
			if !g.Local || g.Lag == nil || g.NotReady != "" || len(g.Replicas) != 3 {
				t.Fatalf("group three on %s: %+v", ts.n.Name(), g)
			}
		}
	})

	t.Run("step-down", func(t *testing.T) {
		old := n1.clusterView().MetaLeader
		var follower *testServer
		for _, ts := range c.nodes {
			if nodeID(ts.n.NodeID()) != old {
				follower = ts
			}
		}
		// Asked of a follower, it is forwarded to the leader.
		r := follower.do("POST", "/v1/cluster/step-down", nil)
		if r.status != 200 {
			t.Fatalf("step-down: %d %s", r.status, r.body)
		}
		var out struct {
			Previous   string `json:"previous_leader"`
			MetaLeader string `json:"meta_leader"`
		}
		r.decode(t, &out)
		if out.Previous != old || out.MetaLeader == old || out.MetaLeader == "" {
			t.Fatalf("step-down answered %s (old leader %s)", r.body, old)
		}
		waitFor(t, "every node to see a new meta leader and be ready", func() bool {
			for _, ts := range c.nodes {
				if l := ts.n.MetaLeader(); l == 0 || nodeID(l) == old || ts.do("GET", "/readyz", nil).status != 200 {
					return false
				}
			}
			return true
		})
	})

	t.Run("bad-input", func(t *testing.T) {
		wantError(t, n1.do("POST", "/v1/cluster/nodes/nosuch/remove", nil), http.StatusNotFound, "nosuch")
		wantError(t, n1.do("POST", "/v1/cluster/nodes/"+n1.n.Name()+"/remove", nil), http.StatusBadRequest, "itself")
		wantError(t, n1.do("POST", "/v1/buckets/nosuch/move-replica", `{"from":"n1","to":"n2"}`), http.StatusNotFound, "not found")
		wantError(t, n1.do("POST", "/v1/buckets/nosuch/transfer-leader", nil), http.StatusNotFound, "not found")
		wantError(t, n1.do("POST", "/v1/buckets/three/move-replica", `{"from":"n1",`), http.StatusBadRequest, "request body")
		wantError(t, n1.do("POST", "/v1/buckets/three/move-replica", `{"from":"n1","too":"n2"}`), http.StatusBadRequest, "too")
		wantError(t, n1.do("POST", "/v1/buckets/three/move-replica", ``), http.StatusBadRequest, "JSON object is required")
		wantError(t, n1.do("POST", "/v1/buckets/three/move-replica", `{"from":"n1"}`), http.StatusBadRequest, `"to"`)
		wantError(t, n1.do("POST", "/v1/buckets/three/move-replica", `{"from":"n9","to":"n2"}`), http.StatusBadRequest, "n9")
		wantError(t, n1.do("POST", "/v1/buckets/three/move-replica", `{"from":"n1","to":"n2"}`), http.StatusBadRequest, "already holds")
		wantError(t, n1.do("POST", "/v1/buckets/one/transfer-leader", `{"to":"n9"}`), http.StatusBadRequest, "n9")
		wantError(t, n1.do("POST", "/v1/buckets/one/transfer-leader", `[1]`), http.StatusBadRequest, "request body")
		wantError(t, n1.do("POST", "/v1/buckets/Bad.Name/transfer-leader", nil), http.StatusBadRequest, "invalid bucket name")
		wantError(t, n1.do("GET", "/v1/cluster/step-down", nil), http.StatusMethodNotAllowed, "")
	})

	// Last: a node goes away. Requests for the bucket only it holds get a
	// 503 from the others; the R3 bucket carries on; removing the node
	// shows it removed (with three nodes there is nowhere to re-create
	// its replicas).
	t.Run("node-gone", func(t *testing.T) {
		gone := a // holds bucket one since the move
		goneID := nodeID(gone.n.NodeID())
		if err := gone.s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := gone.n.Close(); err != nil {
			t.Fatal(err)
		}
		var asker *testServer
		for _, ts := range c.nodes {
			if ts != gone {
				asker = ts
			}
		}
		memberState := func() string {
			for _, m := range asker.clusterView().Members {
				if m.ID == goneID {
					return m.State + "/" + m.MetaRole
				}
			}
			return "missing"
		}
		waitFor(t, "the others to see the node gone", func() bool {
			st := memberState()
			return !strings.HasPrefix(st, "alive/") && !strings.HasPrefix(st, "suspect/")
		})
		wantError(t, asker.do("GET", "/v1/kv/one/moved", nil), http.StatusServiceUnavailable, "no live node holding bucket one")
		asker.mustPut("three", "still", "writable")
		r := asker.do("POST", "/v1/cluster/nodes/"+gone.n.Name()+"/remove", nil)
		if r.status != 200 || !strings.Contains(string(r.body), goneID) {
			t.Fatalf("remove-node: %d %s", r.status, r.body)
		}
		waitFor(t, "the node shown removed", func() bool { return memberState() == "removed/none" })
		waitFor(t, "the others ready", func() bool { return asker.do("GET", "/readyz", nil).status == 200 })

		// One of the two voters left goes too: the last node has no
		// quorum, so it is not ready.
		for _, ts := range c.nodes {
			if ts != gone && ts != asker {
				_ = ts.s.Close()
				_ = ts.n.Close()
			}
		}
		waitFor(t, "the last node not ready for want of a meta leader", func() bool {
			r := asker.do("GET", "/readyz", nil)
			return r.status == http.StatusServiceUnavailable && strings.Contains(string(r.body), "no meta leader")
		})
	})
}
