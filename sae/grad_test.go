package sae

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// The tests in this file check every architecture's forward pass and analytic gradients
// against an independent float64 implementation written from the formulas, and its finite
// differences.

type refParams struct {
	enc, bEnc, dec, bDec, logTh []float64
}

func toF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func (p refParams) clone() refParams {
	c := func(v []float64) []float64 { return append([]float64(nil), v...) }
	return refParams{c(p.enc), c(p.bEnc), c(p.dec), c(p.bDec), c(p.logTh)}
}

func (p *refParams) slot(which int) []float64 {
	return [][]float64{p.enc, p.bEnc, p.dec, p.bDec, p.logTh}[which]
}

var slotNames = []string{"enc", "b_enc", "dec", "b_dec", "log_threshold"}

// randomTrainer builds a trainer with random (not reference-initialised) weights.
func randomTrainer(t *testing.T, cfg TrainConfig, seed uint64) *Trainer {
	t.Helper()
	tr, err := NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, v := range tr.p.list() {
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.5)
		}
	}
	for j := range tr.p.logTh {
		tr.p.logTh[j] = float32(math.Log(0.3 + 0.4*rng.Float64()))
	}
	tr.inited = true
	tr.mseScale = 1.7
	return tr
}

func randomBatch(n, d int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 2))
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// encodeRef computes pre-activations xc·encᵀ + b_enc in float64.
func encodeRef(p refParams, x []float64, n, d, m int, applyBDec bool) (xc, pre []float64) {
	xc = make([]float64, n*d)
	pre = make([]float64, n*m)
	for i := range n {
		for c := range d {
			xc[i*d+c] = x[i*d+c]
			if applyBDec {
				xc[i*d+c] -= p.bDec[c]
			}
		}
		for j := range m {
			s := p.bEnc[j]
			for c := range d {
				s += xc[i*d+c] * p.enc[j*d+c]
			}
			pre[i*m+j] = s
		}
	}
	return xc, pre
}

func decodeRef(p refParams, z []float64, n, d, m int) []float64 {
	out := make([]float64, n*d)
	for i := range n {
		for c := range d {
			s := p.bDec[c]
			for j := range m {
				s += z[i*m+j] * p.dec[j*d+c]
			}
			out[i*d+c] = s
		}
	}
	return out
}

// topkRef keeps the k largest entries of each row (ties to the lower index), then ReLU.
func topkRef(pre []float64, n, m, k int, allowed func(j int) bool) []float64 {
	z := make([]float64, n*m)
	for i := range n {
		var cand []int
		for j := range m {
			if allowed == nil || allowed(j) {
				cand = append(cand, j)
			}
		}
		sort.SliceStable(cand, func(a, b int) bool { return pre[i*m+cand[a]] > pre[i*m+cand[b]] })
		for _, j := range cand[:min(k, len(cand))] {
			z[i*m+j] = math.Max(pre[i*m+j], 0)
		}
	}
	return z
}

// batchTopkRef keeps the k·n largest positive entries of the whole batch (ties to the lower
// flat index).
func batchTopkRef(pre []float64, n, m, k int) []float64 {
	idx := make([]int, 0, n*m)
	for i, v := range pre {
		if v > 0 {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return pre[idx[a]] > pre[idx[b]] })
	z := make([]float64, n*m)
	for _, i := range idx[:min(k*n, len(idx))] {
		z[i] = pre[i]
	}
	return z
}

// topkLossRef is the OpenAI TopK + AuxK objective with the aux target T (and its variance den)
// held fixed, which is what the stop-gradient in the reference means for the derivative.
func topkLossRef(p refParams, x []float64, n, d, m, k, auxk int, dead []bool, scale, coef float64, T []float64, den float64, batch bool) float64 {
	_, pre := encodeRef(p, x, n, d, m, true)
	z := topkRef(pre, n, m, k, nil)
	if batch {
		z = batchTopkRef(pre, n, m, k)
	}
	recon := decodeRef(p, z, n, d, m)
	var mse float64
	for i := range recon {
		e := recon[i] - x[i]
		mse += e * e
	}
	loss := scale * mse / float64(n*d)
	if auxk > 0 {
		a := topkRef(pre, n, m, auxk, func(j int) bool { return dead[j] })
		r := decodeRef(p, a, n, d, m)
		var num float64
		for i := range r {
			e := r[i] - T[i]
			num += e * e
		}
		loss += coef * num / den
	}
	return loss
}

func auxTarget(p refParams, x []float64, n, d, m, k int, batch bool) (T []float64, den float64) {
	_, pre := encodeRef(p, x, n, d, m, true)
	z := topkRef(pre, n, m, k, nil)
	if batch {
		z = batchTopkRef(pre, n, m, k)
	}
	recon := decodeRef(p, z, n, d, m)
	T = make([]float64, n*d)
	mean := make([]float64, d)
	for i := range n {
		for c := range d {
			T[i*d+c] = x[i*d+c] - recon[i*d+c] + p.bDec[c]
			mean[c] += T[i*d+c] / float64(n)
		}
	}
	for i := range n {
		for c := range d {
			q := T[i*d+c] - mean[c]
			den += q * q
		}
	}
	return T, den
}

