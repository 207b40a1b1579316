package sae

import (
	"math"
	"slices"
)

// topK writes into idx the indices of the k largest values of row, in increasing index order,
// and into val their values. Ties are broken towards the lower index, so the selection is a
// deterministic function of row. It uses a size-k min-heap: O(len(row)) comparisons when, as
// usual, few values beat the current k-th.
func topK(idx []int32, val []float32, row []float32, k int) {
	idx, val = idx[:k], val[:k]
	for i := 0; i < k; i++ {
		idx[i], val[i] = int32(i), row[i]
	}
	h := kheap{idx, val}
	for i := k/2 - 1; i >= 0; i-- {
		h.down(i)
	}
	for i := k; i < len(row); i++ {
		// Equal values come later, so they have the higher index and lose the tie.
		if v := row[i]; v > val[0] {
			idx[0], val[0] = int32(i), v
			h.down(0)
		}
	}
	sortByIndex(idx, val)
}

// sortByIndex sorts the (index, value) pairs by index.
func sortByIndex(idx []int32, val []float32) {
	if len(idx) <= 16 {
		for i := 1; i < len(idx); i++ {
			for j := i; j > 0 && idx[j] < idx[j-1]; j-- {
				idx[j], idx[j-1] = idx[j-1], idx[j]
				val[j], val[j-1] = val[j-1], val[j]
			}
		}
		return
	}
	keys := make([]uint64, len(idx))
	for i := range idx {
		keys[i] = uint64(idx[i])<<32 | uint64(math.Float32bits(val[i]))
	}
	slices.Sort(keys)
	for i, k := range keys {
		idx[i], val[i] = int32(k>>32), math.Float32frombits(uint32(k))
	}
}

// kheap is a min-heap of (value, index) where, among equal values, the higher index is
// "smaller" (evicted first).
type kheap struct {
	idx []int32
	val []float32
}

func (h kheap) less(a, b int) bool {
	if h.val[a] != h.val[b] {
		return h.val[a] < h.val[b]
	}
	return h.idx[a] > h.idx[b]
}

func (h kheap) down(i int) {
	n := len(h.idx)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		s := l
		if r := l + 1; r < n && h.less(r, l) {
			s = r
		}
		if !h.less(s, i) {
			return
		}
		h.idx[i], h.idx[s] = h.idx[s], h.idx[i]
		h.val[i], h.val[s] = h.val[s], h.val[i]
		i = s
	}
}

// kthLargest returns the k-th largest value of v (1-based k ≤ len(v)), reordering v: an
// introselect-free quickselect with median-of-three pivots, O(len(v)) on average.
func kthLargest(v []float32, k int) float32 {
	target := len(v) - k // index of the answer in ascending order
	lo, hi := 0, len(v)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// median of three to v[mid]
		if v[mid] < v[lo] {
			v[mid], v[lo] = v[lo], v[mid]
		}
		if v[hi] < v[lo] {
			v[hi], v[lo] = v[lo], v[hi]
		}
		if v[hi] < v[mid] {
			v[hi], v[mid] = v[mid], v[hi]
		}
		p := v[mid]
		i, j := lo, hi
		for i <= j {
			for v[i] < p {
				i++
			}
			for v[j] > p {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case target <= j:
			hi = j
		case target >= i:
			lo = i
		default:
			return v[target]
		}
	}
	return v[target]
}
