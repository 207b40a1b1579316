package decompose

import (
	"context"
	"math"
	"runtime"
	"sync/atomic"

	"github.com/neuronscope/neuronscope/internal/linalg"
	"gonum.org/v1/gonum/blas"
)

const (
	// blockRows is the number of tokens one block of the fused pass handles at a time: the
	// block's activation rows stay in cache from the sparse AᵀF product to the residual.
	blockRows = 256
	// maxLanes bounds the independent partial sums of the fused pass. The lane layout depends
	// on n only, never on GOMAXPROCS, so results are bit-identical for any thread count.
	maxLanes = 8
	// laneRows is the smallest lane worth its own partial sums.
	laneRows = 512
	// gUpdateEps is the published constant added to the denominator of the G update.
	gUpdateEps = 1e-6
	// hoyerClamp is the published lower bound of a G column norm in the rescaling step.
	hoyerClamp = 1e-8
)

// fitter holds one SNMF fit's state. x is [n, d] (A = xᵀ); f is [d, k]; g is [n, k].
type fitter[T Float] struct {
	x       []T
	n, d, k int
	keep    int
	opt     Options

	f, g         []T
	bestF, bestG []T

	// Products of the current g, accumulated by the previous fused pass (or the first one).
	agT   []T       // [k, d] = gᵀ x = (A G)ᵀ
	gtg   []float64 // [k, k] = gᵀ g
	colSq []float64 // [k] squared column norms of g

	minv []float64 // [k, k] (GᵀG + reg I)⁻¹
	minT []T       // the same in T
	q    []T       // [k, 2k] = [Q⁻ | Q⁺], Q = FᵀF

	// F's non-zeros by column (CSC) and by row (CSR over the used rows only), rebuilt every
	// iteration after the rescaling.
	colPtr []int32
	rowIdx []int32
	vals   []T
	used   []int32 // rows of F (neurons) with a non-zero, ascending
	usePtr []int32 // CSR row pointers over used
	useCol []int32
	useVal []T

	x2 []float64 // [n] ‖x_t‖²

	// Per-iteration scratch, allocated once.
	scale []T
	fill  []int32
	qq    []float64
	idx   []int
	wta   [][]T // one column buffer per WTA chunk

	lanes []*lane[T]
	sumSq float64

	best  float64 // best loss so far
	since int     // iterations since the best (the patience counter)
}

// lane is one contiguous range of tokens with its own partial sums.
type lane[T Float] struct {
	lo, hi int
	agT    []T // [k, d]: partial (A G)ᵀ
	gtg    []T // [k, k]
	colSq  []float64
	loss   float64
	p      []T // [blockRows, k]: AᵀF for the block
	nd     []T // [blockRows, 2k]: G Q⁻ and G Q⁺
}

func newFitter[T Float](x []T, n, d int, opt Options) *fitter[T] {
	k := opt.Rank
	s := &fitter[T]{x: x, n: n, d: d, k: k, keep: KeptPerFeature(opt.Sparsity, d), opt: opt,
		f: make([]T, d*k), g: make([]T, n*k), bestF: make([]T, d*k), bestG: make([]T, n*k),
		agT: make([]T, k*d), gtg: make([]float64, k*k), colSq: make([]float64, k),
		minv: make([]float64, k*k), minT: make([]T, k*k), q: make([]T, 2*k*k),
		colPtr: make([]int32, k+1), scale: make([]T, k), fill: make([]int32, k), qq: make([]float64, k*k),
		idx: make([]int, 0, k)}
	nl := min(maxLanes, max(1, (n+laneRows-1)/laneRows))
	for i := range nl {
		s.lanes = append(s.lanes, &lane[T]{lo: i * n / nl, hi: (i + 1) * n / nl,
			agT: make([]T, k*d), gtg: make([]T, k*k), colSq: make([]float64, k),
			p: make([]T, blockRows*k), nd: make([]T, blockRows*2*k)})
	}
	s.x2 = make([]float64, n)
	for t := 0; t < n; t++ {
		var ss float64
		for _, v := range x[t*d : (t+1)*d] {
			ss += float64(v) * float64(v)
		}
		s.x2[t] = ss
		s.sumSq += ss
	}
	return s
}

