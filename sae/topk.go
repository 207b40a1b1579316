package sae

// selector finds top-k sets; its buffers are reused across rows (one per goroutine).
type selector struct {
	s  []float32
	ci []int32
	cv []float32
}

// topK writes into idx the indices of the k largest values of row, in increasing index order,
// and into val their values. Ties are broken towards the lower index, so the selection is a
// deterministic function of row. It estimates a threshold a little below the k-th largest
// value from a strided sample, keeps the values at or above it (about 2k, in index order),
// and selects exactly among those; when the estimate keeps fewer than k it selects over the
// whole row. O(len(row)) either way.
func (sl *selector) topK(idx []int32, val []float32, row []float32, k int) {
	m := len(row)
	const stride = 4
	if k*8 <= m {
		S := m / stride
		r := min(2*k/stride+1, S) // rank in the sample: about the 2k-th largest of the row
		sl.s = growBuf(sl.s, S)
		for q := range S {
			sl.s[q] = row[q*stride]
		}
		t := kthLargest(sl.s[:S], r)
		sl.ci, sl.cv = sl.ci[:0], sl.cv[:0]
		for i, v := range row {
			if v >= t {
				sl.ci = append(sl.ci, int32(i))
				sl.cv = append(sl.cv, v)
			}
		}
		if len(sl.cv) >= k {
			pickInOrder(idx, val, sl.ci, sl.cv, k, &sl.s)
			return
		}
	}
	sl.ci = growI32(sl.ci, m)
	for i := range sl.ci {
		sl.ci[i] = int32(i)
	}
	pickInOrder(idx, val, sl.ci, row, k, &sl.s)
}

// pickInOrder keeps the k largest of the candidates (ci, cv), which are in index order, ties
// towards the lower index.
func pickInOrder(idx []int32, val []float32, ci []int32, cv []float32, k int, scratch *[]float32) {
	*scratch = growBuf(*scratch, len(cv))
	s := (*scratch)[:len(cv)]
	copy(s, cv)
	thr := kthLargest(s, k)
	ties := k
	for _, v := range cv {
		if v > thr {
			ties--
		}
	}
	n := 0
	for q, v := range cv {
		if v > thr || (v == thr && ties > 0) {
			if v == thr {
				ties--
			}
			idx[n], val[n] = ci[q], v
			n++
			if n == k {
				return
			}
		}
	}
}

func growBuf(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
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
