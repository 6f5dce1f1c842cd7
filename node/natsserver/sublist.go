package natsserver

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cairnkv/cairn/node/natsproto"
)

// sublist indexes subscriptions by subject in a token trie (literal
// tokens, `*` and `>` as separate branches). A published subject that
// only one trie node matches (the common case: a reply to one inbox, a
// publish to one service subject) is answered with that node's own
// result, built once and kept until its subscriptions change, without
// allocating; results merged from several nodes are cached for recently
// published subjects. It is safe for concurrent use.
type sublist struct {
	mu       sync.RWMutex
	root     *slNode
	count    int
	gen      uint64 // bumped on every change; guards cache fills
	cache    map[string]*matchResult
	cacheMax int
}

type slNode struct {
	next  map[string]*slNode
	pwc   *slNode // `*` child
	fwc   *slNode // `>` child
	psubs map[*subscription]struct{}
	qsubs map[string]map[*subscription]struct{}
	// own is the result of this node's subscriptions alone, built on
	// demand (under the read lock, by whichever reader needs it first)
	// and dropped by every change to psubs or qsubs (under the write
	// lock).
	own atomic.Pointer[matchResult]
}

// matchResult is shared between readers and never modified after it is
// built.
type matchResult struct {
	psubs []*subscription
	qsubs [][]*subscription // one slice per queue group
}

func (r *matchResult) empty() bool { return len(r.psubs) == 0 && len(r.qsubs) == 0 }

var emptyResult = &matchResult{}

// defaultCacheMax bounds the match cache; bulk removals larger than
// bulkClear drop the whole cache instead of checking each entry.
const (
	defaultCacheMax = 1024
	bulkClear       = 16
)

func newSublist() *sublist {
	return &sublist{root: &slNode{}, cache: make(map[string]*matchResult), cacheMax: defaultCacheMax}
}

// insert adds sub; its subject must be a valid subscription subject.
func (sl *sublist) insert(sub *subscription) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	n := sl.root
	for tok := range strings.SplitSeq(sub.subject, ".") {
		n = n.child(tok, true)
	}
	if sub.queue == "" {
		if n.psubs == nil {
			n.psubs = make(map[*subscription]struct{})
		}
		n.psubs[sub] = struct{}{}
	} else {
		if n.qsubs == nil {
			n.qsubs = make(map[string]map[*subscription]struct{})
		}
		q := n.qsubs[sub.queue]
		if q == nil {
			q = make(map[*subscription]struct{})
			n.qsubs[sub.queue] = q
		}
		q[sub] = struct{}{}
	}
	n.own.Store(nil)
	sl.count++
	sl.changed(sub.subject)
}

// remove deletes sub and reports whether it was present.
func (sl *sublist) remove(sub *subscription) bool {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if !sl.removeLocked(sub) {
		return false
	}
	sl.changed(sub.subject)
	return true
}

