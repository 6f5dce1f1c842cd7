// Package membership is cairn's gossip layer, built on hashicorp/memberlist.
//
// It owns three things and nothing else:
//
//   - discovery: a node joins the cluster through seed addresses (Config.Join)
//     and learns every other node from gossip;
//   - node metadata: each node publishes its Meta (stable ID, name, client,
//     HTTP and raft peer addresses, placement tags, version) and can change it
//     later (UpdateMeta);
//   - liveness: memberlist's SWIM failure detector decides who is alive,
//     suspect, failed (dead) or gone for good (left gracefully), and the
//     package reports the transitions as Events.
//
// Identity. The memberlist node name is the node ID as 16 hex digits (see
// NodeName). The ID comes from the data directory, so a node restarted on the
// same data dir is the same member even if its human name changes, and a
// wiped node (new ID) is a new member. A second process claiming an ID that is
// already alive at another gossip address is refused by memberlist and logged
// as a conflict.
//
// Leave versus failure. memberlist reports both through NotifyLeave and, in
// v0.7, does not tell its delegates which one happened. Leave therefore first
// re-broadcasts the node's metadata with a "leaving" flag and only then sends
// memberlist's leave; a node whose last metadata carried the flag is Left,
// any other is Dead. A peer that missed the flag (lost packets) sees Failed:
// the safe side.
//
// Suspect. memberlist keeps suspicion internal. A member is StateSuspect
// when this node's own probe of it failed (memberlist says so only in a log
// line, which the log adapter recognises) until a direct probe succeeds or
// it is declared dead.
//
// Joining. Seeds are retried with backoff until another node answers, then
// synced with twice more shortly after: nodes that join through the same
// seed at the same moment would otherwise miss each other until the next
// periodic push-pull (up to a minute on the LAN profile).
//
// What it must not touch: raft groups, storage and buckets. Membership is
// advisory input for the layers above: the meta group (raft group 0) decides
// who is a registered node and where replicas go; a member being Alive here
// does not make it a voter, and a member being Dead here does not remove any
// replica. Nothing in this package writes to disk.
//
// Concurrency. memberlist calls the delegates in this package with its own
// locks held, so the delegates only copy what they need into the package's
// view (guarded by a leaf mutex) and never call back into memberlist. Events
// are delivered through a bounded channel that drops the oldest event when
// the reader falls behind (see Membership.Events); the current view
// (Members, Alive) is always exact, so a reader that lost events can
// resynchronise from it.
package membership
