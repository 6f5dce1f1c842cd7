package node

import (
	"context"
	"slices"
	"time"

	"github.com/cairnkv/cairn/membership"
	"github.com/cairnkv/cairn/storage/meta"
)

// healBatch bounds the buckets re-placed in one pass of the meta leader.
const healBatch = 64

// rebalanceEvery spaces out replica moves that only even out load.
const rebalanceEvery = 10 * time.Second

// candidates are the registered nodes that can take replicas now: not
// removed, and alive.
func (n *Node) candidates() []meta.Node {
	// One read of the registry decides both who is registered and who is
	// not: reading it twice let a node registered in between be listed
	// twice, and placement then put two replicas of a bucket on it (raft
	// refuses such a group: the node crashed creating it).
	registered := n.meta.Nodes()
	var out []meta.Node
	for _, nd := range registered {
		if nd.Removed {
			continue
		}
		if n.cluster != nil && !n.cluster.alive(nd.ID) {
			continue
		}
		out = append(out, nd)
	}
	if n.cluster != nil {
		// Members of the meta group that gossip sees but the registry
		// does not list yet (registration runs in the background) can
		// hold replicas too.
		mm := n.metaG.Members()
		for _, m := range n.cluster.ml.Alive() {
			if !mm.Has(m.ID) || slices.ContainsFunc(registered, func(nd meta.Node) bool { return nd.ID == m.ID }) {
				continue
			}
			out = append(out, meta.Node{ID: m.ID, Name: m.Name, ClientAddr: m.ClientAddr, HTTPAddr: m.HTTPAddr,
				PeerAddr: m.PeerAddr, GossipAddr: m.GossipAddr, Tags: m.Tags})
		}
	}
	return out
}

// placeReplicas chooses the nodes of a new bucket.
func (n *Node) placeReplicas(cfg BucketConfig) ([]uint64, error) {
	if n.cluster == nil {
		if cfg.Replicas > 1 {
			// What nats-server answers without clustering.
			return nil, newErr(ErrInvalidConfig, 500, 10074, "replicas > 1 not supported in non-clustered mode (%d replicas requested; this node has no peers)", cfg.Replicas)
		}
		return []uint64{n.NodeID()}, nil
	}
	var tags []string
	if cfg.Placement != nil {
		tags = cfg.Placement.Tags
	}
	return place(n.candidates(), loadOf(n.meta.Buckets()), cfg.Replicas, tags, nil)
}

// metaLeaderLoop runs the cluster-wide decisions on whichever node leads
// the meta group: the meta group's own membership, re-creating replicas
// of nodes gone too long, and spreading replicas onto new nodes.
func (n *Node) metaLeaderLoop() {
	defer n.wg.Done()
	t := time.NewTicker(syncInterval)
	defer t.Stop()
	var lastMove time.Time
	warned := map[string]bool{}
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if !n.metaG.IsLeader() {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		n.syncMetaMembers(ctx)
		if n.heal(ctx, warned) == 0 && time.Since(lastMove) > rebalanceEvery {
			if n.rebalance(ctx) {
				lastMove = time.Now()
			}
		}
		cancel()
	}
}

// gone reports whether a node should be replaced: removed by an
// operator, or down longer than --replace-after.
func (n *Node) gone(nd meta.Node) bool {
	if nd.Removed {
		return true
	}
	since, down := n.cluster.downSince(nd.ID)
	return down && time.Since(since) > n.cfg.ReplaceAfter
}

// syncMetaMembers keeps every registered node in the meta group (as a
// learner at least) and 1, 3 or 5 live voters, replacing gone voters.
func (n *Node) syncMetaMembers(ctx context.Context) {
	var want, live []uint64
	m := n.metaG.Members()
	registered := map[uint64]bool{}
	for _, nd := range n.meta.Nodes() {
		registered[nd.ID] = true
	}
	// Members not registered yet (registration runs in the background
	// after joining) are kept.
	for _, id := range append(slices.Clone(m.Voters), m.Learners...) {
		if !registered[id] {
			want = append(want, id)
			live = append(live, id)
		}
	}
	for _, nd := range n.meta.Nodes() {
		if n.gone(nd) {
			continue
		}
		want = append(want, nd.ID)
		if n.cluster.alive(nd.ID) {
			live = append(live, nd.ID)
		}
	}
	// Voters: keep the current ones that are not gone, top up from live
	// caught-up members to the size the live node count allows.
	var voters []uint64
	for _, id := range m.Voters {
		if slices.Contains(want, id) {
			voters = append(voters, id)
		}
	}
	size := max(metaSize(len(live)), len(voters))
	if size > 5 {
		size = 5
	}
	peers, last, _ := n.metaG.LeaderView()
	for _, id := range live {
		if len(voters) >= size {
			break
		}
		if p, ok := peers[id]; ok && !slices.Contains(voters, id) && p.RecentActive && p.Match+caughtUpSlack >= last {
			voters = append(voters, id)
		}
	}
	// Members in want that are not voters stay learners: syncMembers adds
	// and promotes in the order of its want list, voters first.
	order := append(slices.Clone(voters), slices.DeleteFunc(slices.Clone(want), func(id uint64) bool { return slices.Contains(voters, id) })...)
	n.syncMetaStep(ctx, order, voters)
}

