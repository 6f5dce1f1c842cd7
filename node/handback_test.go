package node

import (
	"testing"
	"time"
)

// A leader other than the preferred replica hands leadership back after
// three election timeouts, never sooner than minHandBack: each hand-back
// fails the writes in flight, so it must not come every few seconds.
func TestHandBackAfter(t *testing.T) {
	for _, tc := range []struct {
		election time.Duration
		want     time.Duration
	}{
		{200 * time.Millisecond, minHandBack},
		{time.Second, minHandBack},
		{10 * time.Second / 3, minHandBack},
		{5 * time.Second, 15 * time.Second},
	} {
		n := &Node{cfg: Config{ElectionTimeout: tc.election}}
		if got := n.handBackAfter(); got != tc.want {
			t.Errorf("election timeout %v: hand back after %v, want %v", tc.election, got, tc.want)
		}
	}
}
