package natsserver

import (
	"strings"
	"sync"
)

// sublist indexes subscriptions by subject in a token trie (literal
// tokens, `*` and `>` as separate branches) and caches match results
// for recently published subjects. It is safe for concurrent use.
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
func (sl *sublist) match(subject []byte) *matchResult {
	sl.mu.RLock()
	if r, ok := sl.cache[string(subject)]; ok {
		sl.mu.RUnlock()
		return r
	}
	gen := sl.gen
	r := sl.matchLocked(string(subject))
	sl.mu.RUnlock()

	// Caching is best effort: request replies go to unique inbox
	// subjects that never repeat, so under load most matches miss, and
	// waiting for the write lock to cache them would serialize every
	// publisher. Skip caching when someone else holds the lock.
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

func (sl *sublist) matchLocked(subject string) *matchResult {
	var buf [32]string
	toks := buf[:0]
	for tok := range strings.SplitSeq(subject, ".") {
		if tok == "" {
			return emptyResult // not a valid subject: matches nothing
		}
		toks = append(toks, tok)
	}
	var b resultBuilder
	b.walk(sl.root, toks)
	return b.result()
}

// len reports how many subscriptions are indexed.
func (sl *sublist) len() int {
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	return sl.count
}

type resultBuilder struct {
	psubs  []*subscription
	qsubs  [][]*subscription
	qindex map[string]int
}

func (b *resultBuilder) walk(n *slNode, toks []string) {
	if len(toks) == 0 {
		b.add(n)
		return
	}
	if n.fwc != nil {
		b.add(n.fwc)
	}
	if n.pwc != nil {
		b.walk(n.pwc, toks[1:])
	}
	if c := n.next[toks[0]]; c != nil {
		b.walk(c, toks[1:])
	}
}

func (b *resultBuilder) add(n *slNode) {
	for sub := range n.psubs {
		b.psubs = append(b.psubs, sub)
	}
	for q, members := range n.qsubs {
		i, ok := b.qindex[q]
		if !ok {
			if b.qindex == nil {
				b.qindex = make(map[string]int)
			}
			i = len(b.qsubs)
			b.qindex[q] = i
			b.qsubs = append(b.qsubs, nil)
		}
		for sub := range members {
			b.qsubs[i] = append(b.qsubs[i], sub)
		}
	}
}

func (b *resultBuilder) result() *matchResult {
	if len(b.psubs) == 0 && len(b.qsubs) == 0 {
		return emptyResult
	}
	return &matchResult{psubs: b.psubs, qsubs: b.qsubs}
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
