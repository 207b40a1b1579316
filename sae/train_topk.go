package sae

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
)

// workspace holds one batch's buffers; they are reused across steps.
type workspace struct {
	n             int
	x, xc, recon  []float32 // [n, d_in]
	dRecon        []float32 // [n, d_in]
	pre           []float32 // [n, d_sae]
	rowLoss       []float64 // [n] per-row partial sums
	rowAux        []float64
	main, aux     codes
	auxRecon, dAx []float32 // [n, d_in]
	dz            []float32 // [n, d_sae] (dense architectures)
	lat           latentIndex
	colBuf        []float32 // [d_sae]
}

// codes are a batch's sparse latent codes: row i's entries are off[i] ≤ e < off[i]+cnt[i].
type codes struct {
	off, cnt []int32
	idx      []int32   // latent
	val      []float32 // pre-activation (before the ReLU)
	grad     []float32 // ∂loss/∂pre-activation
}

func (c *codes) size(n, perRow int) {
	c.off = growI32(c.off, n)
	c.cnt = growI32(c.cnt, n)
	c.idx = growI32(c.idx, n*perRow)
	c.val = grow(c.val, n*perRow)
	c.grad = grow(c.grad, n*perRow)
	for i := range n {
		c.off[i] = int32(i * perRow)
		c.cnt[i] = 0
	}
}

func growI32(b []int32, n int) []int32 {
	if cap(b) < n {
		return make([]int32, n)
	}
	return b[:n]
}

func (w *workspace) size(c TrainConfig, n int) {
	d, m := c.DIn, c.DSAE
	w.n = n
	w.x = grow(w.x, n*d)
	w.xc = grow(w.xc, n*d)
	w.recon = grow(w.recon, n*d)
	w.dRecon = grow(w.dRecon, n*d)
	w.pre = grow(w.pre, n*m)
	w.colBuf = grow(w.colBuf, m)
	if cap(w.rowLoss) < n {
		w.rowLoss, w.rowAux = make([]float64, n), make([]float64, n)
	}
	w.rowLoss, w.rowAux = w.rowLoss[:n], w.rowAux[:n]
	if c.Arch == TopK {
		w.auxRecon = grow(w.auxRecon, n*d)
		w.dAx = grow(w.dAx, n*d)
	} else {
		w.dz = grow(w.dz, n*m)
	}
}

// initTopK is OpenAI's initialisation: encoder rows ~ U(−1/√d, 1/√d) (nn.Linear's default),
// decoder = encoder (tied) with unit-norm rows, b_pre = geometric median of the first 32768
// sample rows, b_enc = 0; then the encoder is divided by the mean norm of the reconstructions
// (minus b_pre) of 256 random unit inputs shifted by b_pre. mse_scale = 1 / mean((x − x̄)²)
// over the sample. As in the reference, that probe forward pass also sets every latent's
// steps-since-firing counter to 1.
func (t *Trainer) initTopK(x []float32, n int, rng *rand.Rand) {
	c := t.cfg
	d, m := c.DIn, c.DSAE
	bound := 1 / math.Sqrt(float64(d))
	for i := range t.p.enc {
		t.p.enc[i] = float32(bound * (2*rng.Float64() - 1))
	}
	copy(t.p.dec, t.p.enc)
	for j := range m {
		row := t.p.dec[j*d : (j+1)*d]
		s := float32(norm(row))
		for i := range row {
			row[i] /= s
		}
	}
	copy(t.p.bDec, GeometricMedian(x[:min(n, 32768)*d], d))
	// mse_scale from the whole sample.
	mean := columnMeans(x, n, d)
	var ss float64
	for i := range n {
		for j, v := range x[i*d : (i+1)*d] {
			e := mean[j] - float64(v)
			ss += e * e
		}
	}
	t.mseScale = 1
	if ss > 0 {
		t.mseScale = float64(n*d) / ss
	}
	// Encoder scale from 256 random unit vectors + b_pre.
	const probes = 256
	probe := make([]float32, probes*d)
	for i := range probes {
		row := probe[i*d : (i+1)*d]
		for j := range row {
			row[j] = float32(rng.NormFloat64())
		}
		s := float32(norm(row))
		for j := range row {
			row[j] = row[j]/s + t.p.bDec[j]
		}
	}
	ws := &t.ws
	ws.size(c, probes)
	copy(ws.x, probe)
	t.encodeTopK(probes)
	t.decodeMain(probes)
	var s float64
	for i := range probes {
		r := ws.recon[i*d : (i+1)*d]
		var q float64
		for j, v := range r {
			e := float64(v) - float64(t.p.bDec[j])
			q += e * e
		}
		s += math.Sqrt(q)
	}
	if rn := s / probes; rn > 0 {
		f := float32(rn)
		for i := range t.p.enc {
			t.p.enc[i] /= f
		}
	}
	for j := range t.sinceHit {
		t.sinceHit[j] = 1
	}
}

