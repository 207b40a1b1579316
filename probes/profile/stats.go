package profile

import (
	"math"
	"sort"
)

// Moments are the streaming central moments of one variable (Pébay 2008): the count, the
// mean and the sums of powers of deviations from the mean M2, M3, M4, all in float64.
type Moments struct {
	N          int64
	Mean       float64
	M2, M3, M4 float64
}

// Add adds one observation (Welford/Terriberry update).
func (m *Moments) Add(x float64) {
	n1 := float64(m.N)
	m.N++
	n := float64(m.N)
	d := x - m.Mean
	dn := d / n
	dn2 := dn * dn
	t1 := d * dn * n1
	m.Mean += dn
	m.M4 += t1*dn2*(n*n-3*n+3) + 6*dn2*m.M2 - 4*dn*m.M3
	m.M3 += t1*dn*(n-2) - 3*dn*m.M2
	m.M2 += t1
}

// Merge folds o into m with the parallel formulas of Chan et al. / Pébay:
//
//	n  = na + nb,  δ = mean_b − mean_a
//	M2 = M2a + M2b + δ² na nb / n
//	M3 = M3a + M3b + δ³ na nb (na − nb) / n² + 3δ (na M2b − nb M2a) / n
//	M4 = M4a + M4b + δ⁴ na nb (na² − na nb + nb²) / n³ + 6δ² (na² M2b + nb² M2a) / n² + 4δ (na M3b − nb M3a) / n
func (m *Moments) Merge(o Moments) {
	m.N, m.Mean, m.M2, m.M3, m.M4 = mergeMoments(m.N, m.Mean, m.M2, m.M3, m.M4, o.N, o.Mean, o.M2, o.M3, o.M4)
}

func mergeMoments(na int64, ma, m2a, m3a, m4a float64, nb int64, mb, m2b, m3b, m4b float64) (int64, float64, float64, float64, float64) {
	if nb == 0 {
		return na, ma, m2a, m3a, m4a
	}
	if na == 0 {
		return nb, mb, m2b, m3b, m4b
	}
	fa, fb := float64(na), float64(nb)
	n := fa + fb
	d := mb - ma
	d2 := d * d
	mean := ma + d*fb/n
	m2 := m2a + m2b + d2*fa*fb/n
	m3 := m3a + m3b + d2*d*fa*fb*(fa-fb)/(n*n) + 3*d*(fa*m2b-fb*m2a)/n
	m4 := m4a + m4b + d2*d2*fa*fb*(fa*fa-fa*fb+fb*fb)/(n*n*n) + 6*d2*(fa*fa*m2b+fb*fb*m2a)/(n*n) + 4*d*(fa*m3b-fb*m3a)/n
	return na + nb, mean, m2, m3, m4
}

// Variance is the population variance M2/n (0 for n = 0).
func (m Moments) Variance() float64 {
	if m.N == 0 {
		return 0
	}
	return m.M2 / float64(m.N)
}

// Skewness is the population skewness g1 = √n M3 / M2^{3/2} (0 when the variance is 0).
func (m Moments) Skewness() float64 {
	if m.N == 0 || !(m.M2 > 0) {
		return 0
	}
	return math.Sqrt(float64(m.N)) * m.M3 / math.Pow(m.M2, 1.5)
}

// Kurtosis is the excess (Fisher) kurtosis g2 = n M4 / M2² − 3 (0 when the variance is 0),
// as scipy.stats.kurtosis with its defaults.
func (m Moments) Kurtosis() float64 {
	if m.N == 0 || !(m.M2 > 0) {
		return 0
	}
	return float64(m.N)*m.M4/(m.M2*m.M2) - 3
}

// better is the order of example lists: a larger key first, then the earlier context.
func better(ka float32, ca int64, kb float32, cb int64) bool {
	return ka > kb || (ka == kb && ca < cb)
}

// topHeap is a bounded heap of one neuron's K best (key, context) pairs with the worst at the
// root; slot is the index of the example storage the entry owns. The slices are views into
// the layer's flat arrays.
type topHeap struct {
	key  []float32
	ctx  []int64
	slot []int32
	n    *int32
}

// offer returns the storage slot to write the new example into, or -1 if it does not make the
// list. The caller writes the example data into the returned slot.
func (h topHeap) offer(k float32, c int64) int32 {
	n := int(*h.n)
	if n < len(h.key) {
		h.key[n], h.ctx[n], h.slot[n] = k, c, int32(n)
		*h.n++
		h.up(n)
		return int32(n)
	}
	if !better(k, c, h.key[0], h.ctx[0]) {
		return -1
	}
	s := h.slot[0]
	h.key[0], h.ctx[0] = k, c
	h.down(0, n)
	return s
}

// worse reports whether entry i ranks below entry j (the heap keeps the worst at the root).
func (h topHeap) worse(i, j int) bool { return better(h.key[j], h.ctx[j], h.key[i], h.ctx[i]) }

func (h topHeap) swap(i, j int) {
	h.key[i], h.key[j] = h.key[j], h.key[i]
	h.ctx[i], h.ctx[j] = h.ctx[j], h.ctx[i]
	h.slot[i], h.slot[j] = h.slot[j], h.slot[i]
}

