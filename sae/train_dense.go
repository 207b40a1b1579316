package sae

import (
	"math"

	"gonum.org/v1/gonum/blas"
)

// sparseBelow is the default density (active plus STE-kernel entries over n·d_sae) below
// which the ReLU and JumpReLU steps run their sparse path.
const sparseBelow = 1.0 / 16

// denseStep is one forward and backward pass of the SAELens objectives:
//
//	standard  L = (1/n)Σ‖x̂ − x‖² + λ·(1/n)Σ_i Σ_j z_ij·‖dec[j]‖,   z = ReLU(p)
//	jumprelu  L = (1/n)Σ‖x̂ − x‖² + λ·(1/n)Σ_i Σ_j H(p_ij − θ_j),   z = p·1[p > θ], θ = exp(log θ)
//
// with p = (x − a·b_dec)·encᵀ + b_enc and x̂ = z·dec + b_dec. JumpReLU's θ gradients are
// the rectangle-kernel straight-through estimators with bandwidth ε, K(u) = 1[|u| < 1/2]:
//
//	∂z/∂θ = −(θ/ε)·K((p−θ)/ε),   ∂H(p−θ)/∂θ = −(1/ε)·K((p−θ)/ε),   ∂z/∂p = 1[p > θ],
//
// and the L0 term passes no gradient to p; ∂L/∂log θ = θ·∂L/∂θ.
//
// The encoder product p is always dense. The rest needs ∂L/∂z only where z is active (and,
// for θ, where p is inside the kernel), so once the codes are sparse (fewer such entries than
// sparseBelow of n·d_sae) decoding and every gradient run over those entries, as the TopK
// step does; otherwise they are dense matrix products.
func (t *Trainer) denseStep(n int) StepStats {
	c := t.cfg
	d, m := c.DIn, c.DSAE
	ws := &t.ws
	lam := c.Coefficient(t.step)
	jump := c.Arch == JumpReLU
	fn := float64(n)
	th := ws.colBuf
	if jump {
		for j, l := range t.p.logTh {
			th[j] = float32(math.Exp(float64(l)))
		}
	}
	parallel(n, 64, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x, xc := ws.x[i*d:(i+1)*d], ws.xc[i*d:(i+1)*d]
			copy(xc, x)
			if c.ApplyBDecToInput {
				for j := range xc {
					xc[j] -= t.p.bDec[j]
				}
			}
			copy(ws.pre[i*m:(i+1)*m], t.p.bEnc)
		}
	})
	gemm(blas.NoTrans, blas.Trans, n, m, d, 1, ws.xc, d, t.p.enc, d, 1, ws.pre, m)
	decNorm := make([]float32, m)
	if !jump {
		for j := range m {
			decNorm[j] = float32(norm(t.p.dec[j*d : (j+1)*d]))
		}
	}
	// One pass over p: z (into ws.dz), the active and STE-kernel counts, the penalty, and which
	// latents fired (an OR over rows, so per-goroutine sets merge in any order).
	lo32, hi32 := make([]float32, m), make([]float32, m) // the kernel (θ − ε/2, θ + ε/2) as float32 bounds
	if jump {
		for j := range m {
			lo32[j], hi32[j] = kernelBounds(th[j], c.Bandwidth)
		}
	}
	actRows, kerRows := make([]int32, n), make([]int32, n)
	fired := make([]bool, m)
	firedMu := make(chan struct{}, 1)
	z := ws.dz
	parallel(n, 16, func(rlo, rhi int) {
		local := make([]bool, m)
		for i := rlo; i < rhi; i++ {
			pre, zi := ws.pre[i*m:(i+1)*m], z[i*m:(i+1)*m]
			var pen float64
			var a, k int32
			if jump {
				for j, p := range pre {
					if p > th[j] {
						zi[j] = p
						a++
						local[j] = true
					} else {
						zi[j] = 0
					}
					if p > lo32[j] && p < hi32[j] {
						k++
					}
				}
				pen = float64(a)
			} else {
				for j, p := range pre {
					if p > 0 {
						zi[j] = p
						a++
						local[j] = true
						pen += float64(p) * float64(decNorm[j])
					} else {
						zi[j] = 0
					}
				}
			}
			ws.rowAux[i] = pen
			actRows[i], kerRows[i] = a, k
		}
		firedMu <- struct{}{}
		for j, f := range local {
			fired[j] = fired[j] || f
		}
		<-firedMu
	})
	var entries int64
	var sse, pen float64
	l0 := 0
	for i := range n {
		entries += int64(actRows[i]) + int64(kerRows[i])
		pen += ws.rowAux[i]
		l0 += int(actRows[i])
	}
	b := denseBatch{n: n, lam: lam, th: th, klo: lo32, khi: hi32, decNorm: decNorm}
	if float64(entries) < t.sparseBelow*float64(n*m) {
		t.sparseDenseStep(b, actRows, kerRows)
	} else {
		t.fullDenseStep(b)
	}
	for i := range n {
		sse += ws.rowLoss[i]
	}
	// Dead-latent counters, SAELens style: +1 every step, 0 for latents that fired.
	for j, f := range fired {
		if f {
			t.sinceHit[j] = 0
		} else {
			t.sinceHit[j]++
		}
	}
	return StepStats{Loss: sse/fn + lam*pen/fn, MSE: sse / float64(n*d), FVU: batchFVU(ws.x, ws.recon, n, d),
		AuxLoss: lam * pen / fn, L0: float64(l0) / fn}
}

