package nemesis

// halves are the pairs to cut to split slots into two sides, the first
// of size k.
func halves(slots []int, k int) [][2]int { return across(slots[:k], slots[k:]) }

// bridge splits slots[1:] into two sides that only slots[0] reaches both
// of.
func bridge(slots []int) [][2]int {
	rest := slots[1:]
	k := len(rest) / 2
	return across(rest[:k], rest[k:])
}

// isolate cuts x off from every other slot.
func isolate(slots []int, x int) [][2]int {
	var others []int
	for _, s := range slots {
		if s != x {
			others = append(others, s)
		}
	}
	return across([]int{x}, others)
}

func across(a, b []int) [][2]int {
	var out [][2]int
	for _, x := range a {
		for _, y := range b {
			out = append(out, [2]int{x, y})
		}
	}
	return out
}
