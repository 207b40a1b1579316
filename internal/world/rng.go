package world

import "hash/fnv"

// rng is splitmix64: tiny, fully specified, and so stable across Go releases (math/rand's
// bounded-int algorithms are not promised to stay the same).
type rng struct{ s uint64 }

// stream returns the generator for one purpose ("names", "facts", ...). Each purpose has its
// own stream, so changing one count (say the filler size) leaves the rest of the world as is.
func stream(seed uint64, purpose string) *rng {
	h := fnv.New64a()
	h.Write([]byte(purpose))
	r := &rng{s: seed ^ h.Sum64()}
	r.next() // decorrelate seeds that differ in a few bits
	return r
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a uniform int in [0, n) (rejection sampling, no modulo bias). n must be > 0.
func (r *rng) intn(n int) int {
	un := uint64(n)
	limit := ^uint64(0) - (^uint64(0)%un+1)%un
	for {
		v := r.next()
		if v <= limit {
			return int(v % un)
		}
	}
}

// shuffle is Fisher–Yates.
func (r *rng) shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, r.intn(i+1))
	}
}

func pick[T any](r *rng, xs []T) T { return xs[r.intn(len(xs))] }
