package membership

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// ErrClosed is returned by operations on a Membership after Leave or Close.
var ErrClosed = errors.New("membership: closed")

// Membership is this node's membership in the gossip cluster.
type Membership struct {
	name   string // memberlist node name: NodeName(Meta.ID)
	log    *slog.Logger
	timing timing
	view   *view
	del    *delegate
	ml     *memberlist.Memberlist

	stop     chan struct{} // closed by Leave/Close: stops the join loop
	joinDone chan struct{} // closed when the join loop has returned

	mu     sync.Mutex // serialises UpdateMeta, Leave and Close
	closed bool
}

// Start creates the memberlist on cfg.BindAddr and, if cfg.Join lists seeds,
// joins them in the background, retrying with backoff until at least one
// other node answers. Start does not wait for seeds; use WaitForMembers.
func Start(cfg Config) (*Membership, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	base := cfg.Logger
	if base == nil {
		base = slog.Default()
	}
	name := NodeName(cfg.Meta.ID)
	lg := base.With("component", "membership", "node", name)
	v := newView()
	del := &delegate{self: name, view: v, log: lg}
	if err := del.setMeta(cfg.Meta, false); err != nil {
		return nil, err
	}
	lw := &logWriter{log: base.With("component", "memberlist", "node", name), onSuspect: del.suspected}

	mc, t, err := cfg.memberlistConfig(log.New(lw, "", 0))
	if err != nil {
		return nil, err
	}
	mc.Delegate = del
	mc.Events = del
	mc.Conflict = del
	mc.Ping = del

	m := &Membership{
		name:     name,
		log:      lg,
		timing:   t,
		view:     v,
		del:      del,
		stop:     make(chan struct{}),
		joinDone: make(chan struct{}),
	}
	// Create announces this node to itself: the view gets it (and Events
	// its EventJoined) before Create returns.
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("membership: start gossip on %s: %w", cfg.BindAddr, err)
	}
	m.ml = ml
	local := m.Local()
	lg.Info("gossip started", "addr", local.GossipAddr, "profile", profileName(cfg.Profile),
		"encrypted", len(cfg.SecretKey) > 0, "seeds", cfg.Join)

	go m.joinLoop(append([]string(nil), cfg.Join...))
	return m, nil
}

func profileName(p string) string {
	if p == "" {
		return ProfileLAN
	}
	return p
}

// Local returns this node as a member.
func (m *Membership) Local() Member {
	me, _ := m.view.get(m.name)
	return me
}

// Members returns every member this node knows, itself included, sorted by
// ID: alive and suspect ones, and dead or left ones it still remembers.
// Members whose metadata does not decode are not listed.
func (m *Membership) Members() []Member {
	return m.view.list(nil)
}

// Alive returns the members that are alive or suspect (not yet declared
// dead), itself included, sorted by ID.
func (m *Membership) Alive() []Member {
	return m.view.list(isLive)
}

// Changed returns a channel closed at the next change of any member's
// state or metadata, so that callers can cache what they derive from
// Members and Alive.
func (m *Membership) Changed() <-chan struct{} {
	return m.view.changedCh()
}

// Events returns the membership events: EventJoined (including one for this
// node at Start), EventUpdated, EventLeft and EventFailed, in the order
// memberlist reported them. The channel holds up to 1024 events; when the
// reader falls behind, the oldest event is dropped (and a warning logged) so
// that gossip never blocks. A reader that may have lost events can rebuild
// its picture from Members. The channel is closed by Leave and Close.
func (m *Membership) Events() <-chan Event {
	return m.view.events
}

// WaitForMembers waits until at least n members (this node included) are
// alive or suspect, or ctx ends.
func (m *Membership) WaitForMembers(ctx context.Context, n int) error {
	for {
		have, changed, closed := m.view.countAlive()
		if have >= n {
			return nil
		}
		if closed {
			return fmt.Errorf("membership: waiting for %d members (have %d): %w", n, have, ErrClosed)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("membership: waiting for %d members (have %d): %w", n, have, ctx.Err())
		}
	}
}

// UpdateMeta replaces this node's metadata and re-broadcasts it. The ID
// cannot change. It waits (a few seconds at most) for the broadcast to go
// out; on timeout the new metadata is still in force locally and spreads
// with later gossip, and the error says so.
func (m *Membership) UpdateMeta(meta Meta) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if meta.ID != 0 && NodeName(meta.ID) != m.name {
		return fmt.Errorf("membership: update meta: node ID cannot change (have %s, got %s)", m.name, NodeName(meta.ID))
	}
	meta.ID = m.Local().ID
	if err := m.del.setMeta(meta, false); err != nil {
		return err
	}
	if err := m.ml.UpdateNode(m.timing.updateTimeout); err != nil {
		return fmt.Errorf("membership: update meta: applied locally, broadcast not confirmed: %w", err)
	}
	return nil
}

// Leave leaves the cluster gracefully, then shuts gossip down: the others
// see EventLeft, not EventFailed. It waits up to timeout in all (no limit if
// timeout <= 0) for the announcements to go out. memberlist reports a
// graceful leave like a failure, so Leave first re-broadcasts this node's
// metadata flagged "leaving" (the others use the flag to tell the two
// apart), then sends memberlist's leave. Gossip is shut down even if that
// times out.
func (m *Membership) Leave(timeout time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.closed = true
	close(m.stop)
	// memberlist takes a timeout of 0 as "no limit".
	timeout = max(timeout, 0)
	deadline := time.Now().Add(timeout)
	remaining := func() time.Duration {
		if timeout == 0 {
			return 0
		}
		return max(time.Until(deadline), time.Millisecond)
	}
	var errs []error
	if err := m.del.setMeta(m.Local().Meta, true); err != nil {
		errs = append(errs, fmt.Errorf("membership: leave: %w", err)) // unreachable: setMeta reserves room
	} else if err := m.ml.UpdateNode(remaining()); err != nil {
		errs = append(errs, fmt.Errorf("membership: leave: announce leaving: %w", err))
	}
	if err := m.ml.Leave(remaining()); err != nil {
		errs = append(errs, fmt.Errorf("membership: leave: %w", err))
	}
	m.log.Info("left the cluster")
	errs = append(errs, m.shutdown())
	return errors.Join(errs...)
}

// Close shuts gossip down without leaving: to the others this node looks
// failed (EventFailed after failure detection). Close after Leave is a no-op.
func (m *Membership) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	close(m.stop)
	m.view.markState(m.name, StateAlive, StateDead)
	return m.shutdown()
}

func (m *Membership) shutdown() error {
	err := m.ml.Shutdown()
	<-m.joinDone
	m.view.close()
	if err != nil {
		return fmt.Errorf("membership: shutdown: %w", err)
	}
	return nil
}
