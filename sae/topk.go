package sae

import "sort"

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
	sort.Sort(byIndex{idx, val})
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

type byIndex struct {
	idx []int32
	val []float32
}

func (b byIndex) Len() int           { return len(b.idx) }
func (b byIndex) Less(i, j int) bool { return b.idx[i] < b.idx[j] }
func (b byIndex) Swap(i, j int) {
	b.idx[i], b.idx[j] = b.idx[j], b.idx[i]
	b.val[i], b.val[j] = b.val[j], b.val[i]
}
