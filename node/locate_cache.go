package node

import (
	"slices"
	"sync"
	"time"
)

// locationCache remembers where buckets live. Every client request asks
// Locate (whether to forward it, and where), and working it out reads the
// registry and clones gossip's member list: at tens of thousands of
// requests a second that was several percent of a node's CPU. An answer
// is reused until the registry or gossip changes (both close a channel on
// every change), and never for longer than locationMaxAge as a backstop
// for changes that publish no notice (gossip forgetting a long-dead node).
type locationCache struct {
	mu       sync.Mutex
	metaCh   <-chan struct{}
	memberCh <-chan struct{}
	entries  map[string]location
}

type location struct {
	replicas []Replica
	local    bool
	at       time.Time
}

// locationMaxAge bounds how long an answer is reused without a change
// notice.
const locationMaxAge = 5 * time.Second

// locationCacheMax bounds the entries kept; the cache starts over when it
// is full (a node asked about more buckets than this in one quiet spell).
const locationCacheMax = 4096

// get returns Locate's answer for name, from the cache when nothing has
// changed since it was computed. The replicas slice is the caller's own.
// Unknown buckets are not cached: a bucket created through another node
// must be found as soon as this node's registry has it.
func (c *locationCache) get(n *Node, name string) ([]Replica, bool, bool) {
	metaCh, memberCh := n.meta.Changed(), n.membershipChanged()
	now := time.Now()
	c.mu.Lock()
	if c.metaCh != metaCh || c.memberCh != memberCh {
		c.metaCh, c.memberCh, c.entries = metaCh, memberCh, nil
	}
	if e, ok := c.entries[name]; ok && now.Sub(e.at) < locationMaxAge {
		c.mu.Unlock()
		return slices.Clone(e.replicas), e.local, true
	}
	c.mu.Unlock()

	// Computed outside the lock. The channels were taken before reading
	// the registry and gossip, so a change made meanwhile has closed them
	// and the next get recomputes.
	replicas, local, ok := n.locate(name)
	if !ok {
		return nil, false, false
	}
	c.mu.Lock()
	if c.metaCh == metaCh && c.memberCh == memberCh {
		if c.entries == nil || len(c.entries) >= locationCacheMax {
			c.entries = make(map[string]location)
		}
		c.entries[name] = location{replicas: slices.Clone(replicas), local: local, at: now}
	}
	c.mu.Unlock()
	return replicas, local, true
}

// membershipChanged returns gossip's change channel, or nil for a node
// that runs alone.
func (n *Node) membershipChanged() <-chan struct{} {
	if n.cluster == nil {
		return nil
	}
	return n.cluster.ml.Changed()
}
