package membership

import (
	"fmt"
	"maps"
	"time"
)

// State is the liveness of a member as seen by this node.
type State int

const (
	// StateAlive: the member answers probes (or gossip says it does).
	StateAlive State = iota
	// StateSuspect: this node's own probe of the member failed and no direct
	// probe has succeeded since. memberlist declares it dead unless it
	// refutes in time. Suspicions raised by other nodes are not visible here
	// (memberlist does not expose them).
	StateSuspect
	// StateDead: failure detection declared the member failed: it stopped
	// without leaving, or is unreachable.
	StateDead
	// StateLeft: the member left gracefully (Leave).
	StateLeft
)

func (s State) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	default:
		return fmt.Sprintf("state(%d)", int(s))
	}
}

// Member is one node of the cluster as seen by this node.
type Member struct {
	Meta
	// GossipAddr is the member's memberlist address, host:port.
	GossipAddr string
	State      State
	// Since is when State last changed, by this node's clock.
	Since time.Time
}

func (m Member) clone() Member {
	m.Tags = maps.Clone(m.Tags)
	return m
}

// EventKind says what happened to a member.
type EventKind int

const (
	// EventJoined: a member appeared, or came back after failing or leaving.
	EventJoined EventKind = iota
	// EventUpdated: an alive member changed its metadata.
	EventUpdated
	// EventLeft: a member left gracefully.
	EventLeft
	// EventFailed: failure detection declared a member dead.
	EventFailed
)

func (k EventKind) String() string {
	switch k {
	case EventJoined:
		return "joined"
	case EventUpdated:
		return "updated"
	case EventLeft:
		return "left"
	case EventFailed:
		return "failed"
	default:
		return fmt.Sprintf("event(%d)", int(k))
	}
}

// Event is a change of one member. Member is a copy taken when the change
// was observed.
type Event struct {
	Kind   EventKind
	Member Member
}