// denseBatch is what denseStep hands its dense and sparse backward paths: the batch size, the
// step's λ, the thresholds θ with their float32 STE-kernel bounds (jumprelu) and the decoder
// row norms (standard).
type denseBatch struct {
	n            int
	lam          float64
	th, klo, khi []float32
	decNorm      []float32
}

// kernelBounds returns float32 bounds (lo, hi) such that, for every float32 p,
// lo < p < hi exactly when |(p − θ)/ε| < 1/2 evaluated in float64: the STE kernel test
// without a division per entry.
func kernelBounds(th float32, eps float64) (lo, hi float32) {
	in := func(p float32) bool {
		u := (float64(p) - float64(th)) / eps
		return u > -0.5 && u < 0.5
	}
	// Start from the float32 nearest the real bounds and step to the exact edges.
	lo = float32(float64(th) - eps/2)
	for in(lo) {
		lo = math.Nextafter32(lo, float32(math.Inf(-1)))
	}
	for !in(math.Nextafter32(lo, float32(math.Inf(1)))) && lo < th {
		lo = math.Nextafter32(lo, float32(math.Inf(1)))
	}
	hi = float32(float64(th) + eps/2)
	for in(hi) {
		hi = math.Nextafter32(hi, float32(math.Inf(1)))
	}
	for !in(math.Nextafter32(hi, float32(math.Inf(-1)))) && hi > th {
		hi = math.Nextafter32(hi, float32(math.Inf(-1)))
	}
	return lo, hi
}