// encodeTopK computes xc = x − b_pre, pre = xc·encᵀ + b_enc and the kept latents of every row
// (top k per row, or the top k·n of the batch for BatchTopK), and updates the
// steps-since-firing counters (a latent fires when a kept pre-activation exceeds 1e-3).
func (t *Trainer) encodeTopK(n int) {
	c := t.cfg
	d, m := c.DIn, c.DSAE
	ws := &t.ws
	parallel(n, 64, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x, xc := ws.x[i*d:(i+1)*d], ws.xc[i*d:(i+1)*d]
			for j := range x {
				xc[j] = x[j] - t.p.bDec[j]
			}
			copy(ws.pre[i*m:(i+1)*m], t.p.bEnc)
		}
	})
	gemm(blas.NoTrans, blas.Trans, n, m, d, 1, ws.xc, d, t.p.enc, d, 1, ws.pre, m)
	if c.BatchTopK {
		ws.main.size(n, 0)
		t.batchTopK(n)
	} else {
		ws.main.size(n, c.K)
		parallel(n, 16, func(lo, hi int) {
			var sel selector
			for i := lo; i < hi; i++ {
				o := ws.main.off[i]
				sel.topK(ws.main.idx[o:o+int32(c.K)], ws.main.val[o:o+int32(c.K)], ws.pre[i*m:(i+1)*m], c.K)
				ws.main.cnt[i] = int32(c.K)
			}
		})
	}
	fired := make([]bool, m)
	for i := range n {
		o := ws.main.off[i]
		for e := o; e < o+ws.main.cnt[i]; e++ {
			if ws.main.val[e] > 1e-3 {
				fired[ws.main.idx[e]] = true
			}
		}
	}
	for j, f := range fired {
		if f {
			t.sinceHit[j] = 1
		} else {
			t.sinceHit[j]++
		}
	}
}

// batchTopK keeps the k·n largest positive pre-activations of the batch (ties towards the
// lower flat index), as SAELens's BatchTopK does on ReLU'd pre-activations, and updates the
// running threshold with the smallest kept value.
func (t *Trainer) batchTopK(n int) {
	c := t.cfg
	m := c.DSAE
	ws := &t.ws
	budget := c.K * n
	var pos []float32
	for _, v := range ws.pre[:n*m] {
		if v > 0 {
			pos = append(pos, v)
		}
	}
	cut := float32(0) // keep values > cut, and the first `ties` values == cut in flat order
	ties := 0
	if len(pos) > budget {
		cut = kthLargest(pos, budget)
		greater := 0
		for _, v := range pos {
			if v > cut {
				greater++
			}
		}
		ties = budget - greater
	}
	total := 0
	for i := range n {
		ws.main.off[i] = int32(total)
		cnt := 0
		for j, v := range ws.pre[i*m : (i+1)*m] {
			keep := v > cut
			if !keep && v == cut && ties > 0 {
				keep = true
				ties--
			}
			if v > 0 && keep {
				ws.main.idx = append(ws.main.idx[:total], int32(j))
				ws.main.val = append(ws.main.val[:total], v)
				total++
				cnt++
			}
		}
		ws.main.cnt[i] = int32(cnt)
	}
	ws.main.grad = grow(ws.main.grad, total)
	if total > 0 {
		minPos := math.Inf(1)
		for _, v := range ws.main.val[:total] {
			minPos = math.Min(minPos, float64(v))
		}
		lr := c.BatchTopKThresholdLR
		t.bthresh = (1-lr)*t.bthresh + lr*minPos
	}
}

