package expertise

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrNoPositives is returned for a labelling without positive examples (sklearn then warns
// and returns a meaningless 0 or -0.0).
var ErrNoPositives = errors.New("no positive examples")

// Scorer computes average precision exactly as sklearn's average_precision_score, reusing its
// buffers between calls. A Scorer is not safe for concurrent use; give each goroutine its own.
// The zero value is ready to use.
type Scorer struct {
	keys  []uint64
	tmp   []uint64
	terms []float64
	tps   []float64
	ends  []int
}

// AveragePrecision returns sklearn.metrics.average_precision_score(y_true=positive,
// y_score=scores) bit for bit. It returns an error for a non-finite score (sklearn raises
// ValueError) or no positive example, and 1 when every example is positive. It panics if the
// lengths differ (a programmer error).
func AveragePrecision(scores []float32, positive []bool) (float64, error) {
	var s Scorer
	return s.AveragePrecision(scores, positive)
}

// orderKey maps a float32 to a uint32 that sorts like the float (−0 and +0 equal; callers
// reject NaN), shifted left one bit with the label in bit 0.
func orderKey(v float32, positive bool) uint64 {
	b := math.Float32bits(v)
	if v == 0 {
		b = 0 // −0 and +0 are one threshold (np.diff gives 0)
	}
	if b&0x80000000 != 0 {
		b = ^b
	} else {
		b |= 0x80000000
	}
	k := uint64(b) << 1
	if positive {
		k |= 1
	}
	return k
}

// AveragePrecision is the package function AveragePrecision with s's buffers.
//
// sklearn's computation (metrics/_ranking.py, 1.2): sort the scores descending; every
// distinct score is a threshold (tied scores form one); at threshold j, tp_j and fp_j count
// the examples scoring ≥ it; precision_j = tp_j/(tp_j+fp_j), recall_j = tp_j/tp_last;
// reversed and closed with precision 1, recall 0:
//
//	AP = −Σ_{i} (R[i+1] − R[i])·P[i],   R = (recall_{m−1}, …, recall_0, 0), P likewise
//
// summed with numpy's pairwise summation (0 + pairwise(terms); blocks of 8 accumulators up to
// 128 terms, halving above). Every step here is the same float64 operation in the same order,
// so the result is identical, not merely close.
func (s *Scorer) AveragePrecision(scores []float32, positive []bool) (float64, error) {
	n := len(scores)
	if len(positive) != n {
		panic(fmt.Sprintf("expertise: %d scores but %d labels", n, len(positive)))
	}
	s.keys = slices.Grow(s.keys[:0], n)[:n]
	P := 0
	for i, v := range scores {
		if math.Float32bits(v)&0x7F800000 == 0x7F800000 { // NaN or ±Inf
			return 0, fmt.Errorf("example %d: score %v is not finite", i, v)
		}
		s.keys[i] = orderKey(v, positive[i])
		if positive[i] {
			P++
		}
	}
	if P == 0 {
		return 0, ErrNoPositives
	}
	s.tmp = slices.Grow(s.tmp[:0], n)[:n]
	radixSort33(s.keys, s.tmp)
	// Walk descending; a threshold ends where the score (key without the label bit) changes.
	s.tps, s.ends = s.tps[:0], s.ends[:0]
	tp := 0
	for i := n - 1; i >= 0; i-- {
		tp += int(s.keys[i] & 1)
		if i == 0 || s.keys[i-1]>>1 != s.keys[i]>>1 {
			s.tps = append(s.tps, float64(tp))
			s.ends = append(s.ends, n-i) // threshold_idx + 1 = examples scoring ≥ this threshold
		}
	}
	m := len(s.tps)
	last := s.tps[m-1]
	s.terms = slices.Grow(s.terms[:0], m)[:m]
	rj := s.tps[m-1] / last // recall at threshold j, starting from the last
	for i := 0; i < m-1; i++ {
		j := m - 1 - i
		rPrev := s.tps[j-1] / last
		s.terms[i] = (rPrev - rj) * (s.tps[j] / float64(s.ends[j]))
		rj = rPrev
	}
	s.terms[m-1] = (0 - rj) * (s.tps[0] / float64(s.ends[0]))
	return -(0 + pairwiseSum(s.terms)), nil
}

// pairwiseSum is numpy's pairwise summation of float64 (umath loops_utils: pairwise_sum,
// PW_BLOCKSIZE 128), which np.sum uses for a contiguous float64 array.
func pairwiseSum(a []float64) float64 {
	n := len(a)
	switch {
	case n < 8:
		var r float64
		for _, v := range a {
			r += v
		}
		return r
	case n <= 128:
		var r [8]float64
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for j := 0; j < 8; j++ {
				r[j] += a[i+j]
			}
		}
		res := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			res += a[i]
		}
		return res
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return pairwiseSum(a[:n2]) + pairwiseSum(a[n2:])
	}
}

// radixSort33 sorts keys below 2^33 ascending: an LSD radix sort in three 11-bit digits, with
// tmp (same length) as scratch; the result ends in keys. One pass counts all three digits'
// histograms, then each digit is scattered, skipping digits every key shares.
func radixSort33(keys, tmp []uint64) {
	var count [3][2048]int32
	for _, k := range keys {
		count[0][k&2047]++
		count[1][k>>11&2047]++
		count[2][k>>22&2047]++
	}
	src, dst := keys, tmp
	for d := 0; d < 3; d++ {
		c := &count[d]
		shift := 11 * d
		if len(keys) == 0 || int(c[src[0]>>shift&2047]) == len(keys) {
			continue // every key has this digit
		}
		var sum int32
		for i := range c {
			c[i], sum = sum, sum+c[i]
		}
		for _, k := range src {
			b := k >> shift & 2047
			dst[c[b]] = k
			c[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
}
