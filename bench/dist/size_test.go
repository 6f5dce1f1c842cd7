package dist

import "testing"

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Size
	}{
		{"128", Fixed(128)},
		{"4KiB", Fixed(4096)},
		{"1k", Fixed(1024)},
		{"1 MiB", Fixed(1 << 20)},
		{"64-1024", Size{64, 1024}},
		{"1KiB-64KiB", Size{1024, 65536}},
		{"0", Fixed(0)},
	} {
		got, err := ParseSize(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "x", "-5", "10-5", "1-", "3GB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func TestSizeDrawsStayInRange(t *testing.T) {
	s := Size{10, 20}
	r := NewRand(1, 0)
	seen := map[int]bool{}
	for i := 0; i < 2000; i++ {
		n := s.Next(r)
		if n < 10 || n > 20 {
			t.Fatalf("size %d outside [10,20]", n)
		}
		seen[n] = true
	}
	if len(seen) != 11 {
		t.Fatalf("drew %d distinct sizes of 11", len(seen))
	}
	if s.Mean() != 15 || s.String() != "10-20" || Fixed(7).String() != "7" {
		t.Fatal("Mean/String")
	}
}

func TestPayloadIsSeeded(t *testing.T) {
	a, b := NewPayload(9, 1000), NewPayload(9, 1000)
	if string(a) != string(b) {
		t.Fatal("same seed, different payload")
	}
	if string(a) == string(NewPayload(10, 1000)) {
		t.Fatal("different seeds, same payload")
	}
	v := a.Value(NewRand(1, 0), 100)
	if len(v) != 100 || cap(v) != 100 {
		t.Fatalf("value len %d cap %d", len(v), cap(v))
	}
	if len(a.Value(NewRand(1, 0), 1000)) != 1000 {
		t.Fatal("whole payload")
	}
}
