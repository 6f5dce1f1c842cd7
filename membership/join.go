package membership

import (
	"errors"
	"math/rand/v2"
	"time"
)

// joinLoop contacts the seeds until at least one node other than this one
// has answered, backing off between attempts. Every failed attempt is
// logged. A seed list naming only this node needs no join: this node is the
// first of its cluster.
//
// After the first success it syncs with the seeds twice more (see resync).
func (m *Membership) joinLoop(seeds []string) {
	defer close(m.joinDone)
	self := m.Local().GossipAddr
	var targets []string
	for _, s := range seeds {
		if s != "" && s != self {
			targets = append(targets, s)
		}
	}
	// Once in (or alone), keep reaching out to failed members, so that the
	// two sides of a long partition find each other again.
	defer m.reconnectLoop()
	if len(targets) == 0 {
		if len(seeds) > 0 {
			m.log.Info("no seed other than this node: starting as the first member")
		}
		return
	}
	delay := m.timing.joinMin
	for attempt := 1; ; attempt++ {
		contacted, err := m.ml.Join(targets)
		if m.stopped() {
			return
		}
		if m.hasPeer() {
			m.log.Info("joined the cluster", "seeds_answered", contacted, "attempt", attempt)
			m.resync(targets)
			return
		}
		if err == nil {
			// Only this node answered: a seed address that is ours under
			// another name (a hostname, 0.0.0.0, ...).
			err = errors.New("no seed other than this node answered")
		}
		wait := jitter(delay)
		m.log.Warn("joining the cluster failed; retrying", "attempt", attempt, "seeds", targets,
			"retry_in", wait.Round(time.Millisecond), "err", err)
		select {
		case <-m.stop:
			return
		case <-time.After(wait):
		}
		delay = min(2*delay, m.timing.joinMax)
	}
}

// resync repeats the push-pull with the seeds a little after joining. Nodes
// that join through the same seed at the same moment can each get the seed's
// state from before the other's arrival; memberlist then only gossips the
// newcomer a few times, possibly before the relays know this node, and the
// gap would last until the next periodic push-pull (15 to 60 s by profile).
// Two extra syncs close it within about a second or two.
func (m *Membership) resync(targets []string) {
	for _, d := range []time.Duration{2 * m.timing.joinMin, 8 * m.timing.joinMin} {
		select {
		case <-m.stop:
			return
		case <-time.After(jitter(d)):
		}
		if _, err := m.ml.Join(targets); err != nil && !m.stopped() {
			m.log.Debug("post-join sync with seeds failed", "err", err)
		}
	}
}

func (m *Membership) stopped() bool {
	select {
	case <-m.stop:
		return true
	default:
		return false
	}
}

// hasPeer reports whether some node other than this one is alive.
func (m *Membership) hasPeer() bool {
	n, _, _ := m.view.countAlive()
	return n > 1
}

// jitter spreads d by ±20% so that nodes started together do not retry in
// lockstep.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// maxReconnectsPerRound bounds the failed members tried in one round.
const maxReconnectsPerRound = 4

// reconnectLoop periodically syncs with members declared failed (not
// those that left), until Leave or Close. memberlist gossips to a dead
// member only for GossipToTheDeadTime (15 to 60 s by profile) and ignores
// a dead member's "alive" at the same incarnation, so after a partition
// longer than that the two sides would stay apart for good, each seeing
// the other dead (and the meta leader would in time move replicas off
// healthy nodes). A push-pull with the failed member makes each side
// learn the other thinks it dead; each refutes, and the next round (or
// ordinary gossip, once one side sees the other alive) carries the
// refutation across. Serf does the same.
func (m *Membership) reconnectLoop() {
	for {
		select {
		case <-m.stop:
			return
		case <-time.After(jitter(m.timing.reconnect)):
		}
		failed := m.view.list(func(x *Member) bool { return x.State == StateDead })
		rand.Shuffle(len(failed), func(i, j int) { failed[i], failed[j] = failed[j], failed[i] })
		for i, f := range failed {
			if i == maxReconnectsPerRound || m.stopped() {
				break
			}
			if _, err := m.ml.Join([]string{f.GossipAddr}); err == nil {
				m.log.Info("reached a failed member again", "member", NodeName(f.ID), "addr", f.GossipAddr)
			}
		}
	}
}