// init sets G0 and accumulates its products.
func (s *fitter[T]) init(ctx context.Context) error {
	switch {
	case s.opt.G0 != nil:
		for i, v := range s.opt.G0 {
			s.g[i] = T(v)
		}
	case s.opt.Init == InitRandom && s.opt.rng != nil:
		uniformG0(s.g, s.opt.rng)
		for range randnDraws(s.d * s.k) { // the published fit's F0 = torch.randn(d, k)
			s.opt.rng.uint32()
		}
	case s.opt.Init == InitRandom:
		uniformG0(s.g, newMT19937(s.opt.Seed))
	case s.opt.Init == InitSVD:
		if err := svdG0(ctx, s.g, s.x, s.n, s.d, s.k, s.opt.Seed); err != nil {
			return err
		}
	case s.opt.Init == InitKMeans:
		if err := kmeansG0(ctx, s.g, s.x, s.n, s.d, s.k, s.opt.KMeansIters, s.opt.Seed); err != nil {
			return err
		}
	}
	s.parallelLanes(func(l *lane[T]) { s.pass(l, false) })
	s.reduce()
	return nil
}

// uniformG0 fills g with the next torch.rand draws of r (from torch.manual_seed(seed): the
// published G0), clamped at ≥ 1e-6.
func uniformG0[T Float](g []T, r *mt19937) {
	for i := range g {
		g[i] = T(max(r.float32(), 1e-6))
	}
}

func (s *fitter[T]) run(ctx context.Context) (*Factors[T], error) {
	res := &Factors[T]{N: s.n, DMLP: s.d, Rank: s.k, SumSquares: s.sumSq, Kept: s.keep, BestIter: -1,
		Loss: make([]float64, 0, min(s.opt.MaxIter, 1<<16))}
	s.best, s.since = math.Inf(1), 0
	res.Stop = StopMaxIter
	for it := 0; it < s.opt.MaxIter; it++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		loss, improved, ok := s.iterate(it)
		if !ok {
			res.Stop = StopNonFinite
			break
		}
		res.Loss = append(res.Loss, loss)
		res.Iters = it + 1
		if improved {
			res.BestIter, res.BestLoss = it, loss
		}
		if s.opt.Progress != nil {
			s.opt.Progress(Progress{Iter: it + 1, MaxIter: s.opt.MaxIter, Loss: loss, Best: s.best,
				BestIter: res.BestIter + 1, SinceBest: s.since})
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			res.Stop = StopNonFinite
			break
		}
		if s.since >= s.opt.Patience {
			res.Stop = StopPatience
			break
		}
	}
	if res.BestIter < 0 {
		return nil, optErr("acts", "numerical overflow in the first iteration: activations too large for float32 products (largest |value| %g)", maxAbs(s.x))
	}
	res.F, res.G = s.bestF, s.bestG
	return res, nil
}

// iterate runs iteration it: the F step, winner-take-all and rescaling, then the fused G
// update / loss / product pass, then the best-iterate bookkeeping (a copy of F and G when the
// loss beats the best by more than Tol). ok is false when GᵀG + reg·I could not be inverted.
func (s *fitter[T]) iterate(it int) (loss float64, improved, ok bool) {
	if !s.stepF() {
		return 0, false, false
	}
	if s.opt.afterRescale != nil {
		s.opt.afterRescale(it, s.f, s.g)
	}
	s.buildSparse()
	s.parallelLanes(func(l *lane[T]) { s.pass(l, true) })
	loss = s.reduce()
	if loss < s.best-s.opt.Tol {
		s.best = loss
		copy(s.bestF, s.f)
		copy(s.bestG, s.g)
		s.since = 0
		return loss, true, true
	}
	s.since++
	return loss, false, true
}

// stepF does the F step, the winner-take-all and the Hoyer rescaling:
//
//	F ← A G (GᵀG + reg·I)⁻¹;  WTA on each column of F;  c_j = max(‖G_j‖, 1e-8), G_j /= c_j, F_j *= c_j.
//
// It reports false if GᵀG + reg·I is singular or F is not finite (overflow).
func (s *fitter[T]) stepF() bool {
	k := s.k
	copy(s.minv, s.gtg)
	for j := 0; j < k; j++ {
		s.minv[j*k+j] += s.opt.Reg
	}
	if !invert(s.minv, k) {
		return false
	}
	for i, v := range s.minv {
		s.minT[i] = T(v)
	}
	gemm(true, blas.Trans, blas.NoTrans, s.d, k, k, 1, s.agT, s.d, s.minT, k, 0, s.f, k)
	if _, _, ok := firstNonFinite(s.f, k); !ok {
		return false // float32 overflow in A G
	}
	s.winnerTakeAll()
	scale := s.scale
	for j := range scale {
		scale[j] = T(max(math.Sqrt(s.colSq[j]), hoyerClamp))
	}
	linalg.Parallel(s.n, 1024, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			row := s.g[t*k : (t+1)*k]
			for j := range row {
				row[j] /= scale[j]
			}
		}
	})
	for i := 0; i < s.d; i++ {
		row := s.f[i*k : (i+1)*k]
		for j := range row {
			row[j] *= scale[j]
		}
	}
	return true
}

