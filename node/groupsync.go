package node

import (
	"context"
	"slices"
	"time"

	"github.com/cairnkv/cairn/membership"
	"github.com/cairnkv/cairn/replication"
	"github.com/cairnkv/cairn/storage/bucket"
	"github.com/cairnkv/cairn/storage/meta"
	"go.etcd.io/raft/v3/raftpb"
)

// syncInterval is how often leaders bring their groups in line with the
// registry.
const syncInterval = time.Second

// caughtUpSlack is how many entries a replica may trail the leader by and
// still count as caught up (for promotion and leader transfer).
const caughtUpSlack = 100

func addLearner(id uint64) raftpb.ConfChangeSingle {
	return raftpb.ConfChangeSingle{Type: raftpb.ConfChangeAddLearnerNode, NodeID: id}
}

func promote(id uint64) raftpb.ConfChangeSingle {
	return raftpb.ConfChangeSingle{Type: raftpb.ConfChangeAddNode, NodeID: id}
}

func remove(id uint64) raftpb.ConfChangeSingle {
	return raftpb.ConfChangeSingle{Type: raftpb.ConfChangeRemoveNode, NodeID: id}
}

// registerLoop keeps this node's registry entry (name, addresses, tags)
// current.
func (n *Node) registerLoop() {
	defer n.wg.Done()
	t := time.NewTicker(syncInterval)
	defer t.Stop()
	for {
		want := n.cluster.self()
		cur, ok := n.meta.Node(want.ID)
		if !ok || cur.Name != want.Name || cur.ClientAddr != want.ClientAddr || cur.HTTPAddr != want.HTTPAddr ||
			cur.PeerAddr != want.PeerAddr || cur.GossipAddr != want.GossipAddr || !sameTags(cur.Tags, want.Tags) {
			if ok && cur.Removed {
				n.lg.Error("this node was removed from the cluster; wipe its data dir to add it again as a new node")
			} else {
				ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
				if _, err := n.proposeMeta(ctx, &meta.Command{Op: "node-set", Time: time.Now().UnixNano(), Node: &want}); err != nil && n.ctx.Err() == nil {
					n.lg.Debug("registering node", "err", err)
				}
				cancel()
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func sameTags(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// syncLoop runs on every node: for the bucket groups it leads, it applies
// the registry's configuration and replica set to the raft group and
// hands leadership to the preferred replica; for replicas moved away, it
// notices when the group has let this node go.
func (n *Node) syncLoop() {
	defer n.wg.Done()
	t := time.NewTicker(syncInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		n.syncOnce()
	}
}

func (n *Node) syncOnce() {
	self := n.NodeID()
	n.mu.RLock()
	local := make([]*Bucket, 0, len(n.buckets))
	for _, b := range n.buckets {
		local = append(local, b)
	}
	n.mu.RUnlock()
	movedAway := false
	for _, b := range local {
		if n.ctx.Err() != nil {
			return
		}
		bk, ok := n.meta.Bucket(b.name)
		if !ok || bk.Group != b.group.ID() {
			continue
		}
		if !slices.Contains(bk.Replicas, self) && !b.group.IsLeader() {
			// Moved away: the group's leader adds the new replica and
			// then removes this one; until then this replica counts.
			if b.removedHere() {
				movedAway = true
			}
			continue
		}
		if !b.group.IsLeader() {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
		if !meta.SameConfig(b.state.Config(), bk.Config) {
			cmd := bucket.Command{Kind: bucket.KindSetConfig, Time: time.Now().UnixNano(), Config: &bk.Config}
			if _, err := b.propose(ctx, &cmd); err != nil {
				n.lg.Warn("applying bucket config", "bucket", b.name, "err", err)
			}
		}
		n.syncMembers(ctx, b.group, bk.Replicas, "bucket", b.name)
		cancel()
	}
	if movedAway {
		ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
		if err := n.reconcile(ctx); err != nil && n.ctx.Err() == nil {
			n.lg.Warn("reconciling after a replica moved away", "err", err)
		}
		cancel()
	}
}

// syncMembers makes one step of bringing a group's raft membership to
// want, on its leader: add missing replicas as learners, promote caught-up
// learners, then remove replicas no longer wanted (handing leadership
// away first if this node is one), then prefer want[0] as leader. One
// step per call keeps one change in flight, as raft requires.
func (n *Node) syncMembers(ctx context.Context, g *replication.Group, want []uint64, what, name string) {
	self := n.NodeID()
	peers, last, ok := g.LeaderView()
	if !ok {
		return
	}
	m := g.Members()
	caughtUp := func(id uint64) bool {
		p, ok := peers[id]
		return ok && p.RecentActive && p.Match+caughtUpSlack >= last
	}
	change := func(cc raftpb.ConfChangeSingle) {
		n.lg.Info("changing replicas", what, name, "change", cc.Type.String(), "node", membership.NodeName(cc.NodeID))
		if err := g.ChangeMembership(ctx, cc); err != nil && n.ctx.Err() == nil {
			n.lg.Warn("changing replicas", what, name, "err", err)
		}
	}
	for _, id := range want {
		if !m.Has(id) {
			change(addLearner(id))
			return
		}
	}
	for _, id := range m.Learners {
		if slices.Contains(want, id) && caughtUp(id) {
			change(promote(id))
			return
		}
	}
	allVoters := true
	for _, id := range want {
		allVoters = allVoters && m.IsVoter(id)
	}
	for _, id := range append(slices.Clone(m.Learners), m.Voters...) {
		if slices.Contains(want, id) {
			continue
		}
		if m.IsVoter(id) && !allVoters {
			continue // keep the quorum until the replacements vote
		}
		if id == self {
			n.transferTo(g, want, caughtUp)
			return
		}
		change(remove(id))
		return
	}
	if len(want) > 0 && want[0] != self && m.IsVoter(want[0]) && caughtUp(want[0]) &&
		n.cluster.alive(want[0]) && g.LeaderFor() > n.handBackAfter() {
		n.lg.Debug("handing leadership to the preferred replica", what, name, "to", membership.NodeName(want[0]))
		g.TransferLeadership(want[0])
	}
}

// minHandBack is the least time a leader keeps a group before handing it
// back to the preferred replica.
const minHandBack = 10 * time.Second

// handBackAfter is how long a leader other than the preferred replica
// leads before it hands leadership back: three election timeouts, and at
// least minHandBack. Each hand-back fails the proposals in flight to the
// group (raft refuses them during the transfer; clients retry), so an
// overloaded preferred replica that keeps losing its leadership must not
// get it back every few seconds. Balance can wait; steadiness cannot.
func (n *Node) handBackAfter() time.Duration {
	return max(3*n.cfg.ElectionTimeout, minHandBack)
}

// transferTo hands leadership to the first caught-up live voter of want.
func (n *Node) transferTo(g *replication.Group, want []uint64, caughtUp func(uint64) bool) {
	m := g.Members()
	for _, id := range want {
		if id != n.NodeID() && m.IsVoter(id) && caughtUp(id) && n.cluster.alive(id) {
			g.TransferLeadership(id)
			return
		}
	}
}

// removedHere reports whether this node's replica of b has been removed
// from the group (it is no longer in the registry's replicas): raft says
// so locally, or a current replica does.
func (b *Bucket) removedHere() bool {
	n := b.n
	self := n.NodeID()
	if !b.group.Members().Has(self) {
		return true
	}
	if n.cluster == nil {
		return false
	}
	bk, ok := n.meta.Bucket(b.name)
	if !ok {
		return true
	}
	for _, id := range bk.Replicas {
		if id == self || !n.cluster.alive(id) {
			continue
		}
		var m replication.Members
		ctx, cancel := context.WithTimeout(n.ctx, 2*time.Second)
		err := n.cluster.call(ctx, id, "group.members", groupRequest{Bucket: b.name}, &m)
		cancel()
		if err == nil && len(m.Voters) > 0 {
			return !m.Has(self)
		}
	}
	return false
}

// handOffTimeout bounds how long a hand-off waits for leaderships to move.
const handOffTimeout = 3 * time.Second

// HandOff transfers the leadership of every group this node leads to
// another caught-up voter and waits (at most handOffTimeout) until it is
// done, so that a graceful shutdown costs clients no election timeout.
// The node keeps serving; Close hands off again whatever it leads by then.
func (n *Node) HandOff() { n.handOff("shutdown") }

// handOff is HandOff for a reason the log names; a node alone has no one
// to hand off to.
func (n *Node) handOff(reason string) {
	if n.cluster == nil {
		return
	}
	deadline := time.Now().Add(handOffTimeout)
	groups := []*replication.Group{}
	if n.metaG != nil {
		groups = append(groups, n.metaG)
	}
	n.mu.RLock()
	for _, b := range n.buckets {
		groups = append(groups, b.group)
	}
	n.mu.RUnlock()
	var led []*replication.Group
	for _, g := range groups {
		peers, last, ok := g.LeaderView()
		if !ok {
			continue
		}
		m := g.Members()
		for _, id := range m.Voters {
			p := peers[id]
			if id != n.NodeID() && p.RecentActive && p.Match+caughtUpSlack >= last && n.cluster.alive(id) {
				g.TransferLeadership(id)
				led = append(led, g)
				break
			}
		}
	}
	if len(led) == 0 {
		return
	}
	n.lg.Info("handing off leadership", "reason", reason, "groups", len(led))
	for _, g := range led {
		for g.IsLeader() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}
