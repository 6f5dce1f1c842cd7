package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cairnkv/cairn/membership"
	"github.com/cairnkv/cairn/replication"
	"github.com/cairnkv/cairn/storage/meta"
)

// Operator actions and the cluster's status. They work from any node:
// registry changes go through the meta group, leadership changes are
// forwarded to the group's replicas.

// errNotClustered answers cluster operations on a node that runs alone.
func errNotClustered() error {
	return newErr(ErrInvalidRequest, 400, 10003, "this node runs alone (no peer or gossip address): there is no cluster to operate on")
}

// RemoveNode takes a node out of the cluster for good: its replicas are
// re-created elsewhere at once and it leaves the meta group. The node,
// if it comes back, is refused; wipe its data dir to add it as new.
func (n *Node) RemoveNode(ctx context.Context, id uint64) error {
	if n.cluster == nil {
		return errNotClustered()
	}
	if id == n.NodeID() {
		return errInvalidRequest("a node cannot remove itself; ask another node")
	}
	_, err := n.proposeMeta(ctx, &meta.Command{Op: "node-remove", Time: time.Now().UnixNano(), NodeID: id})
	if err != nil {
		return err
	}
	n.lg.Info("node removed by operator", "node", membership.NodeName(id))
	return nil
}

// MoveReplica moves a bucket's replica from one node to another: the new
// replica is added, caught up and promoted before the old one goes.
func (n *Node) MoveReplica(ctx context.Context, name string, from, to uint64) error {
	if n.cluster == nil {
		return errNotClustered()
	}
	bk, ok := n.meta.Bucket(name)
	if !ok {
		return errBucketNotFound(name)
	}
	if !slices.Contains(bk.Replicas, from) {
		return errInvalidRequest("node %s holds no replica of bucket %s", membership.NodeName(from), name)
	}
	if slices.Contains(bk.Replicas, to) {
		return errInvalidRequest("node %s already holds a replica of bucket %s", membership.NodeName(to), name)
	}
	nd, ok := n.meta.Node(to)
	if !ok || nd.Removed {
		return errInvalidRequest("node %s is not a member of the cluster", membership.NodeName(to))
	}
	if bk.Config.Placement != nil && !tagsMatch(nd.Tags, bk.Config.Placement.Tags) {
		return errNoPlacement("node %s does not carry tags %v", membership.NodeName(to), bk.Config.Placement.Tags)
	}
	next := slices.Clone(bk.Replicas)
	next[slices.Index(next, from)] = to
	_, err := n.proposeMeta(ctx, &meta.Command{Op: "replicas", Time: time.Now().UnixNano(), Name: name, Expect: bk.Replicas, Replicas: next})
	return err
}

// TransferLeader moves a bucket's raft leadership to node to (0: any
// other caught-up replica). It also makes to the preferred leader, so the
// cluster does not move it back.
func (n *Node) TransferLeader(ctx context.Context, name string, to uint64) error {
	bk, ok := n.meta.Bucket(name)
	if !ok {
		return errBucketNotFound(name)
	}
	if to != 0 {
		if !slices.Contains(bk.Replicas, to) {
			return errInvalidRequest("node %s holds no replica of bucket %s", membership.NodeName(to), name)
		}
		if bk.Replicas[0] != to {
			next := slices.Clone(bk.Replicas)
			i := slices.Index(next, to)
			next[0], next[i] = next[i], next[0]
			if _, err := n.proposeMeta(ctx, &meta.Command{Op: "replicas", Time: time.Now().UnixNano(), Name: name, Expect: bk.Replicas, Replicas: next}); err != nil {
				return err
			}
		}
	}
	if b, err := n.Bucket(name); err == nil && b.group.IsLeader() {
		return n.transferLocal(ctx, name, to)
	}
	if n.cluster == nil {
		return nil
	}
	var errs []error
	for _, id := range bk.Replicas {
		if id == n.NodeID() {
			continue
		}
		err := n.cluster.call(ctx, id, "group.transfer", groupRequest{Bucket: name, To: to}, nil)
		if err == nil || errors.Is(err, ErrInvalidRequest) {
			return err // done, or the leader refused the target itself
		}
		errs = append(errs, err)
	}
	return newErr(ErrUnavailable, 503, 10008, "no replica of bucket %s could transfer leadership: %v", name, errs)
}

// transferLocal transfers leadership of a local group this node leads
// and waits until another replica leads.
func (n *Node) transferLocal(ctx context.Context, name string, to uint64) error {
	b, err := n.Bucket(name)
	if err != nil {
		return err
	}
	return n.transferGroup(ctx, b.group, to)
}

var errNotLeaderHere = newErr(ErrUnavailable, 503, 10008, "not the leader")

