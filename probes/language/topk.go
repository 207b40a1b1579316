package language

import "math/bits"

// This file reproduces which elements torch.topk(x, k, largest=False) returns for a 1-D CPU
// tensor, including how it breaks ties, because both published finders select neurons with it
// and the set it returns decides membership when scores tie at the cut-off (for example LAPE's
// +∞ entropies when fewer than k neurons pass the filter).
//
// PyTorch's CPU kernel (aten/src/ATen/native/TopKImpl.h, topk_impl_loop) fills a vector of
// (value, index) pairs in index order and, with the comparator "x < y, NaN largest" on the
// value only, calls
//
//	std::partial_sort(q, q+k, q+n)       when k·64 ≤ n
//	std::nth_element(q, q+k−1, q+n)      otherwise (then sorts the first k−1 when sorted=True)
//
// and returns the first k pairs. Which of several equal values survive is therefore decided by
// libstdc++'s algorithms (GCC's bits/stl_algo.h and bits/stl_heap.h: __heap_select,
// __introselect), which the functions below follow step by step. Only the returned set
// matters here (callers sort it), so the final ordering passes (sort_heap, std::sort of the
// first k−1) are skipped. TestTopKMatchesTorch checks the sets against torch 1.13 on inputs
// full of ties, in both regimes.

type scored struct {
	v float64
	i int
}

// lessNaNLast is TopKImpl.h's comparator for largest=False.
func lessNaNLast(x, y float64) bool {
	return (x == x && y != y) || x < y
}

// torchSmallest returns the indices of the k values torch.topk(values, k, largest=False)
// selects, as a set in unspecified order. It panics unless 0 ≤ k ≤ len(values).
func torchSmallest(values []float64, k int) []int {
	n := len(values)
	if k < 0 || k > n {
		panic("language: topk k out of range")
	}
	if k == 0 {
		return nil
	}
	q := make([]scored, n)
	for i, v := range values {
		q[i] = scored{v, i}
	}
	if k*64 <= n {
		heapSelect(q, 0, k, n)
	} else {
		introselect(q, 0, k-1, n, 2*(bits.Len(uint(n))-1))
	}
	out := make([]int, k)
	for j := range out {
		out[j] = q[j].i
	}
	return out
}

// heapSelect is std::__heap_select(first, middle, last): a max-heap of the first middle−first
// elements, and every later element that compares less than the heap's top replaces it.
func heapSelect(q []scored, first, middle, last int) {
	h := q[first:middle]
	makeHeap(h)
	for i := middle; i < last; i++ {
		if lessNaNLast(q[i].v, h[0].v) {
			// std::__pop_heap(first, middle, i)
			val := q[i]
			q[i] = h[0]
			adjustHeap(h, 0, len(h), val)
		}
	}
}

// makeHeap is std::__make_heap.
func makeHeap(h []scored) {
	n := len(h)
	if n < 2 {
		return
	}
	for parent := (n - 2) / 2; ; parent-- {
		adjustHeap(h, parent, n, h[parent])
		if parent == 0 {
			return
		}
	}
}

// adjustHeap is std::__adjust_heap: move the hole at hole down to a leaf along the larger
// children, then push val up from there (std::__push_heap).
func adjustHeap(h []scored, hole, n int, val scored) {
	top := hole
	child := hole
	for child < (n-1)/2 {
		child = 2 * (child + 1)
		if lessNaNLast(h[child].v, h[child-1].v) {
			child--
		}
		h[hole] = h[child]
		hole = child
	}
	if n&1 == 0 && child == (n-2)/2 {
		child = 2 * (child + 1)
		h[hole] = h[child-1]
		hole = child - 1
	}
	parent := (hole - 1) / 2
	for hole > top && lessNaNLast(h[parent].v, val.v) {
		h[hole] = h[parent]
		hole = parent
		parent = (hole - 1) / 2
	}
	h[hole] = val
}

// introselect is std::__introselect(first, nth, last, depthLimit).
func introselect(q []scored, first, nth, last, depth int) {
	for last-first > 3 {
		if depth == 0 {
			heapSelect(q, first, nth+1, last)
			q[first], q[nth] = q[nth], q[first]
			return
		}
		depth--
		cut := partitionPivot(q, first, last)
		if cut <= nth {
			first = cut
		} else {
			last = cut
		}
	}
	insertionSort(q, first, last)
}

// partitionPivot is std::__unguarded_partition_pivot: the median of q[first+1], the middle
// element and q[last−1] is moved to q[first] and used as the pivot of an unguarded Hoare
// partition of [first+1, last).
func partitionPivot(q []scored, first, last int) int {
	mid := first + (last-first)/2
	moveMedianToFirst(q, first, first+1, mid, last-1)
	lo, hi := first+1, last
	for {
		for lessNaNLast(q[lo].v, q[first].v) {
			lo++
		}
		hi--
		for lessNaNLast(q[first].v, q[hi].v) {
			hi--
		}
		if lo >= hi {
			return lo
		}
		q[lo], q[hi] = q[hi], q[lo]
		lo++
	}
}

// moveMedianToFirst is std::__move_median_to_first(result, a, b, c).
func moveMedianToFirst(q []scored, result, a, b, c int) {
	less := func(x, y int) bool { return lessNaNLast(q[x].v, q[y].v) }
	var m int
	switch {
	case less(a, b):
		switch {
		case less(b, c):
			m = b
		case less(a, c):
			m = c
		default:
			m = a
		}
	case less(a, c):
		m = a
	case less(b, c):
		m = c
	default:
		m = b
	}
	q[result], q[m] = q[m], q[result]
}

// insertionSort is std::__insertion_sort.
func insertionSort(q []scored, first, last int) {
	if first == last {
		return
	}
	for i := first + 1; i < last; i++ {
		val := q[i]
		if lessNaNLast(val.v, q[first].v) {
			copy(q[first+1:i+1], q[first:i])
			q[first] = val
			continue
		}
		j := i
		for lessNaNLast(val.v, q[j-1].v) {
			q[j] = q[j-1]
			j--
		}
		q[j] = val
	}
}