// winnerTakeAll keeps, in each column of F, the entries whose magnitude is at least the
// column's keep-th largest magnitude (ties keep more) and zeroes the rest.
func (s *fitter[T]) winnerTakeAll() {
	d, k := s.d, s.k
	if s.keep >= d {
		return
	}
	chunks := min(k, runtime.GOMAXPROCS(0))
	for len(s.wta) < chunks {
		s.wta = append(s.wta, make([]T, d))
	}
	linalg.Parallel(chunks, 1, func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			s.wtaColumns(c*k/chunks, (c+1)*k/chunks, s.wta[c])
		}
	})
}

// wtaColumns applies the winner-take-all to columns [lo, hi) of F, using buf [d].
func (s *fitter[T]) wtaColumns(lo, hi int, buf []T) {
	d, k, keep := s.d, s.k, s.keep
	for j := lo; j < hi; j++ {
		for i := 0; i < d; i++ {
			buf[i] = abs(s.f[i*k+j])
		}
		thr := kthLargest(buf, keep)
		for i := 0; i < d; i++ {
			if !(abs(s.f[i*k+j]) >= thr) {
				s.f[i*k+j] = 0
			}
		}
	}
}

func maxAbs[T Float](x []T) float64 {
	var m T
	for _, v := range x {
		m = max(m, abs(v))
	}
	return float64(m)
}

func abs[T Float](v T) T {
	if v < 0 {
		return -v
	}
	return v
}

// kthLargest returns the k-th largest value of buf (1 ≤ k ≤ len(buf)), reordering buf
// (quickselect, median-of-three pivots). NaNs must not occur.
func kthLargest[T Float](buf []T, k int) T {
	lo, hi := 0, len(buf)-1
	target := k - 1 // index in descending order
	for lo < hi {
		mid := lo + (hi-lo)/2
		// median of three, moved to buf[hi]
		a, b, c := buf[lo], buf[mid], buf[hi]
		switch {
		case (a >= b) == (b >= c):
			buf[mid], buf[hi] = buf[hi], buf[mid]
		case (b >= a) == (a >= c):
			buf[lo], buf[hi] = buf[hi], buf[lo]
		}
		pivot := buf[hi]
		// three-way partition (descending): > pivot | == pivot | < pivot
		lt, i, gt := lo, lo, hi
		for i <= gt {
			switch v := buf[i]; {
			case v > pivot:
				buf[lt], buf[i] = buf[i], buf[lt]
				lt++
				i++
			case v < pivot:
				buf[i], buf[gt] = buf[gt], buf[i]
				gt--
			default:
				i++
			}
		}
		switch {
		case target < lt:
			hi = lt - 1
		case target > gt:
			lo = gt + 1
		default:
			return pivot
		}
	}
	return buf[target]
}

// buildSparse stores F's non-zeros by column and computes Q = FᵀF (in float64, from the
// non-zeros, row by row) as q = [Q⁻ | Q⁺] with X⁺ = max(X, 0), X⁻ = max(−X, 0).
func (s *fitter[T]) buildSparse() {
	d, k := s.d, s.k
	for j := range s.colPtr {
		s.colPtr[j] = 0
	}
	nnz := 0
	for i := 0; i < d; i++ {
		for j, v := range s.f[i*k : (i+1)*k] {
			if v != 0 {
				s.colPtr[j+1]++
				nnz++
			}
		}
	}
	for j := 0; j < k; j++ {
		s.colPtr[j+1] += s.colPtr[j]
	}
	if cap(s.rowIdx) < nnz {
		s.rowIdx, s.vals = make([]int32, nnz), make([]T, nnz)
	}
	s.rowIdx, s.vals = s.rowIdx[:nnz], s.vals[:nnz]
	fill := s.fill
	copy(fill, s.colPtr[:k])
	s.used, s.usePtr = s.used[:0], append(s.usePtr[:0], 0)
	s.useCol, s.useVal = s.useCol[:0], s.useVal[:0]
	qq := s.qq
	for i := range qq {
		qq[i] = 0
	}
	idx := s.idx
	for i := 0; i < d; i++ {
		row := s.f[i*k : (i+1)*k]
		idx = idx[:0]
		for j, v := range row {
			if v != 0 {
				e := fill[j]
				s.rowIdx[e], s.vals[e] = int32(i), v
				fill[j]++
				idx = append(idx, j)
				s.useCol = append(s.useCol, int32(j))
				s.useVal = append(s.useVal, v)
			}
		}
		if len(idx) > 0 {
			s.used = append(s.used, int32(i))
			s.usePtr = append(s.usePtr, int32(len(s.useCol)))
		}
		for _, a := range idx {
			va := float64(row[a])
			for _, b := range idx {
				qq[a*k+b] += va * float64(row[b])
			}
		}
	}
	for a := 0; a < k; a++ {
		for b := 0; b < k; b++ {
			v := T(qq[a*k+b])
			s.q[a*2*k+b] = max(-v, 0)  // Q⁻
			s.q[a*2*k+k+b] = max(v, 0) // Q⁺
		}
	}
}