func (n *Node) transferGroup(ctx context.Context, g *replication.Group, to uint64) error {
	if !g.IsLeader() {
		return errNotLeaderHere
	}
	if to == 0 {
		peers, last, _ := g.LeaderView()
		for _, id := range g.Members().Voters {
			if p := peers[id]; id != n.NodeID() && p.RecentActive && p.Match+caughtUpSlack >= last {
				to = id
				break
			}
		}
		if to == 0 {
			return newErr(ErrUnavailable, 503, 10008, "no other caught-up voter to hand leadership to")
		}
	}
	if to == n.NodeID() {
		return nil
	}
	if !g.Members().IsVoter(to) {
		// raft ignores a transfer to a learner or a stranger, and the
		// wait below would last until the caller gave up.
		return errInvalidRequest("node %s is not a voter of the group (a replica still catching up is a learner)", membership.NodeName(to))
	}
	g.TransferLeadership(to)
	for g.IsLeader() || g.Leader() == 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for leadership to move: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// StepDown makes this node give up leadership of the meta group.
func (n *Node) StepDown(ctx context.Context) error {
	if n.cluster == nil {
		return errNotClustered()
	}
	return n.transferGroup(ctx, n.metaG, 0)
}

// NodeStatus is one node as the cluster sees it.
type NodeStatus struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	ClientAddr string            `json:"client_addr,omitempty"`
	HTTPAddr   string            `json:"http_addr,omitempty"`
	PeerAddr   string            `json:"peer_addr,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	State      string            `json:"state"` // alive, suspect, failed, left, unknown, removed
	MetaRole   string            `json:"meta_role"`
	Replicas   int               `json:"replicas"`
	Leaders    int               `json:"leaders_preferred"`
	Self       bool              `json:"self,omitempty"`
}

// ClusterStatus is the cluster as this node sees it.
type ClusterStatus struct {
	Self       string       `json:"self"`
	MetaLeader string       `json:"meta_leader"`
	Clustered  bool         `json:"clustered"`
	Nodes      []NodeStatus `json:"nodes"`
	Buckets    int          `json:"buckets"`
}

// MetaLeader returns the meta group's leader (0 when unknown).
func (n *Node) MetaLeader() uint64 { return n.metaG.Leader() }

// Status describes the cluster: every registered node, its state in
// gossip, its role in the meta group, and the replicas it holds.
func (n *Node) Status() ClusterStatus {
	st := ClusterStatus{Self: membership.NodeName(n.NodeID()), Clustered: n.cluster != nil}
	if l := n.metaG.Leader(); l != 0 {
		st.MetaLeader = membership.NodeName(l)
	}
	buckets := n.meta.Buckets()
	st.Buckets = len(buckets)
	load := loadOf(buckets)
	mm := n.metaG.Members()
	gossip := map[uint64]membership.Member{}
	if n.cluster != nil {
		for _, m := range n.cluster.ml.Members() {
			gossip[m.ID] = m
		}
	}
	for _, nd := range n.meta.Nodes() {
		ns := NodeStatus{ID: membership.NodeName(nd.ID), Name: nd.Name, ClientAddr: nd.ClientAddr, HTTPAddr: nd.HTTPAddr,
			PeerAddr: nd.PeerAddr, Tags: nd.Tags, Replicas: load.replicas[nd.ID], Leaders: load.leaders[nd.ID],
			Self: nd.ID == n.NodeID(), State: "alive"}
		if n.cluster != nil {
			if m, ok := gossip[nd.ID]; ok {
				ns.State = m.State.String()
			} else {
				ns.State = "unknown"
			}
		}
		if nd.Removed {
			ns.State = "removed"
		}
		switch {
		case n.metaG.Leader() == nd.ID:
			ns.MetaRole = "leader"
		case mm.IsVoter(nd.ID):
			ns.MetaRole = "voter"
		case mm.Has(nd.ID):
			ns.MetaRole = "learner"
		default:
			ns.MetaRole = "none"
		}
		st.Nodes = append(st.Nodes, ns)
	}
	return st
}

// SetAdvertised tells the cluster the client and HTTP addresses this node
// actually listens on (known once the listeners are up).
func (n *Node) SetAdvertised(clientAddr, httpAddr string) error {
	if n.cluster == nil {
		return nil
	}
	return n.cluster.setAdvertised(clientAddr, httpAddr)
}

// ClientAddrs returns the client addresses ("host:port") of the cluster's
// live nodes, this one included, for NATS clients to fail over to; nil
// for a node that runs alone. changed is closed at the next change of
// membership, after which the answer may differ.
func (n *Node) ClientAddrs() (addrs []string, changed <-chan struct{}) {
	if n.cluster == nil {
		return nil, nil
	}
	return n.liveClientAddrs(false), n.cluster.ml.Changed()
}

// OtherClientAddrs is ClientAddrs without this node: where its clients
// should go when it shuts down.
func (n *Node) OtherClientAddrs() []string {
	if n.cluster == nil {
		return nil
	}
	return n.liveClientAddrs(true)
}

func (n *Node) liveClientAddrs(exceptSelf bool) []string {
	var addrs []string
	for _, m := range n.cluster.ml.Alive() {
		if a := dialable(m.ClientAddr); a != "" && !(exceptSelf && m.ID == n.NodeID()) {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// ParseNodeID accepts a node ID as shown in status (16 hex digits) or a
// registered node's name.
func (n *Node) ParseNodeID(s string) (uint64, error) {
	for _, nd := range n.meta.Nodes() {
		if membership.NodeName(nd.ID) == s || nd.Name == s {
			return nd.ID, nil
		}
	}
	return 0, errInvalidRequest("no node %q in the cluster (give its ID or name as `cairn cluster nodes` shows)", s)
}
