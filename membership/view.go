package membership

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// eventBuffer is the capacity of the Events channel.
const eventBuffer = 1024

// forgetAfter is how long a dead or left member stays in the view. memberlist
// forgets them much sooner (GossipToTheDeadTime); the view keeps them so that
// the layers above can see how long a node has been gone (Member.Since).
const forgetAfter = 24 * time.Hour

// view is this node's picture of the cluster, fed by memberlist's delegates.
// mu is a leaf lock: nothing is called while holding it except channel
// operations that cannot block.
type view struct {
	mu      sync.Mutex
	members map[string]*entry // by memberlist node name
	events  chan Event
	dropped uint64 // events dropped because the reader fell behind
	// published counts the events published, by kind; suspicions the
	// times this node suspected a member (for metrics).
	published  [EventFailed + 1]uint64
	suspicions uint64
	changed    chan struct{} // closed and replaced on every change
	closed     bool          // events is closed; no more events are published
}

type entry struct {
	Member
	leaving bool // its last metadata announced a graceful leave
}

func newView() *view {
	return &view{
		members: make(map[string]*entry),
		events:  make(chan Event, eventBuffer),
		changed: make(chan struct{}),
	}
}

// alive records that node name is alive with meta at gossipAddr. It returns
// the event published (EventJoined for a new or returning member,
// EventUpdated for changed metadata), whether one was, and the running total
// of dropped events if publishing it dropped one.
func (v *view) alive(name string, meta Meta, leaving bool, gossipAddr string) (ev Event, published bool, dropped uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.members[name]
	kind := EventUpdated
	switch {
	case !ok:
		e = &entry{}
		v.members[name] = e
		kind = EventJoined
	case e.State == StateDead || e.State == StateLeft:
		kind = EventJoined
	case sameMeta(e.Meta, meta) && e.GossipAddr == gossipAddr:
		// Only the leaving flag or the incarnation changed: no event.
		e.leaving = leaving
		if e.State == StateSuspect {
			e.State, e.Since = StateAlive, time.Now()
		}
		v.notifyLocked()
		return Event{}, false, 0
	}
	if e.State != StateAlive {
		e.State, e.Since = StateAlive, time.Now()
	}
	e.Meta, e.GossipAddr, e.leaving = meta, gossipAddr, leaving
	ev = Event{Kind: kind, Member: e.clone()}
	return ev, true, v.publishLocked(ev)
}

// gone records that memberlist declared node name dead: it left if its last
// metadata said it was leaving, else it failed. ok is false for a member not
// in the view (one whose metadata never decoded).
func (v *view) gone(name string) (ev Event, ok bool, dropped uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.members[name]
	if !ok {
		return Event{}, false, 0
	}
	st, kind := StateDead, EventFailed
	if e.leaving {
		st, kind = StateLeft, EventLeft
	}
	if e.State != st {
		e.State, e.Since = st, time.Now()
	}
	ev = Event{Kind: kind, Member: e.clone()}
	return ev, true, v.publishLocked(ev)
}

// markState changes the state of a known member without an event (Suspect
// and back). from restricts the change to members currently in that state.
func (v *view) markState(name string, from, to State) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.members[name]
	if !ok || e.State != from || v.closed {
		return false
	}
	e.State, e.Since = to, time.Now()
	if to == StateSuspect {
		v.suspicions++
	}
	v.notifyLocked()
	return true
}

// counts returns the members by state and the running event totals.
func (v *view) counts() (byState map[State]int, published [EventFailed + 1]uint64, suspicions, dropped uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.forgetLocked(time.Now())
	byState = map[State]int{}
	for _, e := range v.members {
		byState[e.State]++
	}
	return byState, v.published, v.suspicions, v.dropped
}

// get returns the member called name.
func (v *view) get(name string) (Member, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.members[name]
	if !ok {
		return Member{}, false
	}
	return e.clone(), true
}

// list returns the members sorted by ID, filtered by keep (nil keeps all).
func (v *view) list(keep func(*Member) bool) []Member {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.forgetLocked(time.Now())
	out := make([]Member, 0, len(v.members))
	for _, e := range v.members {
		if keep == nil || keep(&e.Member) {
			out = append(out, e.clone())
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// changedCh returns the channel closed at the next change.
func (v *view) changedCh() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.changed
}

// countAlive returns the number of alive or suspect members and a channel
// closed at the next change.
func (v *view) countAlive() (int, <-chan struct{}, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, e := range v.members {
		if isLive(&e.Member) {
			n++
		}
	}
	return n, v.changed, v.closed
}

// isLive reports whether a member counts as part of the cluster now: alive,
// or suspected by this node but not (yet) declared dead.
func isLive(m *Member) bool { return m.State == StateAlive || m.State == StateSuspect }

// close publishes nothing more and closes the events channel.
func (v *view) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	v.closed = true
	close(v.events)
	v.notifyLocked()
}

func (v *view) publishLocked(ev Event) (dropped uint64) {
	v.notifyLocked()
	if v.closed {
		return 0
	}
	if int(ev.Kind) < len(v.published) {
		v.published[ev.Kind]++
	}
	select {
	case v.events <- ev:
		return 0
	default:
	}
	// Full: drop the oldest event to make room. Only publishers (holding
	// mu) send, so after one receive the send below cannot block; the
	// reader may also have made room in between, then nothing is dropped.
	select {
	case <-v.events:
		v.dropped++
		dropped = v.dropped
	default:
	}
	select {
	case v.events <- ev:
	default:
		v.dropped++
		dropped = v.dropped
	}
	return dropped
}

func (v *view) notifyLocked() {
	close(v.changed)
	v.changed = make(chan struct{})
}

func (v *view) forgetLocked(now time.Time) {
	for name, e := range v.members {
		if (e.State == StateDead || e.State == StateLeft) && now.Sub(e.Since) > forgetAfter {
			delete(v.members, name)
		}
	}
}
