package node

import (
	"cmp"
	"slices"
	"time"
)

// ReplicaState is how one replica of a bucket is doing, as the bucket's
// leader sees it: what nats-server's stream info reports per replica.
type ReplicaState struct {
	ID uint64
	// Current: alive, voting, and holding every committed entry, or at
	// most caughtUpSlack entries behind and heard from within an
	// election timeout.
	Current bool
	// Offline: gossip reports the node down.
	Offline bool
	// Lag is how many entries of the leader's log the replica lacks.
	Lag uint64
	// Seen is how long ago the leader last heard from the replica: in
	// this bucket's group, or from its node at all (keepalives), which
	// keeps it small while an idle bucket's group is quiet; 0 if never.
	Seen time.Duration
	// Learner: the replica is being added and does not vote yet.
	Learner bool
}

// Leader returns the node that leads the bucket's group (0: none known).
func (b *Bucket) Leader() uint64 { return b.group.Leader() }

// replicaStates returns the states of the bucket's other replicas when
// this node leads its group, nil otherwise: only the leader knows how far
// each replica has got.
func (b *Bucket) replicaStates() []ReplicaState {
	peers, commit, ok := b.group.Peers()
	if !ok {
		return nil
	}
	now := time.Now()
	out := make([]ReplicaState, 0, len(peers))
	for _, p := range peers {
		rs := ReplicaState{ID: p.ID, Lag: p.Lag, Learner: p.Learner}
		// Seen: the later of the group's last message from the replica
		// and its node's last word (an idle group says nothing).
		if heard := later(p.Heard, p.NodeHeard); !heard.IsZero() {
			rs.Seen = max(now.Sub(heard), time.Nanosecond)
		}
		rs.Offline = b.n.cluster != nil && !b.n.cluster.alive(p.ID)
		// Current: holds every committed entry, or is close behind and
		// its replica of this group was heard from within an election
		// timeout (under load a follower trails by the entries in
		// flight). A replica that went quiet while behind is not current
		// even before gossip reports it down, as nats-server stops
		// calling a silent peer current.
		recent := !p.Heard.IsZero() && now.Sub(p.Heard) < b.n.cfg.ElectionTimeout
		rs.Current = !rs.Offline && !p.Learner && (p.Match >= commit || (recent && p.Match+caughtUpSlack >= commit))
		out = append(out, rs)
	}
	slices.SortFunc(out, func(a, b ReplicaState) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