// checkGrads compares the trainer's gradients with central differences of loss.
func checkGrads(t *testing.T, tr *Trainer, base refParams, loss func(refParams) float64, slots []int) {
	t.Helper()
	grads := [][]float32{tr.g.enc, tr.g.bEnc, tr.g.dec, tr.g.bDec, tr.g.logTh}
	rng := rand.New(rand.NewPCG(9, 9))
	scale := 0.0
	for _, s := range slots {
		for _, g := range grads[s] {
			scale = math.Max(scale, math.Abs(float64(g)))
		}
	}
	if scale == 0 {
		t.Fatal("all gradients are zero: the test checks nothing")
	}
	const h = 1e-6
	checked, nonzero := 0, 0
	for _, s := range slots {
		g := grads[s]
		idx := rng.Perm(len(g))
		// The largest gradients first (they belong to active latents), then random ones.
		sort.SliceStable(idx, func(a, b int) bool { return math.Abs(float64(g[idx[a]])) > math.Abs(float64(g[idx[b]])) })
		pick := append(idx[:min(12, len(idx))], idx[len(idx)-min(6, len(idx)):]...)
		for _, i := range pick {
			plus, minus := base.clone(), base.clone()
			plus.slot(s)[i] += h
			minus.slot(s)[i] -= h
			fd := (loss(plus) - loss(minus)) / (2 * h)
			an := float64(g[i])
			if math.Abs(an-fd) > 2e-4*scale+1e-4*math.Abs(fd) {
				t.Errorf("%s[%d]: analytic %.7g, finite difference %.7g", slotNames[s], i, an, fd)
			}
			checked++
			if fd != 0 {
				nonzero++
			}
		}
	}
	if nonzero < checked/3 {
		t.Fatalf("only %d of %d checked gradients are non-zero", nonzero, checked)
	}
}

func refOf(tr *Trainer) refParams {
	return refParams{toF64(tr.p.enc), toF64(tr.p.bEnc), toF64(tr.p.dec), toF64(tr.p.bDec), toF64(tr.p.logTh)}
}

func TestTopKGradients(t *testing.T) {
	for _, batch := range []bool{false, true} {
		const n, d, m, k, auxk = 9, 6, 12, 3, 4
		cfg := DefaultTrainConfig(TopK, d, m, 10, n)
		cfg.K, cfg.AuxK, cfg.DeadTokens, cfg.BatchTopK = k, auxk, 0, batch // window 0: latents not fired this step are dead
		tr := randomTrainer(t, cfg, 1)
		x := randomBatch(n, d, 3)
		tr.ws.size(cfg, n)
		copy(tr.ws.x, x)
		for j := range tr.sinceHit {
			tr.sinceHit[j] = 5
		}
		st := tr.topkStep(n)
		auxEntries := 0
		for _, c := range tr.ws.aux.cnt[:n] {
			auxEntries += int(c)
		}
		if auxEntries == 0 {
			t.Fatal("no AuxK entries: the test would not check the auxiliary loss")
		}
		dead := make([]bool, m)
		for j, s := range tr.sinceHit {
			dead[j] = s > cfg.deadSteps()
		}
		base := refOf(tr)
		xf := toF64(x)
		T, den := auxTarget(base, xf, n, d, m, k, batch)
		loss := func(p refParams) float64 {
			return topkLossRef(p, xf, n, d, m, k, auxk, dead, tr.mseScale, cfg.AuxKCoef, T, den, batch)
		}
		if want := loss(base); math.Abs(st.Loss-want) > 1e-5*math.Abs(want) {
			t.Errorf("batch=%v: loss %.8g, float64 reference %.8g", batch, st.Loss, want)
		}
		checkGrads(t, tr, base, loss, []int{0, 1, 2, 3})
	}
}

func TestTopKGradientsNoDeadLatents(t *testing.T) {
	// With nothing dead the AuxK term still exists (its prediction is b_pre alone) and still
	// moves b_pre, as in OpenAI's code.
	const n, d, m, k = 8, 5, 10, 3
	cfg := DefaultTrainConfig(TopK, d, m, 10, n)
	cfg.K, cfg.AuxK, cfg.DeadTokens = k, 4, 1<<40
	tr := randomTrainer(t, cfg, 2)
	x := randomBatch(n, d, 4)
	tr.ws.size(cfg, n)
	copy(tr.ws.x, x)
	st := tr.topkStep(n)
	if math.Abs(st.AuxLoss-cfg.AuxKCoef) > 0.02 {
		t.Errorf("AuxK loss with no dead latents = %g, want ≈ 1/32 (·NMSE of b_pre against x − x̂ + b_pre)", st.AuxLoss)
	}
	base := refOf(tr)
	xf := toF64(x)
	T, den := auxTarget(base, xf, n, d, m, k, false)
	dead := make([]bool, m)
	loss := func(p refParams) float64 {
		return topkLossRef(p, xf, n, d, m, k, 4, dead, tr.mseScale, cfg.AuxKCoef, T, den, false)
	}
	checkGrads(t, tr, base, loss, []int{0, 1, 2, 3})
}

