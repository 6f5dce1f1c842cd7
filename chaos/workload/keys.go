package workload

import (
	"fmt"
	"sync"
)

// keySlots hands out register keys. There are a few slots; each holds
// one key at a time, which takes at most perKey writes before the slot
// moves on to a fresh key. So every key's whole history fits in the
// bucket (perKey ≤ MaxHistory) and each key's history, which porcupine
// checks on its own, stays small. Slot s's keys are "s<s>.k<n>", so
// watch filters such as "s0.>" select one slot.
type keySlots struct {
	perKey int
	mu     sync.Mutex
	gen    []int // key number per slot
	writes []int // writes handed out for the slot's current key
}

func newKeySlots(slots, perKey int) *keySlots {
	return &keySlots{perKey: perKey, gen: make([]int, slots), writes: make([]int, slots)}
}

// key returns slot s's current key; for a write it counts the write,
// moving the slot to a fresh key first when the current one is used up.
func (k *keySlots) key(s int, write bool) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if write {
		if k.writes[s] >= k.perKey {
			k.gen[s]++
			k.writes[s] = 0
		}
		k.writes[s]++
	}
	return fmt.Sprintf("s%d.k%d", s, k.gen[s])
}

// SlotFilter is the watch filter of slot s's keys.
func SlotFilter(s int) string { return fmt.Sprintf("s%d.>", s) }
