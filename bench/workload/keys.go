package workload

import (
	"sync"

	"github.com/cairnkv/cairn/bench/dist"
)

// groupSize is the number of keys sharing a group prefix; a YCSB scan
// (workload E) reads one group.
const groupSize = 100

// KeyName is the name of key i: "k.GGGGGGGG.NN" with group G = i/100 and
// N = i%100, fixed width so that names sort as numbers and a group is a
// prefix ending at a token boundary (which NATS subject filters need).
func KeyName(i uint64) string {
	var b [13]byte
	b[0], b[1], b[10] = 'k', '.', '.'
	g := i / groupSize
	for j := 9; j >= 2; j-- {
		b[j] = byte('0' + g%10)
		g /= 10
	}
	n := i % groupSize
	b[11], b[12] = byte('0'+n/10), byte('0'+n%10)
	return string(b[:])
}

// GroupPrefix is the prefix shared by key i's group, "k.GGGGGGGG.".
func GroupPrefix(i uint64) string { return KeyName(i)[:11] }

// inserts hands out new key indexes to inserting workers and publishes
// to readers (through a dist.Counter) only the prefix of keys whose
// inserts have all finished, so a read never picks a key still in
// flight.
type inserts struct {
	mu      sync.Mutex
	next    uint64          // next index to hand out
	visible *dist.Counter   // every index below is written
	done    map[uint64]bool // finished above visible
}

func newInserts(existing uint64) *inserts {
	return &inserts{next: existing, visible: dist.NewCounter(existing), done: map[uint64]bool{}}
}

// reserve returns a fresh key index.
func (s *inserts) reserve() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.next
	s.next++
	return i
}

// finish marks index i as written (or given up on).
func (s *inserts) finish(i uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.visible.Load()
	if i != v {
		s.done[i] = true
		return
	}
	v++
	for s.done[v] {
		delete(s.done, v)
		v++
	}
	s.visible.Set(v)
}
