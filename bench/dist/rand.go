package dist

import "math/rand/v2"

// NewRand returns the generator of stream (a worker number) for a run's
// seed: the same seed and stream always give the same sequence.
func NewRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream^0x9e3779b97f4a7c15))
}

// Payload is a block of seeded random bytes that values are sliced from,
// so writing a value allocates nothing and the bytes do not compress to
// nothing.
type Payload []byte

// NewPayload returns n random bytes from seed.
func NewPayload(seed uint64, n int) Payload {
	r := NewRand(seed, 1<<63)
	p := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			p[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		p[i] = byte(r.Uint32())
	}
	return p
}

// Value returns size bytes starting at a position drawn from r. size must
// not exceed len(p).
func (p Payload) Value(r *rand.Rand, size int) []byte {
	if size >= len(p) {
		return p[:size:size]
	}
	off := r.IntN(len(p) - size + 1)
	return p[off : off+size : off+size]
}
