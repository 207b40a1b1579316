package sae

import (
	"math"

	"gonum.org/v1/gonum/blas"
)

// denseStep is one forward and backward pass of the SAELens objectives, with dense matrix
// products (the codes of these architectures are not sparse by construction):
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
func (t *Trainer) denseStep(n int) StepStats {
	c := t.cfg
	d, m := c.DIn, c.DSAE
	ws := &t.ws
	lam := c.Coefficient(t.step)
	jump := c.Arch == JumpReLU
	var th []float32
	if jump {
		th = ws.colBuf
		for j, l := range t.p.logTh {
			th[j] = float32(math.Exp(float64(l)))
		}
	}
	// Forward.
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
	z := ws.dz // z first, then reused for ∂L/∂z after the decoder gradient
	decNorm := make([]float32, m)
	if !jump {
		for j := range m {
			decNorm[j] = float32(norm(t.p.dec[j*d : (j+1)*d]))
		}
	}
	l0rows := make([]int, n)
	parallel(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			pre, zi := ws.pre[i*m:(i+1)*m], z[i*m:(i+1)*m]
			var pen float64
			cnt := 0
			for j, p := range pre {
				var v float32
				if jump {
					if p > th[j] {
						v = p
						cnt++
					}
				} else if p > 0 {
					v = p
					pen += float64(v) * float64(decNorm[j])
					cnt++
				}
				zi[j] = v
			}
			if jump {
				pen = float64(cnt)
			}
			ws.rowAux[i] = pen
			l0rows[i] = cnt
		}
	})
	for i := range n {
		copy(ws.recon[i*d:(i+1)*d], t.p.bDec)
	}
	gemm(blas.NoTrans, blas.NoTrans, n, d, m, 1, z, m, t.p.dec, d, 1, ws.recon, d)
	fn := float64(n)
	parallel(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ws.rowLoss[i] = residualGrad(ws.dRecon[i*d:(i+1)*d], ws.recon[i*d:(i+1)*d], ws.x[i*d:(i+1)*d], 2/fn)
		}
	})
	var sse, pen float64
	l0 := 0
	for i := range n {
		sse += ws.rowLoss[i]
		pen += ws.rowAux[i]
		l0 += l0rows[i]
	}
	fvu := batchFVU(ws.x, ws.recon, n, d)

	// Backward. ∂dec = zᵀ·∂recon (+ the L1 term's ∂‖dec[j]‖ for standard).
	gemm(blas.Trans, blas.NoTrans, m, d, n, 1, z, m, ws.dRecon, d, 0, t.g.dec, d)
	if !jump && lam != 0 {
		zsum := make([]float64, m)
		for i := range n {
			for j, v := range z[i*m : (i+1)*m] {
				zsum[j] += float64(v)
			}
		}
		parallel(m, 64, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				if zsum[j] == 0 || decNorm[j] == 0 {
					continue
				}
				f := float32(lam / fn * zsum[j] / float64(decNorm[j]))
				axpy(f, t.p.dec[j*d:(j+1)*d], t.g.dec[j*d:(j+1)*d])
			}
		})
	}
	// ∂z = ∂recon·decᵀ, overwriting z (no longer needed); keep the active mask from pre.
	dz := z
	gemm(blas.NoTrans, blas.Trans, n, m, d, 1, ws.dRecon, d, t.p.dec, d, 0, dz, m)
	if jump {
		// θ gradients accumulate over rows in row order per latent: do them column-parallel.
		eps := c.Bandwidth
		parallel(m, 64, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				thj := float64(th[j])
				var gTh float64
				for i := range n {
					p := float64(ws.pre[i*m+j])
					u := (p - thj) / eps
					if u > -0.5 && u < 0.5 {
						gTh += -(thj/eps)*float64(dz[i*m+j]) - lam/fn/eps
					}
				}
				t.g.logTh[j] = float32(thj * gTh)
			}
		})
	}
	// ∂pre = ∂z·gate (ReLU: p > 0; JumpReLU: p > θ), plus λ‖dec[j]‖/n for standard.
	parallel(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			pre, g := ws.pre[i*m:(i+1)*m], dz[i*m:(i+1)*m]
			for j, p := range pre {
				switch {
				case jump && p > th[j]:
				case !jump && p > 0:
					g[j] += float32(lam / fn * float64(decNorm[j]))
				default:
					g[j] = 0
				}
			}
		}
	})
	dpre := dz
	gemm(blas.Trans, blas.NoTrans, m, d, n, 1, dpre, m, ws.xc, d, 0, t.g.enc, d)
	clear(t.g.bEnc)
	colSumAdd(t.g.bEnc, dpre, n, m, 1)
	clear(t.g.bDec)
	colSumAdd(t.g.bDec, ws.dRecon, n, d, 1)
	if c.ApplyBDecToInput {
		gemm(blas.NoTrans, blas.NoTrans, 1, d, m, -1, t.g.bEnc, m, t.p.enc, d, 1, t.g.bDec, d)
	}
	// Dead-latent counters, SAELens style: +1 every step, 0 for latents that fired.
	fired := make([]bool, m)
	for i := range n {
		for j, p := range ws.pre[i*m : (i+1)*m] {
			if (jump && p > th[j]) || (!jump && p > 0) {
				fired[j] = true
			}
		}
	}
	for j, f := range fired {
		if f {
			t.sinceHit[j] = 0
		} else {
			t.sinceHit[j]++
		}
	}
	return StepStats{Loss: sse/fn + lam*pen/fn, MSE: sse / float64(n*d), FVU: fvu, AuxLoss: lam * pen / fn, L0: float64(l0) / fn}
}
