package node

import (
	"time"

	"github.com/cairnkv/cairn/membership"
)

// livenessSweep is how often the down set is recomputed even without a
// gossip event (events can be dropped when the reader falls behind).
const livenessSweep = 2 * time.Second

// livenessLoop tells the raft scheduler which peers gossip considers
// down, on every membership event and periodically: idle (quiesced)
// groups led by a peer that went down wake and elect a new leader, and
// groups this node leads wake when a peer comes back.
func (n *Node) livenessLoop() {
	defer n.wg.Done()
	c := n.cluster
	events := c.ml.Events()
	t := time.NewTicker(livenessSweep)
	defer t.Stop()
	for {
		n.sched.SetPeersDown(c.down())
		select {
		case <-n.ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				events = nil // closed by Leave/Close; keep sweeping
			}
		case <-t.C:
		}
	}
}

// down is the set of nodes that gossip does not see alive (or suspect):
// members it declared dead or that left, and registered nodes it has not
// seen at all.
func (c *cluster) down() map[uint64]bool {
	down := map[uint64]bool{}
	alive := map[uint64]bool{}
	for _, m := range c.ml.Members() {
		switch m.State {
		case membership.StateAlive, membership.StateSuspect:
			alive[m.ID] = true
		default:
			down[m.ID] = true
		}
	}
	for _, nd := range c.n.meta.Nodes() {
		if !alive[nd.ID] {
			down[nd.ID] = true
		}
	}
	delete(down, c.n.NodeID())
	return down
}