// decodeMain computes recon = Σ_kept ReLU(v)·dec[j] + b_pre for every row.
func (t *Trainer) decodeMain(n int) {
	d := t.cfg.DIn
	ws := &t.ws
	parallel(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := ws.recon[i*d : (i+1)*d]
			copy(r, t.p.bDec)
			o := ws.main.off[i]
			for e := o; e < o+ws.main.cnt[i]; e++ {
				if v := ws.main.val[e]; v > 0 {
					axpy(v, t.p.dec[int(ws.main.idx[e])*d:int(ws.main.idx[e]+1)*d], r)
				}
			}
		}
	})
}

// topkStep is one forward and backward pass of the OpenAI TopK objective
//
//	L = mse_scale·mean((x̂ − x)²) + auxk_coef·mean((r − t)²)/mean((t − t̄)²)
//
// where r = Σ_{top-auxk dead j} ReLU(p_j)·dec[j] + b_pre and t = x − x̂ + b_pre with x̂ and that
// b_pre held constant (stop-gradient); gradients go to the trainer's g.
func (t *Trainer) topkStep(n int) StepStats {
	c := t.cfg
	d, m := c.DIn, c.DSAE
	ws := &t.ws
	t.encodeTopK(n)
	t.decodeMain(n)
	// AuxK codes: the top auxk pre-activations among dead latents, positive ones only (the
	// others contribute nothing and get no gradient through the ReLU, as in the reference).
	auxOn := c.AuxK > 0
	var dead []int32
	if auxOn {
		win := c.deadSteps()
		for j, s := range t.sinceHit {
			if s > win {
				dead = append(dead, int32(j))
			}
		}
	}
	ws.aux.size(n, max(c.AuxK, 0))
	if auxOn && len(dead) > 0 {
		parallel(n, 16, func(lo, hi int) {
			cand := make([]float32, len(dead))
			var sel selector
			idx := make([]int32, c.AuxK)
			val := make([]float32, c.AuxK)
			for i := lo; i < hi; i++ {
				pre := ws.pre[i*m : (i+1)*m]
				for q, j := range dead {
					cand[q] = pre[j]
				}
				kk := min(c.AuxK, len(dead))
				if kk == len(dead) { // every dead latent is kept: no selection needed
					for q := range kk {
						idx[q], val[q] = int32(q), cand[q]
					}
				} else {
					sel.topK(idx[:kk], val[:kk], cand, kk)
				}
				o := ws.aux.off[i]
				cnt := int32(0)
				for q := range kk {
					if val[q] > 0 {
						ws.aux.idx[o+cnt] = dead[idx[q]]
						ws.aux.val[o+cnt] = val[q]
						cnt++
					}
				}
				ws.aux.cnt[i] = cnt
			}
		})
	}
	// Losses and their gradients with respect to the reconstructions.
	scale := t.mseScale
	nd := float64(n * d)
	parallel(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ws.rowLoss[i] = residualGrad(ws.dRecon[i*d:(i+1)*d], ws.recon[i*d:(i+1)*d], ws.x[i*d:(i+1)*d], 2*scale/nd)
		}
	})
	var sse float64
	for _, s := range ws.rowLoss {
		sse += s
	}
	var auxLoss float64
	if auxOn {
		// target t = x − x̂ + b_pre; its batch variance (per element, about the column means).
		tmean := make([]float64, d)
		for i := range n {
			for j := range d {
				tmean[j] += float64(ws.x[i*d+j] - ws.recon[i*d+j] + t.p.bDec[j])
			}
		}
		for j := range tmean {
			tmean[j] /= float64(n)
		}
		parallel(n, 16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				var v, s float64
				a := ws.auxRecon[i*d : (i+1)*d]
				copy(a, t.p.bDec)
				o := ws.aux.off[i]
				for e := o; e < o+ws.aux.cnt[i]; e++ {
					axpy(ws.aux.val[e], t.p.dec[int(ws.aux.idx[e])*d:int(ws.aux.idx[e]+1)*d], a)
				}
				for j := range d {
					tv := ws.x[i*d+j] - ws.recon[i*d+j] + t.p.bDec[j]
					q := float64(tv) - tmean[j]
					v += q * q
					e := float64(a[j] - tv)
					s += e * e
					ws.dAx[i*d+j] = float32(e) // scaled below
				}
				ws.rowLoss[i] = s
				ws.rowAux[i] = v
			}
		})
		var num, den float64
		for i := range n {
			num += ws.rowLoss[i]
			den += ws.rowAux[i]
		}
		f := 0.0
		if den > 0 && !math.IsInf(num/den, 0) {
			auxLoss = c.AuxKCoef * num / den
			f = c.AuxKCoef * 2 / den
		}
		ff := float32(f)
		parallel(n*d, 1<<14, func(lo, hi int) {
			for q := lo; q < hi; q++ {
				ws.dAx[q] *= ff
			}
		})
	}
	// Backward. ∂/∂pre of kept entries: ReLU gate times upstream·dec[j].
	parallel(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dr := ws.dRecon[i*d : (i+1)*d]
			o := ws.main.off[i]
			for e := o; e < o+ws.main.cnt[i]; e++ {
				ws.main.grad[e] = 0
				if ws.main.val[e] > 0 {
					j := int(ws.main.idx[e])
					ws.main.grad[e] = dot(dr, t.p.dec[j*d:(j+1)*d])
				}
			}
			if auxOn {
				da := ws.dAx[i*d : (i+1)*d]
				o := ws.aux.off[i]
				for e := o; e < o+ws.aux.cnt[i]; e++ {
					j := int(ws.aux.idx[e])
					ws.aux.grad[e] = dot(da, t.p.dec[j*d:(j+1)*d])
				}
			}
		}
	})
	t.sparseWeightGrads(n, true)
	// b_pre: + Σ rows of ∂recon and ∂aux, − Σ_j ∂b_enc[j]·enc[j].
	clear(t.g.bDec)
	colSumAdd(t.g.bDec, ws.dRecon, n, d, 1)
	if auxOn {
		colSumAdd(t.g.bDec, ws.dAx, n, d, 1)
	}
	gemm(blas.NoTrans, blas.NoTrans, 1, d, m, -1, t.g.bEnc, m, t.p.enc, d, 1, t.g.bDec, d)

	l0 := 0
	for i := range n {
		for e := ws.main.off[i]; e < ws.main.off[i]+ws.main.cnt[i]; e++ {
			if ws.main.val[e] > 0 {
				l0++
			}
		}
	}
	return StepStats{Loss: scale*sse/nd + auxLoss, MSE: sse / nd, FVU: batchFVU(ws.x, ws.recon, n, d),
		AuxLoss: auxLoss, L0: float64(l0) / float64(n)}
}