// fullDenseStep decodes z (in ws.dz) and backpropagates with dense matrix products; it fills
// recon, ∂recon, rowLoss and every gradient.
func (t *Trainer) fullDenseStep(b denseBatch) {
	c, ws := t.cfg, &t.ws
	d, m, n, lam, fn := c.DIn, c.DSAE, b.n, b.lam, float64(b.n)
	th, klo, khi, decNorm := b.th, b.klo, b.khi, b.decNorm
	jump := c.Arch == JumpReLU
	z := ws.dz // z, then ∂L/∂z, then ∂L/∂p
	for i := range n {
		copy(ws.recon[i*d:(i+1)*d], t.p.bDec)
	}
	gemm(blas.NoTrans, blas.NoTrans, n, d, m, 1, z, m, t.p.dec, d, 1, ws.recon, d)
	parallel(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ws.rowLoss[i] = residualGrad(ws.dRecon[i*d:(i+1)*d], ws.recon[i*d:(i+1)*d], ws.x[i*d:(i+1)*d], 2/fn)
		}
	})
	// ∂dec = zᵀ·∂recon (+ the L1 term's ∂‖dec[j]‖ for standard).
	gemm(blas.Trans, blas.NoTrans, m, d, n, 1, z, m, ws.dRecon, d, 0, t.g.dec, d)
	var zsum []float64
	if !jump && lam != 0 {
		zsum = make([]float64, m)
		colSums64(zsum, z, n, m)
		t.addL1DecoderGrad(zsum, decNorm, lam/fn)
	}
	dz := z
	gemm(blas.NoTrans, blas.Trans, n, m, d, 1, ws.dRecon, d, t.p.dec, d, 0, dz, m)
	// One column-blocked pass: θ gradients (jumprelu), the gate ∂p = ∂z·1[active]
	// (+ λ‖dec[j]‖/n for standard) and ∂b_enc = Σ_rows ∂p, every sum in row order per latent.
	eps := c.Bandwidth
	l1 := make([]float32, m)
	if !jump {
		for j := range m {
			l1[j] = float32(lam / fn * float64(decNorm[j]))
		}
	}
	parallel(m, 64, func(jlo, jhi int) {
		gTh := make([]float64, jhi-jlo)
		gB := make([]float64, jhi-jlo)
		for i := range n {
			pre, g := ws.pre[i*m+jlo:i*m+jhi], dz[i*m+jlo:i*m+jhi]
			for q, p := range pre {
				j := jlo + q
				if jump {
					if p > klo[j] && p < khi[j] {
						gTh[q] += thetaTerm(th[j], g[q], eps, lam/fn)
					}
					if !(p > th[j]) {
						g[q] = 0
					}
				} else if p > 0 {
					g[q] += l1[j]
				} else {
					g[q] = 0
				}
				gB[q] += float64(g[q])
			}
		}
		for q := range gB {
			j := jlo + q
			t.g.bEnc[j] = float32(gB[q])
			if jump {
				t.g.logTh[j] = float32(float64(th[j]) * gTh[q])
			}
		}
	})
	dpre := dz
	gemm(blas.Trans, blas.NoTrans, m, d, n, 1, dpre, m, ws.xc, d, 0, t.g.enc, d)
	t.biasDecGrad(n)
}

// colSums64 sets dst[j] = Σ_i m[i, j] in float64, row order per column.
func colSums64(dst []float64, mat []float32, rows, cols int) {
	parallel(cols, 256, func(lo, hi int) {
		acc := dst[lo:hi]
		clear(acc)
		for r := range rows {
			for j, v := range mat[r*cols+lo : r*cols+hi] {
				acc[j] += float64(v)
			}
		}
	})
}

// thetaTerm is one entry's contribution to ∂L/∂θ_j: −(θ/ε)·∂L/∂z − (λ/n)/ε (the kernel is 1).
func thetaTerm(th, dz float32, eps, lamOverN float64) float64 {
	return -(float64(th)/eps)*float64(dz) - lamOverN/eps
}

// addL1DecoderGrad adds the L1 penalty's gradient through ‖dec[j]‖:
// λ/n·(Σ_i z_ij)·dec[j]/‖dec[j]‖.
func (t *Trainer) addL1DecoderGrad(zsum []float64, decNorm []float32, lamOverN float64) {
	d, m := t.cfg.DIn, t.cfg.DSAE
	parallel(m, 64, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			if zsum[j] == 0 || decNorm[j] == 0 {
				continue
			}
			f := float32(lamOverN * zsum[j] / float64(decNorm[j]))
			axpy(f, t.p.dec[j*d:(j+1)*d], t.g.dec[j*d:(j+1)*d])
		}
	})
}

