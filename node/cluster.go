package node

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cairnkv/cairn/membership"
	"github.com/cairnkv/cairn/replication/transport"
	"github.com/cairnkv/cairn/storage/meta"
)

// Version is the software version nodes announce in gossip.
var Version = "dev"

// cluster is the node's link to its peers: gossip membership, the raft
// peer transport, and the RPCs nodes make to each other.
type cluster struct {
	n  *Node
	ml *membership.Membership
	tr *transport.Transport

	mu        sync.Mutex
	advertise membership.Meta
	started   time.Time
}

// clustered reports whether the node talks to peers at all.
func (c Config) clustered() bool { return c.PeerAddr != "" || c.GossipAddr != "" }

// parseTags turns KEY=VALUE strings into a map.
func parseTags(tags []string) (map[string]string, error) {
	out := map[string]string{}
	for _, t := range tags {
		k, v, ok := strings.Cut(t, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("tag %q is not KEY=VALUE", t)
		}
		out[k] = v
	}
	return out, nil
}

// newCluster creates the transport (not yet listening); startCluster
// starts it and gossip once the scheduler exists.
func newCluster(n *Node) (*cluster, error) {
	c := &cluster{n: n, started: time.Now()}
	tc := transport.DefaultConfig(n.disk.NodeID(), n.cfg.PeerAddr)
	tc.Resolve = c.resolve
	tc.Logger = n.lg
	if n.cfg.PeerKey != "" {
		// KEY[,ACCEPTED...]: the first proves this node, the others are
		// accepted from peers too (while the cluster changes its key).
		for i, s := range strings.Split(n.cfg.PeerKey, ",") {
			key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("peer-key: key %d is not base64: %w", i+1, err)
			}
			if len(key) < transport.MinKeyBytes {
				return nil, fmt.Errorf("peer-key: key %d has %d bytes; at least %d (openssl rand -base64 32 makes one)", i+1, len(key), transport.MinKeyBytes)
			}
			if i == 0 {
				tc.Key = key
			} else {
				tc.AcceptKeys = append(tc.AcceptKeys, key)
			}
		}
	}
	ptls, err := loadPeerTLS(n.cfg.PeerTLSCert, n.cfg.PeerTLSKey, n.cfg.PeerTLSCA, n.lg)
	if err != nil {
		return nil, err
	}
	tc.TLS = ptls
	tr, err := transport.New(tc, raftHandler{n})
	if err != nil {
		return nil, fmt.Errorf("peer transport: %w", err)
	}
	c.tr = tr
	return c, nil
}

func (c *cluster) start() error {
	n := c.n
	c.registerCalls()
	if err := c.tr.Start(); err != nil {
		return fmt.Errorf("peer transport on %s: %w", n.cfg.PeerAddr, err)
	}
	tags, err := parseTags(n.cfg.Tags)
	if err != nil {
		return err
	}
	c.advertise = membership.Meta{
		ID: n.disk.NodeID(), Name: n.cfg.Name,
		ClientAddr: n.cfg.ClientAddr, HTTPAddr: n.cfg.HTTPAddr,
		PeerAddr: advertisedPeerAddr(n.cfg.PeerAddr, c.tr.Addr().String()), Tags: tags, Version: Version,
	}
	mc := membership.DefaultConfig()
	mc.Meta = c.advertise
	mc.BindAddr = n.cfg.GossipAddr
	mc.Join = n.cfg.Join
	mc.Cluster = n.cfg.ClusterName
	mc.Logger = n.lg
	if host, _, err := net.SplitHostPort(n.cfg.GossipAddr); err == nil && net.ParseIP(host).IsLoopback() {
		mc.Profile = membership.ProfileLocal
	}
	if n.cfg.GossipKey != "" {
		key, err := base64.StdEncoding.DecodeString(n.cfg.GossipKey)
		if err != nil {
			return fmt.Errorf("gossip-key: not base64: %w", err)
		}
		mc.SecretKey = key
	}
	ml, err := membership.Start(mc)
	if err != nil {
		return err
	}
	c.ml = ml
	// A peer listener on all interfaces (0.0.0.0:6222, as in a container)
	// is advertised under the address gossip advertises for this node,
	// never as an unspecified address peers would dial themselves on.
	host, _, _ := net.SplitHostPort(ml.Local().GossipAddr)
	if pa := reachable(c.advertise.PeerAddr, host); pa != c.advertise.PeerAddr {
		c.mu.Lock()
		c.advertise.PeerAddr = pa
		m := c.advertise
		c.mu.Unlock()
		if err := ml.UpdateMeta(m); err != nil {
			return fmt.Errorf("advertising peer address %s: %w", pa, err)
		}
	}
	return nil
}