// latentIndex lists, for every latent, the code entries that use it, in row order (main
// entries of a row before its aux entries): the transpose that lets the weight gradients be
// summed one latent at a time, in a fixed order, in parallel.
type latentIndex struct {
	start []int32 // [d_sae+1]
	ent   []int32 // entry number; aux entries are offset by auxBase
}

const auxBase = 1 << 30

func (t *Trainer) buildLatentIndex(n int, withAux bool) {
	m := t.cfg.DSAE
	ws := &t.ws
	li := &ws.lat
	li.start = growI32(li.start, m+1)
	clear(li.start)
	total := 0
	sets := []*codes{&ws.main}
	if withAux {
		sets = append(sets, &ws.aux)
	}
	for _, cs := range sets {
		for i := range n {
			for e := cs.off[i]; e < cs.off[i]+cs.cnt[i]; e++ {
				li.start[cs.idx[e]+1]++
				total++
			}
		}
	}
	for j := range m {
		li.start[j+1] += li.start[j]
	}
	li.ent = growI32(li.ent, total)
	fill := append([]int32(nil), li.start[:m]...)
	for i := range n {
		for e := ws.main.off[i]; e < ws.main.off[i]+ws.main.cnt[i]; e++ {
			j := ws.main.idx[e]
			li.ent[fill[j]] = e
			fill[j]++
		}
		if !withAux {
			continue
		}
		for e := ws.aux.off[i]; e < ws.aux.off[i]+ws.aux.cnt[i]; e++ {
			j := ws.aux.idx[e]
			li.ent[fill[j]] = e + auxBase
			fill[j]++
		}
	}
}

