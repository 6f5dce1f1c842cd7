package node

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/cairnkv/cairn/storage/meta"
)

// placementLoad counts, per node, the replicas the registry puts on it
// and how many of them it is the preferred leader of.
type placementLoad struct {
	replicas map[uint64]int
	leaders  map[uint64]int
}

func loadOf(buckets []meta.Bucket) placementLoad {
	l := placementLoad{replicas: map[uint64]int{}, leaders: map[uint64]int{}}
	for _, b := range buckets {
		for i, id := range b.Replicas {
			l.replicas[id]++
			if i == 0 {
				l.leaders[id]++
			}
		}
	}
	return l
}

// tagsMatch reports whether a node carries every placement tag. A tag is
// KEY=VALUE, KEY:VALUE, or a bare KEY that must be present.
func tagsMatch(nodeTags map[string]string, want []string) bool {
	for _, t := range want {
		k, v, hasValue := strings.Cut(t, "=")
		if !hasValue {
			k, v, hasValue = strings.Cut(t, ":")
		}
		got, ok := nodeTags[k]
		if !ok || (hasValue && got != v) {
			return false
		}
	}
	return true
}

// place picks n nodes among candidates for a bucket's replicas: those
// carrying the tags, fewest replicas first (ties: fewest preferred
// leaderships, then ID), excluding the given nodes. The first is the one
// with the fewest leaderships among the picked, so preferred leaders
// spread too.
func place(candidates []meta.Node, load placementLoad, n int, tags []string, exclude []uint64) ([]uint64, error) {
	var ok []meta.Node
	for _, c := range candidates {
		dup := slices.ContainsFunc(ok, func(o meta.Node) bool { return o.ID == c.ID })
		if !c.Removed && !dup && !slices.Contains(exclude, c.ID) && tagsMatch(c.Tags, tags) {
			ok = append(ok, c)
		}
	}
	if len(ok) < n {
		if len(tags) > 0 {
			return nil, errNoPlacement("%d replicas wanted, %d available nodes carry tags %v", n, len(ok), tags)
		}
		return nil, errNoPlacement("%d replicas wanted, %d nodes available", n, len(ok))
	}
	slices.SortFunc(ok, func(a, b meta.Node) int {
		return cmp.Or(
			cmp.Compare(load.replicas[a.ID], load.replicas[b.ID]),
			cmp.Compare(load.leaders[a.ID], load.leaders[b.ID]),
			cmp.Compare(a.ID, b.ID))
	})
	picked := ok[:n]
	slices.SortStableFunc(picked, func(a, b meta.Node) int {
		return cmp.Compare(load.leaders[a.ID], load.leaders[b.ID])
	})
	out := make([]uint64, n)
	for i, c := range picked {
		out[i] = c.ID
	}
	return out, nil
}

func (l placementLoad) String() string {
	return fmt.Sprintf("replicas=%v leaders=%v", l.replicas, l.leaders)
}