// resolve gives a peer's transport address: from gossip, else from the
// registry (a peer gossip has forgotten may still be worth dialing).
func (c *cluster) resolve(id uint64) (string, bool) {
	if c.ml != nil {
		for _, m := range c.ml.Members() {
			if m.ID == id && m.PeerAddr != "" {
				// A peer that has not yet replaced an unspecified listen
				// address in its metadata is reachable where gossip is.
				host, _, _ := net.SplitHostPort(m.GossipAddr)
				return reachable(m.PeerAddr, host), true
			}
		}
	}
	if nd, ok := c.n.meta.Node(id); ok && nd.PeerAddr != "" {
		return nd.PeerAddr, true
	}
	return "", false
}

// self is this node's registry entry as it should read.
func (c *cluster) self() meta.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.advertise
	gossip := ""
	if c.ml != nil {
		gossip = c.ml.Local().GossipAddr
	}
	return meta.Node{ID: a.ID, Name: a.Name, ClientAddr: a.ClientAddr, HTTPAddr: a.HTTPAddr,
		PeerAddr: a.PeerAddr, GossipAddr: gossip, Tags: a.Tags}
}

// setAdvertised replaces the addresses clients use (known only once the
// listeners are up) in gossip; the registry follows in registerLoop.
func (c *cluster) setAdvertised(clientAddr, httpAddr string) error {
	// A listener on all interfaces is advertised under the address
	// gossip advertises for this node.
	host := ""
	if c.ml != nil {
		host, _, _ = net.SplitHostPort(c.ml.Local().GossipAddr)
	}
	clientAddr, httpAddr = reachable(clientAddr, host), reachable(httpAddr, host)
	c.mu.Lock()
	if clientAddr != "" {
		c.advertise.ClientAddr = clientAddr
	}
	if httpAddr != "" {
		c.advertise.HTTPAddr = httpAddr
	}
	m := c.advertise
	c.mu.Unlock()
	return c.ml.UpdateMeta(m)
}

// reachable replaces an unspecified host (0.0.0.0, ::, empty) in addr.
// advertisedPeerAddr is the peer address other nodes are told to dial:
// the configured one when it names a host (node1.internal:6222, a
// compose service name), which peers then resolve at every dial and
// check a peer TLS certificate against; else where the listener is bound
// (an IP address, or the port a :0 listener got).
func advertisedPeerAddr(configured, bound string) string {
	h, p, err := net.SplitHostPort(configured)
	if err != nil || h == "" || net.ParseIP(h) != nil || p == "0" {
		return bound
	}
	return configured
}

func reachable(addr, host string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return addr
	}
	if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
		return net.JoinHostPort(host, p)
	}
	return addr
}

// alive reports whether gossip sees the node alive (or merely suspect).
func (c *cluster) alive(id uint64) bool {
	if id == c.n.NodeID() {
		return true
	}
	for _, m := range c.ml.Alive() {
		if m.ID == id {
			return true
		}
	}
	return false
}

// downSince is when a node was last seen alive, as far as this node
// knows: the time gossip declared it dead or left, or this node's start
// when gossip never saw it. ok is false for live nodes.
func (c *cluster) downSince(id uint64) (time.Time, bool) {
	if c.alive(id) {
		return time.Time{}, false
	}
	for _, m := range c.ml.Members() {
		if m.ID == id {
			return m.Since, true
		}
	}
	return c.started, true
}

// metaSize is how many voters the meta group starts with when n nodes
// form the cluster: an odd number, at most five.
func metaSize(n int) int {
	switch {
	case n >= 5:
		return 5
	case n >= 3:
		return 3
	default:
		return 1
	}
}

