package replication

import (
	"time"

	"github.com/cairnkv/cairn/storage"
	"go.etcd.io/raft/v3/raftpb"
)

// Messages for a group this node does not run (yet) are held for a
// moment and handed to the group if it starts. When a bucket is created,
// its preferred leader starts the group and campaigns at once, usually
// before the other replicas have applied the registry change and started
// theirs; dropping its votes would cost every new bucket an election
// timeout. Messages for groups that never start (deleted, moved away)
// are dropped after earlyTTL.
const (
	earlyTTL       = 5 * time.Second
	maxEarlyGroups = 4096
	maxEarlyMsgs   = 64 // per group
)

type earlyMsgs struct {
	since time.Time
	msgs  []raftpb.Message
}

// holdLocked keeps m for a group that is not running; false if the bounds
// say no. s.mu is held.
func (s *Scheduler) holdLocked(id storage.GroupID, m raftpb.Message) bool {
	e, ok := s.early[id]
	if !ok {
		if len(s.early) >= maxEarlyGroups {
			return false
		}
		e = &earlyMsgs{since: time.Now()}
		s.early[id] = e
	}
	if len(e.msgs) >= maxEarlyMsgs {
		return false
	}
	e.msgs = append(e.msgs, m)
	return true
}

// takeEarlyLocked removes and returns what was held for group id.
func (s *Scheduler) takeEarlyLocked(id storage.GroupID) []raftpb.Message {
	e, ok := s.early[id]
	if !ok {
		return nil
	}
	delete(s.early, id)
	return e.msgs
}

// pruneEarly drops held messages older than earlyTTL.
func (s *Scheduler) pruneEarly(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, e := range s.early {
		if now.Sub(e.since) > earlyTTL {
			delete(s.early, id)
		}
	}
}