// removeAll deletes subs (e.g. a closing connection's) under one lock.
func (sl *sublist) removeAll(subs []*subscription) {
	if len(subs) == 0 {
		return
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	for _, sub := range subs {
		if sl.removeLocked(sub) && len(subs) <= bulkClear {
			sl.changed(sub.subject)
		}
	}
	if len(subs) > bulkClear {
		sl.gen++
		clear(sl.cache)
	}
}

func (sl *sublist) removeLocked(sub *subscription) bool {
	var path [32]*slNode
	nodes := path[:0]
	n := sl.root
	for tok := range strings.SplitSeq(sub.subject, ".") {
		nodes = append(nodes, n)
		if n = n.child(tok, false); n == nil {
			return false
		}
	}
	if sub.queue == "" {
		if _, ok := n.psubs[sub]; !ok {
			return false
		}
		delete(n.psubs, sub)
	} else {
		q := n.qsubs[sub.queue]
		if _, ok := q[sub]; !ok {
			return false
		}
		delete(q, sub)
		if len(q) == 0 {
			delete(n.qsubs, sub.queue)
		}
	}
	n.own.Store(nil)
	sl.count--
	// Prune nodes left empty, bottom-up.
	toks := strings.Split(sub.subject, ".")
	for i := len(nodes) - 1; i >= 0 && n.isEmpty(); i-- {
		nodes[i].drop(toks[i])
		n = nodes[i]
	}
	return true
}

// changed invalidates cached results a change to pattern can affect.
// Lock held.
func (sl *sublist) changed(pattern string) {
	sl.gen++
	for subj := range sl.cache {
		if subjectMatches(pattern, subj) {
			delete(sl.cache, subj)
		}
	}
}

// match returns the subscriptions interested in a published subject.
// The result is shared: callers must not modify it.
func (sl *sublist) match(subject []byte) *matchResult {
	sl.mu.RLock()
	if len(sl.cache) > 0 {
		if r, ok := sl.cache[string(subject)]; ok {
			sl.mu.RUnlock()
			return r
		}
	}
	gen := sl.gen
	r, merged := sl.matchLocked(string(subject))
	sl.mu.RUnlock()
	if !merged {
		return r // a node's own result: as cheap to find again as to cache
	}

	// Caching is best effort: waiting for the write lock to cache would
	// serialize every publisher. Skip caching when someone else holds
	// the lock.
	if !sl.mu.TryLock() {
		return r
	}
	if sl.gen == gen {
		if len(sl.cache) >= sl.cacheMax {
			sl.evict()
		}
		sl.cache[string(subject)] = r
	}
	sl.mu.Unlock()
	return r
}

// evict drops about a quarter of the cache (map order is random).
func (sl *sublist) evict() {
	n := len(sl.cache) / 4
	for k := range sl.cache {
		if n <= 0 {
			break
		}
		delete(sl.cache, k)
		n--
	}
}

// matchLocked walks the trie for subject (read lock held). merged
// reports a result built from several nodes (worth caching), as opposed
// to one node's own result or the empty one.
func (sl *sublist) matchLocked(subject string) (r *matchResult, merged bool) {
	if !natsproto.ValidPublishSubject(subject) {
		return emptyResult, false // empty tokens match nothing
	}
	var b resultBuilder
	b.walk(sl.root, subject, false)
	return b.result()
}

// len reports how many subscriptions are indexed.
func (sl *sublist) len() int {
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	return sl.count
}

// resultBuilder gathers the nodes a subject matches. The first node
// with subscriptions is kept aside; only a second one makes it merge.
type resultBuilder struct {
	first  *matchResult
	psubs  []*subscription
	qsubs  [][]*subscription
	qindex map[string]int
	merged bool
}

// walk matches rest (the subject's tokens still to match; done when
// none are left) below n.
func (b *resultBuilder) walk(n *slNode, rest string, done bool) {
	if done {
		b.add(n)
		return
	}
	if n.fwc != nil {
		b.add(n.fwc)
	}
	tok, after, more := strings.Cut(rest, ".")
	if n.pwc != nil {
		b.walk(n.pwc, after, !more)
	}
	if c := n.next[tok]; c != nil {
		b.walk(c, after, !more)
	}
}

func (b *resultBuilder) add(n *slNode) {
	r := n.ownResult()
	switch {
	case r.empty():
	case b.first == nil:
		b.first = r
	default:
		if !b.merged {
			b.merged = true
			b.merge(b.first)
		}
		b.merge(r)
	}
}

func (b *resultBuilder) merge(r *matchResult) {
	b.psubs = append(b.psubs, r.psubs...)
	for _, group := range r.qsubs {
		q := group[0].queue
		i, ok := b.qindex[q]
		if !ok {
			if b.qindex == nil {
				b.qindex = make(map[string]int)
			}
			i = len(b.qsubs)
			b.qindex[q] = i
			b.qsubs = append(b.qsubs, nil)
		}
		b.qsubs[i] = append(b.qsubs[i], group...)
	}
}

func (b *resultBuilder) result() (*matchResult, bool) {
	switch {
	case b.merged:
		return &matchResult{psubs: b.psubs, qsubs: b.qsubs}, true
	case b.first != nil:
		return b.first, false
	default:
		return emptyResult, false
	}
}

// ownResult returns the result of n's own subscriptions, building it if
// a change dropped it. Callers hold the read lock, so psubs and qsubs do
// not change meanwhile; readers racing to build it build the same.
func (n *slNode) ownResult() *matchResult {
	if r := n.own.Load(); r != nil {
		return r
	}
	r := emptyResult
	if len(n.psubs)+len(n.qsubs) > 0 {
		r = &matchResult{}
		for sub := range n.psubs {
			r.psubs = append(r.psubs, sub)
		}
		for _, members := range n.qsubs {
			group := make([]*subscription, 0, len(members))
			for sub := range members {
				group = append(group, sub)
			}
			r.qsubs = append(r.qsubs, group)
		}
	}
	n.own.Store(r)
	return r
}

func (n *slNode) child(tok string, create bool) *slNode {
	var p **slNode
	switch tok {
	case "*":
		p = &n.pwc
	case ">":
		p = &n.fwc
	default:
		if c := n.next[tok]; c != nil || !create {
			return c
		}
		c := &slNode{}
		if n.next == nil {
			n.next = make(map[string]*slNode)
		}
		n.next[tok] = c
		return c
	}
	if *p == nil && create {
		*p = &slNode{}
	}
	return *p
}

func (n *slNode) drop(tok string) {
	switch tok {
	case "*":
		n.pwc = nil
	case ">":
		n.fwc = nil
	default:
		delete(n.next, tok)
	}
}

func (n *slNode) isEmpty() bool {
	return len(n.next) == 0 && n.pwc == nil && n.fwc == nil && len(n.psubs) == 0 && len(n.qsubs) == 0
}

// subjectMatches reports whether a published subject matches a
// subscription pattern. Published `*`/`>` tokens are literals.
func subjectMatches(pattern, subject string) bool {
	for {
		pt, prest, pmore := strings.Cut(pattern, ".")
		st, srest, smore := strings.Cut(subject, ".")
		if st == "" {
			return false
		}
		switch pt {
		case ">":
			return true
		case "*":
		default:
			if pt != st {
				return false
			}
		}
		if !pmore || !smore {
			return pmore == smore
		}
		pattern, subject = prest, srest
	}
}
