package node

import (
	"slices"
	"testing"

	"github.com/cairnkv/cairn/storage/meta"
)

// A node listed twice among the candidates (the registry and gossip both
// naming it) is still placed at most once.
func TestPlaceNeverPicksANodeTwice(t *testing.T) {
	for _, tc := range []struct {
		name       string
		candidates []uint64
		n          int
		wantErr    bool
	}{
		{"duplicate among enough", []uint64{1, 1, 2, 3}, 3, false},
		{"duplicate makes too few", []uint64{1, 1, 2}, 3, true},
		{"all the same", []uint64{5, 5, 5}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cands []meta.Node
			for _, id := range tc.candidates {
				cands = append(cands, meta.Node{ID: id})
			}
			got, err := place(cands, loadOf(nil), tc.n, nil, nil)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("placed %v on too few distinct nodes", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sorted := slices.Clone(got)
			slices.Sort(sorted)
			if len(slices.Compact(sorted)) != tc.n {
				t.Fatalf("placed %v: a node twice", got)
			}
		})
	}
}
