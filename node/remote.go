package node

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"

	"github.com/cairnkv/cairn/replication"
	"github.com/cairnkv/cairn/storage/meta"
)

// Replica is a node holding a bucket, with the addresses a request can be
// forwarded to.
type Replica struct {
	ID         uint64
	Name       string
	ClientAddr string
	HTTPAddr   string
	Alive      bool
}

// Locate tells where a bucket lives: local is true when this node holds a
// replica; replicas lists every replica, live ones first, the preferred
// leader first among them. ok is false for an unknown bucket.
func (n *Node) Locate(name string) (replicas []Replica, local, ok bool) {
	replicas, local, ok = n.locations.get(n, name)
	if local {
		if _, err := n.Bucket(name); err != nil {
			local = false // registered here, group not started yet
		}
	}
	return replicas, local, ok
}

// locate computes what Locate answers from the registry and gossip.
func (n *Node) locate(name string) (replicas []Replica, local, ok bool) {
	bk, ok := n.meta.Bucket(name)
	if !ok {
		return nil, false, false
	}
	self := n.NodeID()
	for _, id := range bk.Replicas {
		r := n.replica(id)
		r.Alive = true
		if n.cluster != nil {
			r.Alive = n.cluster.alive(id)
		}
		replicas = append(replicas, r)
		if id == self {
			local = true
		}
	}
	slices.SortStableFunc(replicas, func(a, b Replica) int {
		switch {
		case a.Alive == b.Alive:
			return 0
		case a.Alive:
			return -1
		default:
			return 1
		}
	})
	return replicas, local, true
}

// registered returns a bucket's registry entry. A bucket this node does
// not know may have just been created through another node: the registry
// is brought up to date (linearizably) before answering not found.
func (n *Node) registered(ctx context.Context, name string) (meta.Bucket, error) {
	if bk, ok := n.meta.Bucket(name); ok {
		return bk, nil
	}
	started, err := n.catchUpRegistry(ctx)
	if err != nil {
		return meta.Bucket{}, err
	}
	if !started {
		return meta.Bucket{}, errBucketNotFound(name)
	}
	if bk, ok := n.meta.Bucket(name); ok {
		return bk, nil
	}
	return meta.Bucket{}, errBucketNotFound(name)
}

// catchUpRegistry brings this node's copy of the registry up to date (a
// linearizable read of the meta group). started is false when the meta
// group has not started yet.
func (n *Node) catchUpRegistry(ctx context.Context) (started bool, err error) {
	g := n.metaReady.Load()
	if g == nil {
		return false, nil
	}
	return true, translate(g.LinearizableBarrier(ctx))
}

// reconcileNow catches up with the registry, then brings the local
// groups in line with it (what a peer asks after deleting a bucket).
func (n *Node) reconcileNow(ctx context.Context) error {
	if _, err := n.catchUpRegistry(ctx); err != nil {
		return err
	}
	return translate(n.reconcile(ctx))
}

// Registered reports whether this node's registry knows bucket name
// (what Locate's ok says, without working out where it lives).
func (n *Node) Registered(name string) bool {
	_, ok := n.meta.Bucket(name)
	return ok
}

// Refresh reports whether bucket name exists, asking the meta group
// (a linearizable barrier) when this node's registry does not know it: a
// bucket just created through another node may not have reached this
// node yet, and a client that created it there must find it here.
func (n *Node) Refresh(ctx context.Context, name string) bool {
	_, err := n.registered(ctx, name)
	return err == nil
}

// Peers lists the other live registered nodes with their client
// addresses.
func (n *Node) Peers() []Replica {
	if n.cluster == nil {
		return nil
	}
	var out []Replica
	for _, nd := range n.meta.Nodes() {
		if nd.ID == n.NodeID() || nd.Removed || !n.cluster.alive(nd.ID) {
			continue
		}
		r := n.replica(nd.ID)
		r.Alive = true
		out = append(out, r)
	}
	return out
}

// replica describes a node with its addresses: as gossip announces them
// (current as soon as a node's listeners are up), else as registered. A
// port 0 (a listener not started yet) is no address.
func (n *Node) replica(id uint64) Replica {
	nd, _ := n.meta.Node(id)
	r := Replica{ID: id, Name: nd.Name, ClientAddr: nd.ClientAddr, HTTPAddr: nd.HTTPAddr}
	if n.cluster != nil {
		for _, m := range n.cluster.ml.Members() {
			if m.ID == id {
				r.Name, r.ClientAddr, r.HTTPAddr = m.Name, m.ClientAddr, m.HTTPAddr
			}
		}
	}
	r.ClientAddr, r.HTTPAddr = dialable(r.ClientAddr), dialable(r.HTTPAddr)
	return r
}

func dialable(addr string) string {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
		return ""
	}
	return addr
}

// NodeName is a node's name as registered (its ID in hex when it has
// none or is unknown).
func (n *Node) NodeName(id uint64) string {
	if id == n.NodeID() && n.cfg.Name != "" {
		return n.cfg.Name
	}
	if nd, ok := n.meta.Node(id); ok && nd.Name != "" {
		return nd.Name
	}
	return strconv.FormatUint(id, 16)
}

// groupRequest names a bucket's group in peer RPCs.
type groupRequest struct {
	Bucket string `json:"bucket"`
	To     uint64 `json:"to,omitempty"`
}

// remoteInfo asks the bucket's replicas, live ones first, for its info.
func (n *Node) remoteInfo(ctx context.Context, bk meta.Bucket) (BucketInfo, error) {
	if n.cluster == nil {
		return BucketInfo{}, errBucketNotFound(bk.Name)
	}
	replicas, _, _ := n.Locate(bk.Name)
	var errs []error
	for _, r := range replicas {
		if !r.Alive {
			continue
		}
		var info BucketInfo
		err := n.cluster.call(ctx, r.ID, "bucket.info", groupRequest{Bucket: bk.Name}, &info)
		if err == nil {
			return info, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return BucketInfo{}, newErr(ErrUnavailable, 503, 10008, "JetStream cluster not available: no replica of bucket %s is reachable", bk.Name)
	}
	return BucketInfo{}, translate(errors.Join(errs...))
}

// registerCalls installs the RPCs peers make to this node.
func (c *cluster) registerCalls() {
	n := c.n
	handle(c, "cluster.join", c.handleJoin)
	handle(c, "bucket.info", func(ctx context.Context, req groupRequest) (BucketInfo, error) {
		bk, err := n.registered(ctx, req.Bucket)
		if err != nil {
			return BucketInfo{}, err
		}
		if !slices.Contains(bk.Replicas, n.NodeID()) {
			return BucketInfo{}, newErr(ErrUnavailable, 503, 10008, "bucket %s has no replica on node %s", req.Bucket, n.cfg.Name)
		}
		return n.infoFor(ctx, bk)
	})
	handle(c, "bucket.reconcile", func(ctx context.Context, _ groupRequest) (struct{}, error) {
		return struct{}{}, n.reconcileNow(ctx)
	})
	handle(c, "group.members", func(_ context.Context, req groupRequest) (replication.Members, error) {
		b, err := n.Bucket(req.Bucket)
		if err != nil {
			return replication.Members{}, err
		}
		return b.group.Members(), nil
	})
	handle(c, "group.transfer", func(ctx context.Context, req groupRequest) (struct{}, error) {
		return struct{}{}, n.transferLocal(ctx, req.Bucket, req.To)
	})
}