func (h topHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.worse(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h topHeap) down(i, n int) {
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		w := l
		if r := l + 1; r < n && h.worse(r, l) {
			w = r
		}
		if !h.worse(w, i) {
			return
		}
		h.swap(i, w)
		i = w
	}
}

// sorted returns the heap's storage slots best first.
func (h topHeap) sorted() []int32 {
	n := int(*h.n)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		return better(h.key[idx[a]], h.ctx[idx[a]], h.key[idx[b]], h.ctx[idx[b]])
	})
	out := make([]int32, n)
	for i, k := range idx {
		out[i] = h.slot[k]
	}
	return out
}

// mix is SplitMix64's finaliser: the stateless random stream of the reservoirs.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// reservoirSlot is Algorithm R with a stateless generator: the seen-th item (0-based) offered
// to a reservoir of size s goes to the returned slot, or nowhere (-1). The random draw is a hash
// of (seed, stream, seen), so the samples do not depend on how a run was split or resumed. The
// random sample passes the context's index as seen (every context is offered to it, in index
// order), so which slot a context may take is known to any shard that sees it.
func reservoirSlot(seed, stream uint64, seen int64, s int) int {
	if seen < int64(s) {
		return int(seen)
	}
	r := mix(seed*0x9e3779b97f4a7c15^stream*0xd1b54a32d192ed03^uint64(seen)*0xc2b2ae3d27d4eb4f) % uint64(seen+1)
	if r < uint64(s) {
		return int(r)
	}
	return -1
}

// binKey is the priority of context index in the bin sample of stream: a stateless hash of
// (seed, stream, index), so that a context's priority does not depend on which shard saw it.
func binKey(seed, stream uint64, index int64) uint64 {
	return mix(seed*0x9e3779b97f4a7c15 ^ stream*0xd1b54a32d192ed03 ^ uint64(index)*0xc2b2ae3d27d4eb4f)
}

// binBefore is the order of bin samples: the smaller priority key first, then the earlier
// context (keys are 64-bit hashes; the tie-break only makes the order total).
func binBefore(ka uint64, ca int64, kb uint64, cb int64) bool {
	return ka < kb || (ka == kb && ca < cb)
}

// binSlot offers a context with priority key to a bin sample of len(keys) slots that seen
// contexts were offered before (bottom-k sampling: the sample is the len(keys) contexts of
// smallest key, a uniform sample without replacement of the bin): it returns the slot to
// write the context into, or -1. keys holds the sample's keys (uint64 bits) and ctx their
// contexts; the first min(seen, len(keys)) slots are filled.
func binSlot(keys, ctx []int64, seen int64, key uint64, index int64) int {
	if seen < int64(len(keys)) {
		keys[seen] = int64(key)
		return int(seen)
	}
	worst := 0
	for s := 1; s < len(keys); s++ {
		if binBefore(uint64(keys[worst]), ctx[worst], uint64(keys[s]), ctx[s]) {
			worst = s
		}
	}
	if !binBefore(key, index, uint64(keys[worst]), ctx[worst]) {
		return -1
	}
	keys[worst] = int64(key)
	return worst
}

// histogram helpers. A histogram has B bins of width w = 2^e anchored at 0: bin i counts
// values in [(off+i)·w, (off+i+1)·w). When a value falls outside, the width doubles (pairs of
// bins merge exactly, since the grid is anchored at 0) and the window slides until the occupied
// range and the value fit. Counts are therefore exact for the final grid, whatever the order.

func histInitWidth(lo, hi float64, bins int) float64 {
	span := hi - lo
	if !(span > 0) {
		span = math.Max(math.Abs(hi), 1e-6)
	}
	w := span / float64(bins/2)
	_, e := math.Frexp(w) // w = f·2^e with f in [0.5, 1)
	return math.Ldexp(1, e)
}

func floorDiv2(a int64) int64 {
	if a >= 0 {
		return a / 2
	}
	return -((-a + 1) / 2)
}

// histFit rearranges one neuron's histogram (counts c, width *w, first bin *off) so that x
// fits, and returns x's bin.
func histFit(c []int64, w *float64, off *int64, x float64) int {
	b := int64(len(c))
	for {
		xb := int64(math.Floor(x / *w))
		lo, hi := xb, xb
		for i, v := range c {
			if v != 0 {
				lo = min(lo, *off+int64(i))
				break
			}
		}
		for i := len(c) - 1; i >= 0; i-- {
			if c[i] != 0 {
				hi = max(hi, *off+int64(i))
				break
			}
		}
		if hi-lo+1 <= b {
			if lo != *off {
				tmp := make([]int64, b)
				for i, v := range c {
					if v != 0 {
						tmp[*off+int64(i)-lo] = v
					}
				}
				copy(c, tmp)
				*off = lo
			}
			return int(xb - lo)
		}
		// coarsen: merge pairs of bins
		nOff := floorDiv2(*off)
		tmp := make([]int64, b)
		for i, v := range c {
			if v != 0 {
				j := floorDiv2(*off+int64(i)) - nOff
				tmp[j] += v
			}
		}
		copy(c, tmp)
		*off = nOff
		*w *= 2
	}
}