// form decides how this node, which has no meta group yet, enters the
// cluster: it joins a cluster one of its peers already belongs to, or,
// once --expect nodes see each other, bootstraps the meta group with the
// lowest node IDs as voters. It returns the voters to bootstrap with, or
// nil to join empty.
func (c *cluster) form(ctx context.Context) ([]uint64, error) {
	n := c.n
	self := n.NodeID()
	logged := time.Time{}
	for {
		alive := c.ml.Alive()
		for _, m := range alive {
			if m.ID == self {
				continue
			}
			resp, err := c.askJoin(ctx, m.ID)
			if err != nil {
				n.lg.Debug("asking peer to join", "peer", membership.NodeName(m.ID), "err", err)
				continue
			}
			if !resp.Formed {
				continue
			}
			if slices.Contains(resp.Voters, self) {
				// One of the voters the cluster is forming with: bootstrap
				// with exactly the same voters as the others did.
				n.lg.Info("forming cluster", "meta-voters", nodeNames(resp.Voters), "via", membership.NodeName(m.ID))
				return resp.Voters, nil
			}
			n.lg.Info("joined existing cluster", "via", membership.NodeName(m.ID))
			return nil, nil
		}
		standalone := n.cfg.Expect <= 1 && len(n.cfg.Join) == 0
		if standalone || (n.cfg.Expect > 1 && len(alive) >= n.cfg.Expect) {
			ids := make([]uint64, 0, len(alive))
			for _, m := range alive {
				ids = append(ids, m.ID)
			}
			slices.Sort(ids)
			voters := ids[:metaSize(min(len(ids), n.cfg.Expect))]
			if slices.Contains(voters, self) {
				n.lg.Info("forming cluster", "meta-voters", nodeNames(voters), "visible", len(alive), "expect", n.cfg.Expect)
				return voters, nil
			}
		}
		if time.Since(logged) > 5*time.Second {
			logged = time.Now()
			n.lg.Info("waiting for the cluster to form", "visible", len(alive), "expect", n.cfg.Expect, "join", n.cfg.Join)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the cluster to form (%d of %d expected nodes visible): %w", len(alive), n.cfg.Expect, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func nodeNames(ids []uint64) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = membership.NodeName(id)
	}
	return out
}

// joinRequest asks a member to register a new node and add it to the
// meta group as a learner.
type joinRequest struct {
	Node meta.Node `json:"node"`
}

type joinResponse struct {
	// Formed is false when the peer is not in a working cluster yet.
	Formed bool `json:"formed"`
	// Voters, when the joiner is already one of them, are the meta
	// group's voters: the joiner is a founding voter starting up.
	Voters []uint64 `json:"voters,omitempty"`
}

// askJoin asks peer to admit this node.
func (c *cluster) askJoin(ctx context.Context, peer uint64) (joinResponse, error) {
	var resp joinResponse
	err := c.call(ctx, peer, "cluster.join", joinRequest{Node: c.self()}, &resp)
	return resp, err
}

// handleJoin admits a node: registered first (so the meta leader's
// reconciler keeps it in), then added as a learner of the meta group.
func (c *cluster) handleJoin(ctx context.Context, req joinRequest) (joinResponse, error) {
	n := c.n
	nd := req.Node
	if nd.ID == 0 {
		return joinResponse{}, errInvalidRequest("join without a node ID")
	}
	metaG := n.metaReady.Load()
	if metaG == nil {
		return joinResponse{Formed: false}, nil
	}
	if m := metaG.Members(); m.Has(nd.ID) {
		// Already a member: a founding voter starting after the others
		// bootstrapped, or a node whose first start was cut short.
		return joinResponse{Formed: true, Voters: m.Voters}, nil
	}
	if metaG.Leader() == 0 {
		// Not (yet) in a working cluster: the joiner asks again.
		return joinResponse{Formed: false}, nil
	}
	if _, err := n.proposeMeta(ctx, &meta.Command{Op: "node-set", Time: time.Now().UnixNano(), Node: &nd}); err != nil {
		return joinResponse{}, err
	}
	if err := metaG.ChangeMembership(ctx, addLearner(nd.ID)); err != nil {
		return joinResponse{}, err
	}
	n.lg.Info("admitted node", "node", membership.NodeName(nd.ID), "name", nd.Name)
	return joinResponse{Formed: true}, nil
}

// call makes an RPC to a peer with JSON in and out; a node error on the
// peer comes back as the same *Error.
func (c *cluster) call(ctx context.Context, peer uint64, method string, in, out any) error {
	raw, err := json.Marshal(in)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.n.cfg.RequestTimeout)
		defer cancel()
	}
	resp, err := c.tr.Call(ctx, peer, method, raw)
	if err != nil {
		return fmt.Errorf("%s on %s: %w", method, membership.NodeName(peer), err)
	}
	var env callEnvelope
	if err := json.Unmarshal(resp, &env); err != nil {
		return fmt.Errorf("%s on %s: malformed reply: %w", method, membership.NodeName(peer), err)
	}
	if env.Err != nil {
		return env.Err.toError()
	}
	if out != nil && len(env.Result) > 0 {
		if err := json.Unmarshal(env.Result, out); err != nil {
			return fmt.Errorf("%s on %s: malformed result: %w", method, membership.NodeName(peer), err)
		}
	}
	return nil
}

// handle registers a JSON RPC handler.
func handle[In, Out any](c *cluster, method string, fn func(context.Context, In) (Out, error)) {
	c.tr.HandleCall(method, func(ctx context.Context, _ uint64, payload []byte) ([]byte, error) {
		var in In
		var env callEnvelope
		if err := json.Unmarshal(payload, &in); err != nil {
			env.Err = wireErrorOf(errInvalidRequest("malformed %s request: %v", method, err))
		} else if out, err := fn(ctx, in); err != nil {
			env.Err = wireErrorOf(err)
		} else if env.Result, err = json.Marshal(out); err != nil {
			return nil, err
		}
		return json.Marshal(env)
	})
}

type callEnvelope struct {
	Result json.RawMessage `json:"result,omitempty"`
	Err    *wireError      `json:"error,omitempty"`
}

// close leaves gossip (so peers see a graceful leave, not a failure) and
// stops the transport.
func (c *cluster) close() {
	if c.ml != nil {
		if err := c.ml.Leave(2 * time.Second); err != nil {
			c.n.lg.Debug("leaving gossip", "err", err)
		}
		_ = c.ml.Close()
	}
	if c.tr != nil {
		_ = c.tr.Close()
	}
}
