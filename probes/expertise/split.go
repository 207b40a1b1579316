package expertise

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
)

// rng is a seeded source whose sequence is fixed by this package: PCG (math/rand/v2's
// PCG-DXSM, a specified algorithm) for the bits, and Lemire's multiply-shift with rejection for
// bounded integers, written out here so that a seed means the same sample in every Go release.
type rng struct{ src *rand.PCG }

func newRNG(seed uint64) rng { return rng{rand.NewPCG(seed, 0x657870657274)} } // "expert"

// below returns a uniform integer in [0, n), n > 0.
func (r rng) below(n uint64) uint64 {
	hi, lo := bits.Mul64(r.src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(r.src.Uint64(), n)
		}
	}
	return hi
}

// shuffle is Fisher–Yates from the end.
func (r rng) shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, int(r.below(uint64(i+1))))
	}
}

// Sample returns n distinct elements of pool chosen uniformly at random (a partial
// Fisher–Yates shuffle of a copy), in the order drawn. The same seed and pool give the same
// sample. Asking for more elements than the pool holds is an error.
func Sample(pool []int, n int, seed uint64) ([]int, error) {
	if n < 0 || n > len(pool) {
		return nil, fmt.Errorf("cannot sample %d of %d", n, len(pool))
	}
	p := slices.Clone(pool)
	r := newRNG(seed)
	for i := 0; i < n; i++ {
		j := i + int(r.below(uint64(len(p)-i)))
		p[i], p[j] = p[j], p[i]
	}
	return p[:n], nil
}

// Negatives samples ratio·positives negatives from pool (seeded, see Sample), the relation
// paper's 4 × |P_det| negatives drawn from the other relations' prompts. A pool smaller than
// that is an error naming the numbers.
func Negatives(pool []int, positives, ratio int, seed uint64) ([]int, error) {
	want := ratio * positives
	if ratio < 1 || positives < 1 {
		return nil, fmt.Errorf("need ≥ 1 positive and a ratio ≥ 1, have %d positives and ratio %d", positives, ratio)
	}
	if want > len(pool) {
		return nil, fmt.Errorf("%d × %d positives = %d negatives wanted, but only %d examples of other groups", ratio, positives, want, len(pool))
	}
	return Sample(pool, want, seed)
}

// SplitBySubject holds out n of the items (for evaluation) so that no subject occurs both in
// the held-out items and in the rest (for detection); subjects[i] is item i's subject. Whole
// subjects are drawn in a seeded random order and held out while they fit into n, until
// exactly n items are held out. Both results are item indices in ascending order. It is an
// error if n is not in [1, len(subjects)), or if the subjects, taken greedily in the drawn
// order, cannot fill exactly n (subjects with many items each).
func SplitBySubject(subjects []string, n int, seed uint64) (detect, eval []int, err error) {
	if n < 1 || n >= len(subjects) {
		return nil, nil, fmt.Errorf("hold out %d of %d items: need 1 ≤ n < %d", n, len(subjects), len(subjects))
	}
	var order []string
	items := map[string][]int{}
	for i, s := range subjects {
		if _, ok := items[s]; !ok {
			order = append(order, s)
		}
		items[s] = append(items[s], i)
	}
	if len(order) < 2 {
		return nil, nil, fmt.Errorf("all %d items share one subject %q; nothing can be held out without overlap", len(subjects), order[0])
	}
	r := newRNG(seed)
	r.shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	held := map[string]bool{}
	for _, s := range order {
		if k := len(items[s]); len(eval)+k <= n {
			held[s] = true
			eval = append(eval, items[s]...)
			if len(eval) == n {
				break
			}
		}
	}
	if len(eval) != n {
		return nil, nil, fmt.Errorf("held out %d items, not %d: subjects have too many items each to fill exactly %d", len(eval), n, n)
	}
	for i, s := range subjects {
		if !held[s] {
			detect = append(detect, i)
		}
	}
	slices.Sort(eval)
	return detect, eval, nil
}
