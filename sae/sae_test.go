package sae

import (
	"math"
	"testing"
)

// encodeRefSAE is the SAELens inference forward in float64, written from SAELens's formulas.
func encodeRefSAE(s *SAE, x []float32) (lat, recon []float64) {
	d, m := s.DIn, s.DSAE
	n := len(x) / d
	lat, recon = make([]float64, n*m), make([]float64, n*d)
	for i := range n {
		in := make([]float64, d)
		for c := range d {
			in[c] = float64(x[i*d+c])
		}
		var mu, sd, coeff float64
		switch s.NormalizeActivations {
		case NormConstant:
			var nr float64
			for _, v := range in {
				nr += v * v
			}
			coeff = math.Sqrt(float64(d)) / math.Sqrt(nr)
			for c := range in {
				in[c] *= coeff
			}
		case NormLayer:
			for _, v := range in {
				mu += v / float64(d)
			}
			for _, v := range in {
				sd += (v - mu) * (v - mu)
			}
			sd = math.Sqrt(sd / float64(d-1))
			for c := range in {
				in[c] = (in[c] - mu) / (sd + 1e-5)
			}
		}
		if s.ApplyBDecToInput {
			for c := range in {
				in[c] -= float64(s.BDec[c])
			}
		}
		pre := make([]float64, m)
		for j := range m {
			pre[j] = float64(s.BEnc[j])
			for c := range d {
				pre[j] += in[c] * float64(s.WEnc[c*m+j])
			}
		}
		z := lat[i*m : (i+1)*m]
		decNorm := make([]float64, m)
		for j := range m {
			decNorm[j] = norm(s.Direction(j))
		}
		switch s.Architecture {
		case Standard:
			for j, v := range pre {
				z[j] = math.Max(v, 0)
			}
		case JumpReLU:
			for j, v := range pre {
				if v > float64(s.Threshold[j]) {
					z[j] = math.Max(v, 0)
				}
			}
		case TopK:
			if s.RescaleActsByDecoderNorm {
				for j := range pre {
					pre[j] *= decNorm[j]
				}
			}
			for range s.K {
				best := -1
				for j, v := range pre {
					if z[j] == 0 && (best < 0 || v > pre[best]) && !math.IsInf(v, -1) {
						best = j
					}
				}
				z[best] = math.Max(pre[best], 0)
				pre[best] = math.Inf(-1)
			}
		}
		for c := range d {
			r := float64(s.BDec[c])
			for j := range m {
				zz := z[j]
				if s.RescaleActsByDecoderNorm {
					zz /= decNorm[j]
				}
				r += zz * float64(s.WDec[j*d+c])
			}
			switch s.NormalizeActivations {
			case NormConstant:
				r /= coeff
			case NormLayer:
				r = r*sd + mu
			}
			recon[i*d+c] = r
		}
	}
	return lat, recon
}

func TestSAEForwardMatchesReference(t *testing.T) {
	const d, m, n = 10, 24, 7
	x := randomBatch(n, d, 11)
	for _, arch := range []Arch{TopK, Standard, JumpReLU} {
		for _, normMode := range []string{NormNone, NormExpectedAverage, NormConstant, NormLayer} {
			for _, rescale := range []bool{false, true} {
				if rescale && arch != TopK {
					continue
				}
				s := randomSAE(arch, d, m, 5, 4)
				s.NormalizeActivations = normMode
				s.RescaleActsByDecoderNorm = rescale
				if err := s.Validate(); err != nil {
					t.Fatal(err)
				}
				var p Pass
				s.Run(&p, x)
				lat, recon := encodeRefSAE(s, x)
				for i := range lat {
					if math.Abs(float64(p.Latents[i])-lat[i]) > 1e-5*(1+math.Abs(lat[i])) {
						t.Fatalf("%s %s rescale=%v: latent %d = %g, reference %g", arch, normMode, rescale, i, p.Latents[i], lat[i])
					}
				}
				for i := range recon {
					if math.Abs(float64(p.Recon[i])-recon[i]) > 1e-4*(1+math.Abs(recon[i])) {
						t.Fatalf("%s %s rescale=%v: reconstruction %d = %g, reference %g", arch, normMode, rescale, i, p.Recon[i], recon[i])
					}
				}
				if got := s.Encode(nil, x); len(got) != n*m || got[3] != p.Latents[3] {
					t.Fatalf("Encode disagrees with Run")
				}
			}
		}
	}
}

func TestTrainedSAEReproducesTrainingForward(t *testing.T) {
	// The exported SAE (SAELens layout, input scale folded in, BatchTopK as JumpReLU) computes
	// on raw activations what the trainer computed on scaled ones.
	rows := plantedRows(2048)
	for _, a := range allArchs {
		cfg := smallConfig(a.arch, a.batch)
		cfg.ScaleInputs = true
		tr := trainOnce(t, cfg, NewShuffled(rows, 1), RunOptions{})
		s := tr.SAE("blocks.0.mlp.hook_post", 0, "m")
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		x := rows.Head(64)
		var p Pass
		s.Run(&p, x)
		tr.ws.size(cfg, 64)
		tr.input(tr.ws.x, x, 64, 16)
		var st StepStats
		if a.arch == TopK {
			saved := append([]int64(nil), tr.sinceHit...)
			st = tr.topkStep(64)
			copy(tr.sinceHit, saved)
		} else {
			st = tr.denseStep(64)
		}
		if a.batch {
			// The JumpReLU export thresholds at the running average instead of the batch's
			// own k·n-th value: compare the reconstruction quality, not the values.
			fvu := batchFVU(x, p.Recon, 64, 16)
			if math.Abs(fvu-st.FVU) > 0.05+0.5*st.FVU {
				t.Errorf("batchtopk: exported FVU %g, training FVU %g", fvu, st.FVU)
			}
			continue
		}
		c := float32(tr.inScale)
		for i, v := range p.Recon {
			if want := tr.ws.recon[i] / c; math.Abs(float64(v-want)) > 1e-4*(1+math.Abs(float64(want))) {
				t.Fatalf("%s: exported reconstruction %g, training %g (at %d)", a.name, v, want, i)
			}
		}
	}
}

func TestFoldDecoderNormKeepsOutputs(t *testing.T) {
	x := randomBatch(9, 10, 2)
	for _, arch := range []Arch{Standard, JumpReLU, TopK} {
		s := randomSAE(arch, 10, 20, 4, 6)
		s.RescaleActsByDecoderNorm = arch == TopK
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		before := s.Reconstruct(nil, x)
		if err := s.FoldDecoderNorm(); err != nil {
			t.Fatal(err)
		}
		for j := range s.DSAE {
			if n := norm(s.Direction(j)); math.Abs(n-1) > 1e-6 {
				t.Fatalf("%s: row %d norm %g after folding", arch, j, n)
			}
		}
		after := s.Reconstruct(nil, x)
		for i := range before {
			if math.Abs(float64(before[i]-after[i])) > 1e-4*(1+math.Abs(float64(before[i]))) {
				t.Fatalf("%s: output %d changed from %g to %g", arch, i, before[i], after[i])
			}
		}
	}
	s := randomSAE(TopK, 10, 20, 4, 6)
	if err := s.FoldDecoderNorm(); err == nil {
		t.Error("folding a topk SAE without rescale_acts_by_decoder_norm should fail")
	}
}
