package jetstream

import "testing"

// A request's offset, however large or negative, picks a page within
// the items: nats-server clamps it the same way.
func TestPageBounds(t *testing.T) {
	const maxInt = int(^uint(0) >> 1)
	for _, tc := range []struct {
		offset, total, limit int
		lo, hi               int
	}{
		{0, 10, 4, 0, 4},
		{8, 10, 4, 8, 10},
		{10, 10, 4, 10, 10},
		{11, 10, 4, 10, 10},
		{-1, 10, 4, 0, 4},
		{-maxInt - 1, 10, 4, 0, 4},
		{maxInt, 10, 4, 10, 10},
		{3, 10, maxInt, 3, 10},
		{0, 0, 4, 0, 0},
	} {
		lo, hi := pageBounds(tc.offset, tc.total, tc.limit)
		if lo != tc.lo || hi != tc.hi {
			t.Errorf("pageBounds(%d, %d, %d) = [%d, %d), want [%d, %d)", tc.offset, tc.total, tc.limit, lo, hi, tc.lo, tc.hi)
		}
	}
}