// parallelLanes runs fn on every lane, spreading lanes over GOMAXPROCS goroutines.
func (s *fitter[T]) parallelLanes(fn func(l *lane[T])) {
	workers := min(runtime.GOMAXPROCS(0), len(s.lanes))
	if workers <= 1 {
		for _, l := range s.lanes {
			fn(l)
		}
		return
	}
	var next atomic.Int64
	done := make(chan struct{}, workers)
	for range workers {
		go func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(s.lanes) {
					break
				}
				fn(s.lanes[i])
			}
			done <- struct{}{}
		}()
	}
	for range workers {
		<-done
	}
}

// pass runs over the lane's tokens in blocks. With update it first does the G update and the
// loss of each block:
//
//	P = AᵀF (rows of the block, from F's non-zeros), G ← G ⊙ sqrt((P⁺ + G Q⁻) / (P⁻ + G Q⁺ + 1e-6)),
//	loss += Σ_t ‖a_t − F g_t‖²,
//
// then, always, it accumulates the products of the (new) G that the next F step needs: AG,
// GᵀG and the squared column norms of G.
func (s *fitter[T]) pass(l *lane[T], update bool) {
	d, k := s.d, s.k
	for i := range l.agT {
		l.agT[i] = 0
	}
	for i := range l.gtg {
		l.gtg[i] = 0
	}
	for i := range l.colSq {
		l.colSq[i] = 0
	}
	l.loss = 0
	for lo := l.lo; lo < l.hi; lo += blockRows {
		hi := min(lo+blockRows, l.hi)
		m := hi - lo
		xb := s.x[lo*d : hi*d]
		gb := s.g[lo*k : hi*k]
		if update {
			s.updateBlock(l, xb, gb, lo, m)
		}
		for t := 0; t < m; t++ {
			for j, v := range gb[t*k : (t+1)*k] {
				l.colSq[j] += float64(v) * float64(v)
			}
		}
		// (A G)ᵀ += G_bᵀ X_b: rows of length d_mlp suit both BLAS builds better than X_bᵀ G_b.
		gemm(false, blas.Trans, blas.NoTrans, k, d, m, 1, gb, k, xb, d, 1, l.agT, d)
		gemm(false, blas.Trans, blas.NoTrans, k, k, m, 1, gb, k, gb, k, 1, l.gtg, k)
	}
}

// updateBlock does the G update and accumulates the loss for m tokens.
func (s *fitter[T]) updateBlock(l *lane[T], xb, gb []T, lo, m int) {
	d, k := s.d, s.k
	p := l.p[:m*k]
	t := 0
	for ; t+4 <= m; t += 4 {
		sparseProject4(p[t*k:(t+4)*k], xb[t*d:(t+4)*d], k, d, s.colPtr, s.rowIdx, s.vals)
	}
	for ; t < m; t++ {
		sparseProject(p[t*k:(t+1)*k], xb[t*d:(t+1)*d], s.colPtr, s.rowIdx, s.vals)
	}
	nd := l.nd[:m*2*k]
	gemm(false, blas.NoTrans, blas.NoTrans, m, 2*k, k, 1, gb, k, s.q, 2*k, 0, nd, 2*k)
	eps := T(gUpdateEps)
	for t := 0; t < m; t++ {
		gr := gb[t*k : (t+1)*k]
		pr := p[t*k : (t+1)*k]
		nr := nd[t*2*k : t*2*k+k]
		dr := nd[t*2*k+k : (t+1)*2*k]
		for j, pv := range pr {
			num := max(pv, 0) + nr[j]
			den := max(-pv, 0) + dr[j]
			gr[j] *= T(math.Sqrt(float64(num / (den + eps))))
		}
	}
	var loss [4]float64
	for t = 0; t+4 <= m; t += 4 {
		residualCorrection4(&loss, xb[t*d:(t+4)*d], gb[t*k:(t+4)*k], k, d, s.used, s.usePtr, s.useCol, s.useVal)
		l.loss += s.x2[lo+t] + loss[0] + s.x2[lo+t+1] + loss[1] + s.x2[lo+t+2] + loss[2] + s.x2[lo+t+3] + loss[3]
	}
	for ; t < m; t++ {
		l.loss += s.x2[lo+t] + residualCorrection(xb[t*d:(t+1)*d], gb[t*k:(t+1)*k], s.used, s.usePtr, s.useCol, s.useVal)
	}
}