func denseLossRef(p refParams, x []float64, n, d, m int, cfg TrainConfig, lam float64) float64 {
	_, pre := encodeRef(p, x, n, d, m, cfg.ApplyBDecToInput)
	z := make([]float64, n*m)
	var pen float64
	for i := range n {
		for j := range m {
			v := pre[i*m+j]
			if cfg.Arch == JumpReLU {
				if v > math.Exp(p.logTh[j]) {
					z[i*m+j] = v
					pen++
				}
			} else if v > 0 {
				z[i*m+j] = v
				var nr float64
				for c := range d {
					nr += p.dec[j*d+c] * p.dec[j*d+c]
				}
				pen += v * math.Sqrt(nr)
			}
		}
	}
	recon := decodeRef(p, z, n, d, m)
	var sse float64
	for i := range recon {
		e := recon[i] - x[i]
		sse += e * e
	}
	return sse/float64(n) + lam*pen/float64(n)
}

// denseCheck runs one dense step on random data and checks the loss and the gradients of
// the four weight tensors against the float64 reference; it returns what the θ check needs.
func denseCheck(t *testing.T, cfg TrainConfig, n, seed int, sparse bool) (tr *Trainer, base refParams, xf []float64) {
	t.Helper()
	d, m := cfg.DIn, cfg.DSAE
	tr = randomTrainer(t, cfg, uint64(seed))
	tr.sparseBelow = 0 // always the dense matrix products
	if sparse {
		tr.sparseBelow = 3 // always the sparse path (entries ≤ 2·n·d_sae)
	}
	x := randomBatch(n, d, uint64(seed+1))
	tr.ws.size(cfg, n)
	copy(tr.ws.x, x)
	st := tr.denseStep(n)
	base = refOf(tr)
	xf = toF64(x)
	loss := func(p refParams) float64 { return denseLossRef(p, xf, n, d, m, cfg, cfg.Sparsity) }
	if want := loss(base); math.Abs(st.Loss-want) > 1e-5*math.Abs(want) {
		t.Errorf("%s apply_b_dec=%v: loss %.8g, float64 reference %.8g", cfg.Arch, cfg.ApplyBDecToInput, st.Loss, want)
	}
	// W_enc, b_enc, W_dec, b_dec have true gradients almost everywhere.
	checkGrads(t, tr, base, loss, []int{0, 1, 2, 3})
	return tr, base, xf
}

func TestStandardGradients(t *testing.T) {
	for _, sparse := range []bool{false, true} {
		for _, apply := range []bool{false, true} {
			cfg := DefaultTrainConfig(Standard, 6, 11, 100, 8)
			cfg.ApplyBDecToInput, cfg.SparsityWarmup, cfg.Sparsity = apply, 0, 0.7
			denseCheck(t, cfg, 8, 5, sparse)
		}
	}
}

func TestJumpReLUGradients(t *testing.T) {
	for _, mode := range []struct{ sparse, apply bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
		sparse, apply := mode.sparse, mode.apply
		const n, d, m = 10, 6, 9
		cfg := DefaultTrainConfig(JumpReLU, d, m, 100, n)
		cfg.ApplyBDecToInput, cfg.SparsityWarmup, cfg.Sparsity = apply, 0, 0.3
		cfg.Bandwidth = 0.5 // wide enough that many pre-activations fall in the kernel
		tr, base, xf := denseCheck(t, cfg, n, 7, sparse)
		// θ has the straight-through estimators, checked against their formulas.
		_, pre := encodeRef(base, xf, n, d, m, apply)
		z := make([]float64, n*m)
		for i := range n {
			for j := range m {
				if pre[i*m+j] > math.Exp(base.logTh[j]) {
					z[i*m+j] = pre[i*m+j]
				}
			}
		}
		recon := decodeRef(base, z, n, d, m)
		eps, lam := cfg.Bandwidth, cfg.Sparsity
		inKernel := 0
		for j := range m {
			th := math.Exp(base.logTh[j])
			var g float64
			for i := range n {
				u := (pre[i*m+j] - th) / eps
				if !(u > -0.5 && u < 0.5) {
					continue
				}
				inKernel++
				var dz float64 // ∂L/∂z_ij = (2/n)(x̂_i − x_i)·dec[j]
				for c := range d {
					dz += 2 / float64(n) * (recon[i*d+c] - xf[i*d+c]) * base.dec[j*d+c]
				}
				g += -(th/eps)*dz - lam/float64(n)/eps
			}
			want := th * g
			if got := float64(tr.g.logTh[j]); math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
				t.Errorf("apply_b_dec=%v: ∂L/∂log θ[%d] = %.7g, STE formula %.7g", apply, j, got, want)
			}
		}
		if inKernel == 0 {
			t.Fatal("no pre-activation inside the STE kernel: the θ check is empty")
		}
	}
}