// biasDecGrad sets ∂b_dec = Σ_rows ∂recon − a·∂b_enc·enc.
func (t *Trainer) biasDecGrad(n int) {
	d, m := t.cfg.DIn, t.cfg.DSAE
	clear(t.g.bDec)
	colSumAdd(t.g.bDec, t.ws.dRecon, n, d, 1)
	if t.cfg.ApplyBDecToInput {
		gemm(blas.NoTrans, blas.NoTrans, 1, d, m, -1, t.g.bEnc, m, t.p.enc, d, 1, t.g.bDec, d)
	}
}

// sparseDenseStep decodes and backpropagates over the active entries (main codes, holding z)
// and the STE-kernel entries (aux codes, jumprelu): the same sums as fullDenseStep, taken
// over the non-zero terms only.
func (t *Trainer) sparseDenseStep(b denseBatch, actRows, kerRows []int32) {
	c, ws := t.cfg, &t.ws
	d, m, n, lam, fn := c.DIn, c.DSAE, b.n, b.lam, float64(b.n)
	th, klo, khi, decNorm := b.th, b.klo, b.khi, b.decNorm
	jump := c.Arch == JumpReLU
	packCodes(&ws.main, actRows)
	packCodes(&ws.aux, kerRows)
	parallel(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			a, k := ws.main.off[i], ws.aux.off[i]
			for j, p := range ws.pre[i*m : (i+1)*m] {
				if (jump && p > th[j]) || (!jump && p > 0) {
					ws.main.idx[a], ws.main.val[a] = int32(j), p
					a++
				}
				if jump && p > klo[j] && p < khi[j] {
					ws.aux.idx[k], ws.aux.val[k] = int32(j), p
					k++
				}
			}
		}
	})
	t.decodeMain(n)
	parallel(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dr := ws.dRecon[i*d : (i+1)*d]
			ws.rowLoss[i] = residualGrad(dr, ws.recon[i*d:(i+1)*d], ws.x[i*d:(i+1)*d], 2/fn)
			for e := ws.main.off[i]; e < ws.main.off[i]+ws.main.cnt[i]; e++ {
				j := int(ws.main.idx[e])
				g := dot(dr, t.p.dec[j*d:(j+1)*d])
				if !jump {
					g += float32(lam / fn * float64(decNorm[j]))
				}
				ws.main.grad[e] = g
			}
			for e := ws.aux.off[i]; e < ws.aux.off[i]+ws.aux.cnt[i]; e++ {
				j := int(ws.aux.idx[e])
				ws.aux.grad[e] = dot(dr, t.p.dec[j*d:(j+1)*d]) // ∂L/∂z
			}
		}
	})
	if jump {
		gTh := make([]float64, m)
		for i := range n { // row order, per latent: the order fullDenseStep sums in
			for e := ws.aux.off[i]; e < ws.aux.off[i]+ws.aux.cnt[i]; e++ {
				j := ws.aux.idx[e]
				gTh[j] += thetaTerm(th[j], ws.aux.grad[e], c.Bandwidth, lam/fn)
			}
		}
		for j := range m {
			t.g.logTh[j] = float32(float64(th[j]) * gTh[j])
		}
	}
	t.sparseWeightGrads(n, false)
	if !jump && lam != 0 {
		zsum := make([]float64, m)
		for i := range n {
			for e := ws.main.off[i]; e < ws.main.off[i]+ws.main.cnt[i]; e++ {
				zsum[ws.main.idx[e]] += float64(ws.main.val[e])
			}
		}
		t.addL1DecoderGrad(zsum, decNorm, lam/fn)
	}
	t.biasDecGrad(n)
}

// packCodes lays out codes with the given number of entries per row, contiguously.
func packCodes(cs *codes, perRow []int32) {
	n := len(perRow)
	cs.off = growI32(cs.off, n)
	cs.cnt = growI32(cs.cnt, n)
	total := int32(0)
	for i, k := range perRow {
		cs.off[i], cs.cnt[i] = total, k
		total += k
	}
	cs.idx = growI32(cs.idx, int(total))
	cs.val = grow(cs.val, int(total))
	cs.grad = grow(cs.grad, int(total))
}