// sparseProject sets p[j] = Σ_i x[i]·F[i, j] over the non-zeros of F's column j (CSC), in T.
func sparseProject[T Float](p, x []T, colPtr, rowIdx []int32, vals []T) {
	for j := range p {
		lo, hi := int(colPtr[j]), int(colPtr[j+1])
		ri, rv := rowIdx[lo:hi], vals[lo:hi:hi]
		var a T
		for e, i := range ri {
			a += x[i] * rv[e]
		}
		p[j] = a
	}
}

// sparseProject4 is sparseProject for four tokens (p [4, k], x [4, d]), sharing each
// traversal of F's non-zeros.
func sparseProject4[T Float](p, x []T, k, d int, colPtr, rowIdx []int32, vals []T) {
	x0, x1, x2, x3 := x[:d:d], x[d:2*d:2*d], x[2*d:3*d:3*d], x[3*d:4*d:4*d]
	for j := 0; j < k; j++ {
		lo, hi := int(colPtr[j]), int(colPtr[j+1])
		ri, rv := rowIdx[lo:hi], vals[lo:hi:hi]
		var a0, a1, a2, a3 T
		for e, i := range ri {
			v := rv[e]
			a0 += x0[i] * v
			a1 += x1[i] * v
			a2 += x2[i] * v
			a3 += x3[i] * v
		}
		p[j], p[k+j], p[2*k+j], p[3*k+j] = a0, a1, a2, a3
	}
}

// residualCorrection returns ‖x − F g‖² − ‖x‖² = Σ_{i used} r_i (r_i − 2 x_i) with r = F g,
// in float64 (products of float32 values are exact there), visiting only the neurons some
// feature uses (F's rows in CSR): the exact loss without touching the other neurons.
func residualCorrection[T Float](x, g []T, used, usePtr, useCol []int32, useVal []T) float64 {
	var s float64
	for u, i := range used {
		var r float64
		for e := usePtr[u]; e < usePtr[u+1]; e++ {
			r += float64(g[useCol[e]]) * float64(useVal[e])
		}
		s += r * (r - 2*float64(x[i]))
	}
	return s
}

// residualCorrection4 is residualCorrection for four tokens (x [4, d], g [4, k]).
func residualCorrection4[T Float](out *[4]float64, x, g []T, k, d int, used, usePtr, useCol []int32, useVal []T) {
	x0, x1, x2, x3 := x[:d:d], x[d:2*d:2*d], x[2*d:3*d:3*d], x[3*d:4*d:4*d]
	g0, g1, g2, g3 := g[:k:k], g[k:2*k:2*k], g[2*k:3*k:3*k], g[3*k:4*k:4*k]
	var s0, s1, s2, s3 float64
	for u, i := range used {
		lo, hi := usePtr[u], usePtr[u+1]
		cols, vals := useCol[lo:hi], useVal[lo:hi:hi]
		var r0, r1, r2, r3 float64
		for e, c := range cols {
			v := float64(vals[e])
			r0 += float64(g0[c]) * v
			r1 += float64(g1[c]) * v
			r2 += float64(g2[c]) * v
			r3 += float64(g3[c]) * v
		}
		s0 += r0 * (r0 - 2*float64(x0[i]))
		s1 += r1 * (r1 - 2*float64(x1[i]))
		s2 += r2 * (r2 - 2*float64(x2[i]))
		s3 += r3 * (r3 - 2*float64(x3[i]))
	}
	out[0], out[1], out[2], out[3] = s0, s1, s2, s3
}

// reduce sums the lanes' partial products into s.agT, s.gtg and s.colSq (in lane order) and
// returns the summed loss.
func (s *fitter[T]) reduce() float64 {
	first := s.lanes[0]
	copy(s.agT, first.agT)
	for i, v := range first.gtg {
		s.gtg[i] = float64(v)
	}
	copy(s.colSq, first.colSq)
	loss := first.loss
	for _, l := range s.lanes[1:] {
		for i, v := range l.agT {
			s.agT[i] += v
		}
		for i, v := range l.gtg {
			s.gtg[i] += float64(v)
		}
		for j, v := range l.colSq {
			s.colSq[j] += v
		}
		loss += l.loss
	}
	return loss
}
