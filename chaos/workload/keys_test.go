package workload

import (
	"strings"
	"sync"
	"testing"
)

// No key ever gets more writes than perKey, however many clients write
// at once: the whole history of every key must stay in the bucket.
func TestKeySlotsBoundWritesPerKey(t *testing.T) {
	const slots, perKey, clients, each = 3, 7, 8, 500
	k := newKeySlots(slots, perKey)
	var mu sync.Mutex
	writes := map[string]int{}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key := k.key((c+i)%slots, i%3 != 0)
				if i%3 != 0 {
					mu.Lock()
					writes[key]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for key, n := range writes {
		if n > perKey {
			t.Errorf("%s got %d writes, more than %d", key, n, perKey)
		}
		total += n
	}
	if min := total / perKey; len(writes) < min {
		t.Errorf("%d keys for %d writes: fewer than %d", len(writes), total, min)
	}
	if got := k.key(1, false); !strings.HasPrefix(got, "s1.") || SlotFilter(1) != "s1.>" {
		t.Errorf("slot 1 key %q, filter %q", got, SlotFilter(1))
	}
}
