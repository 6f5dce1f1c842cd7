package membership

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// delegate implements memberlist's Delegate (our metadata), EventDelegate
// (join/update/leave), ConflictDelegate (an ID claimed from two addresses)
// and PingDelegate (clears a local suspicion). memberlist calls the event
// and conflict methods with its node lock held: they must only touch the
// view and log, never call memberlist.
type delegate struct {
	self string // our memberlist node name
	view *view
	log  *slog.Logger

	metaMu sync.Mutex
	meta   []byte // our encoded Meta, at most MaxMetaSize bytes
}

var (
	_ memberlist.Delegate         = (*delegate)(nil)
	_ memberlist.EventDelegate    = (*delegate)(nil)
	_ memberlist.ConflictDelegate = (*delegate)(nil)
	_ memberlist.PingDelegate     = (*delegate)(nil)
)

// setMeta encodes meta (with the leaving flag) as what NodeMeta returns.
func (d *delegate) setMeta(meta Meta, leaving bool) error {
	b, err := encodeMeta(meta, leaving)
	if err != nil {
		return err
	}
	d.metaMu.Lock()
	d.meta = b
	d.metaMu.Unlock()
	return nil
}

// NodeMeta returns our encoded metadata; encodeMeta keeps it within limit.
func (d *delegate) NodeMeta(limit int) []byte {
	d.metaMu.Lock()
	defer d.metaMu.Unlock()
	if len(d.meta) > limit {
		return nil // unreachable: setMeta only takes encodeMeta's output
	}
	return append([]byte(nil), d.meta...)
}

// cairn sends no user messages and keeps no state of its own in gossip.
func (d *delegate) NotifyMsg([]byte)                {}
func (d *delegate) GetBroadcasts(int, int) [][]byte { return nil }
func (d *delegate) LocalState(bool) []byte          { return nil }
func (d *delegate) MergeRemoteState([]byte, bool)   {}

func (d *delegate) NotifyJoin(n *memberlist.Node)   { d.alive(n) }
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.alive(n) }

func (d *delegate) alive(n *memberlist.Node) {
	meta, leaving, err := decodeMeta(n.Name, n.Meta)
	if err != nil {
		if old, ok := d.view.get(n.Name); ok {
			d.log.Warn("member sent undecodable metadata; keeping its previous metadata",
				"member", n.Name, "addr", n.Address(), "name", old.Name, "err", err)
			return
		}
		d.log.Warn("ignoring member with undecodable metadata (not a cairn node, or a broken one)",
			"member", n.Name, "addr", n.Address(), "err", err)
		return
	}
	ev, published, dropped := d.view.alive(n.Name, meta, leaving, n.Address())
	d.reportDropped(dropped)
	if published {
		d.log.Info("member "+ev.Kind.String(), "member", n.Name, "name", meta.Name, "addr", ev.Member.GossipAddr)
	} else if leaving {
		d.log.Info("member is leaving", "member", n.Name, "name", meta.Name)
	}
}

// NotifyLeave: memberlist declared the node dead. The *Node it passes does
// not say whether the node left or failed (memberlist v0.7 keeps that in a
// field it does not expose), so the view decides from the leaving flag the
// node announced in its metadata before leaving.
func (d *delegate) NotifyLeave(n *memberlist.Node) {
	ev, ok, dropped := d.view.gone(n.Name)
	if !ok {
		return // a member we ignored
	}
	d.reportDropped(dropped)
	level := slog.LevelWarn
	if ev.Kind == EventLeft {
		level = slog.LevelInfo
	}
	d.log.Log(context.Background(), level, "member "+ev.Kind.String(),
		"member", n.Name, "name", ev.Member.Name, "addr", ev.Member.GossipAddr)
}

// NotifyConflict: a node announced itself under a name (node ID) that is
// already alive at another address. memberlist keeps the existing one.
func (d *delegate) NotifyConflict(existing, other *memberlist.Node) {
	msg := "node ID conflict: a second node claims this ID from another gossip address and is refused; " +
		"two data dirs share one ID (copied data dir?) or a node moved address before its old incarnation was declared dead"
	if existing.Name == d.self {
		msg = "node ID conflict: another node claims THIS node's ID from a different gossip address and is refused; " +
			"was this data dir copied?"
	}
	d.log.Error(msg, "member", existing.Name,
		"existing_addr", existing.Address(), "other_addr", other.Address())
}

// AckPayload: no payload on probe acks.
func (d *delegate) AckPayload() []byte { return nil }

// NotifyPingComplete: our direct probe of other succeeded, so it is no
// longer suspect from this node's point of view.
func (d *delegate) NotifyPingComplete(other *memberlist.Node, _ time.Duration, _ []byte) {
	if d.view.markState(other.Name, StateSuspect, StateAlive) {
		d.log.Info("suspect member answered a probe", "member", other.Name)
	}
}

// suspected is called when memberlist's prober suspects a member (see
// logWriter): memberlist has no delegate for it.
func (d *delegate) suspected(name string) {
	if d.view.markState(name, StateAlive, StateSuspect) {
		d.log.Warn("member suspected: probe unanswered", "member", name)
	}
}

func (d *delegate) reportDropped(dropped uint64) {
	if dropped > 0 {
		d.log.Warn("membership event reader is slow: dropped the oldest event", "dropped_total", dropped)
	}
}