// syncMetaStep is syncMembers for the meta group, whose wanted voters
// are a subset of its wanted members.
func (n *Node) syncMetaStep(ctx context.Context, members, voters []uint64) {
	m := n.metaG.Members()
	do := func(kind string, err error, id uint64) {
		if err != nil && n.ctx.Err() == nil {
			n.lg.Warn("changing meta group members", "change", kind, "node", membership.NodeName(id), "err", err)
		} else if err == nil {
			n.lg.Info("changed meta group members", "change", kind, "node", membership.NodeName(id))
		}
	}
	for _, id := range members {
		if !m.Has(id) {
			do("add-learner", n.metaG.ChangeMembership(ctx, addLearner(id)), id)
			return
		}
	}
	for _, id := range voters {
		if !m.IsVoter(id) {
			do("promote", n.metaG.ChangeMembership(ctx, promote(id)), id)
			return
		}
	}
	for _, id := range append(slices.Clone(m.Learners), m.Voters...) {
		if slices.Contains(members, id) {
			continue
		}
		if id == n.NodeID() {
			peers, last, _ := n.metaG.LeaderView()
			n.transferTo(n.metaG, voters, func(v uint64) bool {
				p, ok := peers[v]
				return ok && p.RecentActive && p.Match+caughtUpSlack >= last
			})
			return
		}
		do("remove", n.metaG.ChangeMembership(ctx, remove(id)), id)
		return
	}
}

// heal re-places the replicas that gone nodes held, a batch per pass,
// and returns how many buckets it changed.
func (n *Node) heal(ctx context.Context, warned map[string]bool) int {
	gone := map[uint64]bool{}
	for _, nd := range n.meta.Nodes() {
		if n.gone(nd) {
			gone[nd.ID] = true
		}
	}
	if len(gone) == 0 {
		return 0
	}
	changed := 0
	for _, bk := range n.meta.Buckets() {
		if changed >= healBatch || ctx.Err() != nil {
			break
		}
		var lost []uint64
		for _, id := range bk.Replicas {
			if gone[id] {
				lost = append(lost, id)
			}
		}
		if len(lost) == 0 {
			continue
		}
		// A group that lost its quorum cannot add replicas; an R1 bucket
		// on a gone node has no copy left to rebuild from.
		if 2*len(lost) >= len(bk.Replicas) {
			if !warned[bk.Name] {
				warned[bk.Name] = true
				n.lg.Error("bucket lost a majority of its replicas; it cannot be healed automatically",
					"bucket", bk.Name, "replicas", nodeNames(bk.Replicas), "gone", nodeNames(lost))
			}
			continue
		}
		var tags []string
		if bk.Config.Placement != nil {
			tags = bk.Config.Placement.Tags
		}
		next := slices.Clone(bk.Replicas)
		ok := true
		for _, id := range lost {
			repl, err := place(n.candidates(), loadOf(n.meta.Buckets()), 1, tags, next)
			if err != nil {
				if !warned[bk.Name] {
					warned[bk.Name] = true
					n.lg.Warn("no node to re-create a lost replica on", "bucket", bk.Name, "err", err)
				}
				ok = false
				break
			}
			next[slices.Index(next, id)] = repl[0]
		}
		if !ok {
			continue
		}
		// Live replicas first: the preferred leader must be one that has
		// the data.
		slices.SortStableFunc(next, func(a, b uint64) int {
			return boolOrder(slices.Contains(bk.Replicas, b)) - boolOrder(slices.Contains(bk.Replicas, a))
		})
		if n.setReplicas(ctx, bk, next) {
			n.lg.Info("re-creating replicas of gone nodes", "bucket", bk.Name, "from", nodeNames(bk.Replicas), "to", nodeNames(next))
			changed++
		}
	}
	return changed
}

func boolOrder(b bool) int {
	if b {
		return 1
	}
	return 0
}

// setReplicas proposes a new replica set, compare-and-set against bk.
func (n *Node) setReplicas(ctx context.Context, bk meta.Bucket, replicas []uint64) bool {
	_, err := n.proposeMeta(ctx, &meta.Command{Op: "replicas", Time: time.Now().UnixNano(), Name: bk.Name, Expect: bk.Replicas, Replicas: replicas})
	if err != nil && n.ctx.Err() == nil {
		n.lg.Warn("changing replicas", "bucket", bk.Name, "err", err)
	}
	return err == nil
}

// rebalance moves one replica from the most loaded live node to the least
// loaded one when they differ by two or more, so new nodes take a share.
func (n *Node) rebalance(ctx context.Context) bool {
	cands := n.candidates()
	if len(cands) < 2 {
		return false
	}
	buckets := n.meta.Buckets()
	load := loadOf(buckets)
	slices.SortFunc(cands, func(a, b meta.Node) int { return load.replicas[a.ID] - load.replicas[b.ID] })
	lo, hi := cands[0], cands[len(cands)-1]
	if load.replicas[hi.ID]-load.replicas[lo.ID] < 2 {
		return false
	}
	for _, bk := range buckets {
		if !slices.Contains(bk.Replicas, hi.ID) || slices.Contains(bk.Replicas, lo.ID) {
			continue
		}
		if bk.Config.Placement != nil && !tagsMatch(lo.Tags, bk.Config.Placement.Tags) {
			continue
		}
		healthy := true
		for _, id := range bk.Replicas {
			healthy = healthy && n.cluster.alive(id)
		}
		if !healthy {
			continue
		}
		next := slices.Clone(bk.Replicas)
		next[slices.Index(next, hi.ID)] = lo.ID
		if n.setReplicas(ctx, bk, next) {
			n.lg.Info("moving a replica to even out load", "bucket", bk.Name, "from", membership.NodeName(hi.ID), "to", membership.NodeName(lo.ID))
			return true
		}
		return false
	}
	return false
}