// sparseWeightGrads fills ∂enc, ∂dec and ∂b_enc from the code entries: for latent j,
// ∂dec[j] = Σ ReLU(v)·upstream_row, ∂enc[j] = Σ ∂pre·xc_row, ∂b_enc[j] = Σ ∂pre, summed over
// the entries that use j in row order. Latents no entry uses get zero gradients. The aux codes
// take part when withAux (TopK's AuxK entries, whose upstream is ∂aux).
func (t *Trainer) sparseWeightGrads(n int, withAux bool) {
	d, m := t.cfg.DIn, t.cfg.DSAE
	ws := &t.ws
	t.buildLatentIndex(n, withAux)
	rowM := entryRows(&ws.main, n)
	rowA := entryRows(&ws.aux, n)
	li := &ws.lat
	parallel(m, 8, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			gd := t.g.dec[j*d : (j+1)*d]
			ge := t.g.enc[j*d : (j+1)*d]
			firstD, firstE := true, true // the first term is stored, not added to a cleared row
			var gb float32
			for _, e := range li.ent[li.start[j]:li.start[j+1]] {
				var row int
				var v, g float32
				var up []float32
				if e >= auxBase {
					e -= auxBase
					row, v, g = int(rowA[e]), ws.aux.val[e], ws.aux.grad[e]
					up = ws.dAx[row*d : (row+1)*d]
				} else {
					row, v, g = int(rowM[e]), ws.main.val[e], ws.main.grad[e]
					up = ws.dRecon[row*d : (row+1)*d]
				}
				if v > 0 {
					if firstD {
						scaleInto(gd, v, up)
						firstD = false
					} else {
						axpy(v, up, gd)
					}
				}
				if g != 0 {
					if firstE {
						scaleInto(ge, g, ws.xc[row*d:(row+1)*d])
						firstE = false
					} else {
						axpy(g, ws.xc[row*d:(row+1)*d], ge)
					}
				}
				gb += g
			}
			if firstD {
				clear(gd)
			}
			if firstE {
				clear(ge)
			}
			t.g.bEnc[j] = gb
		}
	})
}

// entryRows maps every code entry to its batch row.
func entryRows(cs *codes, n int) []int32 {
	size := 0
	for i := range n {
		size = max(size, int(cs.off[i]+cs.cnt[i]))
	}
	rows := make([]int32, size)
	for i := range n {
		for e := cs.off[i]; e < cs.off[i]+cs.cnt[i]; e++ {
			rows[e] = int32(i)
		}
	}
	return rows
}

// unitNormDecoder renormalises every decoder row to unit norm and removes from its gradient
// the component parallel to the (renormalised) row, as OpenAI does after backward() and before
// the optimiser step.
func (t *Trainer) unitNormDecoder() {
	d, m := t.cfg.DIn, t.cfg.DSAE
	parallel(m, 64, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			row := t.p.dec[j*d : (j+1)*d]
			s := float32(norm(row))
			if s == 0 {
				continue
			}
			for i := range row {
				row[i] /= s
			}
			g := t.g.dec[j*d : (j+1)*d]
			axpy(-dot(row, g), row, g)
		}
	})
}

// batchFVU is Σ‖x − x̂‖² / Σ‖x − x̄‖² over a batch (x̄ the batch mean), in float64.
func batchFVU(x, recon []float32, n, d int) float64 {
	mean := columnMeans(x, n, d)
	var num, den float64
	for i := range n {
		for j := range d {
			e := float64(x[i*d+j]) - float64(recon[i*d+j])
			num += e * e
			q := float64(x[i*d+j]) - mean[j]
			den += q * q
		}
	}
	if den == 0 {
		return math.NaN()
	}
	return num / den
}
